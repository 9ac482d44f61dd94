"""--state: acknowledged changes survive kill -9; restart restores the pool."""

import signal

from conftest import Sim


def test_changes_survive_kill_9(tmp_path):
    state = str(tmp_path / "pool.state")
    sim = Sim("--state", state)
    s = sim.session()
    x = s.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    x.VM.set_name_description(vm, "durable")
    x.VM.add_to_other_config(vm, "k", "v")
    net = x.network.create({"name_label": "persisted-net", "name_description": "", "MTU": "9000",
                            "other_config": {"a": "b"}})
    gone = x.network.get_by_name_label("Internal network")
    for n in gone:
        # xapi refuses to destroy a network with plugged VIFs (NETWORK_CONTAINS_VIF).
        for v in x.network.get_VIFs(n):
            if x.VIF.get_currently_attached(v):
                x.VIF.unplug(v)
        x.network.destroy(n)
    before = {c: getattr(x, c).get_all_records() for c in ("VM", "network", "SR", "VDI", "host")}
    sim.stop(signal.SIGKILL)

    again = Sim("--state", state)
    y = again.session().xenapi
    assert y.VM.get_name_description(vm) == "durable"
    assert y.VM.get_other_config(vm)["k"] == "v"
    assert y.network.get_MTU(net) == "9000"
    assert y.network.get_by_name_label("Internal network") == []
    for c, records in before.items():
        assert getattr(y, c).get_all_records() == records, c
    # New objects after a restart do not reuse uuids.
    n2 = y.network.create({"name_label": "after", "name_description": "", "MTU": "1500", "other_config": {}})
    uuids = [r["uuid"] for r in y.network.get_all_records().values()]
    assert len(uuids) == len(set(uuids))
    assert y.network.get_uuid(n2)
    assert again.stop() == 0


def test_clean_restart_keeps_state(tmp_path):
    state = str(tmp_path / "pool.state")
    sim = Sim("--state", state)
    x = sim.session().xenapi
    vm = x.VM.get_by_name_label("web01")[0]
    x.VM.set_name_label(vm, "web01-renamed")
    assert sim.stop() == 0
    again = Sim("--state", state)
    assert again.session().xenapi.VM.get_name_label(vm) == "web01-renamed"
    again.stop()
