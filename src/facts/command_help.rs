//! Our own one-line description of every explicit xe command that this xe
//! does not implement yet, for `xe help <command>`. An implemented command's
//! sentence is the `help` of its spec in `crate::commands` (checked there).
//!
//! Each sentence is written for this project (not taken from upstream help), in the
//! imperative mood, and mentions the quirks a user most needs (what `--force` does,
//! confirmation prompts, deprecations). A sentence holds a single period, at its end,
//! because bash completion shows the description up to the first period.

/// Command names and their descriptions, sorted bytewise by name.
static DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "appliance-assert-can-be-recovered",
        "Check that the SRs needed to recover an appliance from a disaster-recovery database are present.",
    ),
    ("appliance-create", "Create a VM appliance (a group of VMs started and stopped together) and print its UUID."),
    ("appliance-destroy", "Destroy a VM appliance record; its VMs are kept."),
    (
        "appliance-recover",
        "Recover an appliance and its VMs from a disaster-recovery database; --force replaces newer copies.",
    ),
    ("appliance-shutdown", "Shut down every VM of an appliance in order; --force does a hard shutdown."),
    ("appliance-start", "Start every VM of an appliance in order, optionally leaving them paused."),
    ("blob-create", "Create an empty binary blob attached to a VM, host, SR, network or pool and print its UUID."),
    ("blob-get", "Download the contents of a blob into a local file."),
    ("blob-put", "Upload a local file as the contents of a blob."),
    ("bond-create", "Bond several PIFs into one interface on a network and print the new bond's UUID."),
    ("bond-destroy", "Destroy a bond, returning its member PIFs to independent use."),
    ("bond-set-mode", "Change the bonding mode of a bond (balance-slb, active-backup or lacp)."),
    ("caller-create", "Register an API caller, identified by user agent and client IP, and print its UUID."),
    ("caller-destroy", "Remove a registered API caller."),
    ("caller-list-usage", "List the API usage recorded for every registered caller."),
    ("caller-query-usage", "Show the API usage recorded for one caller or for a group of callers."),
    ("cluster-create", "Create a cluster with one host's PIF as its first member and print its UUID."),
    ("cluster-destroy", "Destroy a cluster together with its last remaining member."),
    ("cluster-host-create", "Add a host to a cluster, using one of the host's PIFs, and print the member's UUID."),
    ("cluster-host-destroy", "Remove a host from its cluster."),
    ("cluster-host-disable", "Stop a host from taking part in its cluster without removing it."),
    ("cluster-host-enable", "Let a disabled cluster member take part in its cluster again."),
    ("cluster-host-force-destroy", "Forcibly remove a host from its cluster, even when it cannot be contacted."),
    ("cluster-pool-create", "Create a cluster spanning every host of the pool over a network and print its UUID."),
    ("cluster-pool-destroy", "Remove every host from a pool-wide cluster and destroy the cluster."),
    (
        "cluster-pool-force-destroy",
        "Forcibly remove every member of a cluster and destroy it, even if some hosts are unreachable.",
    ),
    ("cluster-pool-resync", "Create and plug any cluster members missing from hosts of the pool."),
    ("console", "Attach to the text console of a VM; press Ctrl+] to leave."),
    ("diagnostic-compact", "Compact the memory heap of the toolstack on a host."),
    ("diagnostic-db-stats", "Print lock statistics of the pool database."),
    ("diagnostic-gc-stats", "Print the garbage collector statistics of the toolstack on a host."),
    ("diagnostic-license-status", "Show the license edition, features and expiry of every host in the pool."),
    ("diagnostic-net-stats", "Print statistics about the network requests handled by the toolstack on a host."),
    ("diagnostic-timing-stats", "Print API call timing statistics for every host in the pool."),
    ("diagnostic-vdi-status", "Show a VDI's sharing and locking state and the VBDs that use it."),
    ("diagnostic-vm-status", "Check whether a VM's disks can be attached and on which hosts it could start."),
    (
        "drtask-create",
        "Probe storage for SRs holding disaster-recovery metadata, attach them and print the task's UUID.",
    ),
    ("drtask-destroy", "Destroy a disaster-recovery task, detaching the SRs it attached."),
    ("gpu-group-create", "Create a GPU group and print its UUID."),
    ("gpu-group-destroy", "Destroy a GPU group."),
    ("gpu-group-get-remaining-capacity", "Print how many more vGPUs of a given type a GPU group can host."),
    ("host-get-system-status", "Download a host status report into a local file, optionally limited to some entries."),
    ("host-ha-xapi-healthcheck", "Check that the local toolstack is healthy, as the HA watchdog does."),
    ("host-prepare-for-poweroff", "Do the preparation a host needs before it is powered off."),
    ("host-shutdown-agent", "Stop the toolstack daemon on this host."),
    ("hostdriver-deselect", "Clear the variant selected for a host driver; requires --force."),
    ("hostdriver-rescan", "Rescan a host for drivers and their variants."),
    ("hostdriver-select", "Select a named variant of a host driver."),
    ("hostdriver-variant-select", "Select this variant for the host driver it belongs to."),
    (
        "lvhd-enable-thin-provisioning",
        "Enable thin provisioning on an LVM-based SR with the given initial allocation and quantum.",
    ),
    (
        "message-destroy-all",
        "Delete all messages, optionally only those before or after a time or of a given priority.",
    ),
    ("network-attach", "Make a network available on a host right away."),
    ("network-sriov-create", "Enable SR-IOV on a PIF for a network and print the new object's UUID."),
    ("network-sriov-destroy", "Disable SR-IOV by destroying a network SR-IOV object."),
    ("observer-create", "Create an observer that exports tracing data to endpoints and print its UUID."),
    ("observer-destroy", "Destroy an observer."),
    ("pci-disable-dom0-access", "Stop the control domain from using a PCI device, from the next boot."),
    ("pci-enable-dom0-access", "Let the control domain use a PCI device again, from the next boot."),
    ("pci-get-dom0-access-status", "Print whether the control domain may use a PCI device."),
    ("pgpu-disable-dom0-access", "Stop the control domain from using a physical GPU, from the next boot."),
    ("pgpu-enable-dom0-access", "Let the control domain use a physical GPU again, from the next boot."),
    ("pif-db-forget", "Delete the database record of a PIF without touching the host."),
    ("pif-forget", "Remove a PIF from the database."),
    ("pif-introduce", "Create a PIF for a network device of a host and print its UUID."),
    ("pif-reconfigure-ipv6", "Set the IPv6 mode (none, dhcp, static or autoconf) and addresses of a PIF."),
    ("pif-scan", "Scan a host for network devices and create PIFs for new ones."),
    ("pif-set-primary-address-type", "Choose whether a PIF's primary address is IPv4 or IPv6."),
    ("pool-install-trusted-certificate", "Install a trusted certificate file, CA or not, for the given purposes."),
    ("pool-sync-bundle", "Upload an update bundle file and synchronise it into the pool's bundle repository."),
    ("pool-uninstall-trusted-certificate", "Remove a trusted certificate from the pool."),
    ("pusb-scan", "Scan a host for physical USB devices."),
    ("pvs-cache-storage-create", "Reserve space on a host's SR as the cache of a PVS site and print its UUID."),
    ("pvs-cache-storage-destroy", "Release the cache storage of a PVS site."),
    ("pvs-proxy-create", "Make a VIF use the proxy of a PVS site and print the proxy's UUID."),
    ("pvs-proxy-destroy", "Stop a VIF from using its PVS proxy."),
    ("pvs-server-forget", "Remove a PVS server from its site."),
    ("pvs-server-introduce", "Register a PVS server's addresses and port range with a site and print its UUID."),
    ("pvs-site-forget", "Remove a PVS site."),
    ("pvs-site-introduce", "Register a PVS site and print its UUID."),
    ("rate-limit-add-caller", "Put a registered caller under a rate limit."),
    (
        "rate-limit-create",
        "Create a rate limit with a burst size and fill rate, optionally for some callers, and print its UUID.",
    ),
    ("rate-limit-destroy", "Destroy a rate limit."),
    ("rate-limit-remove-caller", "Take a caller out of a rate limit."),
    ("repository-introduce-bundle", "Add a repository for updates delivered as bundle files and print its UUID."),
    (
        "repository-introduce-remote-pool",
        "Add a repository that takes updates from another pool, trusting its certificate, and print its UUID.",
    ),
    ("sdn-controller-forget", "Remove an SDN controller from the pool."),
    ("sdn-controller-introduce", "Register an SDN controller with the pool and print its UUID."),
    ("snapshot-destroy", "Destroy a snapshot record, leaving its disks in place."),
    ("snapshot-disk-list", "List the disks of a snapshot with their VBD and VDI details."),
    ("snapshot-reset-powerstate", "Mark a snapshot halted in the database without any other check; requires --force."),
    ("sr-disable-database-replication", "Stop replicating the pool database to an SR."),
    ("sr-enable-database-replication", "Replicate the pool database to an SR, for disaster recovery."),
    (
        "sr-probe-ext",
        "Ask a storage backend what it finds for a device configuration and list SRs and usable configurations.",
    ),
    ("sr-update", "Refresh the fields of an SR, such as its sizes, from the storage backend."),
    ("tunnel-create", "Create a tunnel on a transport PIF for a network and print the UUID of its access PIF."),
    ("tunnel-destroy", "Destroy a tunnel."),
    ("vbd-pause", "Pause the I/O of a VBD and print the token needed to unpause it."),
    ("vbd-unpause", "Resume the I/O of a paused VBD, given the token from vbd-pause."),
    ("vdi-data-destroy", "Delete the data of a snapshot VDI but keep its changed block tracking metadata."),
    ("vdi-disable-cbt", "Turn off changed block tracking for a VDI."),
    ("vdi-enable-cbt", "Turn on changed block tracking for a VDI."),
    ("vdi-generate-config", "Print the configuration a host needs to attach a VDI."),
    ("vdi-list-changed-blocks", "Print the bitmap of blocks that differ between two VDIs."),
    ("vdi-pool-migrate", "Move a VDI, even one in use by a running VM, to another SR and print the new UUID."),
    ("vdi-unlock", "Release the lock on a VDI by force; requires --force."),
    ("vdi-update", "Ask the storage backend to refresh the fields of a VDI."),
    ("vgpu-create", "Give a VM a virtual GPU from a GPU group, optionally of a given type, and print its UUID."),
    ("vgpu-destroy", "Remove a virtual GPU."),
    ("vif-configure-ipv4", "Set the static IPv4 address and gateway that the guest should use on a VIF."),
    ("vif-configure-ipv6", "Set the static IPv6 address and gateway that the guest should use on a VIF."),
    ("vif-move", "Move a VIF to another network, even while its VM is running."),
    (
        "vm-assert-can-be-recovered",
        "Check that the SRs needed to recover a VM from a disaster-recovery database are present.",
    ),
    ("vm-call-host-plugin", "Call a host plugin function on behalf of a VM, passing args:key=value arguments."),
    ("vm-call-plugin", "Call a plugin function for a VM, passing args:key=value arguments, and print the result."),
    ("vm-compute-memory-overhead", "Print the virtualisation memory overhead of a VM."),
    ("vm-copy-bios-strings", "Copy the BIOS strings of a host into a VM."),
    ("vm-crashdump-list", "List the crash dumps recorded for a VM."),
    ("vm-create", "Create a bare halted VM record with no devices and print its UUID."),
    ("vm-get-secureboot-readiness", "Report whether a UEFI VM is ready to boot with Secure Boot."),
    ("vm-group-create", "Create a VM group with a placement policy (normal or anti-affinity) and print its UUID."),
    ("vm-group-destroy", "Destroy a VM group."),
    ("vm-is-bios-customized", "Report whether a VM's BIOS strings are unset, generic or customised."),
    ("vm-memory-balloon", "Deprecated, use vm-memory-dynamic-range-set: set the memory target of a VM."),
    ("vm-memory-dynamic-range-set", "Set the dynamic minimum and maximum memory of a VM, live if it is running."),
    ("vm-memory-limits-set", "Set the static and dynamic memory limits of a VM in one step."),
    ("vm-memory-set", "Set a VM's static maximum and both dynamic limits to the same amount of memory."),
    ("vm-memory-shadow-multiplier-set", "Change the shadow memory multiplier of a running VM."),
    ("vm-memory-static-range-set", "Set the static minimum and maximum memory of a halted VM."),
    ("vm-memory-target-set", "Set a VM's memory target by setting its dynamic minimum and maximum to it."),
    ("vm-memory-target-wait", "Wait until a running VM's memory use reaches its target."),
    ("vm-query-services", "List the system services advertised by a system domain."),
    ("vm-recover", "Recover a VM from a disaster-recovery database; --force replaces a newer copy."),
    ("vm-restart-device-models", "Restart the device model processes of a running VM."),
    ("vm-retrieve-wlb-recommendations", "Ask Workload Balancing which hosts are best suited to a VM."),
    ("vm-set-uefi-mode", "Put the UEFI firmware of a VM into setup or user mode."),
    (
        "vm-snapshot-with-quiesce",
        "Snapshot the disks of a VM after quiescing them through the guest and print the UUID.",
    ),
    ("vm-sysprep", "Run Windows sysprep in a VM with an unattend file from the client, waiting up to a timeout."),
    (
        "vm-update-secureboot-certificates-on-boot",
        "Mark a VM (mark=true) or unmark it to update its Secure Boot certificates at its next boot.",
    ),
    ("vm-vcpu-hotplug", "Change the number of vCPUs of a running VM."),
    ("vmss-create", "Create a VM snapshot schedule and print its UUID."),
    ("vmss-destroy", "Destroy a VM snapshot schedule."),
    ("vtpm-create", "Add a virtual TPM to a VM and print its UUID."),
    ("vtpm-destroy", "Remove a virtual TPM from a VM; requires --force."),
    ("vusb-create", "Pass a USB group through to a VM as a virtual USB device and print its UUID."),
    ("vusb-destroy", "Remove a virtual USB device from a VM."),
    ("vusb-unplug", "Hot-unplug a virtual USB device from its running VM."),
];

