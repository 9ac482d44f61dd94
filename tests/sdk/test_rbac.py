"""Roles as xapi enforces them: users given a role with --user NAME:PW:ROLE
get RBAC_PERMISSION_DENIED with the permission and the roles that have it,
on every call (sync and Async), and their sessions carry the permission list."""

import pytest
import XenAPI

from conftest import Sim


@pytest.fixture(scope="module")
def rsim():
    s = Sim("--time-scale", "0", "--user", "viewer:pw1:read-only", "--user", "operator:pw2:vm-operator",
            "--user", "admin:pw:with:colons")
    yield s
    s.stop()


def login(sim, user, password):
    s = XenAPI.Session(sim.url)
    s.xenapi.login_with_password(user, password, "2.21", "sdk-rbac")
    return s


def halted_vm(x):
    return next(v for v, r in x.VM.get_all_records().items()
                if not r["is_a_template"] and not r["is_control_domain"] and r["power_state"] == "Halted")


def test_read_only_reads_but_may_not_start(rsim):
    s = login(rsim, "viewer", "pw1")
    x = s.xenapi
    vm = halted_vm(x)
    assert x.VM.get_name_label(vm)
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.start(vm, False, False)
    assert e.value.details == [
        "RBAC_PERMISSION_DENIED", "vm.start",
        "No permission in user session. (Roles with this permission: "
        "pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator)"]
    with pytest.raises(XenAPI.Failure) as e:
        x.Async.VM.start(vm, False, False)
    assert e.value.details[:2] == ["RBAC_PERMISSION_DENIED", "vm.start"]


def test_vm_operator_starts_but_may_not_rename(rsim):
    s = login(rsim, "operator", "pw2")
    x = s.xenapi
    vm = halted_vm(x)
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_name_label(vm, "renamed")
    assert e.value.details[:2] == ["RBAC_PERMISSION_DENIED", "vm.set_name_label"]
    assert "(Roles with this permission: pool-admin, pool-operator, vm-power-admin, vm-admin)" in e.value.details[2]
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.hard_shutdown(vm)


def test_sessions_carry_their_roles_permissions(rsim):
    viewer = login(rsim, "viewer", "pw1")
    me = viewer.xenapi.session.get_record(viewer._session)
    assert not me["is_local_superuser"]
    assert "vm.get_all_records" in me["rbac_permissions"] and "vm.start" not in me["rbac_permissions"]
    root = rsim.session()
    assert root.xenapi.session.get_is_local_superuser(root._session)


def test_a_password_with_colons_is_not_a_role(rsim):
    s = login(rsim, "admin", "pw:with:colons")
    assert s.xenapi.pool.get_all()
