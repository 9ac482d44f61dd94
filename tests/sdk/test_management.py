"""The management interface through the official SDK: a host answers at
its management PIF's address, so moving the interface moves the host;
xapi's checks for host.management_reconfigure, pool.management_reconfigure
and management_disable; a member cut off from its master is in emergency
mode. With `--pools 2`, a failed host stops answering too."""

import socket

import pytest
import XenAPI

from conftest import PASSWORD, USER, Sim, wait_for
from test_host_lifecycle import answers, sim_post


@pytest.fixture()
def pool():
    s = Sim("--time-scale", "0")
    yield s
    s.stop()


def at(sim, address, local=False):
    s = XenAPI.Session(f"{sim.scheme}://{address}:{sim.port}/", ignore_ssl=True)
    if local:
        s.slave_local_login_with_password(USER, PASSWORD)
    else:
        s.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
    return s


def listening(sim, address):
    """Whether anything accepts connections there (a down host's listener is closed)."""
    try:
        socket.create_connection((address, sim.port), timeout=2).close()
        return True
    except OSError:
        return False


def details(call, *args):
    with pytest.raises(XenAPI.Failure) as e:
        call(*args)
    return e.value.details


def pif(x, host_name, device):
    host = x.host.get_by_name_label(host_name)[0]
    return next(p for p in x.host.get_PIFs(host) if x.PIF.get_device(p) == device)


def test_a_host_moves_with_its_management_interface(pool):
    x = pool.session().xenapi
    eth1 = pif(x, "xs-host-2", "eth1")
    assert details(x.host.management_reconfigure, eth1) == ["PIF_HAS_NO_NETWORK_CONFIGURATION", eth1]
    x.PIF.reconfigure_ip(eth1, "Static", "127.0.0.22", "255.0.0.0", "", "")
    x.host.management_reconfigure(eth1)
    host = x.PIF.get_host(eth1)
    assert x.host.get_address(host) == "127.0.0.22"
    assert x.PIF.get_management(eth1) and not x.PIF.get_management(pif(x, "xs-host-2", "eth0"))
    assert wait_for(lambda: answers(pool, "127.0.0.22") and not listening(pool, "127.0.0.12"))
    # The member at its new address redirects to the master as before.
    assert details(at, pool, "127.0.0.22") == ["HOST_IS_SLAVE", "127.0.0.11"]
    local = at(pool, "127.0.0.22", local=True).xenapi
    assert local.host.is_in_emergency_mode() is False
    # A new address on the management PIF moves the host again (DHCP keeps the lease).
    x.PIF.reconfigure_ip(eth1, "Static", "127.0.0.23", "255.0.0.0", "", "")
    assert x.host.get_address(host) == "127.0.0.23"
    x.PIF.reconfigure_ip(eth1, "DHCP", "", "", "", "")
    assert x.host.get_address(host) == "127.0.0.23"
    assert wait_for(lambda: answers(pool, "127.0.0.23") and not answers(pool, "127.0.0.22"))


def test_pool_management_reconfigure_checks_every_host(pool):
    x = pool.session().xenapi
    lonely = x.network.create({"name_label": "no PIFs", "name_description": "", "other_config": {}})
    master = x.pool.get_master(x.pool.get_all()[0])
    assert details(x.pool.management_reconfigure, lonely) == ["PIF_NOT_PRESENT", master, lonely]
    net1 = x.PIF.get_network(pif(x, "xs-host-1", "eth1"))
    first = x.network.get_PIFs(net1)[0]
    assert details(x.pool.management_reconfigure, net1) == ["PIF_HAS_NO_NETWORK_CONFIGURATION", first]
    for n, name in enumerate(["xs-host-1", "xs-host-2", "xs-host-3"]):
        x.PIF.reconfigure_ip(pif(x, name, "eth1"), "Static", f"127.0.0.{31 + n}", "255.0.0.0", "", "")
    x.pool.management_reconfigure(net1)
    assert sorted(x.host.get_address(h) for h in x.host.get_all()) == ["127.0.0.31", "127.0.0.32", "127.0.0.33"]
    assert wait_for(lambda: answers(pool, "127.0.0.32") and not answers(pool, "127.0.0.12"))
    assert details(at, pool, "127.0.0.33") == ["HOST_IS_SLAVE", "127.0.0.31"]


def test_management_disable_and_emergency_mode(pool):
    x = pool.session().xenapi
    member = at(pool, "127.0.0.12", local=True).xenapi
    assert details(member.host.management_disable) == ["SLAVE_REQUIRES_MANAGEMENT_INTERFACE"]
    assert details(member.host.local_management_reconfigure, "xenbr1") == ["NOT_IN_EMERGENCY_MODE"]
    master = x.pool.get_master(x.pool.get_all()[0])
    uuid = x.host.get_uuid(master)
    status, _ = sim_post(pool, f"/sim/hosts/{uuid}/fail")
    assert status == 200
    assert member.host.is_in_emergency_mode() is True
    assert details(member.host.local_management_reconfigure, "xenbr9") == ["INVALID_VALUE", "interface", "xenbr9"]
    sim_post(pool, f"/sim/hosts/{uuid}/recover")
    assert member.host.is_in_emergency_mode() is False
    # The master gives up its management interface: its own address goes quiet.
    x.host.management_disable()
    assert not any(x.PIF.get_management(p) for p in x.host.get_PIFs(master))
    assert wait_for(lambda: not listening(pool, "127.0.0.11"))
    x.host.management_reconfigure(pif(x, "xs-host-1", "eth0"))
    assert wait_for(lambda: answers(pool, "127.0.0.11"))


def test_with_several_pools_a_failed_host_stops_answering(two_pools):
    x = at(two_pools, "127.0.0.11").xenapi
    h3 = x.host.get_by_name_label("xs-host-3")[0]
    assert answers(two_pools, "127.0.0.13")
    status, _ = sim_post(two_pools, f"/sim/hosts/{x.host.get_uuid(h3)}/fail")
    assert status == 200
    assert wait_for(lambda: not listening(two_pools, "127.0.0.13"))
    sim_post(two_pools, f"/sim/hosts/{x.host.get_uuid(h3)}/recover")
    assert wait_for(lambda: answers(two_pools, "127.0.0.13"))
