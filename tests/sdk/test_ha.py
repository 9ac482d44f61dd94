"""HA through the official SDK: enable_ha on a shared SR with its statefile,
the planning calls, restart priorities, and a host failed through
/sim/hosts/<uuid>/fail whose protected VMs come back on the other hosts
(while unprotected ones, and all of them without HA, stay down)."""

import pytest
import XenAPI

from conftest import Sim, wait_for
from test_host_lifecycle import sim_post


@pytest.fixture()
def pool():
    s = Sim("--time-scale", "0.05", "--vms", "12")
    yield s
    s.stop()


def host_named(x, name):
    return x.host.get_by_name_label(name)[0]


def guests(x, host):
    return [v for v in x.host.get_resident_VMs(host) if not x.VM.get_is_control_domain(v)]


def nfs_sr(x):
    return next(sr for sr in x.SR.get_all() if x.SR.get_type(sr) == "nfs")


def test_enable_ha_needs_a_shared_sr_and_records_the_statefile(pool):
    x = pool.session().xenapi
    p = x.pool.get_all()[0]
    local = next(sr for sr in x.SR.get_all() if x.SR.get_type(sr) == "lvm")
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.enable_ha([local], {})
    assert e.value.details == ["SR_NO_PBDS", local]
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.disable_ha()
    assert e.value.details == ["HA_NOT_ENABLED"]
    x.pool.enable_ha([nfs_sr(x)], {"timeout": "60"})
    assert x.pool.get_ha_enabled(p)
    assert x.pool.get_ha_configuration(p) == {"timeout": "60"}
    [statefile] = x.pool.get_ha_statefiles(p)
    assert x.VDI.get_type(statefile) == "ha_statefile"
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.enable_ha([], {})
    assert e.value.details == ["HA_IS_ENABLED"]
    x.pool.disable_ha()
    assert not x.pool.get_ha_enabled(p)


def test_protected_vms_restart_on_surviving_hosts(pool):
    x = pool.session().xenapi
    p = x.pool.get_all()[0]
    h2 = host_named(x, "xs-host-2")
    lost = guests(x, h2)
    plan = x.pool.ha_compute_vm_failover_plan([h2], lost)
    agile = [vm for vm in lost if "host" in plan[vm]]
    assert agile, plan
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_ha_restart_priority(agile[0], "always")
    assert e.value.details == ["INVALID_VALUE", "ha_restart_priority", "always"]
    for i, vm in enumerate(agile):
        x.VM.set_ha_restart_priority(vm, "restart")
        x.VM.set_order(vm, i)
    unprotected = [vm for vm in lost if vm not in agile]
    x.pool.enable_ha([nfs_sr(x)], {})
    assert int(x.pool.ha_compute_max_host_failures_to_tolerate()) >= 1
    assert x.pool.ha_failover_plan_exists("1")
    x.pool.set_ha_host_failures_to_tolerate(p, "1")
    assert int(x.pool.get_ha_plan_exists_for(p)) == 1

    uuid = x.host.get_uuid(h2)
    status, body = sim_post(pool, f"/sim/hosts/{uuid}/fail")
    assert status == 200, body
    assert wait_for(lambda: all(x.VM.get_power_state(vm) == "Running" for vm in agile))
    assert all(x.VM.get_resident_on(vm) != h2 for vm in agile)
    assert all(x.VM.get_power_state(vm) == "Halted" for vm in unprotected)
    failed = [m for m in x.message.get_all_records().values() if m["name"] == "HA_HOST_FAILED"]
    assert [m["obj_uuid"] for m in failed] == [uuid]


def test_without_ha_a_failed_hosts_vms_stay_down(pool):
    x = pool.session().xenapi
    h3 = host_named(x, "xs-host-3")
    lost = guests(x, h3)
    assert lost
    for vm in lost:
        x.VM.set_ha_restart_priority(vm, "restart")
    status, body = sim_post(pool, f"/sim/hosts/{x.host.get_uuid(h3)}/fail")
    assert status == 200, body
    assert all(x.VM.get_power_state(vm) == "Halted" for vm in lost)
    assert not any(m["name"] == "HA_HOST_FAILED" for m in x.message.get_all_records().values())


def test_prevented_restarts_wait_until_the_time_runs_out(pool):
    import time
    x = pool.session().xenapi
    h2 = host_named(x, "xs-host-2")
    lost = guests(x, h2)
    plan = x.pool.ha_compute_vm_failover_plan([h2], lost)
    agile = [vm for vm in lost if "host" in plan[vm]]
    assert agile, plan
    for vm in agile:
        x.VM.set_ha_restart_priority(vm, "restart")
    x.pool.enable_ha([nfs_sr(x)], {})
    x.pool.ha_prevent_restarts_for("2")
    status, body = sim_post(pool, f"/sim/hosts/{x.host.get_uuid(h2)}/fail")
    assert status == 200, body
    time.sleep(1)
    assert all(x.VM.get_power_state(vm) == "Halted" for vm in agile), "held back"
    assert wait_for(lambda: all(x.VM.get_power_state(vm) == "Running" for vm in agile), timeout=10)


def test_a_failure_that_breaks_the_plan_raises_the_overcommit_alerts(pool):
    x = pool.session().xenapi
    p = x.pool.get_all()[0]
    x.pool.enable_ha([nfs_sr(x)], {})
    x.pool.set_ha_host_failures_to_tolerate(p, "2")
    assert int(x.pool.get_ha_plan_exists_for(p)) == 2
    assert not x.pool.get_ha_overcommitted(p)
    h3 = host_named(x, "xs-host-3")
    assert len(x.host.get_ha_network_peers(h3)) == 3

    uuid = x.host.get_uuid(h3)
    assert sim_post(pool, f"/sim/hosts/{uuid}/fail")[0] == 200
    # Two live hosts can survive one failure at most: the plan drops to 1.
    assert wait_for(lambda: x.pool.get_ha_overcommitted(p))
    assert int(x.pool.get_ha_plan_exists_for(p)) == 1
    alerts = {m["name"]: m for m in x.message.get_all_records().values() if m["cls"] == "Pool"}
    assert alerts["HA_POOL_DROP_IN_PLAN_EXISTS_FOR"]["body"] == "1"
    assert alerts["HA_POOL_DROP_IN_PLAN_EXISTS_FOR"]["obj_uuid"] == x.pool.get_uuid(p)
    assert "can no longer be guaranteed" in alerts["HA_POOL_OVERCOMMITTED"]["body"]
    assert x.host.get_ha_statefiles(h3) == []
    h1 = host_named(x, "xs-host-1")
    assert wait_for(lambda: len(x.host.get_ha_network_peers(h1)) == 2)

    # Back in the liveset: statefile, peers and the plan for two failures return.
    assert sim_post(pool, f"/sim/hosts/{uuid}/recover")[0] == 200
    assert wait_for(lambda: not x.pool.get_ha_overcommitted(p))
    assert int(x.pool.get_ha_plan_exists_for(p)) == 2
    assert x.host.get_ha_statefiles(h3) == x.pool.get_ha_statefiles(p)
    assert len(x.host.get_ha_network_peers(h3)) == 3
    overcommitted = [m for m in x.message.get_all_records().values() if m["name"] == "HA_POOL_OVERCOMMITTED"]
    assert len(overcommitted) == 1
