"""Writes XVA archives the way xapi's exporter lays them out, independently of
xapi-sim: Python's tarfile for the tar, PyPI's xxhash for the block checksums,
and an ova.xml modelled on a real export (a version struct, then the VM, its
metrics, VBDs, VIF, network, VDIs, SR and host as `Ref:N` objects with their
full XenAPI records; ints untyped, as rpclib writes them)."""

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
from xml.sax.saxutils import escape

import xxhash

MIB = 1 << 20
NULL = "OpaqueRef:NULL"


def rpc(v):
    """One XML-RPC value as xapi's Xmlrpc.to_string writes it."""
    if isinstance(v, bool):
        return f"<value><boolean>{int(v)}</boolean></value>"
    if isinstance(v, int):
        return f"<value>{v}</value>"
    if isinstance(v, float):
        return f"<value><double>{v!r}</double></value>"
    if isinstance(v, dict):
        members = "".join(f"<member><name>{escape(k)}</name>{rpc(x)}</member>" for k, x in v.items())
        return f"<value><struct>{members}</struct></value>"
    if isinstance(v, (list, tuple)):
        return "<value><array><data>" + "".join(rpc(x) for x in v) + "</data></array></value>"
    return f"<value>{escape(str(v))}</value>"


class Disk:
    """A disk to export: its size and its bytes (zeros beyond `data`)."""

    def __init__(self, size, data=b"", device="0", name="disk"):
        self.size, self.data, self.device, self.name = size, data, device, name

    def block(self, i):
        chunk = self.data[i * MIB:(i + 1) * MIB]
        length = min(MIB, self.size - i * MIB)
        return chunk + bytes(length - len(chunk))


def vm_record(vm_id, name, vbds, vifs, metrics, uuid):
    return {
        "uuid": uuid, "allowed_operations": [], "current_operations": {}, "name_label": name,
        "name_description": "imported by the SDK tests", "power_state": "Halted", "user_version": 1,
        "is_a_template": False, "is_default_template": False, "suspend_VDI": NULL, "resident_on": NULL,
        "scheduled_to_be_resident_on": NULL, "affinity": NULL,
        "memory_overhead": 0, "memory_target": 0, "memory_static_max": 1073741824,
        "memory_dynamic_max": 1073741824, "memory_dynamic_min": 536870912, "memory_static_min": 536870912,
        "VCPUs_params": {}, "VCPUs_max": 2, "VCPUs_at_startup": 2,
        "actions_after_softreboot": "soft_reboot", "actions_after_shutdown": "destroy",
        "actions_after_reboot": "restart", "actions_after_crash": "restart",
        "consoles": [], "VIFs": vifs, "VBDs": vbds, "VUSBs": [], "crash_dumps": [], "VTPMs": [],
        "PV_bootloader": "", "PV_kernel": "", "PV_ramdisk": "", "PV_args": "", "PV_bootloader_args": "",
        "PV_legacy_args": "", "HVM_boot_policy": "BIOS order", "HVM_boot_params": {"order": "cd"},
        "HVM_shadow_multiplier": 1.0, "platform": {"acpi": "1", "apic": "true", "pae": "true", "viridian": "true"},
        "PCI_bus": "", "other_config": {"mac_seed": "0b4bd2ba-49b7-0fc9-28f4-8d1f6f4e5a10", "base_template_name": "Other install media"},
        "domid": -1, "domarch": "", "last_boot_CPU_flags": {}, "is_control_domain": False,
        "metrics": metrics, "guest_metrics": NULL, "last_booted_record": "", "recommendations": "",
        "xenstore_data": {}, "ha_always_run": False, "ha_restart_priority": "", "is_a_snapshot": False,
        "snapshot_of": NULL, "snapshots": [], "snapshot_time": "19700101T00:00:00Z",
        "transportable_snapshot_id": "", "blobs": {}, "tags": ["imported"], "blocked_operations": {},
        "snapshot_info": {}, "snapshot_metadata": "", "parent": NULL, "children": [], "bios_strings": {},
        "protection_policy": NULL, "is_snapshot_from_vmpp": False, "snapshot_schedule": NULL,
        "is_vmss_snapshot": False, "appliance": NULL, "start_delay": 0, "shutdown_delay": 0, "order": 0,
        "VGPUs": [], "attached_PCIs": [], "suspend_SR": NULL, "version": 0, "generation_id": "",
        "hardware_platform_version": 0, "has_vendor_device": False, "requires_reboot": False,
        "reference_label": "", "domain_type": "hvm", "NVRAM": {}, "pending_guidances": [],
    }


