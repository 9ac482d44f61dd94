#!/usr/bin/env python3
"""VM lifecycle benchmark: `xe vm-start --multiple` and
`xe vm-shutdown --multiple --force` over 1,000 VMs of an xapi-sim pool,
concurrently (xe's default, 8 operations at once) against one at a time
(`XE_MULTIPLE_CONCURRENCY=1`), then the wake-up latency of `xe event-wait`.

Each lifecycle run gets a fresh simulator (`--vms 1000 --time-scale 0.01`:
a start simulates 2 s x 0.01 = 20 ms, a hard shutdown 0.5 s x 0.01 = 5 ms,
each in 10 progress steps). Before the
clock starts, the bench VMs (the 1,000 VMs whose name-description is
"Benchmark VM") are all halted and their memory is cut to 256 MiB, so that
all 1,000 fit on the pool's hosts at once (at 1 GiB each only ~730 do).
Then the same two commands run on the same 1,000 halted VMs each way:

    xe vm-start --multiple name-description="Benchmark VM"
    xe vm-shutdown --multiple --force name-description="Benchmark VM"

Wall time is measured around spawn and wait of the xe process, with its
CPU time (wait4) and the simulator's (/proc/PID/stat) beside it; RPCs are
counted at the simulator (`GET /metrics/rpc-count` before and after, login
and logout included), or "n/a" when the simulator has no such endpoint.

event-wait: on a simulator with `--time-scale 0`, `xe event-wait class=vm
uuid=<u> power-state=running` is started on a halted VM and given time to
block; the VM is then started with one raw JSON-RPC `VM.start` call, and the
latency is the time from that call's answer to event-wait's exit (the
change happens somewhere within the call, which is also shown).

Figures are printed next to the targets; nothing is asserted about time.
Run it with `scripts/bench-lifecycle` (which builds the release binaries
first). Stdlib only.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XE = os.environ.get("XE", os.path.join(ROOT, "target", "release", "xe"))
SIM = os.environ.get("XAPI_SIM", os.path.join(ROOT, "target", "release", "xapi-sim"))

VMS = int(os.environ.get("BENCH_LIFECYCLE_VMS", "1000"))
TIME_SCALE = float(os.environ.get("BENCH_LIFECYCLE_TIME_SCALE", "0.01"))
MEMORY = 256 * 1024 * 1024
FILTER = "name-description=Benchmark VM"
FILTER_API = 'field "name__description" = "Benchmark VM"'
WAKE_RUNS = 10
BLOCK_WAIT = 0.5  # seconds given to event-wait to reach its blocking event.from

TARGET_SPEEDUP = 5.0
TARGET_WAKE_MS = 100.0


# --- simulator and JSON-RPC --------------------------------------------------


class Sim:
    def __init__(self, vms, time_scale):
        argv = [SIM, "--listen", "127.0.0.1:0", "--vms", str(vms), "--time-scale", str(time_scale)]
        t = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.startup = time.perf_counter() - t
        m = re.search(r"ready at http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            sys.exit(f"bench-lifecycle: xapi-sim did not start: {line!r}")
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = self.call("session.login_with_password", "root", "xenroot", "1.0", "bench-lifecycle",
                                 session=False)

    def call(self, method, *params, session=True):
        args = ([self.session] if session else []) + list(params)
        body = {"jsonrpc": "2.0", "method": method, "params": args, "id": 1}
        req = urllib.request.Request(f"{self.base}/jsonrpc", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.load(r)
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def rpc_count(self):
        """RPCs served so far, or None when the simulator cannot tell."""
        try:
            with urllib.request.urlopen(f"{self.base}/metrics/rpc-count", timeout=10) as r:
                return int(r.read().decode().strip())
        except (urllib.error.URLError, ValueError):
            return None

    def cpu(self):
        """User + system CPU seconds the simulator has used, or None off Linux."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bench_vms(sim):
    """{ref: record} of the bench VMs."""
    return sim.call("VM.get_all_records_where", FILTER_API)


def power_states(sim):
    states = {}
    for rec in bench_vms(sim).values():
        states[rec["power_state"]] = states.get(rec["power_state"], 0) + 1
    return states


# --- formatting ------------------------------------------------------------


def ms(s):
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def verdict(ok):
    return "ok" if ok else "MISSED"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


# --- the lifecycle runs ------------------------------------------------------


