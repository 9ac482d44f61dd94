"""Fixtures that run the real `xapi-sim` binary on loopback for SDK tests."""

import os
import re
import signal
import subprocess
import time

import pytest
import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER, PASSWORD = "root", "xenroot"


def sim_binary():
    path = os.environ.get("XAPI_SIM") or os.path.join(ROOT, "target", "debug", "xapi-sim")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not built: run `cargo build -p xapi-sim` first")
    return path


class Sim:
    """A running xapi-sim process."""

    def __init__(self, *extra):
        self.args = [sim_binary(), "--listen", "127.0.0.1:0", "--user", f"{USER}:{PASSWORD}", *extra]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"(https?)://([\d.]+):(\d+)/", line)
        if not m:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"xapi-sim did not start: {line!r} {err}")
        self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
        self.url = f"{self.scheme}://{self.host}:{self.port}/"

    def session(self, originator="sdk-tests"):
        s = XenAPI.Session(self.url, ignore_ssl=True)
        s.xenapi.login_with_password(USER, PASSWORD, "2.21", originator)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def sim():
    s = Sim("--time-scale", "0")
    yield s
    s.stop()


@pytest.fixture()
def fresh_sim():
    s = Sim("--time-scale", "0")
    yield s
    s.stop()


@pytest.fixture()
def session(sim):
    s = sim.session()
    yield s
    try:
        s.xenapi.session.logout()
    except Exception:
        pass


def wait_for(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture()
def two_pools():
    """`xapi-sim --pools 2`: the demo pool, and a standalone host at 127.0.2.11."""
    s = Sim("--time-scale", "0", "--pools", "2")
    yield s
    s.stop()
