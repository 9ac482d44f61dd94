"""The rest of a host's own calls (issue 13): the state they change as the
official SDK sees it (local storage caching, the display console, per-host
external authentication) and xapi's errors (bacon mode, the SR checks,
WLB, uploads, a host that is down)."""

import json
import os
import tempfile

import pytest
import XenAPI

from conftest import Sim

DIRECTORY = {"domain": "corp.example.com", "users": [{"name": "svc-join", "password": "joinpw"}], "groups": []}


@pytest.fixture()
def pool():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(DIRECTORY, f)
    s = Sim("--time-scale", "0", "--directory", f.name)
    yield s
    s.stop()
    os.unlink(f.name)


def failure(fn, *args):
    with pytest.raises(XenAPI.Failure) as e:
        fn(*args)
    return e.value.details


def host(x, name):
    return x.host.get_by_name_label(name)[0]


def local_sr(x, h, ty, name):
    return x.SR.create(h, {"device": "/dev/sdb"}, "0", name, "", ty, "user", False, {})


def test_local_storage_caching_needs_a_disabled_host_and_a_local_sr_that_caches(pool):
    x = pool.session().xenapi
    h1, h2, h3 = host(x, "xs-host-1"), host(x, "xs-host-2"), host(x, "xs-host-3")
    cache = local_sr(x, h3, "ext", "cache")
    assert failure(x.host.enable_local_storage_caching, h3, cache) == ["HOST_NOT_DISABLED"]
    # A running guest keeps its host in use.
    x.host.disable(h1)
    web01 = x.VM.get_by_name_label("web01")[0]
    assert failure(x.host.enable_local_storage_caching, h1, cache) == ["HOST_IN_USE", h1, "vm", web01]
    x.host.disable(h3)
    lvm = [s for s in x.host.get_PBDs(h3) if x.SR.get_type(x.PBD.get_SR(s)) == "lvm"]
    assert failure(x.host.enable_local_storage_caching, h3, x.PBD.get_SR(lvm[0])) == ["SR_OPERATION_NOT_SUPPORTED"]
    nfs = x.SR.get_by_name_label("NFS virtual disk storage")[0]
    assert failure(x.host.enable_local_storage_caching, h3, nfs) == ["SR_OPERATION_NOT_SUPPORTED"]
    other = local_sr(x, h2, "ext", "other")
    assert failure(x.host.enable_local_storage_caching, h3, other) == ["HOST_CANNOT_SEE_SR", h3, other]

    x.host.enable_local_storage_caching(h3, cache)
    assert x.host.get_local_cache_sr(h3) == cache
    assert x.SR.get_local_cache_enabled(cache)
    # A second cache SR replaces the first.
    second = local_sr(x, h3, "ext", "second")
    x.host.enable_local_storage_caching(h3, second)
    assert x.host.get_local_cache_sr(h3) == second
    assert not x.SR.get_local_cache_enabled(cache)
    assert x.SR.get_local_cache_enabled(second)
    x.host.disable_local_storage_caching(h3)
    assert x.host.get_local_cache_sr(h3) == "OpaqueRef:NULL"
    assert not x.SR.get_local_cache_enabled(second)
    x.host.enable(h3)
    assert failure(x.host.disable_local_storage_caching, h3) == ["HOST_NOT_DISABLED"]


def test_the_display_changes_at_the_next_boot_and_a_pending_change_can_be_cancelled(pool):
    x = pool.session().xenapi
    h = host(x, "xs-host-2")
    assert x.host.get_display(h) == "enabled"
    assert x.host.enable_display(h) == "enabled"
    assert x.host.disable_display(h) == "disable_on_reboot"
    assert x.host.get_display(h) == "disable_on_reboot"
    assert x.host.enable_display(h) == "enabled"
    x.host.set_display(h, "disabled")
    assert x.host.disable_display(h) == "disabled"
    assert x.host.enable_display(h) == "enable_on_reboot"
    assert x.host.disable_display(h) == "disabled"
    assert x.host.get_display(h) == "disabled"


