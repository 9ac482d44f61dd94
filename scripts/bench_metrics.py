"""Times GET /rrd_updates on a 1,000-VM simulated pool (see bench-metrics)."""

import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.environ.get("XAPI_SIM") or os.path.join(ROOT, "target", "release", "xapi-sim")
XE = os.environ.get("XE") or os.path.join(ROOT, "target", "release", "xe")
VMS = int(os.environ.get("BENCH_VMS", "1000"))
RUNS = 7


def rpc(base, method, *params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode()
    req = urllib.request.Request(f"{base}/jsonrpc", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.load(r)
    if "error" in answer:
        sys.exit(f"bench-metrics: {method}: {answer['error']}")
    return answer["result"]


def timed_get(url):
    t = time.perf_counter()
    req = urllib.request.Request(url, headers={"Accept": "text/xml"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
    return time.perf_counter() - t, body


def main():
    argv = [SIM, "--listen", "127.0.0.1:0", "--vms", str(VMS), "--time-scale", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"ready at (https?)://127\.0\.0\.1:(\d+)/", line)
        if not m:
            sys.exit(f"bench-metrics: xapi-sim did not start: {line!r}")
        port = int(m.group(2))
        base = f"http://127.0.0.1:{port}"
        session = rpc(base, "session.login_with_password", "root", "xenroot", "1.0", "bench-metrics")
        hosts = rpc(base, "host.get_all_records", session)
        running = sum(
            1 for r in rpc(base, "VM.get_all_records", session).values()
            if r["power_state"] == "Running" and not r["is_control_domain"]
        )
        print(f"pool: {len(hosts)} hosts, {running} running VMs (of {VMS} added), release xapi-sim")
        for label, start in [("last minute (13 rows)", -60), ("last 10 minutes (61 rows)", -300)]:
            per_pool = []
            per_host = []
            columns = 0
            size = 0
            for _ in range(RUNS):
                total = 0.0
                columns = 0
                size = 0
                for h in hosts.values():
                    url = f"http://{h['address']}:{port}/rrd_updates?session_id={session}&start={start}&host=true"
                    dt, body = timed_get(url)
                    total += dt
                    per_host.append(dt)
                    columns += int(re.search(rb"<columns>(\d+)</columns>", body).group(1))
                    size += len(body)
                per_pool.append(total)
            print(
                f"rrd_updates, {label}: whole pool median {statistics.median(per_pool) * 1000:.1f} ms "
                f"(target < 200 ms), slowest host {max(per_host) * 1000:.1f} ms; "
                f"{columns} columns, {size / 1e6:.1f} MB"
            )
        xe_top(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def xe_top(port):
    """The client CPU (user + system) of one `xe top` refresh on this pool:
    `xe top --once` does what the live view does per interval (the VM and
    host records, one rrd_updates per host) plus starting up and logging in."""
    env = dict(os.environ, XE_EXTRA_ARGS=f"server=127.0.0.1,port={port},password=xenroot,nossl=true")
    cpu = []
    wall = []
    for _ in range(RUNS):
        before = os.times()
        t = time.perf_counter()
        subprocess.run([XE, "top", "--once", "--hosts"], env=env, check=True, stdout=subprocess.DEVNULL)
        wall.append(time.perf_counter() - t)
        after = os.times()
        cpu.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
    print(
        f"xe top --once --hosts: client CPU median {statistics.median(cpu) * 1000:.0f} ms per refresh "
        f"(target < 100 ms), wall {statistics.median(wall) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
