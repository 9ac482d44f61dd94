"""Pool membership and master changes with the official SDK against
`xapi-sim --pools 2`: a standalone host joins the demo pool (after xapi's
checks), is ejected and becomes a pool of its own again; the master moves
and members then redirect to the new one."""

import pytest
import XenAPI

from conftest import PASSWORD, USER

STANDALONE = "127.0.2.11"


def at(sim, address):
    s = XenAPI.Session(f"{sim.scheme}://{address}:{sim.port}/", ignore_ssl=True)
    s.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
    return s


def failure(excinfo):
    return excinfo.value.details


def test_a_standalone_host_joins_and_is_ejected(two_pools):
    lone = at(two_pools, STANDALONE)
    x = lone.xenapi
    assert len(x.host.get_all()) == 1
    joiner = x.host.get_all()[0]
    uuid = x.host.get_uuid(joiner)
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.join("127.0.0.11", USER, "wrong")
    assert failure(e) == ["SESSION_AUTHENTICATION_FAILED", USER, "Authentication failure"]
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.join("127.0.0.12", USER, PASSWORD)
    assert failure(e) == ["HOST_IS_SLAVE", "127.0.0.11"]
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.join("127.0.0.99", USER, PASSWORD)
    assert failure(e) == ["JOINING_HOST_CONNECTION_FAILED"]
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.join(STANDALONE, USER, PASSWORD)
    assert failure(e) == ["OPERATION_NOT_ALLOWED", "Host cannot become slave of itself"]
    x.pool.join("127.0.0.11", USER, PASSWORD)

    pool = at(two_pools, "127.0.0.11")
    p = pool.xenapi
    host = p.host.get_by_uuid(uuid)
    assert p.host.get_address(host) == STANDALONE
    assert len(p.host.get_all()) == 4
    # Its local storage and control domain came along; its PIFs are on the pool's networks.
    srs = [p.PBD.get_SR(pbd) for pbd in p.host.get_PBDs(host)]
    assert any(p.SR.get_type(sr) == "lvm" for sr in srs)
    doms = [vm for vm in p.host.get_resident_VMs(host) if p.VM.get_is_control_domain(vm)]
    assert len(doms) == 1
    bridges = {p.network.get_bridge(p.PIF.get_network(pif)) for pif in p.host.get_PIFs(host)}
    assert bridges <= {p.network.get_bridge(n) for n in p.network.get_all()}
    # The joined host is a member now: it redirects logins to the master.
    with pytest.raises(XenAPI.Failure) as e:
        at(two_pools, STANDALONE)
    assert failure(e) == ["HOST_IS_SLAVE", "127.0.0.11"]

    master = p.pool.get_master(p.pool.get_all()[0])
    with pytest.raises(XenAPI.Failure) as e:
        p.pool.eject(master)
    assert failure(e)[0] == "INTERNAL_ERROR"
    p.pool.eject(host)
    assert len(p.host.get_all()) == 3
    with pytest.raises(XenAPI.Failure):
        p.host.get_by_uuid(uuid)
    # It starts over as the master of a pool of its own, with the same identity.
    again = at(two_pools, STANDALONE)
    hosts = again.xenapi.host.get_all()
    assert [again.xenapi.host.get_uuid(h) for h in hosts] == [uuid]
    # And can join again.
    again.xenapi.pool.join("127.0.0.11", USER, PASSWORD)
    assert len(p.host.get_all()) == 4


def test_join_checks(two_pools):
    pool = at(two_pools, "127.0.0.11")
    with pytest.raises(XenAPI.Failure) as e:
        pool.xenapi.pool.join(STANDALONE, USER, PASSWORD)
    assert failure(e) == ["JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"]
    lone = at(two_pools, STANDALONE)
    x = lone.xenapi
    tpl = [t for t in x.VM.get_all() if x.VM.get_is_a_template(t)][0]
    vm = x.VM.clone(tpl, "guest")
    x.VM.set_is_a_template(vm, False)
    x.VM.start(vm, False, False)
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.join("127.0.0.11", USER, PASSWORD)
    assert failure(e) == ["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"]


def test_a_new_master_is_followed(two_pools):
    s = at(two_pools, "127.0.0.11")
    x = s.xenapi
    pool = x.pool.get_all()[0]
    new = [h for h in x.host.get_all() if x.host.get_address(h) == "127.0.0.12"][0]
    x.pool.designate_new_master(new)
    # The old master is a member now: its sessions and new logins are redirected.
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.get_master(pool)
    assert failure(e) == ["HOST_IS_SLAVE", "127.0.0.12"]
    with pytest.raises(XenAPI.Failure) as e:
        at(two_pools, "127.0.0.11")
    assert failure(e) == ["HOST_IS_SLAVE", "127.0.0.12"]
    s2 = at(two_pools, "127.0.0.12")
    assert s2.xenapi.pool.get_master(pool) == new
    # A member in trouble takes over with a local session, then recovers the others.
    local = XenAPI.Session(f"{two_pools.scheme}://127.0.0.13:{two_pools.port}/", ignore_ssl=True)
    local.slave_local_login_with_password(USER, PASSWORD)
    local.xenapi.pool.emergency_transition_to_master()
    with pytest.raises(XenAPI.Failure) as e:
        s2.xenapi.pool.get_master(pool)
    assert failure(e) == ["HOST_IS_SLAVE", "127.0.0.13"]
    s3 = at(two_pools, "127.0.0.13")
    assert s3.xenapi.host.get_address(s3.xenapi.pool.get_master(pool)) == "127.0.0.13"
    recovered = s3.xenapi.pool.recover_slaves()
    assert sorted(s3.xenapi.host.get_address(h) for h in recovered) == ["127.0.0.11", "127.0.0.12"]
    s3.xenapi.pool.sync_database()