def ova_xml(disks, *, name="sdk-imported", export_vsn=2, xapi=(1, 0), uuid="5d4c2c5b-3f0e-4b8e-9d7e-2f4f3b1e0a01",
            network="Pool-wide network associated with eth0", bridge="xenbr0", mac="aa:bb:cc:00:11:22", drop=()):
    """The ova.xml of a VM with `disks` (a list of (id, Disk)), an empty CD
    drive and one VIF; ids are process-wide counters, as xapi's are. The
    objects of the classes in `drop` are left out."""
    vm, metrics, vif, net, sr, host, cd = "Ref:3", "Ref:4", "Ref:7", "Ref:8", "Ref:12", "Ref:1", "Ref:6"
    vbds = [f"Ref:{20 + i}" for i in range(len(disks))] + [cd]
    objects = [{"class": "host", "id": host, "snapshot": {
        "uuid": "0b9a8d8e-1111-4222-8333-944455556666", "name_label": "exporter", "name_description": "",
        "hostname": "exporter", "address": "192.0.2.10", "software_version": {}, "other_config": {},
        "capabilities": [], "logging": {}, "suspend_image_sr": NULL, "crash_dump_sr": NULL,
        "PIFs": [], "PBDs": [], "host_CPUs": []}}]
    objects.append({"class": "VM", "id": vm, "snapshot": vm_record(vm, name, vbds, [vif], metrics, uuid)})
    objects.append({"class": "VM_metrics", "id": metrics, "snapshot": {
        "uuid": "2c6a5f7e-0000-4000-8000-00000000aa01", "memory_actual": 1073741824, "VCPUs_number": 2,
        "VCPUs_utilisation": {}, "VCPUs_CPU": {}, "VCPUs_params": {}, "VCPUs_flags": {}, "state": [],
        "start_time": "19700101T00:00:00Z", "install_time": "20240501T10:20:30Z",
        "last_updated": "19700101T00:00:00Z", "other_config": {}, "hvm": True, "nested_virt": False,
        "nomigrate": False, "current_domain_type": "unspecified"}})
    for i, (vdi_id, d) in enumerate(disks):
        objects.append({"class": "VBD", "id": vbds[i], "snapshot": {
            "uuid": f"7e1f0000-0000-4000-8000-0000000001{i:02d}", "allowed_operations": [],
            "current_operations": {}, "VM": vm, "VDI": vdi_id, "device": f"xvd{chr(97 + i)}",
            "userdevice": d.device, "bootable": i == 0, "mode": "RW", "type": "Disk", "unpluggable": False,
            "storage_lock": False, "empty": False, "other_config": {"owner": "true"},
            "currently_attached": False, "status_code": 0, "status_detail": "", "runtime_properties": {},
            "qos_algorithm_type": "", "qos_algorithm_params": {}, "qos_supported_algorithms": [],
            "metrics": NULL}})
    objects.append({"class": "VBD", "id": cd, "snapshot": {
        "uuid": "7e1f0000-0000-4000-8000-0000000002ff", "allowed_operations": [], "current_operations": {},
        "VM": vm, "VDI": NULL, "device": "hdd", "userdevice": "3", "bootable": False, "mode": "RO", "type": "CD",
        "unpluggable": True, "storage_lock": False, "empty": True, "other_config": {},
        "currently_attached": False, "status_code": 0, "status_detail": "", "runtime_properties": {},
        "qos_algorithm_type": "", "qos_algorithm_params": {}, "qos_supported_algorithms": [], "metrics": NULL}})
    objects.append({"class": "VIF", "id": vif, "snapshot": {
        "uuid": "9a8b7c6d-0000-4000-8000-000000000007", "allowed_operations": [], "current_operations": {},
        "device": "0", "network": net, "VM": vm, "MAC": mac, "MTU": 1500, "other_config": {},
        "currently_attached": False, "status_code": 0, "status_detail": "", "runtime_properties": {},
        "qos_algorithm_type": "", "qos_algorithm_params": {}, "qos_supported_algorithms": [], "metrics": NULL,
        "MAC_autogenerated": False, "locking_mode": "network_default", "ipv4_allowed": [], "ipv6_allowed": [],
        "ipv4_configuration_mode": "None", "ipv4_addresses": [], "ipv4_gateway": "",
        "ipv6_configuration_mode": "None", "ipv6_addresses": [], "ipv6_gateway": ""}})
    objects.append({"class": "network", "id": net, "snapshot": {
        "uuid": "4e3d2c1b-0000-4000-8000-000000000008", "name_label": network, "name_description": "",
        "allowed_operations": [], "current_operations": {}, "VIFs": [vif], "PIFs": [], "MTU": 1500,
        "other_config": {}, "bridge": bridge, "managed": True, "blobs": {}, "tags": [],
        "default_locking_mode": "unlocked", "assigned_ips": {}, "purpose": []}})
    for i, (vdi_id, d) in enumerate(disks):
        objects.append({"class": "VDI", "id": vdi_id, "snapshot": {
            "uuid": f"3f2e1d0c-0000-4000-8000-0000000000{i:02d}", "name_label": d.name,
            "name_description": "", "allowed_operations": [], "current_operations": {}, "SR": sr,
            "VBDs": [vbds[i]], "crash_dumps": [], "virtual_size": d.size, "physical_utilisation": d.size,
            "type": "user", "sharable": False, "read_only": False, "other_config": {}, "storage_lock": False,
            "location": f"3f2e1d0c-0000-4000-8000-0000000000{i:02d}", "managed": True, "missing": False,
            "parent": NULL, "xenstore_data": {}, "sm_config": {"vdi_type": "vhd"}, "is_a_snapshot": False,
            "snapshot_of": NULL, "snapshots": [], "snapshot_time": "19700101T00:00:00Z", "tags": [],
            "allow_caching": False, "on_boot": "persist", "metadata_of_pool": NULL,
            "metadata_latest": False, "is_tools_iso": False, "cbt_enabled": False}})
    objects.append({"class": "SR", "id": sr, "snapshot": {
        "uuid": "6c5b4a39-0000-4000-8000-000000000012", "name_label": "Local storage", "name_description": "",
        "allowed_operations": [], "current_operations": {}, "VDIs": [v for v, _ in disks], "PBDs": [],
        "virtual_allocation": 0, "physical_utilisation": 0, "physical_size": 0, "type": "ext",
        "content_type": "user", "shared": False, "other_config": {}, "tags": [], "sm_config": {}, "blobs": {},
        "local_cache_enabled": False, "introduced_by": NULL, "clustered": False, "is_tools_sr": False}})
    version = {"hostname": "exporter", "date": "2024-05-01", "product_version": "8.4.0",
               "product_brand": "XCP-ng", "build_number": "release/yangtze", "xapi_major": xapi[0],
               "xapi_minor": xapi[1]}
    if export_vsn is not None:
        version["export_vsn"] = export_vsn
    objects = [o for o in objects if o["class"] not in drop]
    return rpc({"version": version, "objects": objects}).encode()


