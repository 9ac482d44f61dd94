"""Updates through the official SDK: a simulated update file PUT to
/import_raw_vdi as xe update-upload sends it, pool_update.introduce,
precheck, apply and the reboot it asks for; repositories, sync_updates and
host.apply_updates."""

import urllib.request

import pytest
import XenAPI
from conftest import wait_for

UPDATE = """<update uuid="{uuid}" name-label="{label}" version="1.0" installation-size="1048576"
        after-apply-guidance="restartHost" key="">
  <name-description>{label} for the SDK tests</name-description>
  {extra}
</update>
"""


def url(sim, path):
    return f"http://{sim.host}:{sim.port}{path}"


def wait_task(x, task):
    assert wait_for(lambda: x.task.get_status(task) not in ("pending", "cancelling"))
    return x.task.get_record(task)


def upload(sim, s, body):
    x = s.xenapi
    pool = x.pool.get_all()[0]
    sr = x.pool.get_default_SR(pool)
    task = x.task.create("host patch upload", "")
    req = urllib.request.Request(
        url(sim, f"/import_raw_vdi?session_id={s._session}&sr_id={sr}&task_id={task}"),
        data=body.encode(), method="PUT")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
        resp.read()
    rec = wait_task(x, task)
    assert rec["status"] == "success", rec["error_info"]
    return rec["result"].removeprefix("<value>").removesuffix("</value>")


def member(x):
    """A host that is not the master and runs no guest."""
    master = x.pool.get_master(x.pool.get_all()[0])
    for h in x.host.get_all():
        guests = [v for v in x.host.get_resident_VMs(h) if not x.VM.get_is_control_domain(v)]
        if h != master and not guests:
            return h
    raise AssertionError("no idle member")


def reboot(x, host):
    x.host.disable(host)
    x.host.reboot(host)
    assert wait_for(lambda: x.host.get_enabled(host), timeout=10)


def test_upload_introduce_precheck_apply_reboot(fresh_sim):
    s = fresh_sim.session()
    x = s.xenapi
    host = member(x)
    u1 = "01234567-89ab-4cde-8f01-23456789abcd"
    vdi = upload(fresh_sim, s, UPDATE.format(uuid=u1, label="SDK1", extra=""))
    update = x.pool_update.introduce(vdi)
    rec = x.pool_update.get_record(update)
    assert (rec["uuid"], rec["name_label"], rec["version"]) == (u1, "SDK1", "1.0")
    assert rec["after_apply_guidance"] == ["restartHost"] and rec["vdi"] == vdi and rec["hosts"] == []

    u2 = "11234567-89ab-4cde-8f01-23456789abcd"
    vdi2 = upload(fresh_sim, s, UPDATE.format(uuid=u2, label="SDK2", extra=f'<prerequisite uuid="{u1}"/>'))
    needs = x.pool_update.introduce(vdi2)
    with pytest.raises(XenAPI.Failure) as e:
        x.pool_update.precheck(needs, host)
    assert e.value.details == ["UPDATE_PRECHECK_FAILED_PREREQUISITE_MISSING", u2, u1]

    assert x.pool_update.precheck(update, host) == "ok"
    x.pool_update.apply(update, host)
    assert x.host.get_updates(host) == [update]
    assert x.host.get_updates_requiring_reboot(host) == [update]
    assert x.pool_update.precheck(needs, host) == "ok"
    with pytest.raises(XenAPI.Failure) as e:
        x.pool_update.apply(update, host)
    assert e.value.details == ["UPDATE_ALREADY_APPLIED", u1]
    with pytest.raises(XenAPI.Failure) as e:
        x.pool_update.destroy(update)
    assert e.value.details == ["UPDATE_IS_APPLIED"]

    reboot(x, host)
    assert x.host.get_updates_requiring_reboot(host) == []
    assert x.host.get_updates(host) == [update]

    # The legacy patch of the second update, destroyed with it.
    patch = x.pool_patch.get_by_uuid("11234567-0000-0000-8f01-23456789abcd")
    assert x.pool_patch.get_pool_update(patch) == needs
    x.pool_update.destroy(needs)
    with pytest.raises(XenAPI.Failure) as e:
        x.pool_patch.get_record(patch)
    assert e.value.details[0] == "HANDLE_INVALID"


def test_repositories_sync_and_apply_updates(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    with pytest.raises(XenAPI.Failure) as e:
        x.Repository.introduce("r", "", "file:///srv/repo", "https://src/", True, "")
    assert e.value.details == ["INVALID_BASE_URL", "file:///srv/repo"]
    repo = x.Repository.introduce("base", "", "https://updates.example.com/base", "https://updates.example.com/src",
                                  True, "")
    with pytest.raises(XenAPI.Failure) as e:
        x.pool.sync_updates(pool, False, "", "")
    assert e.value.details == ["NO_REPOSITORY_ENABLED"]
    x.pool.add_repository(pool, repo)
    assert x.pool.get_repositories(pool) == [repo]
    digest = x.pool.sync_updates(pool, False, "", "")
    assert x.Repository.get_hash(repo) == digest and len(digest) == 32
    host = member(x)
    assert x.host.get_latest_synced_updates_applied(host) == "no"
    with pytest.raises(XenAPI.Failure) as e:
        x.host.apply_updates(host, "not-the-hash")
    assert e.value.details == ["UPDATEINFO_HASH_MISMATCH"]
    assert x.host.apply_updates(host, digest) == []
    assert x.host.get_pending_guidances(host) == ["reboot_host"]
    assert not x.host.get_enabled(host)
    reboot(x, host)
    assert x.host.get_pending_guidances(host) == []
    assert x.host.get_latest_synced_updates_applied(host) == "yes"
    with pytest.raises(XenAPI.Failure) as e:
        x.Repository.forget(repo)
    assert e.value.details == ["REPOSITORY_IS_IN_USE"]
    x.pool.remove_repository(pool, repo)
    x.Repository.forget(repo)
    assert x.Repository.get_all() == []
