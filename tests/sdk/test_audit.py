"""The audit log through the official SDK and GET /audit_log: one line per
call with a side effect, in xapi's syslog and s-expression form, with who
made it, whether RBAC allowed it and how it ended; `since` keeps the newer
lines; `xe audit-log-get` writes the same text into a file."""

import os
import re
import subprocess
import urllib.request

import pytest
import XenAPI

from conftest import PASSWORD, USER, Sim

LINE = re.compile(
    r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) xapi: \[(\d{8}T\d\d:\d\d:\d\d\.\d{3})Z\|audit\|[^]]*\] "
    r"\('(trackid=[0-9a-f]{32})' '([^']*)' '([^']*)' '(ALLOWED|DENIED)' '([^']*)' '(API|HTTP)' '([^']+)' \((.*)\)\)$"
)


@pytest.fixture()
def pool():
    s = Sim("--time-scale", "0", "--user", "viewer:secret:read-only")
    yield s
    s.stop()


def fetch(sim, session, since=None):
    query = f"session_id={session}" + (f"&since={since}" if since else "")
    with urllib.request.urlopen(f"{sim.url}audit_log?{query}", timeout=5) as r:
        assert r.headers["Content-Type"] == "text/plain"
        return r.read().decode()


def entries(text):
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        assert m, line
        out.append(m.groups())
    return out


def test_calls_are_audited_with_who_and_outcome(pool):
    s = pool.session("audit-test")
    x = s.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    uuid = x.VM.get_uuid(vm)
    x.VM.set_name_description(vm, "audited")
    with pytest.raises(XenAPI.Failure):
        x.VM.clean_shutdown(vm)
    viewer = XenAPI.Session(pool.url)
    viewer.xenapi.login_with_password("viewer", "secret", "2.21", "viewer-test")
    with pytest.raises(XenAPI.Failure):
        viewer.xenapi.VM.start(vm, False, False)
    net = x.network.create({"name_label": "gone soon", "name_description": "", "other_config": {}})
    x.network.destroy(net)

    got = entries(fetch(pool, s._session))
    actions = [e[8] for e in got]
    # Reads are not audited; logins are, as session.create.
    assert not any(".get" in a for a in actions)
    create = next(e for e in got if e[8] == "session.create" and "audit-test" in e[9])
    assert create[3:7] == ("LOCAL_SUPERUSER", USER, "ALLOWED", "OK")
    assert "('uname' 'root' '' '')" in create[9]
    desc = next(e for e in got if e[8] == "VM.set_name_description")
    assert desc[2] == create[2]  # the same session's trackid, never the session ref
    assert s._session not in fetch(pool, s._session)
    assert f"('self' 'test-halted' '{uuid}' '{vm}')" in desc[9]
    assert "('value' 'audited' '' '')" not in desc[9]
    failed = next(e for e in got if e[8] == "VM.clean_shutdown")
    assert failed[5:7] == ("ALLOWED", f"ERROR:VM_BAD_POWER_STATE: [ {vm}; running; halted ]")
    denied = next(e for e in got if e[8] == "VM.start")
    assert denied[3:7] == ("", "viewer", "DENIED", "")
    assert "('start_paused' 'false' '' '')" in denied[9]
    gone = next(e for e in got if e[8] == "network.destroy")
    assert f"('self' 'gone soon' " in gone[9]
    http = next(e for e in got if e[8] == "http/get_audit_log")
    assert http[7] == "HTTP"


def test_since_and_xe_audit_log_get(pool, tmp_path):
    s = pool.session()
    text = fetch(pool, s._session)
    stamps = [e[1] for e in entries(text)]
    assert stamps == sorted(stamps)
    assert fetch(pool, s._session, since="2099-01-01") == ""
    assert len(entries(fetch(pool, s._session, since="2000-01-01T00:00"))) >= len(stamps)
    last = stamps[-1]
    iso = f"{last[0:4]}-{last[4:6]}-{last[6:]}Z"
    assert all(e[1] >= last for e in entries(fetch(pool, s._session, since=iso)))

    xe = os.path.join(os.path.dirname(os.environ["XAPI_SIM"]), "xe")
    target = tmp_path / "audit.log"
    env = dict(os.environ, XE_EXTRA_ARGS=f"server={pool.host},port={pool.port},username={USER},password={PASSWORD}")
    run = subprocess.run([xe, "audit-log-get", f"filename={target}", "since=2000-01-01"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    written = entries(target.read_text())
    assert any(e[8] == "task.create" and "audit-log-get (since" in e[9] for e in written)
    assert written[-1][8] == "http/get_audit_log"
