#!/usr/bin/env python3
"""xe CLI benchmark: prints, side by side, the cost of `xe help` against
`import XenAPI`, `xe vm-list` (and `params=all`) on a 10,000-VM xapi-sim
against one raw JSON-RPC `VM.get_all_records` fetch with curl, and an HTTPS
command against the same over plain HTTP.

Wall time is the median of several runs, measured around spawn and wait.
Peak RSS comes from a separate warm-up run under `/usr/bin/time -f %M`: a
direct child of Python inherits Python's high-water mark across exec (the
kernel keeps ru_maxrss), so os.wait4 would show at least Python's ~20 MB.
RPCs are counted at the simulator (`GET /metrics/rpc-count`, before and after
each run). Figures are printed next to the targets; nothing is asserted about
time.

Run it with `scripts/bench-xe` (which builds the release binaries and the
Python venv first). Stdlib only.
"""

import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XE = os.environ.get("XE", os.path.join(ROOT, "target", "release", "xe"))
SIM = os.environ.get("XAPI_SIM", os.path.join(ROOT, "target", "release", "xapi-sim"))
PYTHON = os.environ.get("BENCH_PYTHON", os.path.join(ROOT, "target", "venv", "bin", "python"))

VMS = int(os.environ.get("BENCH_XE_VMS", "10000"))
HELP_RUNS = 20
LIST_RUNS = int(os.environ.get("BENCH_XE_LIST_RUNS", "5"))
CURL_RUNS = 5
TLS_RUNS = 10

TARGET_HELP_MS = 5.0
TARGET_LIST_RATIO = 1.5
TARGET_RSS_MB = 64.0
TARGET_LIST_RPCS = 3
TARGET_TLS_EXTRA_MS = 5.0  # "at most a few ms more"


# --- processes -------------------------------------------------------------


class Run:
    def __init__(self, wall, rss_kb, rc, stdout_path=None):
        self.wall = wall
        self.rss_kb = rss_kb
        self.rc = rc
        self.stdout_path = stdout_path


def run_once(argv, env=None, stdout_path=None):
    """Spawns argv, waits with wait4: wall seconds and the child's peak RSS."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        t = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
    finally:
        if stdout_path:
            out.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        sys.exit(f"bench-xe: {' '.join(argv)} exited {p.returncode}: {err.strip()[:500]}")
    return Run(wall, usage.ru_maxrss, p.returncode, stdout_path)


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def peak_rss_kb(argv, env=None, stdout_path=None):
    """One run under /usr/bin/time: the command's own peak RSS in kB."""
    if not GNU_TIME:
        return run_once(argv, env, stdout_path).rss_kb
    fd, path = tempfile.mkstemp(prefix="bench-xe-rss-")
    os.close(fd)
    try:
        run_once([GNU_TIME, "-f", "%M", "-o", path] + argv, env, stdout_path)
        with open(path) as f:
            return int(f.read().split()[-1])
    finally:
        os.unlink(path)


def median_runs(n, argv, env=None, before=None, after=None, stdout_path=None):
    """A warm-up run that measures peak RSS, then n timed runs."""
    rss_kb = peak_rss_kb(argv, env, stdout_path)
    runs, extras = [], []
    for _ in range(n):
        b = before() if before else None
        runs.append(run_once(argv, env, stdout_path))
        if after:
            extras.append(after(b))
    walls = sorted(r.wall for r in runs)
    return {
        "median": statistics.median(walls),
        "min": walls[0],
        "max": walls[-1],
        "rss_kb": rss_kb,
        "extras": extras,
    }