def _add(tar, name, data, mtime=0):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o400, mtime
    tar.addfile(info, io.BytesIO(data))


def blocks(d):
    """The block indices xapi writes: non-zero blocks plus the first and last."""
    n = (d.size + MIB - 1) // MIB
    return [i for i in range(n) if i in (0, n - 1) or any(d.block(i))]


def xva(disks, *, compress=None, corrupt=None, checksum="xxhash", first=None, truncate=None, **ova):
    """An XVA of `disks` (a list of (id, Disk)) as bytes. `corrupt` names a
    block whose checksum member is wrong; `first` puts another member before
    ova.xml; `truncate` cuts the archive to that many bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        if first:
            _add(tar, first, b"hello")
        _add(tar, "ova.xml", ova_xml(disks, **ova), mtime=1714558830)
        for vdi_id, d in sorted(disks, key=lambda p: p[0]):
            for i in blocks(d):
                name = f"{vdi_id}/{i:08d}"
                data = d.block(i)
                _add(tar, name, data)
                if checksum == "xxhash":
                    sum_ = xxhash.xxh64(data, seed=0).hexdigest().upper()
                else:
                    sum_ = hashlib.sha1(data).hexdigest()
                if corrupt == name:
                    sum_ = "0" * len(sum_)
                _add(tar, f"{name}.{checksum}", sum_.encode())
    body = out.getvalue()
    if truncate is not None:
        body = body[:truncate]
    if compress == "gzip":
        body = gzip.compress(body)
    elif compress == "zstd":
        body = subprocess.run([shutil.which("zstd"), "-q", "-c"], input=body, capture_output=True, check=True).stdout
    return body


def has_zstd():
    return shutil.which("zstd") is not None
