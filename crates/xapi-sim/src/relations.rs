//! Two-way references of the datamodel: a read-only set field on one class
//! that lists the objects of another class whose single ref field points back.
//! The datamodel JSON does not state these pairs; they are xapi's relations.

/// `set_class.set_field` lists every `ref_class` object whose `ref_field` names it.
pub struct Relation {
    pub set_class: &'static str,
    pub set_field: &'static str,
    pub ref_class: &'static str,
    pub ref_field: &'static str,
}

const fn rel(
    set_class: &'static str,
    set_field: &'static str,
    ref_class: &'static str,
    ref_field: &'static str,
) -> Relation {
    Relation { set_class, set_field, ref_class, ref_field }
}

pub const RELATIONS: &[Relation] = &[
    rel("task", "subtasks", "task", "subtask_of"),
    rel("pool", "metadata_VDIs", "VDI", "metadata_of_pool"),
    rel("pool_patch", "host_patches", "host_patch", "pool_patch"),
    rel("VM", "consoles", "console", "VM"),
    rel("VM", "VIFs", "VIF", "VM"),
    rel("VM", "VBDs", "VBD", "VM"),
    rel("VM", "VUSBs", "VUSB", "VM"),
    rel("VM", "crash_dumps", "crashdump", "VM"),
    rel("VM", "VTPMs", "VTPM", "VM"),
    rel("VM", "snapshots", "VM", "snapshot_of"),
    rel("VM", "children", "VM", "parent"),
    rel("VM", "VGPUs", "VGPU", "VM"),
    rel("VMPP", "VMs", "VM", "protection_policy"),
    rel("VMSS", "VMs", "VM", "snapshot_schedule"),
    rel("VM_appliance", "VMs", "VM", "appliance"),
    rel("DR_task", "introduced_SRs", "SR", "introduced_by"),
    rel("host", "resident_VMs", "VM", "resident_on"),
    rel("host", "PIFs", "PIF", "host"),
    rel("host", "crashdumps", "host_crashdump", "host"),
    rel("host", "patches", "host_patch", "host"),
    rel("host", "PBDs", "PBD", "host"),
    rel("host", "host_CPUs", "host_cpu", "host"),
    rel("host", "PCIs", "PCI", "host"),
    rel("host", "PGPUs", "PGPU", "host"),
    rel("host", "PUSBs", "PUSB", "host"),
    rel("host", "features", "Feature", "host"),
    rel("host", "certificates", "Certificate", "host"),
    rel("network", "VIFs", "VIF", "network"),
    rel("network", "PIFs", "PIF", "network"),
    rel("PIF", "bond_master_of", "Bond", "master"),
    rel("PIF", "VLAN_slave_of", "VLAN", "tagged_PIF"),
    rel("PIF", "tunnel_access_PIF_of", "tunnel", "access_PIF"),
    rel("PIF", "tunnel_transport_PIF_of", "tunnel", "transport_PIF"),
    rel("PIF", "sriov_physical_PIF_of", "network_sriov", "physical_PIF"),
    rel("PIF", "sriov_logical_PIF_of", "network_sriov", "logical_PIF"),
    rel("Bond", "slaves", "PIF", "bond_slave_of"),
    rel("SR", "VDIs", "VDI", "SR"),
    rel("SR", "PBDs", "PBD", "SR"),
    rel("VDI", "VBDs", "VBD", "VDI"),
    rel("VDI", "crash_dumps", "crashdump", "VDI"),
    rel("VDI", "snapshots", "VDI", "snapshot_of"),
    rel("PGPU", "resident_VGPUs", "VGPU", "resident_on"),
    rel("GPU_group", "PGPUs", "PGPU", "GPU_group"),
    rel("GPU_group", "VGPUs", "VGPU", "GPU_group"),
    rel("VGPU_type", "VGPUs", "VGPU", "type"),
    rel("PVS_site", "cache_storage", "PVS_cache_storage", "site"),
    rel("PVS_site", "servers", "PVS_server", "site"),
    rel("PVS_site", "proxies", "PVS_proxy", "site"),
    rel("USB_group", "PUSBs", "PUSB", "USB_group"),
    rel("USB_group", "VUSBs", "VUSB", "USB_group"),
    rel("Cluster", "cluster_hosts", "Cluster_host", "cluster"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use xenapi::model::{Schema, Type};

    #[test]
    fn every_relation_names_real_fields_of_matching_types() {
        let s = Schema::get();
        for r in RELATIONS {
            let set = s.class(r.set_class).and_then(|c| c.field(r.set_field)).expect(r.set_field);
            let one = s.class(r.ref_class).and_then(|c| c.field(r.ref_field)).expect(r.ref_field);
            assert_eq!(set.ty, Type::Set(Box::new(Type::Ref(r.ref_class.into()))), "{}.{}", r.set_class, r.set_field);
            assert_eq!(one.ty, Type::Ref(r.set_class.into()), "{}.{}", r.ref_class, r.ref_field);
        }
    }
}
