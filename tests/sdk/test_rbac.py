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


def http(rsim, path, method="GET", data=None, headers=None):
    """An HTTP request to the simulator: (status, body, headers)."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(f"http://{rsim.host}:{rsim.port}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def a_disk(rsim):
    """A new 1 MiB disk, made by root."""
    x = rsim.session().xenapi
    sr = x.SR.get_by_name_label("NFS virtual disk storage")[0]
    return x.VDI.create({
        "name_label": "rbac disk", "name_description": "", "SR": sr, "virtual_size": str(1 << 20),
        "type": "user", "sharable": False, "read_only": False, "other_config": {},
        "xenstore_data": {}, "sm_config": {}, "tags": [],
    })


def test_http_handlers_check_the_roles_permission(rsim):
    """A read-only user may not export a disk: 403, and the task it named
    fails with RBAC_PERMISSION_DENIED on http/get_export_raw_vdi."""
    viewer = login(rsim, "viewer", "pw1")
    x = viewer.xenapi
    vdi = a_disk(rsim)
    task = x.task.create("sdk export", "")
    status, body, _ = http(rsim, f"/export_raw_vdi?session_id={viewer._session}&task_id={task}&vdi={vdi}")
    assert status == 403
    assert body == b"<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>"
    rec = x.task.get_record(task)
    assert rec["status"] == "failure"
    assert rec["error_info"] == [
        "RBAC_PERMISSION_DENIED", "http/get_export_raw_vdi",
        "No permission in user session. (Roles with this permission: "
        "pool-admin, pool-operator, vm-power-admin, vm-admin)"]


def test_http_basic_users_get_their_roles_too(rsim):
    import base64
    auth = {"Authorization": "Basic " + base64.b64encode(b"operator:pw2").decode()}
    status, _, _ = http(rsim, "/pool/xmldbdump", headers=auth)
    assert status == 403
    status, body, _ = http(rsim, "/pool/xmldbdump", headers={
        "Authorization": "Basic " + base64.b64encode(b"admin:pw:with:colons").decode()})
    assert status == 200 and b"<database" in body[:200]


def test_a_vm_operator_may_read_a_disk_only_through_the_api(rsim):
    operator = login(rsim, "operator", "pw2")
    x = operator.xenapi
    vdi = a_disk(rsim)
    status, _, _ = http(rsim, f"/export_raw_vdi?session_id={operator._session}&vdi={vdi}")
    assert status == 403
    root = rsim.session()
    status, body, _ = http(rsim, f"/export_raw_vdi?session_id={root._session}&vdi={vdi}")
    assert status == 200 and len(body) == int(root.xenapi.VDI.get_virtual_size(vdi))


def test_roles_and_permissions_are_xapis_static_table(rsim):
    x = rsim.session().xenapi
    roles = x.role.get_all_records_where("subroles<>[]")
    names = [r["name_label"] for r in roles.values()]
    assert names == ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator",
                     "client-cert", "read-only"]
    pool_admin = x.role.get_by_uuid("0165f154-ba3e-034e-6b27-5d271af109ba")
    assert pool_admin == "OpaqueRef:0165f154-ba3e-034e-6b27-5d271af109ba"
    assert x.role.get_record(pool_admin)["is_internal"] is False
    permissions = x.role.get_all_records_where("subroles=[]")
    assert len(permissions) > 1000
    start = x.role.get_by_name_label("vm.start")[0]
    assert x.role.get_record(start) == {
        "uuid": "24b924aa-926c-879e-d2c1-fe778e82ccee", "name_label": "vm.start",
        "name_description": "A basic permission", "subroles": [], "is_internal": True}
    holders = [x.role.get_name_label(r) for r in x.role.get_by_permission(start)]
    assert holders == ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator"]
    assert x.role.get_by_permission_name_label("http/get_pool_xml_db_sync") == [pool_admin]
    read_only = x.role.get_by_name_label("read-only")[0]
    labels = x.role.get_permissions_name_label(read_only)
    assert "vm.get_record" in labels and "vm.start" not in labels
    assert x.role.get_permissions(start) == [start]


def test_a_vm_operators_session_lists_http_permissions_too(rsim):
    s = login(rsim, "operator", "pw2")
    me = s.xenapi.session.get_record(s._session)
    assert "vm.start" in me["rbac_permissions"]
    assert "http/get_export" not in me["rbac_permissions"]
    assert "http/rrd_updates" in me["rbac_permissions"]


DIRECTORY = {
    "domain": "corp.example.com",
    "users": [{"name": "alice", "password": "alicepw", "groups": ["xen-ops"]},
              {"name": "bob", "password": "bobpw"}, {"name": "joiner", "password": "joinpw"}],
    "groups": [{"name": "xen-ops"}],
}


@pytest.fixture(scope="module")
def dsim(tmp_path_factory):
    import json
    path = tmp_path_factory.mktemp("dir") / "directory.json"
    path.write_text(json.dumps(DIRECTORY))
    s = Sim("--time-scale", "0", "--directory", str(path))
    yield s
    s.stop()


def test_directory_users_log_in_through_their_groups_subject(dsim):
    root = dsim.session().xenapi
    pool = root.pool.get_all()[0]
    with pytest.raises(XenAPI.Failure) as e:
        root.auth.get_subject_identifier("alice")
    assert e.value.details == ["AUTH_IS_DISABLED"]
    root.pool.enable_external_auth(pool, {"user": "joiner", "pass": "joinpw"}, "corp.example.com", "AD")
    host = root.host.get_all()[0]
    assert root.host.get_external_auth_type(host) == "AD"
    assert "pass" not in root.host.get_external_auth_configuration(host)
    sid = root.auth.get_subject_identifier("CORP\\xen-ops")
    info = root.auth.get_subject_information_from_identifier(sid)
    assert info["subject-name"] == "corp\\xen-ops" and info["subject-is-group"] == "true"
    alice_sid = root.auth.get_subject_identifier("alice@corp.example.com")
    assert root.auth.get_group_membership(alice_sid) == [sid]
    group = root.subject.create({"subject_identifier": sid, "other_config": {}})
    assert root.subject.get_roles(group) == []
    with pytest.raises(XenAPI.Failure) as e:
        login(dsim, "alice", "alicepw")
    assert e.value.details[0] == "RBAC_PERMISSION_DENIED"
    assert e.value.details[1] == "session.login_with_password"
    root.subject.add_to_roles(group, root.role.get_by_name_label("vm-operator")[0])
    alice = login(dsim, "alice", "alicepw")
    me = alice.xenapi.session.get_record(alice._session)
    assert me["auth_user_sid"] == alice_sid and me["subject"] == group
    assert not me["is_local_superuser"] and "vm.start" in me["rbac_permissions"]
    vm = halted_vm(alice.xenapi)
    with pytest.raises(XenAPI.Failure) as e:
        alice.xenapi.VM.set_name_label(vm, "renamed")
    assert e.value.details[:2] == ["RBAC_PERMISSION_DENIED", "vm.set_name_label"]
    assert root.session.get_all_subject_identifiers() == [alice_sid]
    with pytest.raises(XenAPI.Failure) as e:
        login(dsim, "bob", "bobpw")
    assert e.value.details[0] == "SESSION_AUTHORIZATION_FAILED" and e.value.details[1] == "bob"
    with pytest.raises(XenAPI.Failure) as e:
        login(dsim, "alice", "wrong")
    assert e.value.details[0] == "SESSION_AUTHENTICATION_FAILED"
    # Removing the subject ends the sessions it admitted: the SDK's session,
    # finding itself invalid, logs in again and is refused.
    root.subject.destroy(group)
    with pytest.raises(XenAPI.Failure) as e:
        alice.xenapi.VM.get_all()
    assert e.value.details[0] == "SESSION_AUTHORIZATION_FAILED"
    root.pool.disable_external_auth(pool, {})
    assert root.host.get_external_auth_type(host) == ""


def test_guarded_map_keys_need_their_own_permission(rsim):
    op = login(rsim, "operator", "pw2").xenapi
    admin = login(rsim, "admin", "pw:with:colons").xenapi
    vm = halted_vm(admin)
    # A vm-operator may file VMs into folders and set XenCenter's custom fields...
    op.VM.add_to_other_config(vm, "folder", "/web")
    op.VM.add_to_other_config(vm, "XenCenter.CustomFields.owner", "ops")
    op.VM.remove_from_other_config(vm, "folder")
    assert admin.VM.get_other_config(vm)["XenCenter.CustomFields.owner"] == "ops"
    # ...but not set other keys, which need the message's own permission.
    with pytest.raises(XenAPI.Failure) as e:
        op.VM.add_to_other_config(vm, "anything", "x")
    assert e.value.details[0:2] == ["RBAC_PERMISSION_DENIED", "vm.add_to_other_config"]
    # Some keys are for the pool admin alone, whatever the message allows.
    with pytest.raises(XenAPI.Failure) as e:
        op.VM.add_to_other_config(vm, "pci", "0/0000:00:02.0")
    assert e.value.details == [
        "RBAC_PERMISSION_DENIED",
        "vm.add_to_other_config/key:pci",
        "No permission in user session. (Roles with this permission: pool-admin)",
    ]
    admin.VM.add_to_other_config(vm, "pci", "0/0000:00:02.0")
    # The key permissions are in the role table, held as the datamodel says.
    vm_op = admin.role.get_by_name_label("vm-operator")[0]
    names = {admin.role.get_name_label(p) for p in admin.role.get_permissions(vm_op)}
    assert {"vm.add_to_other_config/key:folder", "vm.remove_from_other_config/key:xencenter.customfields.*"} <= names
    assert "vm.add_to_other_config/key:pci" not in names
