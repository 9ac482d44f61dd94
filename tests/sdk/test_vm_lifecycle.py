"""VM lifecycle end to end through the official SDK: the SDK guide's
walkthrough, the power-state machine and its errors, memory accounting,
clones, copies, snapshots, checkpoints, reverts, migration, the guest agent,
allowed/current operations and cancellable asynchronous operations."""

import signal
import threading
import time

import pytest
import XenAPI
from conftest import Sim, wait_for

NULL = "OpaqueRef:NULL"
GIB = 1 << 30
MIB = 1 << 20

HALTED_OPS = ["changing_NVRAM", "changing_dynamic_range", "changing_shadow_memory", "changing_static_range",
              "make_into_template", "migrate_send", "destroy", "export", "start_on", "start", "clone", "copy",
              "snapshot"]
RUNNING_OPS = ["changing_dynamic_range", "migrate_send", "pool_migrate", "changing_VCPUs_live", "suspend",
               "hard_reboot", "hard_shutdown", "clean_reboot", "clean_shutdown", "pause", "checkpoint", "snapshot"]
SUSPENDED_OPS = ["migrate_send", "export", "resume_on", "resume", "hard_shutdown", "clone", "copy", "snapshot"]
PAUSED_OPS = ["hard_reboot", "hard_shutdown", "unpause", "checkpoint", "snapshot"]


def failure(fn, *args):
    with pytest.raises(XenAPI.Failure) as e:
        fn(*args)
    return e.value.details


def event_from(x, classes, token, timeout):
    return getattr(x.event, "from")(classes, token, timeout)


def by_name(x, label):
    return x.VM.get_by_name_label(label)[0]


def install(x, name, template="Debian Bookworm 12", network=True):
    """clone + provision, as the SDK guide and `xe vm-install` do; adds a VIF."""
    vm = x.VM.clone(by_name(x, template), name)
    x.VM.provision(vm)
    if network:
        net = x.PIF.get_network(x.PIF.get_all_records_where('field "device" = "eth0"').popitem()[0])
        x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "", "MTU": "1500", "other_config": {},
                      "qos_algorithm_type": "", "qos_algorithm_params": {}})
    return vm


def host_free(x, host):
    free = int(x.host.compute_free_memory(host))
    # host_metrics.memory_free (removed from the API, still in records) agrees.
    assert int(x.host_metrics.get_record(x.host.get_metrics(host))["memory_free"]) == free
    return free


def vdi_exists(x, vdi):
    try:
        x.VDI.get_uuid(vdi)
        return True
    except XenAPI.Failure as e:
        assert e.details[0] == "HANDLE_INVALID"
        return False


# --- the SDK guide's walkthrough ------------------------------------------------

