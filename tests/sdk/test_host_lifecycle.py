"""Host maintenance through the official SDK: xapi's preconditions and
errors for disable, evacuate, reboot, shutdown and power_on; a host that is
down answers nothing on its own address; rolling maintenance of the whole
pool keeps every running VM running."""

import urllib.error
import urllib.request

import pytest
import XenAPI

from conftest import PASSWORD, USER, Sim, wait_for


@pytest.fixture()
def pool():
    s = Sim("--time-scale", "0.05", "--vms", "76")
    yield s
    s.stop()


def by_name(x):
    return {x.host.get_name_label(h): h for h in x.host.get_all()}


def running(x):
    return sorted(
        r["uuid"]
        for r in x.VM.get_all_records().values()
        if r["power_state"] == "Running" and not r["is_control_domain"]
    )


def answers(sim, address):
    try:
        urllib.request.urlopen(f"{sim.scheme}://{address}:{sim.port}/metrics/rpc-count", timeout=2).read()
        return True
    except Exception:
        return False


def test_reboot_needs_a_disabled_host_and_power_on_a_dead_one(pool):
    x = pool.session().xenapi
    h2 = by_name(x)["xs-host-2"]
    with pytest.raises(XenAPI.Failure) as e:
        x.host.reboot(h2)
    assert e.value.details == ["HOST_NOT_DISABLED"]
    with pytest.raises(XenAPI.Failure) as e:
        x.host.power_on(h2)
    assert e.value.details == ["HOST_IS_LIVE", h2]
    x.host.disable(h2)
    assert "reboot" in x.host.get_allowed_operations(h2)


def test_evacuate_reports_vms_that_cannot_leave(pool):
    x = pool.session().xenapi
    h1 = by_name(x)["xs-host-1"]
    web01 = x.VM.get_by_name_label("web01")[0]
    blockers = x.host.get_vms_which_prevent_evacuation(h1)
    assert list(blockers) == [web01]
    assert blockers[web01][0] == "VM_REQUIRES_SR"
    with pytest.raises(XenAPI.Failure) as e:
        x.host.assert_can_evacuate(h1)
    assert e.value.details[0] == "CANNOT_EVACUATE_HOST"
    assert e.value.details[1].startswith("VM_REQUIRES_SR," + web01)
    with pytest.raises(XenAPI.Failure) as e:
        x.host.evacuate(h1)
    assert e.value.details[0] == "VM_REQUIRES_SR"


def test_a_shut_down_host_is_silent_until_powered_on(pool):
    x = pool.session().xenapi
    h3 = by_name(x)["xs-host-3"]
    address = x.host.get_address(h3)
    assert answers(pool, address)
    x.host.disable(h3)
    x.host.evacuate(h3)
    x.host.shutdown(h3)
    metrics = x.host.get_metrics(h3)
    assert wait_for(lambda: not x.host_metrics.get_live(metrics))
    assert not answers(pool, address)
    with pytest.raises(XenAPI.Failure) as e:
        x.host.disable(h3)
    assert e.value.details == ["HOST_OFFLINE", h3]
    with pytest.raises(XenAPI.Failure) as e:
        x.host.power_on(h3)
    assert e.value.details == ["HOST_POWER_ON_MODE_DISABLED"]
    x.host.set_power_on_mode(h3, "wake-on-lan", {})
    x.host.power_on(h3)
    assert wait_for(lambda: x.host_metrics.get_live(metrics) and x.host.get_enabled(h3))
    assert answers(pool, address)


def test_a_reboot_shuts_the_vms_left_on_the_host(pool):
    x = pool.session().xenapi
    h2 = by_name(x)["xs-host-2"]
    left = [v for v in x.host.get_resident_VMs(h2) if not x.VM.get_is_control_domain(v)]
    assert left
    x.host.disable(h2)
    x.host.reboot(h2)
    assert wait_for(lambda: all(x.VM.get_power_state(v) == "Halted" for v in left))
    assert wait_for(lambda: x.host.get_enabled(h2))


def test_rolling_maintenance_keeps_every_vm_running(pool):
    x = pool.session().xenapi
    x.VM.hard_shutdown(x.VM.get_by_name_label("web01")[0])
    before = running(x)
    assert len(before) == 20
    master = x.pool.get_master(x.pool.get_all()[0])
    hosts = [h for h in x.host.get_all() if h != master]
    for h in hosts:
        x.host.disable(h)
        x.host.evacuate(h)
        assert running(x) == before
        x.host.reboot(h)
        assert wait_for(lambda: not x.host_metrics.get_live(x.host.get_metrics(h)))
        assert wait_for(lambda: x.host.get_enabled(h))
        assert running(x) == before
    assert all(x.host.get_enabled(h) for h in x.host.get_all())


def sim_post(sim, path, auth=True):
    req = urllib.request.Request(f"{sim.scheme}://{sim.host}:{sim.port}{path}", method="POST", data=b"")
    if auth:
        import base64

        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_a_failed_host_halts_its_vms_and_recovers(pool):
    x = pool.session().xenapi
    h2 = by_name(x)["xs-host-2"]
    uuid = x.host.get_uuid(h2)
    address = x.host.get_address(h2)
    guests = [v for v in x.host.get_resident_VMs(h2) if not x.VM.get_is_control_domain(v)]
    assert sim_post(pool, f"/sim/hosts/{uuid}/fail", auth=False)[0] == 401
    status, body = sim_post(pool, f"/sim/hosts/{uuid}/fail")
    assert status == 200, body
    assert not x.host_metrics.get_live(x.host.get_metrics(h2))
    assert all(x.VM.get_power_state(v) == "Halted" for v in guests)
    assert wait_for(lambda: not answers(pool, address))
    # Without HA nothing restarts them; the dead host can be declared dead.
    x.host.declare_dead(h2)
    status, body = sim_post(pool, f"/sim/hosts/{uuid}/recover")
    assert status == 200, body
    assert x.host_metrics.get_live(x.host.get_metrics(h2))
    assert wait_for(lambda: answers(pool, address))
