"""Versioned parameters: trailing parameters with defaults may be left off,
on both wire formats, with xapi's MESSAGE_PARAMETER_COUNT_MISMATCH counts."""

import xmlrpc.client

import pytest
import XenAPI
from conftest import PASSWORD, USER
from test_wire import jcall, login_json


def failure(fn, *args):
    with pytest.raises(XenAPI.Failure) as e:
        fn(*args)
    return e.value.details


def test_snapshot_without_ignore_vdis(session):
    x = session.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    snap = x.VM.snapshot(vm, "two args")
    assert x.VM.get_name_label(snap) == "two args"
    assert x.VM.get_is_a_snapshot(snap)
    assert x.VM.get_snapshot_of(snap) == vm


def test_too_few_values_report_counts_without_the_session(session):
    x = session.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    assert failure(x.VM.snapshot, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]
    assert failure(x.Async.VM.snapshot, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]


def test_extra_values_are_ignored_by_a_message_with_defaults(session):
    x = session.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    snap = x.VM.snapshot(vm, "extra", [], "ignored")
    assert x.VM.get_name_label(snap) == "extra"
    # Not by one without: VM.get_name_label takes exactly one value.
    assert failure(x.VM.get_name_label, vm, "extra") == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_name_label", "1", "2"]


def test_count_is_checked_before_the_session(sim):
    proxy = xmlrpc.client.ServerProxy(sim.url)
    r = proxy.VM.snapshot("OpaqueRef:not-a-session", "OpaqueRef:x")
    assert r == {"Status": "Failure",
                 "ErrorDescription": ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "2", "1"]}


def test_login_fills_version_and_originator(sim):
    proxy = xmlrpc.client.ServerProxy(sim.url)
    assert proxy.session.login_with_password(USER, PASSWORD, "1.1")["Status"] == "Success"
    r = proxy.session.login_with_password(USER)
    assert r["ErrorDescription"] == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "1"]


def test_jsonrpc_fills_defaults_too(sim):
    session = login_json(sim)
    vm = jcall(sim, "VM.get_by_name_label", [session, "test-halted"])["result"][0]
    r = jcall(sim, "VM.snapshot", [session, vm, "json"])
    assert "result" in r and r["result"].startswith("OpaqueRef:"), r
    r = jcall(sim, "VM.snapshot", [session, vm])
    assert r["error"] == {"code": 1, "message": "MESSAGE_PARAMETER_COUNT_MISMATCH",
                          "data": ["VM.snapshot", "2", "1"]}