def test_sdk_guide_walkthrough(session):
    x = session.xenapi
    templates = [r for r, v in x.VM.get_all_records().items() if v["is_a_template"]
                 and v["name_label"] == "Debian Bookworm 12"]
    assert len(templates) == 1
    t = templates[0]

    vm = x.VM.clone(t, "my first VM")
    rec = x.VM.get_record(vm)
    assert rec["is_a_template"] and not rec["is_default_template"]
    assert rec["power_state"] == "Halted"
    assert "disks" in rec["other_config"]
    assert "default_template" not in rec["other_config"]
    assert rec["other_config"]["mac_seed"] != x.VM.get_other_config(t)["mac_seed"]

    x.VM.provision(vm)
    rec = x.VM.get_record(vm)
    assert rec["is_a_template"] is False
    assert "disks" not in rec["other_config"]
    assert len(rec["VBDs"]) == 1
    vbd = x.VBD.get_record(rec["VBDs"][0])
    assert (vbd["userdevice"], vbd["bootable"], vbd["mode"], vbd["type"]) == ("0", True, "RW", "Disk")
    assert "owner" in vbd["other_config"]
    vdi = x.VDI.get_record(vbd["VDI"])
    assert vdi["virtual_size"] == str(10 * GIB)
    assert vdi["type"] == "system"
    pool = x.pool.get_all()[0]
    assert vdi["SR"] == x.pool.get_default_SR(pool)
    assert x.VM_metrics.get_install_time(rec["metrics"])

    net = x.network.get_all_records_where('field "bridge" = "xenbr0"').popitem()[0]
    vif = x.VIF.create({"device": "0", "network": net, "VM": vm, "MAC": "", "MTU": "1500", "other_config": {},
                        "qos_algorithm_type": "", "qos_algorithm_params": {}})

    x.VM.start(vm, False, False)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Running"
    host = rec["resident_on"]
    assert vm in x.host.get_resident_VMs(host)
    assert int(rec["domid"]) > 0
    assert x.VBD.get_currently_attached(rec["VBDs"][0]) is True
    assert x.VIF.get_currently_attached(vif) is True
    assert x.VDI.get_sm_config(vbd["VDI"])[f"host_{host}"] == "RW"
    assert "destroy" not in x.VDI.get_allowed_operations(vbd["VDI"])
    metrics = x.VM_metrics.get_record(rec["metrics"])
    assert metrics["memory_actual"] == rec["memory_dynamic_max"]
    assert metrics["VCPUs_number"] == rec["VCPUs_at_startup"]
    assert metrics["state"] == ["running"]
    assert len(rec["consoles"]) == 1

    # install-debian waits for the guest agent to report an address.
    assert wait_for(lambda: "0/ip" in x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm)))
    gm = x.VM_guest_metrics.get_record(x.VM.get_guest_metrics(vm))
    assert gm["networks"]["0/ip"] == gm["networks"]["0/ipv4/0"]
    assert gm["networks"]["0/ip"].startswith("192.0.2.")
    assert gm["os_version"]["distro"] == "debian"
    assert gm["PV_drivers_detected"] and gm["PV_drivers_up_to_date"]
    assert gm["other"]["platform-feature-multiprocessor-suspend"] == "1"

    x.VM.suspend(vm)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Suspended"
    assert rec["resident_on"] == NULL and rec["domid"] == "-1"
    image = rec["suspend_VDI"]
    assert x.VDI.get_type(image) == "suspend"
    assert int(x.VDI.get_virtual_size(image)) >= int(rec["memory_static_max"])
    assert x.VBD.get_currently_attached(rec["VBDs"][0]) is False

    x.VM.resume(vm, False, False)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Running"
    assert rec["suspend_VDI"] == NULL
    assert not vdi_exists(x, image)

    x.VM.clean_shutdown(vm)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Halted"
    assert rec["resident_on"] == NULL and rec["domid"] == "-1"
    assert rec["guest_metrics"] == NULL
    assert rec["consoles"] == []
    assert vm not in x.host.get_resident_VMs(host)
    assert f"host_{host}" not in x.VDI.get_sm_config(vbd["VDI"])
    assert "destroy" in x.VDI.get_allowed_operations(vbd["VDI"])

    clone = x.VM.clone(vm, "my clone")
    crec = x.VM.get_record(clone)
    assert crec["power_state"] == "Halted" and not crec["is_a_template"]
    cvdi = x.VBD.get_VDI(crec["VBDs"][0])
    assert cvdi != vbd["VDI"] and x.VDI.get_SR(cvdi) == vdi["SR"]
    assert x.VIF.get_MAC(crec["VIFs"][0]) != x.VIF.get_MAC(vif)
    assert x.VIF.get_network(crec["VIFs"][0]) == net

    snap = x.VM.snapshot(vm, "before upgrade", [])
    srec = x.VM.get_record(snap)
    assert srec["is_a_snapshot"] and srec["is_a_template"]
    assert srec["snapshot_of"] == vm and snap in x.VM.get_snapshots(vm)
    assert srec["snapshot_info"]["power-state-at-snapshot"] == "Halted"
    assert x.VM.get_parent(vm) == snap
    assert x.VIF.get_MAC(srec["VIFs"][0]) == x.VIF.get_MAC(vif)
    sdisk = x.VBD.get_VDI(srec["VBDs"][0])
    assert x.VDI.get_is_a_snapshot(sdisk) and x.VDI.get_snapshot_of(sdisk) == vbd["VDI"]

    x.VM.set_name_description(vm, "changed after the snapshot")
    x.VM.revert(snap)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Halted"
    assert rec["name_description"] == srec["name_description"]
    assert rec["name_label"] == "my first VM"
    new_disk = x.VBD.get_VDI(rec["VBDs"][0])
    assert new_disk != vbd["VDI"]
    assert not vdi_exists(x, vbd["VDI"])
    assert x.VDI.get_snapshot_of(sdisk) == new_disk

    for v in (vm, clone, snap):
        disks = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(v) if x.VBD.get_type(b) == "Disk"]
        x.VM.destroy(v)
        assert all(vdi_exists(x, d) for d in disks)  # VM.destroy leaves the disks
        for d in disks:
            x.VDI.destroy(d)
    assert not x.VM.get_by_name_label("my first VM")


def test_provision_only_on_templates(session):
    x = session.xenapi
    vm = x.VM.clone(by_name(x, "Debian Bookworm 12"), "not a template any more")
    x.VM.set_is_a_template(vm, False)
    assert failure(x.VM.provision, vm) == ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]
    x.VM.destroy(vm)


def test_provision_into_named_sr_and_out_of_space(session):
    x = session.xenapi
    local = x.SR.get_by_name_label("Local storage")[0]
    vm = x.VM.clone(by_name(x, "Debian Bookworm 12"), "provisioned locally")
    spec = x.VM.get_other_config(vm)["disks"].replace('sr=""', f'sr="{x.SR.get_uuid(local)}"')
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", spec)
    used = int(x.SR.get_physical_utilisation(local))
    x.VM.provision(vm)
    vdi = x.VBD.get_VDI(x.VM.get_VBDs(vm)[0])
    assert x.VDI.get_SR(vdi) == local
    # Local storage is thick LVM: the whole disk (and its VHD metadata) is allocated.
    grew = int(x.SR.get_physical_utilisation(local)) - used
    assert grew == int(x.VDI.get_physical_utilisation(vdi)) >= 10 * GIB
    assert x.VDI.get_name_label(vdi) == "0"
    assert x.VDI.get_sm_config(vdi)["vmhint"] == x.VM.get_uuid(vm)

    big = x.VM.clone(by_name(x, "Debian Bookworm 12"), "too big")
    x.VM.remove_from_other_config(big, "disks")
    x.VM.add_to_other_config(big, "disks", f'<provision><disk device="0" size="{1 << 50}" '
                                           f'sr="{x.SR.get_uuid(local)}" bootable="true" type="system"/></provision>')
    assert failure(x.VM.provision, big) == ["PROVISION_FAILED_OUT_OF_SPACE"]
    assert x.VM.get_is_a_template(big) is True
    bad = x.VM.clone(by_name(x, "Debian Bookworm 12"), "bad sr")
    x.VM.remove_from_other_config(bad, "disks")
    x.VM.add_to_other_config(bad, "disks", '<provision><disk device="0" size="1" sr="nope" bootable="true"/>'
                                           '</provision>')
    assert failure(x.VM.provision, bad) == ["UUID_INVALID", "sr", "nope"]
    for v in (vm, big, bad):
        x.VM.destroy(v)
    x.VDI.destroy(vdi)


