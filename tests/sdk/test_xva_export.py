"""GET /export as the SDK's examples download a VM: urllib with session_id
(and task_id) in the query. The archive is read with Python's tarfile and
every block checked with PyPI's xxhash, independently of the simulator's
own tar writer and XXH64."""

import gzip
import io
import re
import tarfile
import time
import urllib.request

import xxhash

MIB = 1 << 20


def url(sim, path):
    return f"http://{sim.host}:{sim.port}{path}"


def wait_task(x, task):
    for _ in range(1000):
        if x.task.get_status(task) not in ("pending", "cancelling"):
            return x.task.get_record(task)
        time.sleep(0.01)
    raise AssertionError("task never finished")


def vm_named(x, name):
    return [v for v in x.VM.get_by_name_label(name) if not x.VM.get_is_a_template(v)][0]


def download(sim, s, vm, extra=""):
    x = s.xenapi
    task = x.task.create("Export of VM", "")
    path = f"/export?session_id={s._session}&task_id={task}&ref={vm}{extra}"
    with urllib.request.urlopen(url(sim, path)) as resp:
        assert resp.status == 200
        assert resp.headers["task-id"] == task
        assert resp.headers["content-disposition"] == 'attachment; filename="export.xva"'
        body = resp.read()
    rec = wait_task(x, task)
    assert rec["status"] == "success", rec["error_info"]
    x.task.destroy(task)
    return body


def check_archive(tar):
    members = tar.getmembers()
    assert members[0].name == "ova.xml"
    ova = tar.extractfile(members[0]).read().decode()
    assert ova.startswith("<value><struct>")
    assert "<member><name>export_vsn</name><value>2</value></member>" in ova
    blocks = {}
    it = iter(members[1:])
    for m in it:
        checksum = next(it)
        assert checksum.name == m.name + ".xxhash"
        data = tar.extractfile(m).read()
        expected = tar.extractfile(checksum).read().decode()
        assert expected == xxhash.xxh64(data, seed=0).hexdigest().upper(), m.name
        assert re.fullmatch(r"Ref:\d+/\d{8}", m.name), m.name
        blocks[m.name] = data
    return ova, blocks


def test_an_export_reads_back_with_tarfile_and_xxhash(sim):
    s = sim.session()
    x = s.xenapi
    vm = vm_named(x, "test-halted")
    body = download(sim, s, vm)
    assert body[-1024:] == bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        ova, blocks = check_archive(tar)
    # The demo disk: 16 GiB, of which only blocks 0 and 2 hold data; the
    # last block is always sent, the empty ones in between never.
    (directory,) = {name.split("/")[0] for name in blocks}
    counters = sorted(int(name.split("/")[1]) for name in blocks)
    assert counters == [0, 2, 16383]
    assert b"XAPI-SIM DEMO DISK" in blocks[f"{directory}/00000000"]
    assert blocks[f"{directory}/00016383"] == bytes(MIB)
    assert f"<value>{directory}</value>" in ova


def test_gzip_and_zstd_exports(sim):
    s = sim.session()
    x = s.xenapi
    vm = vm_named(x, "test-halted")
    body = download(sim, s, vm, "&use_compression=gzip")
    assert body[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(body)), mode="r:") as tar:
        check_archive(tar)
    body = download(sim, s, vm, "&use_compression=zstd")
    assert body[:4] == bytes([0x28, 0xB5, 0x2F, 0xFD])
