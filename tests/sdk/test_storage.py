"""Storage devices through the official SDK: SRs, PBDs, VDIs and VBDs with
xapi's rules (the seed walkthrough, error codes with their parameters, SR
accounting, VHD chains, copies, CD media, detach rejections)."""

import pytest
import XenAPI
from conftest import Sim, wait_for

GIB = 1 << 30
MIB = 1 << 20
NULL = "OpaqueRef:NULL"


def fails(code, fn, *args, **kwargs):
    """Calls fn and returns the failure's details, checking its code."""
    with pytest.raises(XenAPI.Failure) as e:
        fn(*args, **kwargs)
    assert e.value.details[0] == code, e.value.details
    return e.value.details


def vm_named(x, name):
    return x.VM.get_by_name_label(name)[0]


def sr_of_type(x, ty):
    return next(r for r in x.SR.get_all() if x.SR.get_type(r) == ty)


def local_sr(x, vm):
    """The local SR of the host a VM runs on (where web01's disk lives)."""
    host = x.VM.get_resident_on(vm)
    return next(x.PBD.get_SR(p) for p in x.host.get_PBDs(host) if x.SR.get_type(x.PBD.get_SR(p)) == "lvm")


def default_sr(x):
    pool = x.pool.get_all()[0]
    return x.pool.get_default_SR(pool)


def new_vdi(x, sr, size=GIB, label="sdk disk", **extra):
    rec = {"name_label": label, "name_description": "", "SR": sr, "virtual_size": str(size), "type": "user",
           "sharable": False, "read_only": False, "other_config": {}}
    rec.update(extra)
    return x.VDI.create(rec)


def new_vbd(x, vm, vdi, userdevice="autodetect", **extra):
    rec = {"VM": vm, "VDI": vdi, "userdevice": userdevice, "bootable": False, "mode": "RW", "type": "Disk",
           "unpluggable": True, "empty": False, "other_config": {}, "qos_algorithm_type": "",
           "qos_algorithm_params": {}}
    rec.update(extra)
    return x.VBD.create(rec)


def usage(x, sr):
    r = x.SR.get_record(sr)
    return int(r["physical_utilisation"]), int(r["virtual_allocation"])


def disk_vbd(x, vm, userdevice="0"):
    return next(b for b in x.VM.get_VBDs(vm) if x.VBD.get_userdevice(b) == userdevice)


def cd_vbd(x, vm):
    return next(b for b in x.VM.get_VBDs(vm) if x.VBD.get_type(b) == "CD")


# --- the seed walkthrough -------------------------------------------------------