# --- errors of the power-state machine -----------------------------------------------

def test_bad_power_state_errors(session):
    x = session.xenapi
    running = by_name(x, "web01")
    halted = by_name(x, "test-halted")
    suspended = by_name(x, "build-suspended")
    assert failure(x.VM.start, running, False, False) == ["VM_BAD_POWER_STATE", running, "halted", "running"]
    assert failure(x.VM.clean_shutdown, halted) == ["VM_BAD_POWER_STATE", halted, "running", "halted"]
    assert failure(x.VM.hard_shutdown, halted) == \
        ["VM_BAD_POWER_STATE", halted, "paused, suspended, running", "halted"]
    assert failure(x.VM.resume, running, False, False) == ["VM_BAD_POWER_STATE", running, "suspended", "running"]
    assert failure(x.VM.unpause, running) == ["VM_BAD_POWER_STATE", running, "paused", "running"]
    assert failure(x.VM.suspend, suspended) == ["VM_BAD_POWER_STATE", suspended, "running", "suspended"]
    assert failure(x.VM.destroy, running) == ["VM_BAD_POWER_STATE", running, "halted", "running"]
    assert failure(x.VM.destroy, suspended) == ["VM_BAD_POWER_STATE", suspended, "halted", "suspended"]
    assert failure(x.VM.clone, running, "x") == ["VM_BAD_POWER_STATE", running, "halted, suspended", "running"]
    assert failure(x.VM.pool_migrate, halted, x.host.get_all()[0], {}) == \
        ["VM_BAD_POWER_STATE", halted, "running", "halted"]
    assert failure(x.VM.hard_reboot, suspended) == ["VM_BAD_POWER_STATE", suspended, "paused, running", "suspended"]
    assert failure(x.VM.provision, halted) == ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]
    assert failure(x.VM.revert, halted) == ["REVERT_ONLY_ALLOWED_ON_SNAPSHOT"]
    bogus = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert failure(x.VM.start, bogus, False, False) == ["HANDLE_INVALID", "VM", bogus]
    assert failure(x.VM.start_on, halted, bogus, False, False) == ["HANDLE_INVALID", "host", bogus]


def test_templates_and_snapshots_cannot_start(session):
    x = session.xenapi
    t = by_name(x, "Debian Bookworm 12")
    assert failure(x.VM.start, t, False, False) == ["VM_IS_TEMPLATE", t, "start"]
    assert failure(x.VM.snapshot, t, "s", []) == ["VM_IS_TEMPLATE", t, "snapshot"]
    assert failure(x.VM.destroy, t) == ["VM_CANNOT_DELETE_DEFAULT_TEMPLATE", t]
    halted = by_name(x, "test-halted")
    snap = x.VM.snapshot(halted, "a snapshot", [])
    assert failure(x.VM.start, snap, False, False) == ["VM_IS_SNAPSHOT", snap, "start"]
    assert failure(x.VM.provision, snap) == ["VM_IS_SNAPSHOT", snap, "provision"]
    own = x.VM.clone(t, "my template")
    assert "destroy" in x.VM.get_allowed_operations(own)
    x.VM.destroy(own)
    x.VM.destroy(snap)


def test_control_domain_is_protected(session):
    x = session.xenapi
    dom0 = [r for r, v in x.VM.get_all_records().items() if v["is_control_domain"]][0]
    assert x.VM.get_allowed_operations(dom0) == ["changing_dynamic_range"]
    msg = "This operation is not allowed on a control domain"
    assert failure(x.VM.clean_shutdown, dom0) == ["OPERATION_NOT_ALLOWED", msg]
    assert failure(x.VM.hard_reboot, dom0) == ["OPERATION_NOT_ALLOWED", msg]
    assert failure(x.VM.suspend, dom0) == ["OPERATION_NOT_ALLOWED", msg]
    assert failure(x.VM.power_state_reset, dom0) == ["CANNOT_RESET_CONTROL_DOMAIN", dom0]


def test_blocked_operations(session):
    x = session.xenapi
    vm = by_name(x, "test-halted")
    x.VM.add_to_blocked_operations(vm, "start", "maintenance window")
    try:
        assert failure(x.VM.start, vm, False, False) == ["OPERATION_BLOCKED", vm, "maintenance window"]
        x.VM.update_allowed_operations(vm)
        assert "start" not in x.VM.get_allowed_operations(vm)
        assert failure(x.VM.assert_operation_valid, vm, "start")[0] == "OPERATION_BLOCKED"
    finally:
        x.VM.remove_from_blocked_operations(vm, "start")
        x.VM.update_allowed_operations(vm)
    assert "start" in x.VM.get_allowed_operations(vm)


# --- allowed operations per state ---------------------------------------------------

