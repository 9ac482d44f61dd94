"""event.from and event.register/next semantics."""

import threading
import time

import pytest
import XenAPI


def test_event_from_empty_token_lists_current_objects(session):
    x = session.xenapi
    r = event_from(x, ["vm"], "", 0.0)
    vms = x.VM.get_all()
    refs = {e["ref"] for e in r["events"]}
    assert refs == set(vms)
    assert all(e["class"] == "vm" and e["operation"] == "add" for e in r["events"])
    assert all(e["snapshot"]["uuid"] == x.VM.get_uuid(e["ref"]) for e in r["events"])
    assert r["token"]
    assert int(r["valid_ref_counts"]["vm"]) == len(vms)


def event_from(x, classes, token, timeout):
    return getattr(x.event, "from")(classes, token, timeout)


def test_event_from_times_out_without_changes(session):
    x = session.xenapi
    token = event_from(x, ["vm"], "", 0.0)["token"]
    start = time.time()
    r = event_from(x, ["vm"], token, 1.0)
    took = time.time() - start
    assert r["events"] == []
    assert 0.9 <= took < 3.0


def test_event_from_wakes_on_change(sim, session):
    x = session.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    token = event_from(x, ["vm"], "", 0.0)["token"]

    def change():
        time.sleep(0.3)
        other = sim.session("changer")
        other.xenapi.VM.set_name_description(vm, "woken")
        other.xenapi.session.logout()

    t = threading.Thread(target=change)
    t.start()
    start = time.time()
    r = event_from(x, ["vm"], token, 10.0)
    t.join()
    assert time.time() - start < 5.0
    mods = [e for e in r["events"] if e["ref"] == vm]
    assert mods and mods[-1]["operation"] == "mod"
    assert mods[-1]["snapshot"]["name_description"] == "woken"


def test_event_from_reports_add_and_del(session):
    x = session.xenapi
    token = event_from(x, ["network"], "", 0.0)["token"]
    net = x.network.create({"name_label": "ev-net", "name_description": "", "MTU": "1500", "other_config": {}})
    r = event_from(x, ["network"], token, 1.0)
    assert [(e["operation"], e["ref"]) for e in r["events"]] == [("add", net)]
    x.network.destroy(net)
    r2 = event_from(x, ["network"], r["token"], 1.0)
    assert [(e["operation"], e["ref"]) for e in r2["events"]] == [("del", net)]


def test_event_from_filters_by_object(session):
    x = session.xenapi
    a, b = x.VM.get_by_name_label("web01")[0], x.VM.get_by_name_label("db01")[0]
    token = event_from(x, ["vm"], "", 0.0)["token"]
    x.VM.add_to_other_config(b, "ev", "1")
    x.VM.add_to_other_config(a, "ev", "1")
    r = event_from(x, [f"vm/{a}"], token, 1.0)
    assert {e["ref"] for e in r["events"]} == {a}
    x.VM.remove_from_other_config(a, "ev")
    x.VM.remove_from_other_config(b, "ev")


def test_bad_token(session):
    with pytest.raises(XenAPI.Failure) as e:
        event_from(session.xenapi, ["vm"], "not-a-token", 0.0)
    assert e.value.details == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "not-a-token"]


def test_register_next(sim, session):
    x = session.xenapi
    with pytest.raises(XenAPI.Failure) as e:
        x.event.next()
    assert e.value.details[0] == "SESSION_NOT_REGISTERED"
    x.event.register(["vm"])
    vm = x.VM.get_by_name_label("test-halted")[0]
    x.VM.set_name_description(vm, "next-1")
    x.network.create({"name_label": "ignored", "name_description": "", "MTU": "1500", "other_config": {}})
    evs = x.event.next()
    assert [e["class"] for e in evs] == ["vm"]
    assert evs[0]["operation"] == "mod" and evs[0]["ref"] == vm

    def later():
        time.sleep(0.3)
        other = sim.session("changer")
        other.xenapi.VM.set_name_description(vm, "next-2")
        other.xenapi.session.logout()

    t = threading.Thread(target=later)
    t.start()
    evs = x.event.next()
    t.join()
    assert evs[0]["ref"] == vm
    x.event.unregister(["vm"])


def test_events_lost_when_a_client_falls_behind():
    from conftest import Sim

    sim = Sim("--event-journal", "50")
    try:
        x = sim.session().xenapi
        x.event.register(["vm"])
        vm = x.VM.get_by_name_label("test-halted")[0]
        for i in range(60):
            x.VM.set_name_description(vm, f"d{i}")
        with pytest.raises(XenAPI.Failure) as e:
            x.event.next()
        assert e.value.details[0] == "EVENTS_LOST"
    finally:
        sim.stop()


def test_get_current_id_and_inject(session):
    x = session.xenapi
    before = int(x.event.get_current_id())
    vm = x.VM.get_all()[0]
    token = x.event.inject("VM", vm)
    assert int(x.event.get_current_id()) > before
    assert token