def prepare(sim, env):
    """All bench VMs halted, with memory small enough that all of them fit."""
    running = [r for r, rec in bench_vms(sim).items() if rec["power_state"] != "Halted"]
    if running:
        p = subprocess.run([XE, "vm-shutdown", "--multiple", "--force", FILTER, "power-state=running"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit(f"bench-lifecycle: setup shutdown failed:\n{p.stdout}")
    vms = bench_vms(sim)
    for r in vms:
        sim.call("VM.set_memory_limits", r, MEMORY, MEMORY, MEMORY, MEMORY)
    states = power_states(sim)
    if states != {"Halted": VMS}:
        sys.exit(f"bench-lifecycle: after setup the bench VMs are {states}, expected {VMS} halted")


def timed(sim, argv, env, out_path):
    before = sim.rpc_count()
    sim_cpu = sim.cpu()
    with open(out_path, "w+") as out:
        t = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    after = sim.rpc_count()
    rpcs = after - before if before is not None and after is not None else None
    sim_after = sim.cpu()
    failed = sum(1 for line in output.splitlines() if line.startswith("operation failed on"))
    return {"wall": wall, "rpcs": rpcs, "rc": p.returncode, "failed": failed, "output": output,
            "xe_cpu": usage.ru_utime + usage.ru_stime,
            "sim_cpu": sim_after - sim_cpu if sim_cpu is not None and sim_after is not None else None}


def lifecycle(mode, extra_env, env, tmp):
    """Fresh pool, then start and hard-shutdown all bench VMs with xe."""
    sim = Sim(VMS, TIME_SCALE)
    try:
        xe_env = dict(env, XE_EXTRA_ARGS=f"server=127.0.0.1,port={sim.port},password=xenroot", **extra_env)
        prepare(sim, xe_env)
        out = {}
        for op, argv, want in [
            ("vm-start", [XE, "vm-start", "--multiple", FILTER], "Running"),
            ("vm-shutdown --force", [XE, "vm-shutdown", "--multiple", "--force", FILTER], "Halted"),
        ]:
            r = timed(sim, argv, xe_env, os.path.join(tmp, "out.txt"))
            r["states"] = power_states(sim)
            r["done"] = r["states"].get(want, 0)
            if r["rc"] != 0 and not r["failed"]:
                sys.exit(f"bench-lifecycle: {mode} {op} failed (exit {r['rc']}):\n{r['output'][-2000:]}")
            out[op] = r
        return out
    finally:
        sim.stop()


# --- event-wait wake-up ------------------------------------------------------


def wake_latency(env):
    sim = Sim(4, 0)
    try:
        vms = bench_vms(sim)
        ref, rec = next((r, v) for r, v in sorted(vms.items(), key=lambda kv: kv[1]["name_label"])
                        if v["power_state"] == "Halted")
        uuid = rec["uuid"]
        xe_env = dict(env, XE_EXTRA_ARGS=f"server=127.0.0.1,port={sim.port},password=xenroot")
        argv = [XE, "event-wait", "class=vm", f"uuid={uuid}", "power-state=running", "timeout=30"]
        runs = []
        for _ in range(WAKE_RUNS):
            waiter = subprocess.Popen(argv, env=xe_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            exited = {}

            def reap(p=waiter, box=exited):
                p.wait()
                box["t"] = time.perf_counter()

            th = threading.Thread(target=reap, daemon=True)
            th.start()
            time.sleep(BLOCK_WAIT)
            if waiter.poll() is not None:
                sys.exit(f"bench-lifecycle: event-wait exited before the change: {waiter.stderr.read()!r}")
            sent = time.perf_counter()
            sim.call("VM.start", ref, False, False)
            answered = time.perf_counter()
            th.join(timeout=30)
            if "t" not in exited or waiter.returncode != 0:
                waiter.kill()
                sys.exit(f"bench-lifecycle: event-wait did not wake up (exit {waiter.returncode})")
            runs.append({"call": answered - sent, "from_answer": exited["t"] - answered,
                         "from_send": exited["t"] - sent})
            sim.call("VM.hard_shutdown", ref)
        return uuid, runs
    finally:
        sim.stop()


# --- main ----------------------------------------------------------------------


def main():
    # On TERM (scripts/bench-lifecycle's trap), unwind so the simulators are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench-lifecycle: terminated"))
    for b in (XE, SIM):
        if not os.path.exists(b):
            sys.exit(f"bench-lifecycle: {b} not found (run scripts/bench-lifecycle)")
    tmp = tempfile.mkdtemp(prefix="bench-lifecycle-")
    # A fresh HOME (no ~/.xe); no XE_* from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
    env.update(HOME=tmp, XE_KNOWN_HOSTS=os.path.join(tmp, "known_hosts"), XE_DATA_DIR=os.path.join(tmp, "data"))
    try:
        bench(env, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(env, tmp):
    print("VM lifecycle benchmark")
    print(f"  xe: {XE}")
    print(f"  xapi-sim: {SIM} --vms {VMS} --time-scale {TIME_SCALE:g} (a fresh pool per run)")
    print(f"  cores: {os.cpu_count()} (xe and the simulator share them)")
    print(f"  VMs: the {VMS} bench VMs ({FILTER}), all halted, memory cut to {MEMORY >> 20} MiB so all fit")
    print(f"  targets: concurrent >= {TARGET_SPEEDUP:g}x faster than one at a time; "
          f"event-wait wake-up < {TARGET_WAKE_MS:g} ms")
    print()
    modes = [("concurrent (default, 8)", {}), ("one at a time", {"XE_MULTIPLE_CONCURRENCY": "1"})]
    results = {}
    for mode, extra in modes:
        print(f"  running: {mode} ...", flush=True)
        results[mode] = lifecycle(mode, extra, env, tmp)
    conc, serial = (results[m] for m, _ in modes)

    rows = []
    for op in ("vm-start", "vm-shutdown --force"):
        for mode, _ in modes:
            r = results[mode][op]
            rpcs = "n/a" if r["rpcs"] is None else str(r["rpcs"])
            per_op = "" if r["rpcs"] is None else f"{r['rpcs'] / VMS:.1f}"
            speed = ""
            if mode == modes[0][0]:
                x = serial[op]["wall"] / r["wall"]
                speed = f"{x:.1f}x  {verdict(x >= TARGET_SPEEDUP)}"
            sim_cpu = "n/a" if r["sim_cpu"] is None else f"{r['sim_cpu']:.2f} s"
            rows.append([f"xe {op} --multiple", mode, ms(r["wall"]), f"{r['done'] / r['wall']:.0f}",
                         f"{r['done']}/{VMS}", rpcs, per_op, f"{r['xe_cpu']:.2f} s", sim_cpu, speed])
    both_c = sum(conc[op]["wall"] for op in conc)
    both_s = sum(serial[op]["wall"] for op in serial)
    x = both_s / both_c
    rows.append(["both commands", modes[0][0], ms(both_c), f"{2 * VMS / both_c:.0f}", "", "", "", "", "",
                 f"{x:.1f}x  {verdict(x >= TARGET_SPEEDUP)}"])
    rows.append(["both commands", modes[1][0], ms(both_s), f"{2 * VMS / both_s:.0f}", "", "", "", "", "", ""])
    print()
    table(rows, ["command", "how", "wall", "ops/s", "done", "RPCs", "RPCs/VM", "xe CPU", "sim CPU",
                 f"speed-up (>= {TARGET_SPEEDUP:g}x)"])
    for mode, _ in modes:
        for op, r in results[mode].items():
            if r["failed"]:
                print(f"  note: {mode} {op}: {r['failed']} operations failed, e.g. "
                      f"{next(l for l in r['output'].splitlines() if l.startswith('operation failed'))}")

    print()
    print(f"  running: event-wait wake-up, {WAKE_RUNS} runs ...", flush=True)
    uuid, runs = wake_latency(env)
    lat = sorted(r["from_answer"] for r in runs)
    lat_send = sorted(r["from_send"] for r in runs)
    call = sorted(r["call"] for r in runs)
    med, worst = statistics.median(lat), lat[-1]
    print()
    table([
        ["VM.start answered -> event-wait exited", ms(med), ms(worst),
         f"median {verdict(med * 1e3 < TARGET_WAKE_MS)}, max {verdict(worst * 1e3 < TARGET_WAKE_MS)}"],
        ["VM.start sent -> event-wait exited", ms(statistics.median(lat_send)), ms(lat_send[-1]), ""],
        ["the VM.start call itself (time-scale 0)", ms(statistics.median(call)), ms(call[-1]), ""],
    ], ["event-wait class=vm uuid=... power-state=running", "median", "max", f"verdict (< {TARGET_WAKE_MS:g} ms)"])

    print()
    print("wall: spawn to exit of the xe process (it selects the VMs, logs in and out, and waits for every task)")
    print("ops/s: VMs that reached the wanted power state per second of wall time")
    print(f"xe CPU, sim CPU: user + system time of the xe process and of the simulator during the command "
          f"({os.cpu_count()} cores in all)")
    print("RPCs: counted at the simulator (GET /metrics/rpc-count before and after the command; login and logout "
          "count)")
    print(f"event-wait: on a --time-scale 0 simulator, VM {uuid}; event-wait is given {BLOCK_WAIT * 1e3:.0f} ms "
          "to block in event.from,")
    print("  then one raw JSON-RPC VM.start changes the VM; latency is from the call's answer to event-wait's exit")
    print("  (process exit included), and the VM is hard-shut-down again before the next run")


if __name__ == "__main__":
    main()