def test_allowed_operations_follow_the_state(session):
    x = session.xenapi
    vm = install(x, "ops")
    assert x.VM.get_allowed_operations(vm) == HALTED_OPS
    x.VM.start(vm, False, False)
    assert x.VM.get_allowed_operations(vm) == RUNNING_OPS
    x.VM.pause(vm)
    assert x.VM.get_power_state(vm) == "Paused"
    assert x.VM_metrics.get_state(x.VM.get_metrics(vm)) == ["paused"]
    assert x.VM.get_allowed_operations(vm) == PAUSED_OPS
    x.VM.unpause(vm)
    assert x.VM.get_allowed_operations(vm) == RUNNING_OPS
    x.VM.suspend(vm)
    assert x.VM.get_allowed_operations(vm) == SUSPENDED_OPS
    x.VM.hard_shutdown(vm)
    assert x.VM.get_allowed_operations(vm) == HALTED_OPS
    assert x.VM.get_current_operations(vm) == {}
    # The fixture's VMs carry the same lists.
    assert x.VM.get_allowed_operations(by_name(x, "web01")) == RUNNING_OPS
    assert sorted(x.VM.get_allowed_operations(by_name(x, "build-suspended"))) == sorted(SUSPENDED_OPS)
    destroy_with_disks(x, vm)


def destroy_with_disks(x, vm):
    disks = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "Disk"]
    x.VM.destroy(vm)
    for d in disks:
        x.VDI.destroy(d)


# --- reboots, pause, suspend images ----------------------------------------------------

def test_reboots_and_domids(session):
    x = session.xenapi
    vm = install(x, "rebooter")
    x.VM.start(vm, False, False)
    d1 = int(x.VM.get_domid(vm))
    host = x.VM.get_resident_on(vm)
    x.VM.clean_reboot(vm)
    d2 = int(x.VM.get_domid(vm))
    assert d2 > d1 and x.VM.get_resident_on(vm) == host
    x.VM.pause(vm)
    x.VM.hard_reboot(vm)
    assert x.VM.get_power_state(vm) == "Running"
    assert int(x.VM.get_domid(vm)) > d2
    assert wait_for(lambda: x.VM.get_guest_metrics(vm) != NULL)
    x.VM.shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"
    # Domids keep counting up on a host.
    x.VM.start_on(vm, host, True, False)
    assert x.VM.get_power_state(vm) == "Paused"
    assert int(x.VM.get_domid(vm)) > d2 + 1
    x.VM.hard_shutdown(vm)
    destroy_with_disks(x, vm)


def test_hard_shutdown_of_suspended_vm_drops_its_image(session):
    x = session.xenapi
    vm = install(x, "sleeper")
    x.VM.start(vm, False, False)
    x.VM.suspend(vm)
    image = x.VM.get_suspend_VDI(vm)
    sr = x.VDI.get_SR(image)
    pool = x.pool.get_all()[0]
    assert sr == x.pool.get_suspend_image_SR(pool)
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"
    assert x.VM.get_suspend_VDI(vm) == NULL
    assert not vdi_exists(x, image)
    destroy_with_disks(x, vm)


def test_suspend_uses_the_vms_suspend_sr(session):
    x = session.xenapi
    vm = install(x, "picky sleeper")
    x.VM.start(vm, False, False)
    local = x.host.get_suspend_image_sr(x.VM.get_resident_on(vm))
    x.VM.set_suspend_SR(vm, local)
    x.VM.suspend(vm)
    assert x.VDI.get_SR(x.VM.get_suspend_VDI(vm)) == local
    x.VM.power_state_reset(vm)
    destroy_with_disks(x, vm)


def test_power_state_reset(session):
    x = session.xenapi
    vm = install(x, "wedged")
    x.VM.start(vm, False, False)
    host = x.VM.get_resident_on(vm)
    x.VM.power_state_reset(vm)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Halted" and rec["resident_on"] == NULL
    assert vm not in x.host.get_resident_VMs(host)
    assert all(not x.VBD.get_currently_attached(b) for b in rec["VBDs"])
    x.VM.start(vm, False, False)
    x.VM.suspend(vm)
    image = x.VM.get_suspend_VDI(vm)
    x.VM.power_state_reset(vm)
    assert x.VM.get_power_state(vm) == "Halted"
    assert not vdi_exists(x, image)
    destroy_with_disks(x, vm)


# --- memory accounting ------------------------------------------------------------------

def test_memory_accounting_and_placement(fresh_sim):
    x = fresh_sim.session().xenapi
    hosts = x.host.get_all()
    free = {h: host_free(x, h) for h in hosts}
    vm = install(x, "big")
    x.VM.set_memory_limits(vm, str(GIB), str(200 * GIB), str(200 * GIB), str(200 * GIB))
    overhead = int(x.VM.compute_memory_overhead(vm))
    assert overhead > 0
    need = 200 * GIB + overhead
    placed = []
    # Each start goes to the host with most free memory; the pool fits three.
    for i in range(3):
        v = x.VM.clone(vm, f"big{i}")
        x.VM.start(v, False, False)
        h = x.VM.get_resident_on(v)
        assert h not in [p for _, p in placed]
        assert host_free(x, h) == free[h] - need
        assert int(x.VM.get_memory_overhead(v)) == overhead
        placed.append((v, h))
    assert x.VM.get_possible_hosts(vm) == []
    assert failure(x.VM.start, vm, False, False) == ["NO_HOSTS_AVAILABLE"]
    h = placed[0][1]
    assert failure(x.VM.start_on, vm, h, False, False) == \
        ["HOST_NOT_ENOUGH_FREE_MEMORY", str(need), str(host_free(x, h))]
    assert failure(x.VM.assert_can_boot_here, vm, h)[0] == "HOST_NOT_ENOUGH_FREE_MEMORY"
    # Suspending frees the memory; resume finds room again.
    x.VM.suspend(placed[0][0])
    assert host_free(x, h) == free[h]
    assert h in x.VM.get_possible_hosts(vm)
    x.VM.resume(placed[0][0], False, False)
    assert x.VM.get_resident_on(placed[0][0]) == h
    for v, h in placed:
        x.VM.hard_shutdown(v)
        assert host_free(x, h) == free[h]


