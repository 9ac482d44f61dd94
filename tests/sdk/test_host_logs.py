"""/host_logs_download as a client of the SDK would use it: urllib GET with
session_id (and a task of its own) in the query; the body is read by
Python's tarfile as the gzip-compressed tar of /var/log xapi sends."""

import io
import tarfile
import urllib.error
import urllib.request

import pytest


def url(sim, path):
    return f"http://{sim.host}:{sim.port}{path}"


def test_logs_are_a_gzip_tar_of_var_log(sim):
    s = sim.session()
    x = s.xenapi
    task = x.task.create("sdk logs", "")
    with urllib.request.urlopen(url(sim, f"/host_logs_download?session_id={s._session}&task_id={task}")) as resp:
        assert resp.status == 200
        assert resp.headers["task-id"] == task
        body = resp.read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = tar.getnames()
        assert "var/log/xensource.log" in names and "var/log/SMlog" in names
        log = tar.extractfile("var/log/xensource.log").read().decode()
    master = x.pool.get_master(x.pool.get_all()[0])
    hostname = x.host.get_hostname(master)
    # The caller's task is in the log of the host it reached, the master.
    assert f" {hostname} xapi: " in log and "sdk logs" in log
    assert x.task.get_status(task) == "success"
    x.task.destroy(task)


def test_logs_need_credentials(sim):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url(sim, "/host_logs_download"))
    assert e.value.code == 401
