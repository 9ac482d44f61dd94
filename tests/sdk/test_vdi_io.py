"""The raw VDI handlers as the SDK's examples use them: urllib PUT and GET on
/import_raw_vdi and /export_raw_vdi with session_id (and task_id) in the
query, the task followed through the XenAPI."""

import urllib.error
import urllib.request

import pytest

MIB = 1 << 20


def new_vdi(x, size):
    sr = x.SR.get_by_name_label("NFS virtual disk storage")[0]
    return x.VDI.create({
        "name_label": "sdk disk", "name_description": "", "SR": sr, "virtual_size": str(size),
        "type": "user", "sharable": False, "read_only": False, "other_config": {},
        "xenstore_data": {}, "sm_config": {}, "tags": [],
    })


def url(sim, path):
    return f"http://{sim.host}:{sim.port}{path}"


def wait_task(x, task):
    import time
    for _ in range(500):
        if x.task.get_status(task) not in ("pending", "cancelling"):
            return x.task.get_record(task)
        time.sleep(0.01)
    raise AssertionError("task never finished")


def test_put_then_get_round_trip(sim):
    s = sim.session()
    x = s.xenapi
    vdi = new_vdi(x, 4 * MIB)
    data = bytes((i * 7 + 1) % 251 or 1 for i in range(3 * MIB + 17))
    task = x.task.create("sdk import", "")
    req = urllib.request.Request(
        url(sim, f"/import_raw_vdi?session_id={s._session}&task_id={task}&vdi={vdi}"), data=data, method="PUT")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
        assert resp.headers["task-id"] == task
        resp.read()
    rec = wait_task(x, task)
    assert rec["status"] == "success", rec["error_info"]
    assert rec["result"] == f"<value>{vdi}</value>"
    x.task.destroy(task)

    uuid = x.VDI.get_uuid(vdi)
    with urllib.request.urlopen(url(sim, f"/export_raw_vdi?session_id={s._session}&vdi={uuid}")) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/octet-stream"
        assert resp.headers["content-disposition"] == f'attachment; filename="{uuid}.raw"'
        body = resp.read()
    assert len(body) == 4 * MIB
    assert body[:len(data)] == data and body[len(data):] == bytes(4 * MIB - len(data))


def test_vhd_export_is_a_dynamic_vhd(sim):
    s = sim.session()
    x = s.xenapi
    vdi = x.VDI.get_by_name_label("test-halted 0")[0]
    with urllib.request.urlopen(url(sim, f"/export_raw_vdi?session_id={s._session}&vdi={vdi}&format=vhd")) as resp:
        assert resp.headers["content-type"] == "application/vhd"
        body = resp.read()
    assert body[:8] == b"conectix" and body[-512:-504] == b"conectix"
    assert body[512:520] == b"cxsparse"
    assert int.from_bytes(body[60:64], "big") == 3  # dynamic
    assert int.from_bytes(body[48:56], "big") == int(x.VDI.get_virtual_size(vdi))


def test_refusals_fail_the_callers_task(sim):
    s = sim.session()
    x = s.xenapi
    vdi = new_vdi(x, 2 * MIB)
    task = x.task.create("sdk import", "")
    req = urllib.request.Request(
        url(sim, f"/import_raw_vdi?session_id={s._session}&task_id={task}&vdi={vdi}&format=nonsense"),
        data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 404
    rec = x.task.get_record(task)
    assert rec["status"] == "failure"
    assert rec["error_info"] == ["INTERNAL_ERROR", "Unknown format nonsense"]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(sim, f"/export_raw_vdi?vdi={vdi}"))
    assert e.value.code == 401
    assert e.value.headers["WWW-Authenticate"] == 'Basic realm="VDI.export_raw"'
