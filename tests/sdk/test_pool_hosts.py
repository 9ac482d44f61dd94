"""Every host of the simulated pool answers on its own loopback address, as on
a real pool: the master serves the API, a member refuses logins and pool
sessions with HOST_IS_SLAVE naming the master, and serves only the sessions
made on it by slave_local_login_with_password (xapi's session_check)."""

import pytest
import XenAPI

from conftest import PASSWORD, USER


def hosts_by_name(sim):
    s = sim.session()
    x = s.xenapi
    master = x.pool.get_master(x.pool.get_all()[0])
    out = {x.host.get_name_label(h): (h, x.host.get_address(h)) for h in x.host.get_all()}
    s.xenapi.session.logout()
    return out, x, master


def url(sim, address):
    return f"{sim.scheme}://{address}:{sim.port}/"


def test_each_host_has_its_own_loopback_address(sim):
    hosts, _, _ = hosts_by_name(sim)
    addresses = sorted(a for _, a in hosts.values())
    assert addresses == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


def test_the_master_serves_logins_at_its_own_address(sim):
    hosts, _, _ = hosts_by_name(sim)
    s = XenAPI.Session(url(sim, hosts["xs-host-1"][1]), ignore_ssl=True)
    s.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
    assert len(s.xenapi.host.get_all()) == 3
    s.xenapi.session.logout()


def test_a_member_refuses_logins_naming_the_master(sim):
    hosts, _, _ = hosts_by_name(sim)
    s = XenAPI.Session(url(sim, hosts["xs-host-2"][1]), ignore_ssl=True)
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
    assert e.value.details == ["HOST_IS_SLAVE", hosts["xs-host-1"][1]]


def test_a_member_refuses_the_masters_sessions(sim):
    hosts, _, _ = hosts_by_name(sim)
    master = sim.session()
    member = XenAPI.xmlrpclib.ServerProxy(url(sim, hosts["xs-host-3"][1]))
    answer = member.VM.get_all(master._session)
    assert answer["Status"] == "Failure"
    assert answer["ErrorDescription"] == ["HOST_IS_SLAVE", hosts["xs-host-1"][1]]
    master.xenapi.session.logout()


def test_a_member_serves_its_local_sessions(sim):
    hosts, _, _ = hosts_by_name(sim)
    member_url = url(sim, hosts["xs-host-2"][1])
    member = XenAPI.xmlrpclib.ServerProxy(member_url)
    login = member.session.slave_local_login_with_password(USER, PASSWORD)
    assert login["Status"] == "Success", login
    local = login["Value"]
    assert len(member.host.get_all(local)["Value"]) == 3
    # That session is the member's own: another member does not take it.
    other = XenAPI.xmlrpclib.ServerProxy(url(sim, hosts["xs-host-3"][1]))
    assert other.host.get_all(local)["ErrorDescription"][0] == "HOST_IS_SLAVE"