def test_blank_disk_hotplugged_into_a_running_vm(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    assert x.VM.get_power_state(vm) == "Running"
    sr = default_sr(x)
    vdi = new_vdi(x, sr, 2 * GIB, "walkthrough disk")
    assert x.VDI.get_SR(vdi) == sr and vdi in x.SR.get_VDIs(sr)
    vbd = new_vbd(x, vm, vdi)
    assert vbd in x.VM.get_VBDs(vm) and vbd in x.VDI.get_VBDs(vdi)
    assert x.VBD.get_currently_attached(vbd) is False
    assert x.VBD.get_userdevice(vbd) == "1"  # the lowest free device
    assert "plug" in x.VBD.get_allowed_operations(vbd)
    x.VBD.plug(vbd)
    assert x.VBD.get_currently_attached(vbd) is True
    assert x.VBD.get_device(vbd) == "xvdb"
    assert set(x.VBD.get_allowed_operations(vbd)) >= {"unplug", "unplug_force"}
    assert "destroy" not in x.VDI.get_allowed_operations(vdi)
    x.VBD.unplug(vbd)
    assert x.VBD.get_currently_attached(vbd) is False
    x.VBD.destroy(vbd)
    x.VDI.destroy(vdi)


def test_async_plug_and_unplug_report_through_tasks(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    vdi = new_vdi(x, default_sr(x))
    vbd = new_vbd(x, vm, vdi)
    task = x.Async.VBD.plug(vbd)
    assert wait_for(lambda: x.task.get_status(task) != "pending")
    assert x.task.get_status(task) == "success"
    assert x.VBD.get_currently_attached(vbd) is True
    task = x.Async.VBD.unplug(vbd)
    assert wait_for(lambda: x.task.get_status(task) != "pending")
    assert x.VBD.get_currently_attached(vbd) is False
    x.VDI.destroy(vdi)
    # Destroying a disk takes its VBDs with it.
    assert vbd not in x.VM.get_VBDs(vm)


# --- VBD rules --------------------------------------------------------------------


def test_vbd_create_checks(session):
    x = session.xenapi
    vm = vm_named(x, "test-halted")
    sr = default_sr(x)
    vdi = new_vdi(x, sr)
    try:
        assert fails("DEVICE_ALREADY_EXISTS", new_vbd, x, vm, vdi, "0") == ["DEVICE_ALREADY_EXISTS", "0"]
        # Device names clash across spellings: xvda is device 0.
        assert fails("DEVICE_ALREADY_EXISTS", new_vbd, x, vm, vdi, "xvda")[1] == "xvda"
        assert fails("INVALID_DEVICE", new_vbd, x, vm, vdi, "disk0") == ["INVALID_DEVICE", "disk0"]
        assert fails("VBD_CDS_MUST_BE_READONLY", new_vbd, x, vm, vdi, "5", type="CD") == ["VBD_CDS_MUST_BE_READONLY"]
        assert fails("VBD_NOT_REMOVABLE_MEDIA", new_vbd, x, vm, NULL, "5", empty=True) == \
            ["VBD_NOT_REMOVABLE_MEDIA", "in constructor"]
        assert fails("VDI_IS_NOT_ISO", new_vbd, x, vm, vdi, "5", type="CD", mode="RO") == \
            ["VDI_IS_NOT_ISO", vdi, x.SR.get_content_type(sr)]
        assert fails("HANDLE_INVALID", new_vbd, x, NULL, vdi) == ["HANDLE_INVALID", "VM", NULL]
        bogus = "OpaqueRef:00000000-0000-0000-0000-000000000001"
        assert fails("HANDLE_INVALID", new_vbd, x, vm, bogus) == ["HANDLE_INVALID", "VDI", bogus]
        ro = new_vdi(x, sr, GIB, "read-only disk", read_only=True)
        assert fails("VDI_READONLY", new_vbd, x, vm, ro, "5") == ["VDI_READONLY", ro]
        ro_vbd = new_vbd(x, vm, ro, "5", mode="RO")
        assert x.VBD.get_mode(ro_vbd) == "RO"
        x.VDI.destroy(ro)
        statefile = new_vdi(x, sr, GIB, "statefile", type="ha_statefile")
        assert fails("VDI_INCOMPATIBLE_TYPE", new_vbd, x, vm, statefile) == \
            ["VDI_INCOMPATIBLE_TYPE", statefile, "ha_statefile"]
        x.VDI.destroy(statefile)
        vbd = new_vbd(x, vm, vdi)
        assert x.VBD.get_userdevice(vbd) == "1"
        assert x.VBD.get_allowed_operations(vbd) == ["attach"]
    finally:
        x.VDI.destroy(vdi)


def test_plug_needs_a_running_vm(session):
    x = session.xenapi
    vm = vm_named(x, "test-halted")
    vbd = disk_vbd(x, vm)
    assert fails("VM_BAD_POWER_STATE", x.VBD.plug, vbd) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert fails("VM_BAD_POWER_STATE", x.VBD.unplug, vbd) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    suspended = vm_named(x, "build-suspended")
    vbd = disk_vbd(x, suspended)
    assert fails("VM_BAD_POWER_STATE", x.VBD.unplug_force, vbd) == \
        ["VM_BAD_POWER_STATE", suspended, "running", "suspended"]


def test_plug_and_unplug_twice(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    root = disk_vbd(x, vm)
    assert fails("DEVICE_ALREADY_ATTACHED", x.VBD.plug, root) == ["DEVICE_ALREADY_ATTACHED", root]
    vdi = new_vdi(x, default_sr(x))
    vbd = new_vbd(x, vm, vdi)
    assert fails("DEVICE_ALREADY_DETACHED", x.VBD.unplug, vbd) == ["DEVICE_ALREADY_DETACHED", vbd]
    assert fails("DEVICE_ALREADY_DETACHED", x.VBD.unplug_force, vbd) == ["DEVICE_ALREADY_DETACHED", vbd]
    x.VDI.destroy(vdi)


def test_unpluggable_flag_and_destroy_while_attached(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    vdi = new_vdi(x, default_sr(x))
    vbd = new_vbd(x, vm, vdi, unpluggable=False)
    x.VBD.plug(vbd)
    assert fails("VBD_NOT_UNPLUGGABLE", x.VBD.unplug, vbd) == ["VBD_NOT_UNPLUGGABLE", vbd]
    assert "unplug" not in x.VBD.get_allowed_operations(vbd)
    msg = "VBD '%s' still attached to '%s'" % (x.VBD.get_uuid(vbd), x.VM.get_uuid(vm))
    assert fails("OPERATION_NOT_ALLOWED", x.VBD.destroy, vbd) == ["OPERATION_NOT_ALLOWED", msg]
    assert fails("VDI_IN_USE", x.VDI.destroy, vdi) == ["VDI_IN_USE", vdi, "destroy"]
    x.VBD.set_unpluggable(vbd, True)
    x.VBD.unplug(vbd)
    x.VBD.destroy(vbd)
    assert vbd not in x.VDI.get_VBDs(vdi)
    x.VDI.destroy(vdi)


def test_unplugging_the_system_disk_of_a_running_vm(fresh_sim):
    x = fresh_sim.session().xenapi
    vm = vm_named(x, "web01")
    root = disk_vbd(x, vm)
    vdi = x.VBD.get_VDI(root)
    host = x.VM.get_resident_on(vm)
    assert x.VDI.get_sm_config(vdi)["host_" + host] == "RW"
    x.VBD.unplug(root)
    assert x.VBD.get_currently_attached(root) is False
    assert "host_" + host not in x.VDI.get_sm_config(vdi)
    assert "destroy" in x.VDI.get_allowed_operations(vdi)
    x.VBD.plug(root)
    assert x.VBD.get_currently_attached(root) is True


def test_hvm_cd_drives_are_not_hotplugged(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    cd = cd_vbd(x, vm)
    why = "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected"
    assert fails("OPERATION_NOT_ALLOWED", x.VBD.unplug, cd) == ["OPERATION_NOT_ALLOWED", why]


def test_a_disk_in_use_read_write_cannot_be_plugged_elsewhere(session):
    x = session.xenapi
    web01, db01 = vm_named(x, "web01"), vm_named(x, "db01")
    vdi = x.VBD.get_VDI(disk_vbd(x, web01))
    vbd = new_vbd(x, db01, vdi)
    try:
        assert fails("VDI_IN_USE", x.VBD.plug, vbd) == ["VDI_IN_USE", vdi]
        assert "plug" not in x.VBD.get_allowed_operations(vbd)
    finally:
        x.VBD.destroy(vbd)


def test_detach_rejections_let_clients_retry(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    vdi = new_vdi(x, default_sr(x))
    vbd = new_vbd(x, vm, vdi, other_config={"sim-detach-rejected": "2"})
    x.VBD.plug(vbd)
    for left in ["1", "0"]:
        d = fails("DEVICE_DETACH_REJECTED", x.VBD.unplug, vbd)
        assert d[1:3] == ["VBD", vbd] and len(d) == 4
        assert x.VBD.get_other_config(vbd)["sim-detach-rejected"] == left
        assert x.VBD.get_currently_attached(vbd) is True
    x.VBD.unplug(vbd)  # the third attempt succeeds, as nova's retry loop expects
    assert x.VBD.get_currently_attached(vbd) is False
    # A forced unplug does not ask the guest.
    x.VBD.plug(vbd)
    x.VBD.remove_from_other_config(vbd, "sim-detach-rejected")
    x.VBD.add_to_other_config(vbd, "sim-detach-rejected", "5")
    x.VBD.unplug_force(vbd)
    assert x.VBD.get_currently_attached(vbd) is False
    x.VDI.destroy(vdi)


def test_set_mode_needs_a_halted_vm(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    root = disk_vbd(x, vm)
    assert fails("VM_BAD_POWER_STATE", x.VBD.set_mode, root, "RO") == ["VM_BAD_POWER_STATE", vm, "halted", "running"]


# --- CD media ---------------------------------------------------------------------


def test_insert_and_eject(session):
    x = session.xenapi
    vm = vm_named(x, "web01")
    cd = cd_vbd(x, vm)
    assert x.VBD.get_empty(cd) is True
    iso_sr = next(r for r in x.SR.get_by_name_label("ISO library"))
    iso = x.SR.get_VDIs(iso_sr)[0]
    assert fails("VBD_IS_EMPTY", x.VBD.eject, cd) == ["VBD_IS_EMPTY", cd]
    disk = x.VBD.get_VDI(disk_vbd(x, vm))
    assert fails("VDI_IS_NOT_ISO", x.VBD.insert, cd, disk) == ["VDI_IS_NOT_ISO", disk, x.SR.get_content_type(
        x.VDI.get_SR(disk))]
    x.VBD.insert(cd, iso)
    assert x.VBD.get_empty(cd) is False and x.VBD.get_VDI(cd) == iso
    assert cd in x.VDI.get_VBDs(iso)
    assert x.VBD.get_allowed_operations(cd) == ["attach", "eject"]
    assert fails("VBD_NOT_EMPTY", x.VBD.insert, cd, iso) == ["VBD_NOT_EMPTY", cd]
    x.VBD.eject(cd)
    assert x.VBD.get_empty(cd) is True and x.VBD.get_VDI(cd) == NULL
    assert cd not in x.VDI.get_VBDs(iso)
    root = disk_vbd(x, vm)
    assert fails("VBD_NOT_REMOVABLE_MEDIA", x.VBD.insert, root, iso) == ["VBD_NOT_REMOVABLE_MEDIA", root]
    assert fails("VBD_NOT_REMOVABLE_MEDIA", x.VBD.eject, root) == ["VBD_NOT_REMOVABLE_MEDIA", root]
    suspended = vm_named(x, "build-suspended")
    assert fails("VM_BAD_POWER_STATE", x.VBD.insert, cd_vbd(x, suspended), iso) == \
        ["VM_BAD_POWER_STATE", suspended, "halted, running", "suspended"]


def test_empty_cd_drive_created_and_filled_on_a_halted_vm(session):
    x = session.xenapi
    vm = vm_named(x, "test-halted")
    iso = x.SR.get_VDIs(next(iter(x.SR.get_by_name_label("ISO library"))))[0]
    cd = new_vbd(x, vm, NULL, "5", type="CD", mode="RO", empty=True)
    assert x.VBD.get_allowed_operations(cd) == ["attach", "insert"]
    x.VBD.insert(cd, iso)
    x.VBD.eject(cd)
    x.VBD.destroy(cd)


# --- VDIs and SR accounting -------------------------------------------------------


def test_vdi_sizes_follow_the_driver_and_sr_usage_follows_vdis(session):
    x = session.xenapi
    nfs = default_sr(x)
    before = usage(x, nfs)
    vdi = new_vdi(x, nfs, GIB + 1)
    rec = x.VDI.get_record(vdi)
    assert int(rec["virtual_size"]) == GIB + 2 * MIB  # whole 2 MiB VHD blocks
    assert 0 < int(rec["physical_utilisation"]) < MIB  # thin: just the VHD metadata
    assert rec["location"] == rec["uuid"] and rec["managed"] is True
    assert rec["sm_config"]["vdi_type"] == "vhd"
    after = usage(x, nfs)
    assert after == (before[0] + int(rec["physical_utilisation"]), before[1] + int(rec["virtual_size"]))
    x.VDI.destroy(vdi)
    assert usage(x, nfs) == before

    lvm = local_sr(x, vm_named(x, "web01"))
    before = usage(x, lvm)
    vdi = new_vdi(x, lvm, 10 * GIB)
    phys = int(x.VDI.get_physical_utilisation(vdi))
    assert phys > 10 * GIB and phys % (4 * MIB) == 0  # thick: the whole LV, in 4 MiB extents
    assert usage(x, lvm) == (before[0] + phys, before[1] + 10 * GIB)
    x.VDI.destroy(vdi)
    assert usage(x, lvm) == before


def test_sr_full(session):
    x = session.xenapi
    lvm = local_sr(x, vm_named(x, "web01"))
    size = int(x.SR.get_physical_size(lvm))
    d = fails("SR_FULL", new_vdi, x, lvm, size)
    assert d[2] == str(size) and int(d[1]) > size
    assert fails("SR_BACKEND_FAILURE_79", new_vdi, x, default_sr(x), 3 << 40) == \
        ["SR_BACKEND_FAILURE_79", "", "VDI Invalid size [opterr=VDI size must be <= 2088960 MB]", ""]


def test_vdi_create_checks_the_sr(session):
    x = session.xenapi
    iso_sr = next(iter(x.SR.get_by_name_label("ISO library")))
    assert fails("SR_OPERATION_NOT_SUPPORTED", new_vdi, x, iso_sr) == ["SR_OPERATION_NOT_SUPPORTED", iso_sr]
    dvd = next(iter(x.SR.get_by_name_label("DVD drives")))
    assert fails("SR_OPERATION_NOT_SUPPORTED", new_vdi, x, dvd)[0] == "SR_OPERATION_NOT_SUPPORTED"
    assert fails("HANDLE_INVALID", new_vdi, x, NULL) == ["HANDLE_INVALID", "SR", NULL]
    assert fails("FIELD_TYPE_ERROR", x.VDI.create, {"name_label": "x", "SR": default_sr(x)})[0] == \
        "FIELD_TYPE_ERROR"


def test_vdi_destroy_rules(session):
    x = session.xenapi
    web01 = vm_named(x, "web01")
    root = x.VBD.get_VDI(disk_vbd(x, web01))
    assert fails("VDI_IN_USE", x.VDI.destroy, root) == ["VDI_IN_USE", root, "destroy"]
    tools = next(r for r in x.SR.get_all() if x.SR.get_is_tools_sr(r))
    assert fails("SR_OPERATION_NOT_SUPPORTED", x.VDI.destroy, x.SR.get_VDIs(tools)[0])[0] == \
        "SR_OPERATION_NOT_SUPPORTED"
    # A disk with an unplugged VBD can go; the VBD goes with it.
    vm = vm_named(x, "test-halted")
    vdi = new_vdi(x, default_sr(x))
    vbd = new_vbd(x, vm, vdi)
    x.VDI.destroy(vdi)
    assert vbd not in x.VM.get_VBDs(vm)
    assert fails("HANDLE_INVALID", x.VBD.get_record, vbd)[1] == "VBD"


def test_snapshot_and_clone_build_vhd_chains(session):
    x = session.xenapi
    sr = default_sr(x)
    before = usage(x, sr)
    vdi = new_vdi(x, sr, 4 * GIB, "chained")
    snap = x.VDI.snapshot(vdi, {})
    s = x.VDI.get_record(snap)
    assert s["is_a_snapshot"] is True and s["snapshot_of"] == vdi
    assert s["snapshot_time"].value != "19700101T00:00:00Z"
    assert snap in x.VDI.get_snapshots(vdi)
    assert s["name_label"] == "chained" and s["virtual_size"] == str(4 * GIB)
    base_uuid = s["sm_config"]["vhd-parent"]
    assert x.VDI.get_sm_config(vdi)["vhd-parent"] == base_uuid
    base = x.VDI.get_by_uuid(base_uuid)
    b = x.VDI.get_record(base)
    assert b["managed"] is False and b["read_only"] is True and b["name_label"] == "base copy"
    assert "vhd-parent" not in b["sm_config"]
    # A second snapshot stacks another base on the first.
    snap2 = x.VDI.snapshot(vdi, {})
    base2_uuid = x.VDI.get_sm_config(vdi)["vhd-parent"]
    assert base2_uuid != base_uuid
    assert x.VDI.get_sm_config(x.VDI.get_by_uuid(base2_uuid))["vhd-parent"] == base_uuid
    assert sorted(x.VDI.get_snapshots(vdi)) == sorted([snap, snap2])
    clone = x.VDI.clone(snap, {})
    c = x.VDI.get_record(clone)
    assert c["is_a_snapshot"] is False and c["snapshot_of"] == NULL
    assert c["sm_config"]["vhd-parent"] != base2_uuid
    # Unmanaged bases count towards physical usage only.
    phys, virt = usage(x, sr)
    assert virt == before[1] + 4 * 4 * GIB
    for v in [clone, snap2, snap, vdi]:
        x.VDI.destroy(v)
    # The storage garbage collector removes the bases left without children.
    assert x.VDI.get_all_records_where('field "name_label" = "base copy"') == {}
    assert usage(x, sr) == before


def test_snapshot_rules(session):
    x = session.xenapi
    # Live snapshots of attached disks are fine.
    root = x.VBD.get_VDI(disk_vbd(x, vm_named(x, "web01")))
    snap = x.VDI.snapshot(root, {})
    x.VDI.destroy(snap)
    shared = new_vdi(x, default_sr(x), GIB, "shared", sharable=True)
    assert fails("VDI_IS_SHARABLE", x.VDI.snapshot, shared, {}) == ["VDI_IS_SHARABLE", shared]
    assert "snapshot" not in x.VDI.get_allowed_operations(shared)
    x.VDI.destroy(shared)
    iso = x.SR.get_VDIs(next(iter(x.SR.get_by_name_label("ISO library"))))[0]
    assert fails("SR_OPERATION_NOT_SUPPORTED", x.VDI.clone, iso, {})[0] == "SR_OPERATION_NOT_SUPPORTED"


def test_cbt_and_reset_on_boot(session):
    x = session.xenapi
    sr = default_sr(x)
    vdi = new_vdi(x, sr)
    x.VDI.enable_cbt(vdi)
    assert x.VDI.get_cbt_enabled(vdi) is True
    assert fails("VDI_CBT_ENABLED", x.VDI.set_on_boot, vdi, "reset") == ["VDI_CBT_ENABLED", vdi]
    x.VDI.disable_cbt(vdi)
    x.VDI.set_on_boot(vdi, "reset")
    assert x.VDI.get_on_boot(vdi) == "reset"
    assert fails("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION", x.VDI.snapshot, vdi, {}) == \
        ["VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"]
    assert fails("VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION", x.VDI.enable_cbt, vdi)[0] == \
        "VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION"
    x.VDI.set_on_boot(vdi, "persist")
    statefile = new_vdi(x, sr, 1 << 30, "statefile", type="ha_statefile")
    assert fails("VDI_INCOMPATIBLE_TYPE", x.VDI.enable_cbt, statefile) == \
        ["VDI_INCOMPATIBLE_TYPE", statefile, "ha_statefile"]
    iso_sr = next(iter(x.SR.get_by_name_label("ISO library")))
    assert fails("SR_OPERATION_NOT_SUPPORTED", x.VDI.set_on_boot, x.SR.get_VDIs(iso_sr)[0], "reset") == \
        ["SR_OPERATION_NOT_SUPPORTED", iso_sr]
    for v in [vdi, statefile]:
        x.VDI.destroy(v)


def test_copy_to_another_sr(session):
    x = session.xenapi
    nfs = default_sr(x)
    lvm = local_sr(x, vm_named(x, "web01"))
    src = new_vdi(x, nfs, 3 * GIB, "to copy")
    before = usage(x, lvm)
    task = x.Async.VDI.copy(src, lvm, NULL, NULL)
    assert wait_for(lambda: x.task.get_status(task) != "pending")
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    dst = x.task.get_result(task)[len("<value>"):-len("</value>")]
    d = x.VDI.get_record(dst)
    assert d["SR"] == lvm and d["virtual_size"] == str(3 * GIB) and d["read_only"] is False
    assert d["name_label"] == "to copy" and dst != src
    assert usage(x, lvm) == (before[0] + int(d["physical_utilisation"]), before[1] + 3 * GIB)
    small = new_vdi(x, nfs, GIB)
    assert fails("VDI_TOO_SMALL", x.VDI.copy, src, NULL, NULL, small) == ["VDI_TOO_SMALL", small, str(3 * GIB)]
    big = new_vdi(x, nfs, 4 * GIB)
    assert x.VDI.copy(src, NULL, NULL, big) == big
    assert fails("HANDLE_INVALID", x.VDI.copy, src, NULL, NULL, NULL) == ["HANDLE_INVALID", "SR", NULL]
    for v in [src, dst, small, big]:
        x.VDI.destroy(v)
    assert usage(x, lvm) == before


def test_resize_rules(session):
    x = session.xenapi
    sr = default_sr(x)
    vdi = new_vdi(x, sr, GIB)
    x.VDI.resize(vdi, str(2 * GIB + 1))
    assert x.VDI.get_virtual_size(vdi) == str(2 * GIB + 2 * MIB)
    assert fails("SR_BACKEND_FAILURE_79", x.VDI.resize, vdi, str(GIB)) == \
        ["SR_BACKEND_FAILURE_79", "", "VDI Invalid size [opterr=shrinking not allowed]", ""]
    root = x.VBD.get_VDI(disk_vbd(x, vm_named(x, "web01")))
    assert fails("VDI_IN_USE", x.VDI.resize, root, str(20 * GIB)) == ["VDI_IN_USE", root, "resize"]
    assert "resize" not in x.VDI.get_allowed_operations(root)
    # VDI.resize_online is gone from the API; VDI.resize is the call.
    assert fails("MESSAGE_REMOVED", x.VDI.resize_online, root, str(20 * GIB)) == ["MESSAGE_REMOVED"]
    lvm = local_sr(x, vm_named(x, "web01"))
    thick = new_vdi(x, lvm, GIB)
    free = int(x.SR.get_physical_size(lvm)) - int(x.SR.get_physical_utilisation(lvm))
    assert fails("SR_FULL", x.VDI.resize, thick, str(GIB + free + GIB))[0] == "SR_FULL"
    x.VDI.destroy(thick)
    x.VDI.destroy(vdi)


def test_vdi_forget_and_rediscovery(fresh_sim):
    x = fresh_sim.session().xenapi
    sr = default_sr(x)
    vdi = new_vdi(x, sr, GIB, "forgettable")
    uuid = x.VDI.get_uuid(vdi)
    x.VDI.forget(vdi)
    assert fails("UUID_INVALID", x.VDI.get_by_uuid, uuid)[0] == "UUID_INVALID"
    x.SR.scan(sr)
    again = x.VDI.get_by_uuid(uuid)
    assert x.VDI.get_name_label(again) == "forgettable" and x.VDI.get_SR(again) == sr


# --- SRs and PBDs -----------------------------------------------------------------


def test_supported_types_and_probe(session):
    x = session.xenapi
    types = x.SR.get_supported_types()
    assert {"lvm", "ext", "nfs", "iso", "udev", "lvmoiscsi", "lvmohba", "file", "smb", "dummy"} <= set(types)
    host = x.host.get_all()[0]
    nfs = default_sr(x)
    dc = x.PBD.get_device_config(x.SR.get_PBDs(nfs)[0])
    xml = x.SR.probe(host, {"server": dc["server"], "serverpath": dc["serverpath"]}, "nfs", {})
    assert "<SRlist>" in xml and "<UUID>%s</UUID>" % x.SR.get_uuid(nfs) in xml
    d = fails("SR_BACKEND_FAILURE_101", x.SR.probe, host, {"server": dc["server"]}, "nfs", {})
    assert "<Path>%s</Path>" % dc["serverpath"] in d[3]
    assert fails("SR_UNKNOWN_DRIVER", x.SR.probe, host, {}, "bogus", {}) == ["SR_UNKNOWN_DRIVER", "bogus"]
    assert fails("UNIMPLEMENTED_IN_SM_BACKEND", x.SR.probe, host, {"location": "/x"}, "iso", {})[0] == \
        "UNIMPLEMENTED_IN_SM_BACKEND"
    d = fails("SR_BACKEND_FAILURE_96", x.SR.probe, host, {"target": "192.0.2.50"}, "lvmoiscsi", {})
    assert "<TargetIQN>" in d[3]
    # probe_ext answers with records instead of XML and errors.
    [found] = x.SR.probe_ext(host, {"server": dc["server"], "serverpath": dc["serverpath"]}, "nfs", {})
    assert found["complete"] is True and found["configuration"]["serverpath"] == dc["serverpath"]
    [stat] = found["sr"]
    assert stat["uuid"] == [x.SR.get_uuid(nfs)] and stat["total_space"] == x.SR.get_physical_size(nfs)
    assert stat["health"] == "healthy"
    choices = x.SR.probe_ext(host, {"server": dc["server"]}, "nfs", {})
    assert {c["configuration"]["serverpath"] for c in choices} >= {dc["serverpath"]}
    assert all(c["complete"] is False and c["sr"] == [] for c in choices)
    [new] = x.SR.probe_ext(host, {"server": "nfs09.example.com", "serverpath": "/fresh"}, "nfs", {})
    assert new["complete"] is True and new["sr"] == []


def test_sr_create_validates_device_config(session):
    x = session.xenapi
    host = x.host.get_all()[0]

    def create(dc, ty, shared=True):
        return x.SR.create(host, dc, "0", "sdk sr", "", ty, "", shared, {})

    assert fails("SR_BACKEND_FAILURE_102", create, {"serverpath": "/export/x"}, "nfs") == \
        ["SR_BACKEND_FAILURE_102", "", "The request is missing the server parameter", ""]
    assert fails("SR_BACKEND_FAILURE_101", create, {"server": "nfs02"}, "nfs")[2] == \
        "The request is missing the serverpath parameter"
    assert fails("SR_BACKEND_FAILURE_90", create, {}, "lvm", False)[2] == "The request is missing the device parameter"
    assert fails("SR_BACKEND_FAILURE_220", create, {}, "iso")[0] == "SR_BACKEND_FAILURE_220"
    assert fails("SR_BACKEND_FAILURE_95", create, {}, "lvmoiscsi")[0] == "SR_BACKEND_FAILURE_95"
    d = fails("SR_BACKEND_FAILURE_107", create, {"target": "192.0.2.50", "targetIQN": "*"}, "lvmoiscsi")
    assert "<SCSIid>" in d[3]
    assert fails("SR_UNKNOWN_DRIVER", create, {}, "zfs") == ["SR_UNKNOWN_DRIVER", "zfs"]
    assert fails("HANDLE_INVALID", x.SR.create, NULL, {}, "0", "", "", "dummy", "", False, {}) == \
        ["HANDLE_INVALID", "host", NULL]
    assert x.SR.get_by_name_label("sdk sr") == []


def test_local_sr_gets_one_pbd(fresh_sim):
    x = fresh_sim.session().xenapi
    host = x.host.get_all()[1]
    sr = x.SR.create(host, {"device": "/dev/sdb"}, "0", "second disk", "", "lvm", "user", False, {})
    pbds = x.SR.get_PBDs(sr)
    assert len(pbds) == 1 and x.PBD.get_host(pbds[0]) == host
    assert x.PBD.get_currently_attached(pbds[0]) is True
    rec = x.SR.get_record(sr)
    assert rec["physical_size"] == str(500 * GIB) and rec["physical_utilisation"] == "0"
    assert rec["sm_config"]["allocation"] == "thick"
    # Not shared: another host cannot plug it while this one has it.
    other = x.host.get_all()[2]
    pbd = x.PBD.create({"host": other, "SR": sr, "device_config": {"device": "/dev/sdb"}, "other_config": {}})
    assert fails("SR_NOT_SHARABLE", x.PBD.plug, pbd) == ["SR_NOT_SHARABLE", sr, host]
    assert fails("SR_HAS_MULTIPLE_PBDS", x.SR.set_shared, sr, False)[0] == "SR_HAS_MULTIPLE_PBDS"
    x.PBD.destroy(pbd)


def test_nfs_sr_lifecycle_forget_and_reintroduce(fresh_sim):
    x = fresh_sim.session().xenapi
    hosts = x.host.get_all()
    dc = {"server": "nfs02.example.com", "serverpath": "/export/vms"}
    sr = x.SR.create(hosts[0], dc, str(GIB << 10), "new nfs", "made by the sdk", "nfs", "user", True, {})
    rec = x.SR.get_record(sr)
    assert rec["type"] == "nfs" and rec["shared"] is True and rec["physical_size"] == str(GIB << 10)
    pbds = rec["PBDs"]
    assert sorted(x.PBD.get_host(p) for p in pbds) == sorted(hosts)
    assert all(x.PBD.get_currently_attached(p) for p in pbds)
    assert all(x.PBD.get_device_config(p) == dc for p in pbds)
    assert "forget" not in rec["allowed_operations"] and "vdi_create" in rec["allowed_operations"]
    vdi = new_vdi(x, sr, 5 * GIB, "survivor")
    vdi_uuid = x.VDI.get_uuid(vdi)
    x.SR.scan(sr)
    assert usage(x, sr)[1] == 5 * GIB
    xml = x.SR.probe(hosts[0], dc, "nfs", {})
    assert rec["uuid"] in xml

    assert fails("SR_HAS_PBD", x.SR.forget, sr) == ["SR_HAS_PBD", sr]
    assert fails("SR_HAS_PBD", x.SR.destroy, sr) == ["SR_HAS_PBD", sr]
    assert fails("OPERATION_NOT_ALLOWED", x.PBD.destroy, pbds[0]) == \
        ["OPERATION_NOT_ALLOWED", "PBD is currently attached"]
    for p in pbds:
        x.PBD.unplug(p)
    x.PBD.unplug(pbds[0])  # unplugging twice is harmless
    assert fails("SR_HAS_NO_PBDS", new_vdi, x, sr) == ["SR_HAS_NO_PBDS", sr]
    assert fails("SR_HAS_NO_PBDS", x.SR.scan, sr) == ["SR_HAS_NO_PBDS", sr]
    ops = x.SR.get_allowed_operations(sr)
    assert "forget" in ops and "destroy" not in ops  # destroy also needs the SR empty
    x.SR.forget(sr)
    assert fails("HANDLE_INVALID", x.SR.get_record, sr) == ["HANDLE_INVALID", "SR", sr]
    assert fails("HANDLE_INVALID", x.VDI.get_record, vdi) == ["HANDLE_INVALID", "VDI", vdi]
    for p in pbds:
        assert fails("HANDLE_INVALID", x.PBD.get_record, p) == ["HANDLE_INVALID", "PBD", p]
    # The storage still holds it.
    assert rec["uuid"] in x.SR.probe(hosts[0], dc, "nfs", {})

    sr2 = x.SR.introduce(rec["uuid"], "new nfs", "back again", "nfs", "user", True, {})
    assert fails("SR_UUID_EXISTS", x.SR.introduce, rec["uuid"], "", "", "nfs", "user", True, {}) == \
        ["SR_UUID_EXISTS", rec["uuid"]]
    assert x.SR.get_PBDs(sr2) == [] and x.SR.get_physical_size(sr2) == "-1"
    new_pbds = [x.PBD.create({"host": h, "SR": sr2, "device_config": dc, "other_config": {}}) for h in hosts]
    assert fails("PBD_EXISTS", x.PBD.create, {"host": hosts[0], "SR": sr2, "device_config": dc,
                                               "other_config": {}}) == ["PBD_EXISTS", sr2, hosts[0], new_pbds[0]]
    for p in new_pbds:
        assert x.PBD.get_currently_attached(p) is False
        x.PBD.plug(p)
        assert x.PBD.get_currently_attached(p) is True
    x.SR.scan(sr2)
    back = x.VDI.get_by_uuid(vdi_uuid)
    assert x.VDI.get_SR(back) == sr2 and x.VDI.get_name_label(back) == "survivor"
    assert x.SR.get_physical_size(sr2) == str(GIB << 10)
    assert usage(x, sr2)[1] == 5 * GIB

    # Destroying needs the SR detached and empty.
    for p in new_pbds:
        x.PBD.unplug(p)
    assert fails("SR_NOT_EMPTY", x.SR.destroy, sr2) == ["SR_NOT_EMPTY"]
    for p in new_pbds:
        x.PBD.plug(p)
    x.VDI.destroy(back)
    for p in new_pbds:
        x.PBD.unplug(p)
    assert "destroy" in x.SR.get_allowed_operations(sr2)
    x.SR.destroy(sr2)
    assert x.SR.get_by_name_label("new nfs") == []
    assert rec["uuid"] not in x.SR.probe(hosts[0], dc, "nfs", {})


def test_pbd_rules(fresh_sim):
    x = fresh_sim.session().xenapi
    web01 = vm_named(x, "web01")
    lvm = local_sr(x, web01)
    pbd = x.SR.get_PBDs(lvm)[0]
    root = x.VBD.get_VDI(disk_vbd(x, web01))
    assert fails("VDI_IN_USE", x.PBD.unplug, pbd) == ["VDI_IN_USE", root]
    nfs = default_sr(x)
    pbd = x.SR.get_PBDs(nfs)[0]
    assert fails("VALUE_NOT_SUPPORTED", x.PBD.set_device_config, pbd, {"SRmaster": "true"}) == \
        ["VALUE_NOT_SUPPORTED", "SRmaster", "true", "This key is for internal use only"]
    # A PBD whose device_config lacks what the driver needs cannot be plugged.
    dummy = x.SR.introduce("", "empty", "", "nfs", "user", True, {})
    bad = x.PBD.create({"host": x.host.get_all()[0], "SR": dummy, "device_config": {}, "other_config": {}})
    assert fails("SR_BACKEND_FAILURE_102", x.PBD.plug, bad)[0] == "SR_BACKEND_FAILURE_102"
    assert x.PBD.get_currently_attached(bad) is False
    x.PBD.destroy(bad)
    x.SR.forget(dummy)


def test_sr_destroy_needs_pbds(fresh_sim):
    x = fresh_sim.session().xenapi
    sr = x.SR.introduce("", "bare", "", "dummy", "user", False, {})
    assert fails("SR_HAS_NO_PBDS", x.SR.destroy, sr) == ["SR_HAS_NO_PBDS", sr]
    x.SR.forget(sr)


def test_dummy_sr_takes_introduced_vdis(fresh_sim):
    x = fresh_sim.session().xenapi
    host = x.host.get_all()[0]
    sr = x.SR.create(host, {}, "0", "dummy", "", "dummy", "user", False, {})
    vdi = x.VDI.introduce("", "introduced", "", sr, "user", False, False, {}, "loc-1", {}, {}, True, str(GIB), "0",
                          NULL, False, "19700101T00:00:00Z", NULL)
    assert x.VDI.get_location(vdi) == "loc-1"
    assert fails("LOCATION_NOT_UNIQUE", x.VDI.introduce, "", "again", "", sr, "user", False, False, {}, "loc-1",
                 {}, {}, True, str(GIB), "0", NULL, False, "19700101T00:00:00Z", NULL) == \
        ["LOCATION_NOT_UNIQUE", sr, "loc-1"]
    assert fails("UUID_INVALID", x.VDI.introduce, "not-a-uuid", "", "", sr, "user", False, False, {}, "loc-2",
                 {}, {}, True, str(GIB), "0", NULL, False, "19700101T00:00:00Z", NULL) == \
        ["UUID_INVALID", "VDI", "not-a-uuid"]
    nfs = default_sr(x)
    assert fails("SR_OPERATION_NOT_SUPPORTED", x.VDI.introduce, "", "", "", nfs, "user", False, False, {}, "l",
                 {}, {}, True, "0", "0", NULL, False, "19700101T00:00:00Z", NULL) == \
        ["SR_OPERATION_NOT_SUPPORTED", nfs]


def test_copy_takes_time_and_can_be_cancelled():
    sim = Sim("--time-scale", "0.1")
    try:
        x = sim.session().xenapi
        data = next(iter(x.VDI.get_by_name_label("db01 data")))  # ~41 GiB written: ~4 s to copy at this scale
        nfs = default_sr(x)
        count = len(x.SR.get_VDIs(nfs))
        before = usage(x, nfs)
        task = x.Async.VDI.copy(data, nfs, NULL, NULL)
        assert wait_for(lambda: float(x.task.get_progress(task)) > 0, timeout=10)
        assert x.task.get_status(task) == "pending"
        assert len(x.SR.get_VDIs(nfs)) == count + 1  # the destination exists while data moves
        assert x.VDI.get_current_operations(data) == {task: "copy"}
        assert fails("OTHER_OPERATION_IN_PROGRESS", x.VDI.snapshot, data, {}) == \
            ["OTHER_OPERATION_IN_PROGRESS", "VDI", data, "copy", task]
        x.task.cancel(task)
        assert wait_for(lambda: x.task.get_status(task) != "cancelling", timeout=10)
        assert x.task.get_status(task) == "cancelled"
        assert len(x.SR.get_VDIs(nfs)) == count and usage(x, nfs) == before
        assert x.VDI.get_current_operations(data) == {}
        assert "snapshot" in x.VDI.get_allowed_operations(data)
    finally:
        sim.stop()
