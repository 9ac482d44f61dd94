"""PUT /import as the SDK's examples use it (urllib with session_id and
task_id in the query), fed XVAs written independently by tests/sdk/xva.py;
the result is checked through the XenAPI and /export_raw_vdi."""

import os
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xva import MIB, Disk, has_zstd, xva  # noqa: E402

PAYLOAD = bytes((i * 13 + 5) % 251 for i in range(MIB + 4096))


def disks():
    # Ref:10 streams before Ref:9 (string order); the second disk has a hole.
    big = Disk(5 * MIB + 512, PAYLOAD + bytes(2 * MIB) + b"tail" * 1000, device="0", name="system")
    small = Disk(2 * MIB, b"second disk", device="1", name="data")
    return [("Ref:9", small), ("Ref:10", big)]


def url(sim, path):
    return f"http://{sim.host}:{sim.port}{path}"


def wait_task(x, task):
    for _ in range(1000):
        if x.task.get_status(task) not in ("pending", "cancelling"):
            return x.task.get_record(task)
        time.sleep(0.01)
    raise AssertionError("task never finished")


def put(sim, s, body, query=""):
    x = s.xenapi
    task = x.task.create("VM import", "")
    req = urllib.request.Request(
        url(sim, f"/import?session_id={s._session}&task_id={task}{query}"), data=body, method="PUT")
    try:
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 200
            assert resp.headers["task-id"] == task
            resp.read()
    except (urllib.error.URLError, ConnectionError):
        # xapi stops reading a body it has failed on: the task tells why.
        pass
    return task, wait_task(x, task)


def counts(x):
    return {c: len(getattr(x, c).get_all()) for c in ("VM", "VDI", "VBD", "VIF", "network")}


def exported(sim, s, vdi):
    with urllib.request.urlopen(url(sim, f"/export_raw_vdi?session_id={s._session}&vdi={vdi}")) as resp:
        return resp.read()


def check_imported(sim, s, rec):
    x = s.xenapi
    assert rec["status"] == "success", rec["error_info"]
    assert rec["other_config"].get("object_creation") == "complete"
    assert rec["result"].startswith("<value><array><data><value>OpaqueRef:")
    vm = rec["result"].split("<value>")[2].split("</value>")[0]
    r = x.VM.get_record(vm)
    assert r["name_label"] == "sdk-imported" and r["power_state"] == "Halted"
    assert r["VCPUs_max"] == "2" and r["memory_static_max"] == "1073741824"
    assert r["uuid"] != "5d4c2c5b-3f0e-4b8e-9d7e-2f4f3b1e0a01", "a new VM gets a new uuid"
    assert r["current_operations"] == {}
    assert r["other_config"]["mac_seed"] != "0b4bd2ba-49b7-0fc9-28f4-8d1f6f4e5a10"
    default_sr = x.pool.get_default_SR(x.pool.get_all()[0])
    by_device = {}
    for vbd in r["VBDs"]:
        b = x.VBD.get_record(vbd)
        by_device[b["userdevice"]] = b
    assert sorted(by_device) == ["0", "1", "3"]
    assert by_device["3"]["type"] == "CD" and by_device["3"]["empty"]
    want = {d.device: d for _, d in disks()}
    for dev in ("0", "1"):
        vdi = by_device[dev]["VDI"]
        v = x.VDI.get_record(vdi)
        assert v["SR"] == default_sr
        size = want[dev].size
        assert int(v["virtual_size"]) >= size, "the SR may round the size up"
        assert v["sm_config"]["import_task"] == rec_task(rec)
        body = exported(sim, s, vdi)
        assert body[:size] == want[dev].data + bytes(size - len(want[dev].data))
        assert not any(body[size:])
    (vif,) = r["VIFs"]
    v = x.VIF.get_record(vif)
    assert x.network.get_name_label(v["network"]) == "Pool-wide network associated with eth0"
    assert v["MAC"] != "aa:bb:cc:00:11:22", "a new VM's VIF gets a new MAC"
    return vm


def rec_task(rec):
    return rec["_ref"]


def import_and_check(sim, s, body):
    task, rec = put(sim, s, body)
    rec["_ref"] = task
    return check_imported(sim, s, rec)


def test_plain_xva_imports_vm_disks_and_vif(sim, session):
    import_and_check(sim, session, xva(disks()))


def test_gzip_xva_imports(sim, session):
    import_and_check(sim, session, xva(disks(), compress="gzip"))


@pytest.mark.skipif(not has_zstd(), reason="no zstd command to compress with (the Rust tests cover zstd)")
def test_zstd_xva_imports(sim, session):
    import_and_check(sim, session, xva(disks(), compress="zstd"))


def test_legacy_sha1_checksums_are_verified(sim, session):
    import_and_check(sim, session, xva(disks(), checksum="checksum"))
    x = session.xenapi
    before = counts(x)
    _, rec = put(sim, session, xva(disks(), checksum="checksum", corrupt="Ref:10/00000001"))
    assert rec["status"] == "failure" and rec["error_info"][0] == "IMPORT_ERROR_GENERIC"
    assert counts(x) == before