def test_external_auth_on_one_host(pool):
    x = pool.session().xenapi
    h = host(x, "xs-host-3")
    assert failure(x.host.enable_external_auth, h, {}, "corp.example.com", "LDAP") == ["AUTH_UNKNOWN_TYPE", "LDAP"]
    bad = {"user": "svc-join", "pass": "nope"}
    details = failure(x.host.enable_external_auth, h, bad, "corp.example.com", "AD")
    assert details[0] == "AUTH_ENABLE_FAILED_WRONG_CREDENTIALS"
    assert x.host.get_external_auth_type(h) == ""
    good = {"user": "svc-join", "pass": "joinpw"}
    x.host.enable_external_auth(h, good, "corp.example.com", "AD")
    assert x.host.get_external_auth_type(h) == "AD"
    assert x.host.get_external_auth_service_name(h) == "corp.example.com"
    assert x.host.get_external_auth_configuration(h) == {"user": "svc-join"}
    # The other hosts are untouched: this is the per-host recovery call.
    assert x.host.get_external_auth_type(host(x, "xs-host-1")) == ""
    details = failure(x.host.enable_external_auth, h, good, "corp.example.com", "AD")
    assert details == ["AUTH_ALREADY_ENABLED", "AD", "corp.example.com"]
    x.host.disable_external_auth(h, {})
    assert x.host.get_external_auth_type(h) == ""
    x.host.disable_external_auth(h, {})


def test_wlb_uploads_and_a_host_that_is_down(pool):
    x = pool.session().xenapi
    h3 = host(x, "xs-host-3")
    assert failure(x.host.retrieve_wlb_evacuate_recommendations, h3) == ["WLB_NOT_INITIALIZED"]
    assert failure(x.host.bugreport_upload, h3, "", {}) == ["INVALID_VALUE", "url", ""]
    details = failure(x.host.bugreport_upload, h3, "http://support.example.com/", {"http_proxy": "http://p:3128"})
    assert details[0] == "INTERNAL_ERROR"
    assert x.host.dmesg(h3).startswith("(XEN) Xen version")
    x.host.sync_data(h3)
    x.host.send_debug_keys(h3, "q")
    x.host.refresh_pack_info(h3)
    x.host.disable(h3)
    x.host.shutdown(h3)
    metrics = x.host.get_metrics(h3)
    assert not x.host_metrics.get_live(metrics)
    for call in (x.host.dmesg, x.host.sync_data, x.host.refresh_pack_info):
        assert failure(call, h3) == ["HOST_OFFLINE", h3]


def test_host_backup_is_a_tar_of_the_host_and_restores_only_there(pool):
    import io
    import tarfile
    import time
    import urllib.request

    s = pool.session()
    x = s.xenapi
    h1 = x.host.get_by_name_label("xs-host-1")[0]
    h2 = x.host.get_by_name_label("xs-host-2")[0]
    with urllib.request.urlopen(f"{pool.url}host_backup?session_id={s._session}", timeout=10) as r:
        backup = r.read()
    with tarfile.open(fileobj=io.BytesIO(backup), mode="r:gz") as tar:
        assert tar.getnames() == ["etc/xensource-inventory", "var/lib/xcp/state.db"]
        inventory = tar.extractfile("etc/xensource-inventory").read().decode()
        assert f"INSTALLATION_UUID='{x.host.get_uuid(h1)}'" in inventory
        assert "<database>" in tar.extractfile("var/lib/xcp/state.db").read().decode()

    def restore(address, body):
        task = x.task.create("host backup upload", "")
        url = f"{pool.scheme}://{address}:{pool.port}/host_restore?session_id={s._session}&task_id={task}"
        req = urllib.request.Request(url, data=body, method="PUT")
        urllib.request.urlopen(req, timeout=10).read()
        while x.task.get_status(task) == "pending":
            time.sleep(0.02)
        return x.task.get_status(task), x.task.get_error_info(task)

    assert restore(x.host.get_address(h1), backup) == ("success", [])
    status, error = restore(x.host.get_address(h2), backup)
    assert status == "failure" and error[0] == "RESTORE_SCRIPT_FAILED"
    assert x.host.get_uuid(h1) in error[1]