def test_affinity_host_is_preferred(fresh_sim):
    x = fresh_sim.session().xenapi
    hosts = x.host.get_all()
    vm = install(x, "attached")
    x.VM.set_affinity(vm, hosts[1])
    x.VM.start(vm, False, False)
    assert x.VM.get_resident_on(vm) == hosts[1]


def test_local_disks_pin_a_vm_to_its_host(fresh_sim):
    x = fresh_sim.session().xenapi
    web01 = by_name(x, "web01")
    host = x.VM.get_resident_on(web01)
    x.VM.hard_shutdown(web01)
    assert x.VM.get_possible_hosts(web01) == [host]
    x.VM.start(web01, False, False)
    assert x.VM.get_resident_on(web01) == host
    other = [h for h in x.host.get_all() if h != host][0]
    sr = x.VDI.get_SR(x.VBD.get_VDI(x.VM.get_VBDs(web01)[0]))
    assert failure(x.VM.pool_migrate, web01, other, {}) == ["VM_REQUIRES_SR", web01, sr]


def test_pool_migrate(fresh_sim):
    x = fresh_sim.session().xenapi
    db01 = by_name(x, "db01")
    src = x.VM.get_resident_on(db01)
    dst = [h for h in x.host.get_all() if h != src][-1]
    free_src, free_dst = host_free(x, src), host_free(x, dst)
    start_time = x.VM_metrics.get_start_time(x.VM.get_metrics(db01))
    x.VM.pool_migrate(db01, dst, {"live": "true"})
    assert x.VM.get_resident_on(db01) == dst
    assert db01 in x.host.get_resident_VMs(dst) and db01 not in x.host.get_resident_VMs(src)
    assert x.VM.get_power_state(db01) == "Running"
    need = int(x.VM_metrics.get_memory_actual(x.VM.get_metrics(db01))) + int(x.VM.get_memory_overhead(db01))
    assert host_free(x, src) == free_src + need
    assert host_free(x, dst) == free_dst - need
    assert x.VM_metrics.get_start_time(x.VM.get_metrics(db01)) == start_time
    address = x.host.get_address(dst)
    assert all(address in x.console.get_location(c) for c in x.VM.get_consoles(db01))
    # Localhost migration is allowed, as in xapi.
    x.VM.pool_migrate(db01, dst, {})
    assert x.VM.get_resident_on(db01) == dst


# --- clone, copy, snapshots ------------------------------------------------------------------

def test_copy_to_another_sr(session):
    x = session.xenapi
    vm = by_name(x, "test-halted")
    local = x.SR.get_by_name_label("Local storage")[0]
    iso = x.SR.get_by_name_label("ISO library")[0]
    assert failure(x.VM.copy, vm, "to iso", iso) == ["OPERATION_NOT_ALLOWED", "Cannot copy a VM's disks to an ISO SR"]
    copy = x.VM.copy(vm, "copied", local)
    disk_vbds = [b for b in x.VM.get_VBDs(copy) if x.VBD.get_type(b) == "Disk"]
    cd_vbds = [b for b in x.VM.get_VBDs(copy) if x.VBD.get_type(b) == "CD"]
    assert disk_vbds and all(x.VDI.get_SR(x.VBD.get_VDI(b)) == local for b in disk_vbds)
    orig_cd = [b for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "CD"][0]
    assert x.VBD.get_VDI(cd_vbds[0]) == x.VBD.get_VDI(orig_cd)  # media are shared, not copied
    same = x.VM.copy(vm, "copied in place", NULL)
    orig_sr = x.VDI.get_SR(x.VBD.get_VDI([b for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "Disk"][0]))
    assert x.VDI.get_SR(x.VBD.get_VDI([b for b in x.VM.get_VBDs(same) if x.VBD.get_type(b) == "Disk"][0])) == orig_sr
    destroy_with_disks(x, copy)
    destroy_with_disks(x, same)


def test_clone_of_suspended_vm_stays_suspended(session):
    x = session.xenapi
    vm = by_name(x, "build-suspended")
    clone = x.VM.clone(vm, "suspended clone")
    assert x.VM.get_power_state(clone) == "Suspended"
    image = x.VM.get_suspend_VDI(clone)
    assert image != NULL and image != x.VM.get_suspend_VDI(vm)
    x.VM.hard_shutdown(clone)
    assert not vdi_exists(x, image)
    destroy_with_disks(x, clone)


