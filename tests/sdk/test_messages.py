"""The message class through the official SDK: create and look up, events,
and persistence across a kill -9."""

import signal
import xmlrpc.client

import pytest
import XenAPI
from conftest import Sim

FIELDS = {"uuid", "name", "priority", "cls", "obj_uuid", "timestamp", "body"}


def event_from(x, classes, token, timeout=0.0):
    return getattr(x.event, "from")(classes, token, timeout)


def vm_uuid(x):
    return x.VM.get_uuid(x.VM.get_by_name_label("test-halted")[0])


def test_round_trip(fresh_sim):
    x = fresh_sim.session().xenapi
    uuid = vm_uuid(x)
    m = x.message.create("SDK_ALERT", "3", "VM", uuid, "something happened")
    rec = x.message.get_record(m)
    assert set(rec) == FIELDS
    assert (rec["name"], rec["priority"], rec["cls"], rec["obj_uuid"], rec["body"]) == \
        ("SDK_ALERT", "3", "VM", uuid, "something happened")
    assert isinstance(rec["timestamp"], xmlrpc.client.DateTime) and rec["timestamp"].value.endswith("Z")
    assert x.message.get_by_uuid(rec["uuid"]) == m
    assert x.message.get_all() == [m]
    assert x.message.get_all_records() == {m: rec}
    assert x.message.get_since(rec["timestamp"]) == {m: rec}
    assert x.message.get_since("29991231T00:00:00Z") == {}
    assert x.message.get("VM", uuid, "19700101T00:00:00Z") == {m: rec}
    assert x.message.get_all_records_where('field "name" = "SDK_ALERT"') == {m: rec}
    assert x.message.get_all_records_where('field "name" = "OTHER"') == {}
    x.message.destroy(m)
    assert x.message.get_all() == []
    with pytest.raises(XenAPI.Failure) as e:
        x.message.get_record(m)
    assert e.value.details == ["HANDLE_INVALID", "message", m]


def test_create_needs_an_existing_object(session):
    x = session.xenapi
    with pytest.raises(XenAPI.Failure) as e:
        x.message.create("N", "1", "SR", "no-such-uuid", "")
    assert e.value.details == ["UUID_INVALID", "SR", "no-such-uuid"]


def test_events_for_add_and_del(fresh_sim):
    x = fresh_sim.session().xenapi
    token = event_from(x, ["message"], "")["token"]
    m = x.message.create("EVENTFUL", "1", "VM", vm_uuid(x), "")
    batch = event_from(x, ["message"], token, 5.0)
    [add] = batch["events"]
    assert (add["class"], add["operation"], add["ref"]) == ("message", "add", m)
    assert add["snapshot"] == x.message.get_record(m)
    # A "*" subscription sees messages too.
    assert any(e["class"] == "message" for e in event_from(x, ["*"], token)["events"])
    x.message.destroy(m)
    [delete] = event_from(x, ["message"], batch["token"], 5.0)["events"]
    assert (delete["class"], delete["operation"], delete["ref"]) == ("message", "del", m)
    assert "snapshot" not in delete


def test_messages_survive_kill_9(tmp_path):
    state = str(tmp_path / "pool.state")
    sim = Sim("--state", state)
    x = sim.session().xenapi
    m = x.message.create("DURABLE", "2", "VM", vm_uuid(x), "kept")
    rec = x.message.get_record(m)
    sim.stop(signal.SIGKILL)
    again = Sim("--state", state)
    y = again.session().xenapi
    assert y.message.get_all_records() == {m: rec}
    again.stop()
