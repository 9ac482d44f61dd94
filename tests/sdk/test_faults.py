"""Fault and latency rules (--faults, --delay, /sim/faults) seen by the official SDK."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request
import xmlrpc.client

import pytest
import XenAPI
from conftest import PASSWORD, USER, Sim, wait_for

START_FAILS = {"method": "VM.start", "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"],
               "count": 1}


def faulty(tmp_path, rules, *extra):
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(rules))
    return Sim("--time-scale", "0", "--faults", str(path), *extra)


def guest(x, state):
    """A guest VM (not a template, snapshot or dom0) in this power state."""
    return next(r for r, v in x.VM.get_all_records().items()
                if v["power_state"] == state and not v["is_a_template"] and not v["is_a_snapshot"]
                and not v["is_control_domain"])


def sim_faults(sim, method="GET", rules=None, auth=(USER, PASSWORD)):
    """GET or PUT /sim/faults; returns (status, body text)."""
    data = None if rules is None else json.dumps(rules).encode()
    req = urllib.request.Request(f"{sim.url}sim/faults", data=data, method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def hits(sim):
    status, body = sim_faults(sim)
    assert status == 200, body
    return [r["hits"] for r in json.loads(body)]


def test_an_error_rule_fails_vm_start_once(tmp_path):
    sim = faulty(tmp_path, [START_FAILS])
    try:
        x = sim.session().xenapi
        vm = guest(x, "Halted")
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.start(vm, False, False)
        assert e.value.details == ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"]
        assert x.VM.get_power_state(vm) == "Halted"
        x.VM.start(vm, False, False)
        assert x.VM.get_power_state(vm) == "Running"
        assert hits(sim) == [1]
    finally:
        sim.stop()


def test_an_async_call_gets_a_task_that_fails(tmp_path):
    sim = faulty(tmp_path, [START_FAILS])
    try:
        x = sim.session().xenapi
        vm = guest(x, "Halted")
        task = x.Async.VM.start(vm, False, False)
        assert wait_for(lambda: x.task.get_status(task) != "pending")
        assert x.task.get_status(task) == "failure"
        assert x.task.get_error_info(task) == START_FAILS["error"]
        assert x.VM.get_power_state(vm) == "Halted"
    finally:
        sim.stop()


def test_the_sdk_logs_in_again_after_session_invalid(tmp_path):
    sim = faulty(tmp_path, [{"method": "VM.clean_shutdown", "session_invalid": True}])
    try:
        s = sim.session()
        x = s.xenapi
        vm = guest(x, "Running")
        before = s._session
        # xenapi_request sees SESSION_INVALID, logs in again and retries.
        x.VM.clean_shutdown(vm)
        assert s._session != before
        assert x.VM.get_power_state(vm) == "Halted"
        # The old session is gone, as after a host restart.
        raw = xmlrpc.client.ServerProxy(sim.url)
        assert raw.VM.get_all(before)["ErrorDescription"] == ["SESSION_INVALID", before]
        assert hits(sim) == [1]
    finally:
        sim.stop()


def test_a_dropped_call_is_a_connection_error_and_the_next_call_works(tmp_path):
    sim = faulty(tmp_path, [{"method": "VM.get_all_records", "drop": True, "count": 2}])
    try:
        x = sim.session().xenapi
        # Python's xmlrpc transport repeats a call once when the connection
        # closes without an answer, so two drops reach the caller.
        with pytest.raises(http.client.RemoteDisconnected):
            x.VM.get_all_records()
        assert hits(sim) == [2]
        assert x.VM.get_all_records()
        assert x.host.get_all()
    finally:
        sim.stop()


def test_a_single_drop_is_retried_by_the_transport(tmp_path):
    sim = faulty(tmp_path, [{"method": "VM.get_all_records", "drop": True, "count": 1}])
    try:
        x = sim.session().xenapi
        assert x.VM.get_all_records()
        assert hits(sim) == [1]
    finally:
        sim.stop()


def test_delay_holds_every_answer():
    sim = Sim("--time-scale", "0", "--delay", "300", "--jitter", "100")
    try:
        s = sim.session()
        t = time.monotonic()
        s.xenapi.pool.get_all()
        assert time.monotonic() - t >= 0.2
        status, body = sim_faults(sim)
        assert json.loads(body) == [{"method": "*", "probability": 1.0, "delay_ms": 300, "jitter_ms": 100,
                                     "hits": 2}]
    finally:
        sim.stop()


def test_host_is_slave_names_the_master(tmp_path):
    sim = faulty(tmp_path, [{"host_is_slave": "localhost"}])
    try:
        member = XenAPI.Session(f"http://127.0.0.1:{sim.port}/")
        with pytest.raises(XenAPI.Failure) as e:
            member.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
        assert e.value.details == ["HOST_IS_SLAVE", "localhost"]
        master = XenAPI.Session(f"http://{e.value.details[1]}:{sim.port}/")
        master.xenapi.login_with_password(USER, PASSWORD, "2.21", "sdk-tests")
        assert master.xenapi.pool.get_all()
        assert hits(sim) == [1]
    finally:
        sim.stop()


def test_sim_faults_get_and_put(tmp_path):
    sim = faulty(tmp_path, [START_FAILS])
    try:
        assert sim_faults(sim, auth=None)[0] == 401
        assert sim_faults(sim, auth=(USER, "wrong"))[0] == 401
        assert sim_faults(sim, "PUT", [], auth=None)[0] == 401
        status, body = sim_faults(sim)
        assert status == 200
        assert json.loads(body) == [dict(START_FAILS, probability=1.0, hits=0)]
        x = sim.session().xenapi
        rule = {"method": "VM.get_by_name_label", "error": ["INTERNAL_ERROR", "fault injected"]}
        status, body = sim_faults(sim, "PUT", [rule])
        assert status == 200
        assert json.loads(body) == [dict(rule, probability=1.0, hits=0)]
        with pytest.raises(XenAPI.Failure) as e:
            x.VM.get_by_name_label("web01")
        assert e.value.details == ["INTERNAL_ERROR", "fault injected"]
        assert hits(sim) == [1]
        status, body = sim_faults(sim, "PUT", [{"method": "VM.start", "probability": 3, "drop": True}])
        assert (status, body) == (400, "rule 1: probability 3 is not between 0 and 1\n")
        assert hits(sim) == [1]
        assert sim_faults(sim, "PUT", [])[0] == 200
        assert x.VM.get_by_name_label("web01")
    finally:
        sim.stop()


def test_trace_lines_have_no_password(tmp_path):
    trace = tmp_path / "trace.jsonl"
    sim = faulty(tmp_path, [START_FAILS], "--trace", str(trace))
    try:
        x = sim.session().xenapi
        vm = guest(x, "Halted")
        with pytest.raises(XenAPI.Failure):
            x.VM.start(vm, False, False)
        secret = x.secret.create({"value": "never-in-the-trace", "other_config": {}})
        assert x.secret.get_value(secret) == "never-in-the-trace"
    finally:
        sim.stop()
    text = trace.read_text()
    assert PASSWORD not in text
    assert "never-in-the-trace" not in text and '"secret.create"' in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["method"] == "session.login_with_password" and lines[0]["result"] == "ok"
    failed = [line for line in lines if line["method"] == "VM.start"]
    assert failed == [dict(failed[0], error="HOST_NOT_ENOUGH_FREE_MEMORY", fault="error")]
    assert all(line["client"].startswith("127.0.0.1:") for line in lines)