def test_snapshot_tree_and_ignore_vdis(session):
    x = session.xenapi
    vm = by_name(x, "db01")  # running, two disks and a CD
    disks = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "Disk"]
    s1 = x.VM.snapshot(vm, "s1", [])
    s2 = x.VM.snapshot(vm, "s2", [disks[1]])
    assert x.VM.get_parent(s1) == NULL
    assert x.VM.get_parent(s2) == s1
    assert x.VM.get_children(s1) == [s2]
    assert x.VM.get_parent(vm) == s2
    assert set(x.VM.get_snapshots(vm)) >= {s1, s2}
    assert x.VM.get_snapshot_info(s1)["power-state-at-snapshot"] == "Running"
    assert x.VM.get_power_state(s1) == "Halted"
    assert len([b for b in x.VM.get_VBDs(s2) if x.VBD.get_type(b) == "Disk"]) == 1
    assert x.VM.get_guest_metrics(s1) not in (NULL, x.VM.get_guest_metrics(vm))
    assert x.VM.get_allowed_operations(s1) == ["destroy", "export", "revert", "clone", "copy"]
    # Destroying s1 moves its child up to s1's parent.
    s1_disks = [x.VBD.get_VDI(b) for b in x.VM.get_VBDs(s1) if x.VBD.get_type(b) == "Disk"]
    x.VM.destroy(s1)
    assert x.VM.get_parent(s2) == NULL
    for d in s1_disks:
        x.VDI.destroy(d)
    destroy_with_disks(x, s2)


def test_checkpoint_and_revert(fresh_sim):
    x = fresh_sim.session().xenapi
    vm = by_name(x, "web01")
    cp = x.VM.checkpoint(vm, "cp")
    assert x.VM.get_power_state(cp) == "Suspended"
    assert x.VM.get_is_a_snapshot(cp)
    assert x.VDI.get_type(x.VM.get_suspend_VDI(cp)) == "suspend"
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_allowed_operations(cp) == ["destroy", "export", "hard_shutdown", "revert", "clone", "copy"]
    x.VM.revert(cp)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Suspended"
    assert rec["suspend_VDI"] not in (NULL, x.VM.get_suspend_VDI(cp))
    assert rec["parent"] == cp
    x.VM.resume(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    # Checkpoints are destroyed while suspended.
    x.VM.destroy(cp)


def test_templates_clone_into_templates(session):
    x = session.xenapi
    t = x.VM.clone(by_name(x, "Windows 11"), "my windows template")
    rec = x.VM.get_record(t)
    assert rec["is_a_template"] and not rec["is_default_template"]
    assert rec["other_config"]["base_template_name"] == "Windows 11"
    x.VM.destroy(t)


# --- devices and memory queries ------------------------------------------------------------

def test_device_and_memory_queries(session):
    x = session.xenapi
    vm = by_name(x, "test-halted")  # disk 0 and CD 3; VIF 0
    assert x.VM.get_allowed_VBD_devices(vm) == [str(n) for n in range(16) if n not in (0, 3)]
    assert x.VM.get_allowed_VIF_devices(vm) == [str(n) for n in range(1, 7)]
    overhead = int(x.VM.compute_memory_overhead(vm))
    assert overhead == int(x.VM.get_memory_overhead(vm))
    m = int(x.VM.maximise_memory(vm, str(8 * GIB), False))
    assert m % MIB == 0 and 7 * GIB < m < 8 * GIB
    assert int(x.VM.maximise_memory(vm, str(8 * GIB), True)) <= m
    assert x.VM.get_cooperative(vm) is True
    # Halted: no domain, no RRD; xapi refuses the data-source operation.
    assert failure(x.VM.get_data_sources, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    web01 = by_name(x, "web01")
    names = [d["name_label"] for d in x.VM.get_data_sources(web01)]
    assert {"cpu0", "cpu1", "memory", "memory_target", "vif_0_rx", "vbd_xvda_read"} <= set(names)
    actual = int(x.VM_metrics.get_memory_actual(x.VM.get_metrics(web01)))
    assert float(x.VM.query_data_source(web01, "memory")) == actual
    assert 0 < float(x.VM.query_data_source(web01, "cpu0")) < 1
    code, detail = failure(x.VM.query_data_source, web01, "CPU0 usage")
    assert code == "INTERNAL_ERROR" and "Invalid_data_source" in detail


def test_memory_limits(session):
    x = session.xenapi
    running = by_name(x, "web01")
    assert failure(x.VM.set_memory_static_max, running, str(8 * GIB)) == \
        ["VM_BAD_POWER_STATE", running, "halted", "running"]
    x.VM.set_memory_dynamic_range(running, str(GIB), str(GIB))
    assert x.VM_metrics.get_memory_actual(x.VM.get_metrics(running)) == str(GIB)
    x.VM.set_memory_dynamic_range(running, str(2 * GIB), str(2 * GIB))
    vm = install(x, "limits")
    assert failure(x.VM.set_memory_limits, vm, str(4 * GIB), str(2 * GIB), str(2 * GIB), str(2 * GIB)) == \
        ["MEMORY_CONSTRAINT_VIOLATION_ORDER"]
    x.VM.set_memory(vm, str(3 * GIB))
    assert [x.VM.get_memory_static_max(vm), x.VM.get_memory_dynamic_max(vm)] == [str(3 * GIB)] * 2
    x.VM.set_VCPUs_max(vm, "4")
    x.VM.set_VCPUs_at_startup(vm, "2")
    assert failure(x.VM.set_VCPUs_at_startup, vm, "8") == ["INVALID_VALUE", "VCPUs_at_startup", "8"]
    x.VM.start(vm, False, False)
    x.VM.set_VCPUs_number_live(vm, "3")
    assert x.VM_metrics.get_VCPUs_number(x.VM.get_metrics(vm)) == "3"
    assert failure(x.VM.set_VCPUs_max, vm, "8")[0] == "VM_BAD_POWER_STATE"
    x.VM.hard_shutdown(vm)
    destroy_with_disks(x, vm)


def test_vm_create_gets_metrics_and_operations(session):
    x = session.xenapi
    vm = x.VM.create({
        "name_label": "from scratch", "name_description": "", "user_version": "1", "is_a_template": False,
        "affinity": NULL, "memory_static_max": str(GIB), "memory_dynamic_max": str(GIB),
        "memory_dynamic_min": str(GIB), "memory_static_min": str(GIB), "VCPUs_params": {}, "VCPUs_max": "1",
        "VCPUs_at_startup": "1", "actions_after_shutdown": "destroy", "actions_after_reboot": "restart",
        "actions_after_crash": "restart", "PV_bootloader": "", "PV_kernel": "", "PV_ramdisk": "", "PV_args": "",
        "PV_bootloader_args": "", "PV_legacy_args": "", "HVM_boot_policy": "BIOS order",
        "HVM_boot_params": {"order": "dc"}, "platform": {}, "PCI_bus": "", "other_config": {},
        "recommendations": "", "domain_type": "hvm"})
    rec = x.VM.get_record(vm)
    assert rec["metrics"] != NULL and rec["domid"] == "-1"
    assert rec["allowed_operations"] == HALTED_OPS
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.hard_shutdown(vm)
    metrics = rec["metrics"]
    x.VM.destroy(vm)
    with pytest.raises(XenAPI.Failure):
        x.VM_metrics.get_uuid(metrics)


# --- events -----------------------------------------------------------------------------------

def test_event_from_sees_power_state_changes(session):
    x = session.xenapi
    vm = install(x, "watched")
    token = event_from(x, ["vm"], "", 0.0)["token"]
    x.VM.start(vm, False, False)
    r = event_from(x, ["vm"], token, 5.0)
    mods = [e for e in r["events"] if e["ref"] == vm and e["operation"] == "mod"]
    assert mods and mods[-1]["snapshot"]["power_state"] == "Running"
    token = r["token"]
    x.VM.hard_shutdown(vm)
    r = event_from(x, ["vm"], token, 5.0)
    assert [e for e in r["events"] if e["ref"] == vm][-1]["snapshot"]["power_state"] == "Halted"
    destroy_with_disks(x, vm)


# --- simulated time: progress, cancel, concurrency, the agent's delay ----------------------------

@pytest.fixture(scope="module")
def slow_sim():
    s = Sim("--time-scale", "0.5")
    yield s
    s.stop()


def test_async_start_reports_progress_and_can_be_cancelled(slow_sim):
    x = slow_sim.session().xenapi
    vm = by_name(x, "test-halted")
    task = x.Async.VM.start(vm, False, False)
    assert wait_for(lambda: x.VM.get_current_operations(vm) == {task: "start"})
    assert "start" not in x.VM.get_allowed_operations(vm)
    assert failure(x.VM.start, vm, False, False) == ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "start", task]
    seen = []
    assert wait_for(lambda: seen.append(float(x.task.get_progress(task))) or seen[-1] >= 0.3)
    assert seen == sorted(seen) and seen[-1] > 0
    x.task.cancel(task)
    assert wait_for(lambda: x.task.get_status(task) != "cancelling", 5)
    assert x.task.get_status(task) == "cancelled"
    assert x.task.get_error_info(task) == ["TASK_CANCELLED", task]
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Halted"
    assert rec["current_operations"] == {}
    assert rec["scheduled_to_be_resident_on"] == NULL
    assert "start" in rec["allowed_operations"]


def test_async_start_then_agent_reports_later(slow_sim):
    x = slow_sim.session().xenapi
    vm = by_name(x, "test-halted")
    started = time.time()
    task = x.Async.VM.start(vm, False, False)
    assert wait_for(lambda: x.task.get_status(task) != "pending", 10)
    assert x.task.get_status(task) == "success"
    assert time.time() - started >= 0.8  # 2 s of boot at half speed
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_guest_metrics(vm) == NULL  # the agent needs another second
    assert wait_for(lambda: x.VM.get_guest_metrics(vm) != NULL, 5)
    assert "0/ip" in x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm))
    # A hard shutdown may overtake a clean one.
    clean = x.Async.VM.clean_shutdown(vm)
    assert wait_for(lambda: x.VM.get_current_operations(vm) == {clean: "clean_shutdown"})
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"
    assert wait_for(lambda: x.task.get_status(clean) != "pending", 10)
    assert x.task.get_status(clean) == "success"
    assert x.VM.get_current_operations(vm) == {}


