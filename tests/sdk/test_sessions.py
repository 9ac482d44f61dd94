"""Login, bad credentials, invalid sessions and the per-originator limit."""

import xmlrpc.client

import pytest
import XenAPI
from conftest import PASSWORD, USER, Sim


def raw(sim):
    return xmlrpc.client.ServerProxy(sim.url, allow_none=True)


def test_login_logout(sim):
    s = XenAPI.Session(sim.url)
    s.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
    ref = s._session
    assert ref.startswith("OpaqueRef:")
    rec = s.xenapi.session.get_record(ref)
    assert rec["originator"] == "sdk-tests"
    master = s.xenapi.pool.get_master(s.xenapi.pool.get_all()[0])
    assert s.xenapi.session.get_this_host(ref) == master
    s.xenapi.session.logout()
    r = raw(sim).VM.get_all(ref)
    assert r == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", ref]}


def test_login_with_two_parameters(sim):
    r = raw(sim).session.login_with_password(USER, PASSWORD)
    assert r["Status"] == "Success"


def test_bad_password(sim):
    s = XenAPI.Session(sim.url)
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.login_with_password(USER, "wrong", "2.21", "sdk-tests")
    assert e.value.details[0] == "SESSION_AUTHENTICATION_FAILED"


def test_invalid_session(sim):
    r = raw(sim).VM.get_all("OpaqueRef:not-a-session")
    assert r == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:not-a-session"]}


def test_session_limit_evicts_least_recently_used():
    sim = Sim("--session-limit", "3")
    try:
        p = raw(sim)
        refs = [p.session.login_with_password(USER, PASSWORD, "2.21", "limited")["Value"] for _ in range(3)]
        # Use the first one so the second becomes the least recently used.
        assert p.VM.get_all(refs[0])["Status"] == "Success"
        other = p.session.login_with_password(USER, PASSWORD, "2.21", "someone-else")["Value"]
        fourth = p.session.login_with_password(USER, PASSWORD, "2.21", "limited")["Value"]
        assert p.VM.get_all(refs[1])["ErrorDescription"] == ["SESSION_INVALID", refs[1]]
        for ok in (refs[0], refs[2], fourth, other):
            assert p.VM.get_all(ok)["Status"] == "Success"
    finally:
        sim.stop()


def test_idle_sessions_expire():
    import time

    sim = Sim("--session-idle", "1")
    try:
        p = raw(sim)
        ref = p.session.login_with_password(USER, PASSWORD, "2.21", "idle")["Value"]
        time.sleep(2.2)
        assert p.VM.get_all(ref)["ErrorDescription"] == ["SESSION_INVALID", ref]
    finally:
        sim.stop()


def test_change_password_then_login_with_the_new_one(fresh_sim):
    s = fresh_sim.session()
    s.xenapi.session.change_password(PASSWORD, "s3cret")
    with pytest.raises(XenAPI.Failure) as e:
        fresh_sim.session()
    assert e.value.details[0] == "SESSION_AUTHENTICATION_FAILED"
    again = XenAPI.Session(fresh_sim.url)
    again.xenapi.login_with_password(USER, "s3cret", "2.21", "sdk-tests")
    assert again.xenapi.VM.get_all()
    # The session that made the change is still valid.
    assert s.xenapi.VM.get_all()
