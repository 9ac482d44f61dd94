#!/usr/bin/env python3
"""The HTTP data plane's speed and memory (run it with `scripts/bench-data`).

Against release `xapi-sim` processes on loopback, over HTTP and HTTPS:

1. A disk of BENCH_DATA_GIB (default 4) GiB holding BENCH_DATA_FILL_GIB
   (default 1) GiB of data, spread over it in 1 MiB runs, half random and
   half text (so that compression has something to do).
2. `xe vdi-import` / `xe vdi-export` raw and VHD, and `xe vm-export` /
   `xe vm-import` of a halted VM holding that disk as an XVA (uncompressed,
   gzip, zstd). Each is timed next to a plain `curl` of the same request to
   the same server (HTTP Basic credentials, `-k` for HTTPS): MB/s moved over
   the wire, the ratio xe/curl, and xe's peak RSS (/usr/bin/time).
3. The export of an empty disk of BENCH_EMPTY_GIB (default 100) GiB, as a VHD
   and as an XVA: zero blocks are skipped, so this should take seconds.

Targets (issue 12): xe at least 80% of curl's throughput uncompressed, xe's
RSS under 64 MB whatever the disk size. Figures are printed; nothing is
asserted. Stdlib only.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XE = os.environ.get("XE", os.path.join(ROOT, "target", "release", "xe"))
SIM = os.environ.get("XAPI_SIM", os.path.join(ROOT, "target", "release", "xapi-sim"))
GIB = 1 << 30
MIB = 1 << 20
SIZE_GIB = int(os.environ.get("BENCH_DATA_GIB", "4"))
FILL_GIB = int(os.environ.get("BENCH_DATA_FILL_GIB", "1"))
EMPTY_GIB = int(os.environ.get("BENCH_EMPTY_GIB", "100"))
SR_NAME = "NFS virtual disk storage"


def make_image(path):
    """A sparse raw image: FILL_GIB GiB of data in 1 MiB runs spread evenly."""
    runs = FILL_GIB * 1024
    stride = (SIZE_GIB * GIB) // runs
    text = (b"The quick brown fox jumps over the lazy dog. " * 12000)[: MIB // 2]
    with open(path, "wb") as f:
        f.truncate(SIZE_GIB * GIB)
        for i in range(runs):
            f.seek(i * stride)
            f.write(os.urandom(MIB // 2))
            f.write(text)


class Sim:
    def __init__(self, tls, work):
        self.tls = tls
        self.dir = tempfile.mkdtemp(dir=work)
        ready = os.path.join(self.dir, "ready")
        args = [SIM, "--ready-file", ready, "--time-scale", "0"]
        if tls:
            args.append("--tls")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        self.port = int(re.search(r"port=(\d+)", open(ready).read()).group(1))
        self.host = "localhost" if tls else "127.0.0.1"
        self.scheme = "https" if tls else "http"

    def xe_args(self):
        base = [XE, "-s", self.host, "-p", str(self.port), "-u", "root", "-pw", "xenroot"]
        return base if self.tls else base + ["--nossl"]

    def env(self):
        env = dict(os.environ)
        env["XE_KNOWN_HOSTS"] = os.path.join(self.dir, "known_hosts")
        env["HOME"] = self.dir
        return env

    def xe(self, *args, check=True):
        out = subprocess.run(self.xe_args() + list(args), capture_output=True, env=self.env(), text=True)
        if check and out.returncode != 0:
            raise SystemExit(f"xe {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def timed_xe(self, *args):
        """(seconds, peak RSS in MB, ok) of one xe command."""
        cmd = ["/usr/bin/time", "-f", "RSS %M"] + self.xe_args() + list(args)
        start = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, env=self.env(), text=True)
        took = time.monotonic() - start
        m = re.search(r"RSS (\d+)", out.stderr)
        if out.returncode != 0:
            print(f"    xe {' '.join(args)} failed: {out.stderr.strip().splitlines()[0:1]}")
        return took, (int(m.group(1)) / 1024 if m else float("nan")), out.returncode == 0

    def timed_curl(self, path, upload=None, output=None):
        url = f"{self.scheme}://{self.host}:{self.port}{path}"
        cmd = ["curl", "-s", "-k", "-f", "-u", "root:xenroot", "-H", "Expect:"]
        cmd += ["-T", upload] if upload else ["-o", output]
        start = time.monotonic()
        ok = subprocess.run(cmd + [url]).returncode == 0
        return time.monotonic() - start, ok

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def warm(path):
    """Reads a file once so that xe and curl both upload it from the page
    cache (whoever went first used to pay for the disk)."""
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass
    return path


def rm(path):
    if os.path.exists(path):
        os.remove(path)


def row(what, size, xe_result, curl_result):
    took, rss, ok = xe_result
    mbs = size / took / 1e6 if ok else float("nan")
    line = f"  {what:<34} {size / 1e6:>9.0f} MB  xe {mbs:>8.0f} MB/s  RSS {rss:>6.1f} MB"
    if curl_result is not None:
        ctook, cok = curl_result
        cmbs = size / ctook / 1e6 if cok else float("nan")
        line += f"  curl {cmbs:>8.0f} MB/s  xe/curl {mbs / cmbs * 100 if cok and ok else float('nan'):>4.0f}%"
    print(line, flush=True)


def bench(sim, work, image):
    print(f"{'HTTPS' if sim.tls else 'HTTP'} (port {sim.port})", flush=True)
    sr = sim.xe("sr-list", f"name-label={SR_NAME}", "--minimal")
    vdi = sim.xe("vdi-create", f"sr-uuid={sr}", "name-label=bench", f"virtual-size={SIZE_GIB}GiB", "type=user")
    vdi_ref_path = f"vdi={vdi}"
    size = SIZE_GIB * GIB
    row("vdi-import raw", size, sim.timed_xe("vdi-import", f"uuid={vdi}", f"filename={warm(image)}"),
        sim.timed_curl(f"/import_raw_vdi?{vdi_ref_path}", upload=image))
    out = os.path.join(work, "out")
    rm(out)
    x = sim.timed_xe("vdi-export", f"uuid={vdi}", f"filename={out}")
    rm(out)
    row("vdi-export raw", size, x, sim.timed_curl(f"/export_raw_vdi?{vdi_ref_path}", output=out))
    vhd = os.path.join(work, "disk.vhd")
    rm(vhd)
    x = sim.timed_xe("vdi-export", f"uuid={vdi}", f"filename={vhd}", "format=vhd")
    vsize = os.path.getsize(vhd) if os.path.exists(vhd) else 0
    rm(out)
    row("vdi-export vhd", vsize, x, sim.timed_curl(f"/export_raw_vdi?{vdi_ref_path}&format=vhd", output=out))
    rm(out)
    row("vdi-import vhd", vsize, sim.timed_xe("vdi-import", f"uuid={vdi}", f"filename={warm(vhd)}", "format=vhd"),
        sim.timed_curl(f"/import_raw_vdi?{vdi_ref_path}&format=vhd", upload=vhd))
    rm(vhd)

    # A halted VM holding the disk, exported and imported as an XVA.
    vm = sim.xe("vm-list", "power-state=halted", "is-control-domain=false", "--minimal").split(",")[0]
    for vbd in filter(None, sim.xe("vbd-list", f"vm-uuid={vm}", "type=Disk", "--minimal").split(",")):
        sim.xe("vbd-destroy", f"uuid={vbd}")
    sim.xe("vbd-create", f"vm-uuid={vm}", f"vdi-uuid={vdi}", "device=0", "bootable=true")
    for compress in ["false", "gzip", "zstd"]:
        xva = os.path.join(work, f"vm-{compress}.xva")
        rm(xva)
        x = sim.timed_xe("vm-export", f"uuid={vm}", f"filename={xva}", f"compress={compress}")
        xsize = os.path.getsize(xva) if os.path.exists(xva) else 0
        rm(out)
        c = sim.timed_curl(f"/export?uuid={vm}&use_compression={compress}", output=out)
        rm(out)
        row(f"vm-export xva compress={compress}", xsize, x, c)
        if os.path.exists(xva):
            row(f"vm-import xva compress={compress}", xsize, sim.timed_xe("vm-import", f"filename={warm(xva)}"),
                sim.timed_curl("/import", upload=xva))
        rm(xva)

    empty = sim.xe("vdi-create", f"sr-uuid={sr}", "name-label=empty", f"virtual-size={EMPTY_GIB}GiB", "type=user")
    x = sim.timed_xe("vdi-export", f"uuid={empty}", f"filename={vhd}", "format=vhd")
    row(f"vdi-export vhd, empty {EMPTY_GIB} GiB", EMPTY_GIB * GIB, x, None)
    print(f"    ({x[0]:.2f} s; file {os.path.getsize(vhd) / 1e6 if os.path.exists(vhd) else 0:.1f} MB)")
    rm(vhd)
    for vbd in filter(None, sim.xe("vbd-list", f"vm-uuid={vm}", f"vdi-uuid={vdi}", "--minimal").split(",")):
        sim.xe("vbd-destroy", f"uuid={vbd}")
    sim.xe("vbd-create", f"vm-uuid={vm}", f"vdi-uuid={empty}", "device=0", "bootable=true")
    xva = os.path.join(work, "empty.xva")
    x = sim.timed_xe("vm-export", f"uuid={vm}", f"filename={xva}")
    row(f"vm-export xva, empty {EMPTY_GIB} GiB disk", EMPTY_GIB * GIB, x, None)
    print(f"    ({x[0]:.2f} s; file {os.path.getsize(xva) / 1e6 if os.path.exists(xva) else 0:.1f} MB)")
    rm(xva)


def main():
    for tool in (XE, SIM):
        if not os.path.exists(tool):
            raise SystemExit(f"missing {tool}: build with cargo build --release")
    work = tempfile.mkdtemp(prefix="xe-bench-data-")
    try:
        image = os.path.join(work, "image.raw")
        make_image(image)
        print(f"disk: {SIZE_GIB} GiB with {FILL_GIB} GiB of data; xe {XE}", flush=True)
        for tls in (False, True):
            sim = Sim(tls, work)
            try:
                bench(sim, work, image)
            finally:
                sim.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("targets: xe >= 80% of curl uncompressed; xe RSS < 64 MB; empty-disk exports in seconds")


if __name__ == "__main__":
    sys.exit(main())