def test_corrupt_checksum_fails_and_leaves_nothing(sim, session):
    x = session.xenapi
    before = counts(x)
    _, rec = put(sim, session, xva(disks(), corrupt="Ref:10/00000001"))
    assert rec["status"] == "failure"
    code, msg = rec["error_info"]
    assert code == "IMPORT_ERROR_GENERIC"
    assert "Block Ref:10/00000001 checksum failed: original = 0000000000000000; recomputed = " in msg
    assert counts(x) == before, "everything the import made is destroyed"


def test_force_accepts_a_bad_checksum(sim, session):
    x = session.xenapi
    before = counts(x)
    _, rec = put(sim, session, xva(disks(), corrupt="Ref:10/00000001"), "&force=true")
    assert rec["status"] == "success", rec["error_info"]
    assert counts(x)["VM"] == before["VM"] + 1


def test_restore_keeps_uuids_and_macs(fresh_sim):
    s = fresh_sim.session()
    x = s.xenapi
    _, rec = put(fresh_sim, s, xva(disks()), "&restore=true")
    assert rec["status"] == "success", rec["error_info"]
    vm = x.VM.get_by_uuid("5d4c2c5b-3f0e-4b8e-9d7e-2f4f3b1e0a01")
    assert x.VM.get_other_config(vm)["mac_seed"] == "0b4bd2ba-49b7-0fc9-28f4-8d1f6f4e5a10"
    (vif,) = x.VM.get_VIFs(vm)
    assert x.VIF.get_MAC(vif) == "aa:bb:cc:00:11:22"
    assert x.VIF.get_uuid(vif) == "9a8b7c6d-0000-4000-8000-000000000007"
    assert x.VM.get_version(vm) == "1"
    # The same archive again replaces nothing: its version is not newer.
    _, rec = put(fresh_sim, s, xva(disks()), "&restore=true")
    assert rec["status"] == "failure"
    assert rec["error_info"][0] == "VM_TO_IMPORT_IS_NOT_NEWER_VERSION"


def test_unknown_network_is_created_and_import_errors(sim, session):
    x = session.xenapi
    body = xva(disks(), network="sdk import network", bridge="sdkbr7")
    task, rec = put(sim, session, body)
    assert rec["status"] == "success", rec["error_info"]
    (net,) = x.network.get_by_name_label("sdk import network")
    assert x.network.get_other_config(net)["import_task"] == task

    _, rec = put(sim, session, xva(disks(), first="README"))
    assert rec["error_info"] == ["IMPORT_ERROR_UNEXPECTED_FILE", "ova.xml", "README"]
    _, rec = put(sim, session, xva(disks(), truncate=3 * MIB))
    assert rec["error_info"] == ["IMPORT_ERROR_PREMATURE_EOF"]
    _, rec = put(sim, session, xva(disks(), xapi=(99, 0)))
    assert rec["error_info"] == ["IMPORT_INCOMPATIBLE_VERSION"]
    before = counts(x)
    _, rec = put(sim, session, xva(disks(), drop=("network",)))
    assert rec["error_info"] == ["IMPORT_ERROR_FAILED_TO_FIND_OBJECT", "Ref:8"], "the VIF's network is missing"
    assert counts(x) == before


def test_without_credentials_is_401(sim):
    req = urllib.request.Request(url(sim, "/import"), data=b"x" * 512, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 401
    assert e.value.headers["WWW-Authenticate"] == 'Basic realm="VM.import"'


def test_raw_vdi_import_reads_a_tar_of_checked_blocks(sim, session):
    import io
    import tarfile

    import xxhash

    x = session.xenapi
    sr = x.SR.get_by_name_label("NFS virtual disk storage")[0]
    vdi = x.VDI.create({
        "name_label": "tar import", "name_description": "", "SR": sr, "virtual_size": str(4 * MIB),
        "type": "user", "sharable": False, "read_only": False, "other_config": {},
        "xenstore_data": {}, "sm_config": {}, "tags": [],
    })
    # The blocks run to the disk's size (block 3 ends it); blocks 1 and 2 are zeros.
    first, last = PAYLOAD[:MIB], bytes([9]) * MIB

    def body(bad=None):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for i, data in ((0, first), (3, last)):
                for name, content in ((f"vdi/{i:08d}", data),
                                      (f"vdi/{i:08d}.xxhash",
                                       b"0" * 16 if bad == i else xxhash.xxh64(data).hexdigest().upper().encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
        return out.getvalue()

    def put_tar(data):
        task = x.task.create("VDI import", "")
        req = urllib.request.Request(
            url(sim, f"/import_raw_vdi?session_id={session._session}&task_id={task}&vdi={vdi}&format=tar"),
            data=data, method="PUT")
        try:
            with urllib.request.urlopen(req) as resp:
                resp.read()
        except (urllib.error.URLError, ConnectionError):
            pass
        return wait_task(x, task)

    rec = put_tar(body())
    assert rec["status"] == "success", rec["error_info"]
    assert exported(sim, session, vdi) == first + bytes(2 * MIB) + last
    rec = put_tar(body(bad=3))
    assert rec["error_info"][0] == "IMPORT_ERROR_GENERIC"
    assert "Block vdi/00000003 checksum failed" in rec["error_info"][1]
