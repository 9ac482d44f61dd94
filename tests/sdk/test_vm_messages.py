"""Messages VM lifecycle operations file, through the official SDK: xapi's
names, priority 5, class VM on the VM's uuid and xapi's bodies, by the
synchronous and the Async forms, visible to message.get, get_since,
get_all_records and event.from."""

import time

import pytest
import XenAPI

EPOCH = "19700101T00:00:00Z"


def event_from(x, classes, token, timeout=0.0):
    return getattr(x.event, "from")(classes, token, timeout)


def wait_task(x, task, timeout=10.0):
    end = time.time() + timeout
    while x.task.get_status(task) == "pending":
        assert time.time() < end, "task did not finish"
        time.sleep(0.01)
    status = x.task.get_status(task)
    x.task.destroy(task)
    return status


class Watcher:
    """The messages about one VM, oldest first, a batch at a time."""

    def __init__(self, x, uuid):
        self.x, self.uuid, self.seen = x, uuid, set()

    def new(self):
        recs = self.x.message.get("VM", self.uuid, EPOCH)
        # Record maps come newest first.
        fresh = [r for m, r in reversed(recs.items()) if m not in self.seen]
        self.seen |= set(recs)
        for r in fresh:
            assert (r["priority"], r["cls"], r["obj_uuid"]) == ("5", "VM", self.uuid), r
        return [(r["name"], r["body"]) for r in fresh]


def host_label(x, host):
    return f"{x.host.get_name_label(host)} (uuid: {x.host.get_uuid(host)})"


def test_lifecycle_messages(fresh_sim):
    x = fresh_sim.session().xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    uuid = x.VM.get_uuid(vm)
    me = f"VM 'test-halted' (uuid: {uuid})"
    w = Watcher(x, uuid)
    assert w.new() == []

    x.VM.start(vm, False, False)
    on = host_label(x, x.VM.get_resident_on(vm))
    assert w.new() == [("VM_STARTED", f"{me} started on host: {on}")]

    # Failed operations file nothing.
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.start(vm, False, False)
    assert e.value.details[0] == "VM_BAD_POWER_STATE"
    assert w.new() == []

    x.VM.suspend(vm)
    assert w.new() == [("VM_SUSPENDED", f"{me} suspended")]
    x.VM.resume(vm, False, False)
    on = host_label(x, x.VM.get_resident_on(vm))
    assert w.new() == [("VM_RESUMED", f"{me} resumed on host: {on}")]

    x.VM.pause(vm)
    x.VM.unpause(vm)
    x.VM.clean_reboot(vm)
    x.VM.hard_reboot(vm)
    x.VM.snapshot(vm, "snap one")
    x.VM.checkpoint(vm, "cp one")
    assert w.new() == [
        ("VM_PAUSED", f"{me} paused"),
        ("VM_UNPAUSED", f"{me} unpaused"),
        ("VM_REBOOTED", f"{me} rebooted cleanly"),
        ("VM_REBOOTED", f"{me} rebooted forcibly"),
        ("VM_SNAPSHOTTED", f"{me} snapshotted, snapshot name: snap one"),
        ("VM_CHECKPOINTED", f"{me} checkpointed, snapshot name: cp one"),
    ]

    source = x.VM.get_resident_on(vm)
    target = next(h for h in x.host.get_all() if h != source)
    x.VM.pool_migrate(vm, target, {})
    assert w.new() == [
        ("VM_MIGRATED", f"{me} migrated from host '{x.host.get_name_label(source)}' "
                        f"(uuid: {x.host.get_uuid(source)}) to host '{x.host.get_name_label(target)}' "
                        f"(uuid: {x.host.get_uuid(target)})"),
    ]

    x.VM.clean_shutdown(vm)
    assert w.new() == [("VM_SHUTDOWN", f"{me} shutdown")]
    x.VM.start_on(vm, target, False, False)
    assert w.new() == [("VM_STARTED", f"{me} started on host: {host_label(x, target)}")]
    x.VM.hard_shutdown(vm)
    assert w.new() == [("VM_SHUTDOWN", f"{me} shutdown forcibly")]

    # xapi files nothing for a clone (VM_CLONED is VM.csvm's) or a copy.
    clone = x.VM.clone(vm, "cloned")
    assert w.new() == []
    assert x.message.get("VM", x.VM.get_uuid(clone), EPOCH) == {}

    snap = x.VM.get_by_name_label("snap one")[0]
    x.VM.revert(snap)
    assert w.new() == [("VM_SNAPSHOT_REVERTED",
                        f"{me} reverted to snapshot: snap one (uuid {x.VM.get_uuid(snap)})")]
    assert x.message.get("VM", x.VM.get_uuid(snap), EPOCH) == {}


def test_async_forms_file_before_the_task_completes(fresh_sim):
    x = fresh_sim.session().xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    uuid = x.VM.get_uuid(vm)
    me = f"VM 'test-halted' (uuid: {uuid})"
    w = Watcher(x, uuid)
    assert wait_task(x, x.Async.VM.start(vm, False, False)) == "success"
    on = host_label(x, x.VM.get_resident_on(vm))
    assert w.new() == [("VM_STARTED", f"{me} started on host: {on}")]
    assert wait_task(x, x.Async.VM.snapshot(vm, "async snap")) == "success"
    assert wait_task(x, x.Async.VM.suspend(vm)) == "success"
    assert wait_task(x, x.Async.VM.hard_shutdown(vm)) == "success"
    assert w.new() == [
        ("VM_SNAPSHOTTED", f"{me} snapshotted, snapshot name: async snap"),
        ("VM_SUSPENDED", f"{me} suspended"),
        ("VM_SHUTDOWN", f"{me} shutdown forcibly"),
    ]
    # A failing Async call files nothing.
    assert wait_task(x, x.Async.VM.resume(vm, False, False)) == "failure"
    assert w.new() == []


def test_seen_through_get_since_get_all_records_and_events(fresh_sim):
    x = fresh_sim.session().xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    uuid = x.VM.get_uuid(vm)
    token = event_from(x, ["message"], "")["token"]
    before = x.host.get_servertime(x.host.get_all()[0])
    x.VM.start(vm, False, False)
    [(ref, rec)] = x.message.get_all_records().items()
    assert (rec["name"], rec["priority"], rec["cls"], rec["obj_uuid"]) == ("VM_STARTED", "5", "VM", uuid)
    assert x.message.get_since(before) == {ref: rec}
    assert x.message.get_all_records_where('field "name" = "VM_STARTED"') == {ref: rec}
    [add] = event_from(x, ["message"], token, 5.0)["events"]
    assert (add["class"], add["operation"], add["ref"]) == ("message", "add", ref)
    assert add["snapshot"] == rec