class Sim:
    def __init__(self, vms, tls=False):
        argv = [SIM, "--listen", "127.0.0.1:0", "--vms", str(vms), "--time-scale", "0"]
        if tls:
            argv.append("--tls")
        t = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.startup = time.perf_counter() - t
        m = re.search(r"ready at (https?)://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            sys.exit(f"bench-xe: xapi-sim did not start: {line!r}")
        self.scheme, self.port = m.group(1), int(m.group(2))
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"

    def rpc_count(self):
        # The simulator's certificate is self-signed.
        insecure = ssl._create_unverified_context() if self.scheme == "https" else None
        with urllib.request.urlopen(f"{self.base}/metrics/rpc-count", timeout=10, context=insecure) as r:
            return int(r.read().decode().strip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- formatting ------------------------------------------------------------


def ms(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def verdict(ok):
    return "ok" if ok else "MISSED"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip())
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


# --- JSON-RPC by hand ------------------------------------------------------


def login(base):
    body = {"jsonrpc": "2.0", "method": "session.login_with_password",
            "params": ["root", "xenroot", "1.0", "bench-xe"], "id": 1}
    req = urllib.request.Request(f"{base}/jsonrpc", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["result"]


def main():
    # On TERM (scripts/bench-xe's trap), unwind so the simulators are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench-xe: terminated"))
    for b in (XE, SIM, PYTHON):
        if not os.path.exists(b):
            sys.exit(f"bench-xe: {b} not found (run scripts/bench-xe)")
    if not shutil.which("curl"):
        sys.exit("bench-xe: curl not found")
    tmp = tempfile.mkdtemp(prefix="bench-xe-")
    # A fresh HOME (no ~/.xe) and known-hosts file; no XE_* from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
    env.update(HOME=tmp, XE_KNOWN_HOSTS=os.path.join(tmp, "known_hosts"), XE_DATA_DIR=os.path.join(tmp, "data"))
    sims = []
    try:
        bench(env, tmp, sims)
    finally:
        for s in sims:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench(env, tmp, sims):
    print("xe CLI benchmark")
    print(f"  xe: {XE}")
    print(f"  xapi-sim: {SIM}")
    print(f"  cores: {os.cpu_count()} (xe, curl and the simulators share them)")
    print(f"  targets: xe help < {TARGET_HELP_MS:g} ms; vm-list <= {TARGET_LIST_RATIO:g}x the raw fetch, "
          f"peak RSS < {TARGET_RSS_MB:g} MB, <= {TARGET_LIST_RPCS} RPCs;")
    print(f"           an HTTPS command <= {TARGET_TLS_EXTRA_MS:g} ms more than over HTTP")
    rows = []

    def row(what, runs, wall, vs="", rss="", rpcs="", verdicts=""):
        rows.append([what, str(runs), wall, vs, rss, str(rpcs), verdicts])

    # -- spawn floor and xe help ---------------------------------------------
    true = median_runs(HELP_RUNS, ["/bin/true"], env)
    help_ = median_runs(HELP_RUNS, [XE, "help"], env)
    py = median_runs(HELP_RUNS, [PYTHON, "-c", "import XenAPI"], env)
    row("spawn floor: /bin/true", HELP_RUNS, ms(true["median"]), rss=mb(true["rss_kb"]))
    row("xe help", HELP_RUNS, ms(help_["median"]), rss=mb(help_["rss_kb"]),
        verdicts=f"time {verdict(help_['median'] * 1e3 < TARGET_HELP_MS)}")
    row("python3 -c 'import XenAPI'", HELP_RUNS, ms(py["median"]),
        vs=f"{py['median'] / help_['median']:.0f}x xe help", rss=mb(py["rss_kb"]))

    # -- the 10,000-VM pool ---------------------------------------------------
    big = Sim(VMS)
    sims.append(big)
    print(f"  big pool: xapi-sim --vms {VMS} at {big.base} (startup {ms(big.startup)})")
    fetch = {"jsonrpc": "2.0", "method": "VM.get_all_records", "params": [login(big.base)], "id": 1}
    curl_argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", "-H",
                 "Content-Type: application/json", "-d", json.dumps(fetch), f"{big.base}/jsonrpc"]
    rss = peak_rss_kb(curl_argv)  # also warms the simulator up
    totals, walls, size = [], [], 0
    for _ in range(CURL_RUNS):
        t = time.perf_counter()
        p = subprocess.Popen(curl_argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        total, size = p.communicate()[0].split()
        walls.append(time.perf_counter() - t)
        totals.append(float(total))
        size = int(size)
    raw = statistics.median(totals)
    row(f"curl VM.get_all_records ({size / 1e6:.1f} MB)", CURL_RUNS, ms(raw), "= raw",
        mb(rss), 1, f"(process: {ms(statistics.median(walls))})")

    xe_env = dict(env, XE_EXTRA_ARGS=f"server=127.0.0.1,port={big.port},password=xenroot")
    for label, argv, rpc_target in [
        ("xe vm-list", [XE, "vm-list"], TARGET_LIST_RPCS),
        # Every field of every VM: the RPCs may grow with the classes it reads, not with the VMs.
        ("xe vm-list params=all", [XE, "vm-list", "params=all"], VMS // 100),
    ]:
        out = os.path.join(tmp, "out.txt")
        r = median_runs(LIST_RUNS, argv, xe_env, before=big.rpc_count, after=lambda b: big.rpc_count() - b,
                        stdout_path=out)
        with open(out, "rb") as f:
            listed = sum(1 for line in f if line.startswith(b"uuid ( RO)"))
        rpcs = max(r["extras"])
        ratio = r["median"] / raw
        verdicts = [f"time {verdict(ratio <= TARGET_LIST_RATIO)}", f"RSS {verdict(r['rss_kb'] / 1024 < TARGET_RSS_MB)}",
                    f"RPCs {verdict(rpcs <= rpc_target)}" + ("" if rpc_target == TARGET_LIST_RPCS
                                                             else f" (<= {rpc_target}: not per VM)")]
        row(f"{label} ({listed} VMs)", LIST_RUNS, ms(r["median"]), f"{ratio:.2f}x raw", mb(r["rss_kb"]), rpcs,
            ", ".join(verdicts))
    big.stop()

    # -- HTTPS against plain HTTP ---------------------------------------------
    tls = Sim(0, tls=True)
    sims.append(tls)
    plain = Sim(0)
    sims.append(plain)
    cmd = ["pool-list", "--minimal"]
    https_argv = [XE, "-s", "localhost", "-p", str(tls.port), "-pw", "xenroot", "--insecure"] + cmd
    http_argv = [XE, "-s", "127.0.0.1", "-p", str(plain.port), "-pw", "xenroot"] + cmd
    h = median_runs(TLS_RUNS, http_argv, env, before=plain.rpc_count, after=lambda b: plain.rpc_count() - b)
    s = median_runs(TLS_RUNS, https_argv, env, before=tls.rpc_count, after=lambda b: tls.rpc_count() - b)
    extra = s["median"] - h["median"]
    row("xe pool-list --minimal, HTTP", TLS_RUNS, ms(h["median"]), "", mb(h["rss_kb"]), max(h["extras"]))
    row("xe pool-list --minimal, HTTPS --insecure", TLS_RUNS, ms(s["median"]), f"HTTP +{extra * 1e3:.1f} ms",
        mb(s["rss_kb"]), max(s["extras"]), f"time {verdict(extra * 1e3 <= TARGET_TLS_EXTRA_MS)}")

    print()
    table(rows, ["what", "runs", "wall (median)", "compared", "peak RSS", "RPCs", "verdict"])
    print()
    print("wall: spawn to exit, median of the runs (output to a file); raw: curl's time_total for one")
    print("  VM.get_all_records on a logged-in session (xe also logs in and out; its vm-list asks for")
    print("  VM.get_all_records_where, which the simulator answers in the same time)")
    how = "/usr/bin/time %M of a warm-up run" if GNU_TIME else "wait4 ru_maxrss (includes Python's own at fork)"
    print(f"peak RSS: {how}")
    print("RPCs: counted at the simulator (GET /metrics/rpc-count before and after each run; login and logout count)")


if __name__ == "__main__":
    main()
