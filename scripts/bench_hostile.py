#!/usr/bin/env python3
"""xe against hostile and large answers (run it with `scripts/bench-hostile`).

1. A small server (stdlib) logs xe in, then answers the listing with 1 GiB,
   generated as it is sent: a JSON-RPC array of small strings, and the same
   over XML-RPC (no /jsonrpc endpoint). xe must refuse it at its value limit
   (64 MiB by default); printed: peak RSS, wall time, the bytes the server
   managed to send, and xe's error line.
2. `xe vm-list` and `xe vm-list params=all` on `xapi-sim --vms 100000`:
   wall time, peak RSS and whether the default limit let them through.

Peak RSS comes from /usr/bin/time -f %M (a direct child of Python would
report Python's own high-water mark). Stdlib only; nothing is asserted.
"""

import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XE = os.environ.get("XE", os.path.join(ROOT, "target", "release", "xe"))
SIM = os.environ.get("XAPI_SIM", os.path.join(ROOT, "target", "release", "xapi-sim"))
VMS = int(os.environ.get("BENCH_HOSTILE_VMS", "100000"))
GIB = 1 << 30
TARGET_REFUSAL_MB = 256

SESSION = "OpaqueRef:bench-hostile"
JSON_HEAD = b'{"jsonrpc":"2.0","id":1,"result":['
JSON_UNIT = b'"OpaqueRef:0123456789",'
JSON_TAIL = b'"x"]}'
XML_HEAD = (b'<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name>'
            b'<value>Success</value></member><member><name>Value</name><value><array><data>')
XML_UNIT = b"<value>OpaqueRef:0123456789</value>"
XML_TAIL = b"</data></array></value></member></struct></value></param></params></methodResponse>"


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    json = True
    sent = 0

    def log_message(self, *args):
        pass

    def answer(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode(errors="replace")
        is_json = self.path.endswith("jsonrpc")
        if is_json and not Hostile.json:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "session.log" in body:
            if is_json:
                self.answer(('{"jsonrpc":"2.0","id":1,"result":"%s"}' % SESSION).encode(), "application/json")
            else:
                v = ("<value><struct><member><name>Status</name><value>Success</value></member><member>"
                     "<name>Value</name><value>%s</value></member></struct></value>" % SESSION)
                self.answer(("<?xml version=\"1.0\"?><methodResponse><params><param>%s</param></params>"
                             "</methodResponse>" % v).encode(), "text/xml")
            return
        head, unit, tail = (JSON_HEAD, JSON_UNIT, JSON_TAIL) if is_json else (XML_HEAD, XML_UNIT, XML_TAIL)
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if is_json else "text/xml")
        self.send_header("Content-Length", str(GIB))
        self.end_headers()
        piece = unit * ((1 << 20) // len(unit))
        left = GIB - len(head) - len(tail)
        try:
            self.wfile.write(head)
            Hostile.sent = len(head)
            while left > 0:
                chunk = piece[:left] if left < len(piece) else piece
                self.wfile.write(chunk)
                Hostile.sent += len(chunk)
                left -= len(chunk)
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def timed(argv, env):
    """Runs argv under /usr/bin/time: (wall seconds, peak RSS kB, exit status, stdout bytes, stderr text)."""
    fd, path = tempfile.mkstemp(prefix="bench-hostile-rss-")
    os.close(fd)
    try:
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", path] + argv, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        with open(path) as f:
            rss = int(f.read().split()[-1])
        return wall, rss, p.returncode, len(p.stdout), p.stderr.decode(errors="replace").strip()
    finally:
        os.unlink(path)


def base_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
    env["HOME"] = tempfile.mkdtemp(prefix="bench-hostile-home-")
    return env


def refusals():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(f"1 GiB answers to VM.get_all_records (refused at the default 64 MiB limit; target < {TARGET_REFUSAL_MB} MB):")
    try:
        for wire, is_json in (("JSON-RPC", True), ("XML-RPC", False)):
            Hostile.json = is_json
            Hostile.sent = 0
            argv = [XE, "-s", "127.0.0.1", "-p", str(port), "--nossl", "-pw", "x", "vm-list"]
            wall, rss, code, _, err = timed(argv, base_env())
            time.sleep(0.2)
            print(f"  {wire:8}  peak RSS {rss / 1024:7.1f} MB   {wall:6.2f} s   exit {code}   "
                  f"server sent {Hostile.sent / (1 << 20):7.1f} MiB of 1024")
            print(f"            {err}")
    finally:
        server.shutdown()


def listings():
    print(f"xapi-sim --vms {VMS}, default limit (64 MiB):")
    t = time.perf_counter()
    sim = subprocess.Popen([SIM, "--listen", "127.0.0.1:0", "--vms", str(VMS), "--time-scale", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = sim.stdout.readline()
        m = re.search(r"ready at http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            sys.exit(f"bench-hostile: xapi-sim did not start: {line!r}")
        print(f"  (simulator ready in {time.perf_counter() - t:.1f} s)")
        env = base_env()
        env["XE_EXTRA_ARGS"] = f"server=127.0.0.1,port={m.group(1)},password=xenroot"
        for args in (["vm-list"], ["vm-list", "params=all"]):
            # The best of three runs (the first also warms the simulator up).
            runs = [timed([XE] + args, env) for _ in range(3)]
            wall = min(r[0] for r in runs)
            _, rss, code, out, err = runs[-1]
            shown = " ".join(args)
            print(f"  xe {shown:20} {wall:6.2f} s   peak RSS {rss / 1024:7.1f} MB   exit {code}   "
                  f"{out / (1 << 20):7.1f} MiB printed")
            if code != 0:
                print(f"    {err}")
        # With a limit high enough for everything.
        env["XE_MAX_VALUE"] = "4GiB"
        wall, rss, code, out, err = timed([XE, "vm-list", "params=all"], env)
        print(f"  xe vm-list params=all, XE_MAX_VALUE=4GiB: {wall:6.2f} s   peak RSS {rss / 1024:7.1f} MB   exit {code}")
        if code != 0:
            print(f"    {err}")
    finally:
        sim.terminate()
        sim.wait()


def main():
    print(f"  xe:       {XE}")
    print(f"  xapi-sim: {SIM}")
    refusals()
    listings()


if __name__ == "__main__":
    main()
