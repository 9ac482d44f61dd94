"""The pool database over HTTP as the SDK's users fetch it: urllib with the
session in the query (`GET /pool/xmldbdump?session_id=...`), a task of
their own, and a dry-run restore of what came back; and `--load` of that
dump into a second simulator."""

import os
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, Sim


def url(sim, query):
    return f"{sim.url}pool/xmldbdump?{query}"


def wait_task(x, task):
    end = time.time() + 5
    while x.task.get_status(task) == "pending" and time.time() < end:
        time.sleep(0.05)
    return x.task.get_record(task)


def test_dump_with_a_session_in_the_query(fresh_sim):
    s = fresh_sim.session()
    x = s.xenapi
    task = x.task.create("dump database", "")
    with urllib.request.urlopen(url(fresh_sim, f"session_id={s._session}&task_id={task}")) as r:
        assert r.status == 200
        body = r.read()
    assert wait_task(x, task)["status"] == "success"
    x.task.destroy(task)
    root = ET.fromstring(body)
    manifest = {p.get("key"): p.get("value") for p in root.find("manifest")}
    assert (manifest["schema_major_vsn"], manifest["schema_minor_vsn"]) == ("5", "780")
    tables = {t.get("name"): t for t in root.findall("table")}
    assert tables["session"].findall("row") == [], "sessions are never written"
    hosts = sorted(r.get("name__label") for r in tables["host"].findall("row"))
    assert hosts == sorted(x.host.get_name_label(h) for h in x.host.get_all())
    vm = tables["VM"].find("row[@name__label='test-halted']")
    assert vm.get("uuid") == x.VM.get_uuid(x.VM.get_by_name_label("test-halted")[0])
    assert vm.get("power_state") == "Halted"

    # Without credentials: 401, xapi's realm.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(fresh_sim, ""))
    assert e.value.code == 401
    assert e.value.headers["WWW-Authenticate"] == 'Basic realm="Dumping database as XML"'

    # What came back restores (dry run), and loads into another simulator.
    task = x.task.create("restore database", "")
    req = urllib.request.Request(url(fresh_sim, f"session_id={s._session}&task_id={task}&dry_run=true"),
                                 data=body, method="PUT")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    record = wait_task(x, task)
    assert (record["status"], record["error_info"]) == ("success", [])
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pool.db")
        with open(path, "wb") as f:
            f.write(body)
        copy = Sim("--time-scale", "0", "--load", path)
        try:
            y = copy.session().xenapi
            assert y.VM.get_uuid(y.VM.get_by_name_label("test-halted")[0]) == vm.get("uuid")
        finally:
            copy.stop()


def test_a_newer_pools_dump_is_refused_for_a_restore(fresh_sim):
    s = fresh_sim.session()
    x = s.xenapi
    with open(os.path.join(ROOT, "crates", "xapi-sim", "tests", "fixtures", "pool-2hosts.db"), "rb") as f:
        body = f.read()
    task = x.task.create("restore database", "")
    req = urllib.request.Request(url(fresh_sim, f"session_id={s._session}&task_id={task}&dry_run=true"),
                                 data=body, method="PUT")
    urllib.request.urlopen(req).read()
    record = wait_task(x, task)
    assert (record["status"], record["error_info"]) == ("failure", ["RESTORE_INCOMPATIBLE_VERSION"])