def test_long_copies_may_run_together(slow_sim):
    x = slow_sim.session().xenapi
    vm = by_name(x, "test-halted")
    t1 = x.Async.VM.clone(vm, "c1")
    t2 = x.Async.VM.copy(vm, "c2", NULL)
    assert wait_for(lambda: len(x.VM.get_current_operations(vm)) == 2)
    assert sorted(x.VM.get_current_operations(vm).values()) == ["clone", "copy"]
    err = failure(x.VM.start, vm, False, False)
    assert err[:3] == ["OTHER_OPERATION_IN_PROGRESS", "VM", vm]
    assert err[3] in ("{clone,copy}", "{copy,clone}")
    for t in (t1, t2):
        assert wait_for(lambda: x.task.get_status(t) != "pending", 10)
        assert x.task.get_status(t) == "success"
        new = x.task.get_result(t)[len("<value>"):-len("</value>")]
        assert x.VM.get_power_state(new) == "Halted"
        destroy_with_disks(x, new)


def test_cancelled_copy_leaves_nothing_behind(slow_sim):
    x = slow_sim.session().xenapi
    vm = by_name(x, "test-halted")
    vdis = set(x.VDI.get_all())
    vms = set(x.VM.get_all())
    task = x.Async.VM.copy(vm, "never finished", NULL)
    assert wait_for(lambda: float(x.task.get_progress(task)) > 0)
    x.task.cancel(task)
    assert wait_for(lambda: x.task.get_status(task) not in ("pending", "cancelling"), 10)
    assert x.task.get_status(task) == "cancelled"
    assert set(x.VDI.get_all()) == vdis
    assert set(x.VM.get_all()) == vms
    assert x.VM.get_current_operations(vm) == {}


