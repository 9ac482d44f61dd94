"""Raw XML-RPC and JSON-RPC bodies: encodings, error shapes, malformed input."""

import json
import re
import urllib.error
import urllib.request

import pytest
from conftest import PASSWORD, USER


def post(sim, path, body, ctype):
    req = urllib.request.Request(sim.url.rstrip("/") + path, data=body.encode(), headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def xml_call(method, *params):
    ps = "".join(f"<param><value><string>{p}</string></value></param>" for p in params)
    return f'<?xml version="1.0"?><methodCall><methodName>{method}</methodName><params>{ps}</params></methodCall>'


def jcall(sim, method, params, version="2.0", rid=1):
    body = {"method": method, "params": params, "id": rid}
    if version:
        body["jsonrpc"] = version
    status, text = post(sim, "/jsonrpc", json.dumps(body), "application/json")
    assert status == 200, text
    return json.loads(text)


def login_json(sim):
    return jcall(sim, "session.login_with_password", [USER, PASSWORD, "2.21", "wire-tests"])["result"]


def test_xmlrpc_success_shape_and_int_as_string(sim):
    status, body = post(sim, "/", xml_call("session.login_with_password", USER, PASSWORD, "2.21", "wire"), "text/xml")
    assert status == 200
    assert "<name>Status</name><value>Success</value>" in body
    session = re.search(r"<name>Value</name><value>(OpaqueRef:[^<]+)</value>", body).group(1)
    host = re.search(r"<value>(OpaqueRef:[^<]+)</value>",
                     post(sim, "/", xml_call("host.get_all", session), "text/xml")[1]).group(1)
    _, body = post(sim, "/", xml_call("host.get_API_version_major", session, host), "text/xml")
    # 64-bit ints travel as (untyped) strings.
    assert "<name>Value</name><value>2</value>" in body
    _, body = post(sim, "/", xml_call("host.get_enabled", session, host), "text/xml")
    assert "<boolean>1</boolean>" in body
    vm = re.search(r"<value>(OpaqueRef:[^<]+)</value>",
                   post(sim, "/", xml_call("VM.get_by_name_label", session, "web01"), "text/xml")[1]).group(1)
    _, body = post(sim, "/", xml_call("VM.get_snapshot_time", session, vm), "text/xml")
    assert re.search(r"<dateTime.iso8601>\d{8}T\d\d:\d\d:\d\dZ</dateTime.iso8601>", body)
    _, body = post(sim, "/", xml_call("VM.get_HVM_shadow_multiplier", session, vm), "text/xml")
    assert "<double>" in body


def test_xmlrpc_failure_shape(sim):
    _, body = post(sim, "/RPC2", xml_call("VM.get_all", "OpaqueRef:nope"), "text/xml")
    assert "<name>Status</name><value>Failure</value>" in body
    assert "<name>ErrorDescription</name>" in body
    assert "<value>SESSION_INVALID</value><value>OpaqueRef:nope</value>" in body


def test_xmlrpc_accepts_untyped_and_typed_ints(sim):
    session = login_json(sim)
    vm = jcall(sim, "VM.get_by_name_label", [session, "test-halted"])["result"][0]
    for value in ("<value>8589934592</value>", "<value><i8>8589934592</i8></value>",
                  "<value><string>8589934592</string></value>"):
        body = (f'<?xml version="1.0"?><methodCall><methodName>VM.set_memory_static_max</methodName><params>'
                f'<param><value>{session}</value></param><param><value>{vm}</value></param>'
                f'<param>{value}</param></params></methodCall>')
        status, text = post(sim, "/", body, "text/xml")
        assert status == 200 and "Success" in text, text
    assert jcall(sim, "VM.get_memory_static_max", [session, vm])["result"] == 8589934592


def test_malformed_xml_is_http_500(sim):
    status, body = post(sim, "/", '<?xml version="1.0"?><methodCall><methodName>session.logout</methodName>',
                        "text/xml")
    assert status == 500
    assert "HTTP 500 internal server error" in body


def test_oversized_body_is_refused(sim):
    big = xml_call("session.login_with_password", USER, "x" * (400 * 1024))
    status, _ = post(sim, "/", big, "text/xml")
    assert status == 413


def test_jsonrpc_v2_shapes(sim):
    session = login_json(sim)
    r = jcall(sim, "host.get_all", [session], rid="abc")
    assert r["jsonrpc"] == "2.0" and r["id"] == "abc" and isinstance(r["result"], list)
    host = r["result"][0]
    r = jcall(sim, "host.get_API_version_major", [session, host])
    assert r["result"] == 2 and isinstance(r["result"], int)
    r = jcall(sim, "VM.get_record", [session, "OpaqueRef:bad"])
    assert r["error"] == {"code": 1, "message": "HANDLE_INVALID", "data": ["VM", "OpaqueRef:bad"]}
    assert "result" not in r


def test_jsonrpc_v1_shapes(sim):
    session = login_json(sim)
    r = jcall(sim, "VM.get_record", [session, "OpaqueRef:bad"], version=None, rid=7)
    assert r == {"result": None, "error": ["HANDLE_INVALID", "VM", "OpaqueRef:bad"], "id": 7}
    r = jcall(sim, "pool.get_all", [session], version=None, rid=8)
    assert r["error"] is None and len(r["result"]) == 1


def test_jsonrpc_datetime_and_float(sim):
    session = login_json(sim)
    vm = jcall(sim, "VM.get_by_name_label", [session, "web01"])["result"][0]
    rec = jcall(sim, "VM.get_record", [session, vm])["result"]
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\dZ", rec["snapshot_time"])
    assert isinstance(rec["HVM_shadow_multiplier"], float)
    assert isinstance(rec["memory_static_max"], int)


def test_jsonrpc_malformed(sim):
    status, body = post(sim, "/jsonrpc", '{"jsonrpc": "2.0", "method": "session.login_with_password", "id": 0',
                        "application/json")
    assert status == 500
    status, _ = post(sim, "/jsonrpc", '{"jsonrpc": "2.0", "method": "session.logout", "params": []}',
                     "application/json")
    assert status == 500


def test_wrong_parameter_type(sim):
    session = login_json(sim)
    vm = jcall(sim, "VM.get_by_name_label", [session, "web01"])["result"][0]
    r = jcall(sim, "VM.set_name_label", [session, vm, 42])
    assert r["error"]["message"] == "FIELD_TYPE_ERROR"
    r = jcall(sim, "VM.set_actions_after_crash", [session, vm, "explode"])
    assert r["error"]["message"] == "FIELD_TYPE_ERROR"