/// Whether `name` has a sentence here.
pub fn has(name: &str) -> bool {
    DESCRIPTIONS.binary_search_by(|(n, _)| (*n).cmp(name)).is_ok()
}

/// Returns the description of an explicit command, or a neutral sentence for names we do not know.
pub fn describe(name: &str) -> &'static str {
    match DESCRIPTIONS.binary_search_by(|(n, _)| (*n).cmp(name)) {
        Ok(i) => DESCRIPTIONS[i].1,
        Err(_) => "No description available.",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::COMMANDS;
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_entry_names_a_real_command() {
        let names: BTreeSet<&str> = COMMANDS.iter().map(|c| c.name).collect();
        for (n, _) in DESCRIPTIONS {
            assert!(names.contains(n), "{n} is not an explicit xe command");
        }
    }

    #[test]
    fn entries_are_sorted_and_unique() {
        for w in DESCRIPTIONS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} must come before {}", w[1].0, w[0].0);
        }
    }

    /// The style of every description, here and in the command specs.
    pub(crate) fn check_sentence(n: &str, text: &str) {
        assert!(text.ends_with('.'), "{n}: {text:?} does not end with a period");
        assert_eq!(text.matches('.').count(), 1, "{n}: completion cuts at the first period");
        assert!(!text.contains('\n') && !text.contains('\r'), "{n}: newline in text");
        assert!(text.len() < 110, "{n}: {} characters", text.len());
        assert!(text.starts_with(|c: char| c.is_ascii_uppercase()), "{n}: {text:?}");
    }

    #[test]
    fn sentences_are_single_short_lines() {
        for (n, text) in DESCRIPTIONS {
            check_sentence(n, text);
        }
    }

    #[test]
    fn deprecated_commands_name_their_replacement() {
        for c in COMMANDS.iter().filter(|c| c.flags & super::super::flag::DEPRECATED != 0 && has(c.name)) {
            assert!(describe(c.name).starts_with("Deprecated"), "{}: {}", c.name, describe(c.name));
        }
        assert!(describe("vm-memory-balloon").contains("vm-memory-dynamic-range-set"));
    }

    #[test]
    fn lookup() {
        assert_eq!(
            describe("host-get-system-status"),
            "Download a host status report into a local file, optionally limited to some entries."
        );
        assert_eq!(describe("appliance-assert-can-be-recovered"), DESCRIPTIONS[0].1);
        assert!(has("host-get-system-status") && !has("vm-list") && !has("vm-start"));
        assert_eq!(describe("vm-list"), "No description available.");
        assert_eq!(describe(""), "No description available.");
        assert_eq!(describe("no-such-command"), "No description available.");
    }
}