def test_storage_usage_follows_lifecycle(session):
    x = session.xenapi
    nfs = x.pool.get_default_SR(x.pool.get_all()[0])

    def consistent():
        vdis = x.SR.get_VDIs(nfs)
        total = sum(int(x.VDI.get_physical_utilisation(v)) for v in vdis)
        assert int(x.SR.get_physical_utilisation(nfs)) == total

    consistent()
    vm = install(x, "storage user")
    consistent()
    x.VM.start(vm, False, False)
    snap = x.VM.snapshot(vm, "snap", [])
    x.VM.suspend(vm)
    consistent()
    clone = x.VM.clone(vm, "suspended clone")
    consistent()
    x.VM.hard_shutdown(clone)
    x.VM.revert(snap)
    consistent()
    assert x.VM.get_power_state(vm) == "Halted"
    for v in (clone, snap, vm):
        destroy_with_disks(x, v)
    consistent()


def test_synchronous_calls_run_under_a_task_too(slow_sim):
    x = slow_sim.session().xenapi
    vm = by_name(x, "test-halted")
    if x.VM.get_power_state(vm) != "Halted":
        x.VM.hard_shutdown(vm)
    outcome = []

    def start():
        s = slow_sim.session("sync-starter")
        try:
            s.xenapi.VM.start(vm, False, False)
            outcome.append("ok")
        except XenAPI.Failure as e:
            outcome.append(e.details)

    t = threading.Thread(target=start)
    t.start()
    assert wait_for(lambda: x.VM.get_current_operations(vm) != {})
    (task, op), = x.VM.get_current_operations(vm).items()
    assert op == "start"
    assert x.task.get_name_label(task) == "VM.start"
    x.task.cancel(task)
    t.join(10)
    assert outcome == [["TASK_CANCELLED", task]]
    assert x.VM.get_power_state(vm) == "Halted"
    assert x.VM.get_current_operations(vm) == {}
    with pytest.raises(XenAPI.Failure):
        x.task.get_status(task)  # a synchronous call's task goes with the call


def test_an_operation_cut_short_by_a_crash_does_not_wedge_the_vm(tmp_path):
    state = str(tmp_path / "pool.state")
    sim = Sim("--state", state, "--time-scale", "1")
    x = sim.session().xenapi
    vm = by_name(x, "test-halted")
    x.Async.VM.start(vm, False, False)
    assert wait_for(lambda: x.VM.get_current_operations(vm) != {})
    sim.stop(signal.SIGKILL)
    again = Sim("--state", state, "--time-scale", "0")
    try:
        y = again.session().xenapi
        assert y.VM.get_power_state(vm) == "Halted"
        # The task died with the process; its operation and reservation no longer count.
        y.VM.assert_operation_valid(vm, "start")
        y.VM.start(vm, False, False)
        assert y.VM.get_current_operations(vm) == {}
        assert "clean_shutdown" in y.VM.get_allowed_operations(vm)
    finally:
        again.stop()


def test_bios_strings_agility_and_triggers(session):
    x = session.xenapi
    host = x.host.get_all()[0]
    oem = install(x, "oem install")
    x.VM.copy_bios_strings(oem, host)
    assert x.VM.get_bios_strings(oem) == x.host.get_bios_strings(host)
    assert x.VM.get_affinity(oem) == host
    assert failure(x.VM.copy_bios_strings, oem, host) == ["VM_BIOS_STRINGS_ALREADY_SET"]
    custom = install(x, "custom bios")
    assert failure(x.VM.set_bios_strings, custom, {"oem-1": "x"}) == ["INVALID_VALUE", "oem-1", "x"]
    x.VM.set_bios_strings(custom, {"system-serial-number": "SN-1"})
    strings = x.VM.get_bios_strings(custom)
    assert strings["system-serial-number"] == "SN-1" and strings["bios-vendor"] == "Xen"
    # A first boot gives an HVM guest the generic strings.
    plain = install(x, "plain bios")
    assert x.VM.get_bios_strings(plain) == {}
    x.VM.start(plain, False, False)
    assert x.VM.get_bios_strings(plain)["system-product-name"] == "HVM domU"
    x.VM.send_sysrq(plain, "b")
    x.VM.send_trigger(plain, "nmi")
    assert failure(x.VM.send_sysrq, oem, "b") == ["VM_BAD_POWER_STATE", oem, "running", "halted"]
    x.VM.assert_agile(plain)  # NFS disk, eth0 on every host
    web01 = by_name(x, "web01")
    local = x.VDI.get_SR(x.VBD.get_VDI(x.VM.get_VBDs(web01)[0]))
    assert failure(x.VM.assert_agile, web01) == ["HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", local]
    assert failure(x.VM.retrieve_wlb_recommendations, plain) == ["WLB_NOT_INITIALIZED"]
    x.VM.hard_shutdown(plain)
    for v in (oem, custom, plain):
        destroy_with_disks(x, v)
