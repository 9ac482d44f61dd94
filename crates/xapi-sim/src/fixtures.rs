//! The seeded demo pool (deterministic uuids for golden tests).
//!
//! [`seed`] fills an empty [`Db`] with a three-host XCP-ng 8.3 pool: hosts with
//! metrics, CPUs, PIFs and a control domain each; pool-wide networks; SM
//! drivers; local, shared NFS, ISO, tools and DVD SRs with their PBDs; the
//! default templates; and a handful of demo VMs in every power state.
//! `extra_vms` adds lean benchmark VMs.
//!
//! Everything is deterministic: refs and uuids come from the database's seeded
//! generator, names and datetimes are constants, and objects are created in a
//! fixed order. Memory and storage figures are kept consistent: each host's
//! `host_metrics.memory_free` equals [`host_memory_free`], and each SR's
//! `physical_utilisation`/`virtual_allocation` are the sums over its VDIs.

use crate::db::Db;
use crate::rules::devices::disk_device;
use crate::rules::memory::{host_memory_free, vm_overhead};
use crate::rules::storage::{SR_DISK_OPS, SR_ISO_OPS, SR_UDEV_OPS, VDI_IDLE_OPS, VDI_IN_USE_OPS, VDI_ISO_OPS};
use crate::rules::vm::GENERIC_BIOS_STRINGS;
use crate::rules::{GIB, MIB, TIB};
use crate::values::{empty_map, empty_set, null, smap, sset};
use std::collections::BTreeMap;
use xenapi::{Value, NULL_REF};

/// What to put in a new pool.
#[derive(Debug, Clone, Default)]
pub struct FixtureOptions {
    /// Extra VMs (with disks and VIFs) for benchmarks.
    pub extra_vms: usize,
    /// Give the hosts loopback addresses (127.0.0.11, .12, ...) that the
    /// server listens on, one per host; otherwise documentation addresses
    /// (192.0.2.11, ...) that nothing answers on.
    pub loopback_hosts: bool,
    /// A standalone pool instead of the demo pool: its host's name and
    /// address (see [`seed_standalone`]).
    pub standalone: Option<(String, String)>,
}

/// When the demo VMs were installed.
const INSTALL_TIME: &str = "20241201T09:30:00Z";
/// When the hosts (and the demo VMs running on them) booted.
const BOOT_TIME: &str = "20250101T06:00:00Z";
/// The last metrics refresh.
const LAST_UPDATED: &str = "20250101T12:00:00Z";

const HOST_COUNT: usize = 3;
const HOST_MEMORY: i64 = 256 * GIB;
const HOST_MEMORY_OVERHEAD: i64 = 2304 * MIB;
const HOST_CPUS: i64 = 16;
const DOM0_MEMORY: i64 = 4 * GIB;
const DOM0_VCPUS: i64 = 8;
const BENCH_MEMORY: i64 = GIB;

const CPU_VENDOR: &str = "GenuineIntel";
const CPU_MODEL: &str = "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz";
const CPU_FLAGS: &str = "fpu de tsc msr pae mce cx8 apic sep mca cmov pat clflush acpi mmx fxsr sse sse2 \
ht syscall nx rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid pni pclmulqdq monitor est ssse3 fma \
cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch \
cpuid_fault ssbd ibrs ibpb stibp fsgsbase bmi1 avx2 bmi2 erms rdseed adx clflushopt clwb sha_ni \
xsaveopt xsavec xgetbv1 arat md_clear arch_capabilities";
const CPU_FEATURES: &str = "77fefbff-bfebfbff-00000121-2c100800-f1bf07ab-00000000-00000000-00000000";
const CPU_FEATURES_PV: &str =
    "1fc9cbf5-f6f83203-2991cbf5-00000123-0000000f-f1bf0389-00000000-00000311-00040000-bc000400";
const CPU_FEATURES_HVM: &str =
    "1fcbfbff-f7fa3223-2d93fbff-00000523-0000000f-f1bf07ab-00000000-00101f91-00040000-bc000400";

/// Fills an empty database with the demo pool.
pub fn seed(db: &mut Db, opts: &FixtureOptions) {
    if let Some((name, address)) = &opts.standalone {
        seed_standalone(db, name, address, None);
        return;
    }
    let mut s = Seeder::new(db);
    let nets = s.networks();
    s.sms();
    let storage = s.storage();
    let mut hosts = s.hosts(&storage, opts.loopback_hosts);
    s.pifs(&hosts, &nets);
    s.pbds(&hosts, &storage);
    s.pool(&hosts, &storage);
    s.control_domains(&hosts);
    s.templates();
    s.demo_vms(&mut hosts, &nets, &storage);
    s.extra_vms(opts.extra_vms, &mut hosts, &nets, &storage);
    s.finish(&hosts);
}

/// Fills an empty database with a standalone pool: one host named `name`
/// at `address` (with `host_uuid` when given: an ejected host keeps its
/// identity), its local storage, control domain, PIFs on the usual
/// networks, the tools SR, SM drivers and the default templates; no shared
/// storage and no guests, as a freshly installed host (what `pool.join`
/// accepts, and what `pool.eject` leaves).
pub fn seed_standalone(db: &mut Db, name: &str, address: &str, host_uuid: Option<&str>) {
    use crate::rules::membership;
    seed(db, &FixtureOptions { extra_vms: 0, loopback_hosts: true, standalone: None });
    let hosts = db.all("host");
    let Some(keep) = hosts.first().cloned() else { return };
    // Guests first (with their disks on non-ISO storage), then the other hosts.
    let guests = membership::guests(db);
    let mut gone = Vec::new();
    for vm in db.all("VM").into_iter().filter(|vm| db.bool(vm, "is_a_snapshot")).chain(guests) {
        gone.push(vm.clone());
        for field in ["metrics", "guest_metrics"] {
            let r = db.string(&vm, field);
            if db.get(&r).is_some() {
                gone.push(r);
            }
        }
        for set in ["consoles", "VBDs", "VIFs"] {
            gone.extend(db.strings(&vm, set));
        }
    }
    membership::destroy_all(db, &gone);
    for vdi in db.all("VDI") {
        let sr = db.string(&vdi, "SR");
        if db.string(&sr, "content_type") != "iso" && db.string(&sr, "type") != "udev" {
            db.destroy(&vdi);
        }
    }
    for other in &hosts[1..] {
        let objects = membership::host_objects(db, other, &[]);
        membership::destroy_all(db, &objects);
    }
    for sr in db.all("SR") {
        if db.bool(&sr, "shared") && !db.bool(&sr, "is_tools_sr") {
            let mut objects = vec![sr.clone()];
            objects.extend(db.strings(&sr, "PBDs"));
            objects.extend(db.strings(&sr, "VDIs"));
            membership::destroy_all(db, &objects);
        }
    }
    let local = membership::local_srs(db, &keep).into_iter().find(|sr| db.string(sr, "content_type") == "user");
    let local = local.unwrap_or_else(|| NULL_REF.to_string());
    for pool in db.all("pool") {
        db.set_named(&pool, "name_label", Value::str(""));
        db.set_named(&pool, "name_description", Value::str(""));
        for field in ["default_SR", "suspend_image_SR", "crash_dump_SR"] {
            db.set_named(&pool, field, Value::str(&local));
        }
        db.map_put(&pool, "cpu_info", "cpu_count", Some(&HOST_CPUS.to_string()));
        db.map_put(&pool, "cpu_info", "socket_count", Some("1"));
    }
    db.set_named(&keep, "name_label", Value::str(name));
    db.set_named(&keep, "hostname", Value::str(name));
    db.set_named(&keep, "name_description", Value::str("Standalone demo host"));
    db.set_named(&keep, "address", Value::str(address));
    db.set_named(&keep, "software_version", software_version(name));
    if let Some(uuid) = host_uuid {
        db.set_named(&keep, "uuid", Value::str(uuid));
    }
    for pif in db.strings(&keep, "PIFs") {
        if db.bool(&pif, "management") {
            db.set_named(&pif, "IP", Value::str(address));
        }
    }
    for sr in db.all("SR") {
        let vdis = db.strings(&sr, "VDIs");
        let virt: i64 = vdis.iter().map(|v| db.int(v, "virtual_size")).sum();
        let phys: i64 = vdis.iter().map(|v| db.int(v, "physical_utilisation")).sum();
        db.set_named(&sr, "virtual_allocation", Value::Int(virt));
        db.set_named(&sr, "physical_utilisation", Value::Int(phys));
    }
    let free = host_memory_free(db, &keep);
    let metrics = db.string(&keep, "metrics");
    db.set_named(&metrics, "memory_free", Value::Int(free));
}

/// The demo VMs whose system disk carries a recognisable payload.
const PAYLOAD_VMS: &[&str] = &["web01", "db01", "test-halted", "build-suspended"];
/// The magic string that starts the boot code of a demo disk.
pub const DISK_MAGIC: &str = "XAPI-SIM DEMO DISK";
/// Where a demo disk's one partition starts, in 512-byte sectors.
const PARTITION_LBA: u32 = 4096;

/// What the demo VMs' system disks contain, as (VDI uuid, offset, bytes):
/// a boot sector (boot code that starts with [`DISK_MAGIC`] and the disk's
/// name, one Linux partition, the 0x55AA signature) and a line of text at
/// the start of the partition, so round trips of disk contents are checkable.
pub fn disk_payloads(db: &Db) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for vm in db.all("VM") {
        let name = db.string(&vm, "name_label");
        if !PAYLOAD_VMS.contains(&name.as_str()) || db.bool(&vm, "is_a_template") {
            continue;
        }
        let disk = db
            .strings(&vm, "VBDs")
            .into_iter()
            .find(|b| db.field_str(b, "userdevice") == "0" && db.field_str(b, "type") == "Disk")
            .map(|b| db.string(&b, "VDI"))
            .filter(|v| db.is(v, "VDI"));
        let Some(vdi) = disk else { continue };
        let (uuid, label, size) =
            (db.string(&vdi, "uuid"), db.string(&vdi, "name_label"), db.int(&vdi, "virtual_size"));
        let sectors = u32::try_from(size / 512).unwrap_or(u32::MAX);
        let mut mbr = vec![0u8; 512];
        let code = format!("{DISK_MAGIC}: {label}\n");
        mbr[..code.len()].copy_from_slice(code.as_bytes());
        mbr[440..444].copy_from_slice(&0x5853_494du32.to_le_bytes());
        // The one partition entry: type 0x83, from PARTITION_LBA to the end.
        let entry = &mut mbr[446..462];
        entry[0] = 0x80;
        entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        entry[4] = 0x83;
        entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        entry[8..12].copy_from_slice(&PARTITION_LBA.to_le_bytes());
        entry[12..16].copy_from_slice(&sectors.saturating_sub(PARTITION_LBA).to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        out.push((uuid.clone(), 0, mbr));
        let text = format!("xapi-sim demo data of VM {name} (disk {uuid})\n");
        out.push((uuid, u64::from(PARTITION_LBA) * 512, text.into_bytes()));
    }
    out
}

// ---------------------------------------------------------------------------
// Static facts.

const VM_RUNNING_OPS: &[&str] = &[
    "changing_dynamic_range",
    "migrate_send",
    "pool_migrate",
    "changing_VCPUs_live",
    "suspend",
    "hard_reboot",
    "hard_shutdown",
    "clean_reboot",
    "clean_shutdown",
    "pause",
    "checkpoint",
    "snapshot",
];
const VM_HALTED_OPS: &[&str] = &[
    "changing_NVRAM",
    "changing_dynamic_range",
    "changing_shadow_memory",
    "changing_static_range",
    "make_into_template",
    "migrate_send",
    "destroy",
    "export",
    "start_on",
    "start",
    "clone",
    "copy",
    "snapshot",
];
const VM_SUSPENDED_OPS: &[&str] =
    &["migrate_send", "export", "hard_shutdown", "resume_on", "resume", "clone", "copy", "snapshot"];
const TEMPLATE_OPS: &[&str] = &[
    "changing_NVRAM",
    "changing_dynamic_range",
    "changing_shadow_memory",
    "changing_static_range",
    "provision",
    "export",
    "clone",
    "copy",
];
const DOM0_OPS: &[&str] = &["changing_dynamic_range"];

struct SmSpec {
    ty: &'static str,
    name: &'static str,
    description: &'static str,
    driver: &'static str,
    configuration: &'static [(&'static str, &'static str)],
    features: &'static [(&'static str, i64)],
}

const VHD_FEATURES: &[(&str, i64)] = &[
    ("SR_PROBE", 1),
    ("SR_UPDATE", 1),
    ("VDI_CREATE", 1),
    ("VDI_DELETE", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("VDI_UPDATE", 1),
    ("VDI_CLONE", 1),
    ("VDI_SNAPSHOT", 1),
    ("VDI_RESIZE", 1),
    ("VDI_MIRROR", 1),
    ("VDI_GENERATE_CONFIG", 1),
    ("VDI_RESET_ON_BOOT", 2),
    ("VDI_ACTIVATE", 1),
    ("VDI_DEACTIVATE", 1),
    ("VDI_CONFIG_CBT", 1),
    ("ATOMIC_PAUSE", 1),
];
const FILE_VHD_FEATURES: &[(&str, i64)] = &[
    ("SR_PROBE", 1),
    ("SR_UPDATE", 1),
    ("SR_CACHING", 1),
    ("SR_SUPPORTS_LOCAL_CACHING", 1),
    ("VDI_CREATE", 1),
    ("VDI_DELETE", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("VDI_UPDATE", 1),
    ("VDI_CLONE", 1),
    ("VDI_SNAPSHOT", 1),
    ("VDI_RESIZE", 1),
    ("VDI_MIRROR", 1),
    ("VDI_GENERATE_CONFIG", 1),
    ("VDI_RESET_ON_BOOT", 2),
    ("VDI_ACTIVATE", 1),
    ("VDI_DEACTIVATE", 1),
    ("VDI_CONFIG_CBT", 1),
    ("VDI_READ_CACHING", 1),
    ("ATOMIC_PAUSE", 1),
    ("THIN_PROVISIONING", 1),
];
const LVM_FEATURES: &[(&str, i64)] = &[
    ("SR_PROBE", 1),
    ("SR_UPDATE", 1),
    ("SR_TRIM", 1),
    ("VDI_CREATE", 1),
    ("VDI_DELETE", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("VDI_UPDATE", 1),
    ("VDI_CLONE", 1),
    ("VDI_SNAPSHOT", 1),
    ("VDI_RESIZE", 1),
    ("VDI_MIRROR", 1),
    ("VDI_GENERATE_CONFIG", 1),
    ("VDI_RESET_ON_BOOT", 2),
    ("VDI_ACTIVATE", 1),
    ("VDI_DEACTIVATE", 1),
    ("VDI_CONFIG_CBT", 1),
    ("ATOMIC_PAUSE", 1),
];
const ISO_FEATURES: &[(&str, i64)] = &[
    ("VDI_CREATE", 1),
    ("VDI_DELETE", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("SR_SCAN", 1),
    ("SR_ATTACH", 1),
    ("SR_DETACH", 1),
];
const UDEV_FEATURES: &[(&str, i64)] = &[
    ("SR_SCAN", 1),
    ("SR_UPDATE", 1),
    ("SR_ATTACH", 1),
    ("SR_DETACH", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("VDI_INTRODUCE", 1),
];
const DUMMY_FEATURES: &[(&str, i64)] = &[
    ("SR_PROBE", 1),
    ("SR_UPDATE", 1),
    ("VDI_CREATE", 1),
    ("VDI_DELETE", 1),
    ("VDI_ATTACH", 1),
    ("VDI_DETACH", 1),
    ("VDI_ACTIVATE", 1),
    ("VDI_DEACTIVATE", 1),
    ("VDI_CLONE", 1),
    ("VDI_SNAPSHOT", 1),
    ("VDI_RESIZE", 1),
    ("VDI_RESIZE_ONLINE", 1),
    ("VDI_INTRODUCE", 1),
    ("VDI_MIRROR", 1),
];

const SMS: &[SmSpec] = &[
    SmSpec {
        ty: "lvm",
        name: "Local LVHD SR",
        description: "Stores disks as VHD images on logical volumes of a local volume group",
        driver: "/opt/xensource/sm/LVMSR",
        configuration: &[("device", "local block device path, e.g. /dev/sda3 (required)")],
        features: LVM_FEATURES,
    },
    SmSpec {
        ty: "ext",
        name: "Local EXT3 VHD",
        description: "Stores disks as VHD files on a local ext filesystem created on a logical volume",
        driver: "/opt/xensource/sm/EXTSR",
        configuration: &[("device", "local block device path, e.g. /dev/sda3 (required)")],
        features: FILE_VHD_FEATURES,
    },
    SmSpec {
        ty: "nfs",
        name: "NFS VHD",
        description: "Stores disks as VHD files on a remote NFS export",
        driver: "/opt/xensource/sm/NFSSR",
        configuration: &[
            ("server", "hostname or IP address of the NFS server (required)"),
            ("serverpath", "exported path on the server (required)"),
            ("nfsversion", "NFS protocol version to use: 3, 4, 4.0 or 4.1"),
            ("useUDP", "mount over UDP instead of TCP (NFSv3 only)"),
        ],
        features: FILE_VHD_FEATURES,
    },
    SmSpec {
        ty: "iso",
        name: "ISO",
        description: "Exposes CD images stored as .iso files in a directory or network share",
        driver: "/opt/xensource/sm/ISOSR",
        configuration: &[
            ("location", "path or share to mount, e.g. server:/export or //server/share (required)"),
            ("type", "share type: nfs_iso or cifs"),
            ("username", "user name for a CIFS share"),
            ("cifspassword", "password for a CIFS share"),
            ("cifspassword_secret", "secret holding the CIFS password"),
            ("nfsversion", "NFS protocol version to use: 3, 4, 4.0 or 4.1"),
            ("vers", "SMB protocol version to use: 1.0 or 3.0"),
        ],
        features: ISO_FEATURES,
    },
    SmSpec {
        ty: "udev",
        name: "udev",
        description: "Exposes removable devices that udev reports, such as DVD drives and USB disks",
        driver: "/opt/xensource/sm/udevSR",
        configuration: &[("location", "directory of device symlinks, e.g. /dev/xapi/cd (required)")],
        features: UDEV_FEATURES,
    },
    SmSpec {
        ty: "lvmoiscsi",
        name: "LVHD over iSCSI",
        description: "Stores disks as VHD images on logical volumes of an iSCSI LUN",
        driver: "/opt/xensource/sm/LVMoISCSISR",
        configuration: &[
            ("target", "IP address or hostname of the iSCSI target (required)"),
            ("targetIQN", "IQN of the target, or * for all (required)"),
            ("SCSIid", "SCSI id of the LUN to use (required)"),
            ("chapuser", "CHAP user name (optional)"),
            ("chappassword", "CHAP password (optional)"),
            ("chappassword_secret", "secret holding the CHAP password (optional)"),
            ("incoming_chapuser", "user name the target uses to authenticate itself (optional)"),
            ("incoming_chappassword", "password the target uses to authenticate itself (optional)"),
            ("port", "TCP port of the target (default 3260)"),
            ("multihomed", "whether the target is reachable through several addresses"),
            ("allocation", "thick or thin provisioning"),
        ],
        features: VHD_FEATURES,
    },
    SmSpec {
        ty: "lvmohba",
        name: "LVHD over FC",
        description: "Stores disks as VHD images on logical volumes of a Fibre Channel or SAS LUN",
        driver: "/opt/xensource/sm/LVMoHBASR",
        configuration: &[
            ("SCSIid", "SCSI id of the LUN to use (required)"),
            ("allocation", "thick or thin provisioning"),
        ],
        features: VHD_FEATURES,
    },
    SmSpec {
        ty: "file",
        name: "Local Path VHD",
        description: "Stores disks as VHD files in a local directory",
        driver: "/opt/xensource/sm/FileSR",
        configuration: &[("location", "local directory path (required)")],
        features: FILE_VHD_FEATURES,
    },
    SmSpec {
        ty: "smb",
        name: "SMB VHD",
        description: "Stores disks as VHD files on a remote SMB share",
        driver: "/opt/xensource/sm/SMBSR",
        configuration: &[
            ("server", "full path of the share, e.g. //server/share (required)"),
            ("username", "user name on the SMB server"),
            ("password", "password on the SMB server"),
            ("password_secret", "secret holding the password"),
            ("vers", "SMB protocol version to use: 1.0 or 3.0"),
        ],
        features: FILE_VHD_FEATURES,
    },
    SmSpec {
        ty: "dummy",
        name: "dummy",
        description: "Keeps VDI records only, for testing: no storage backs them",
        driver: "/opt/xensource/sm/DummySR",
        configuration: &[],
        features: DUMMY_FEATURES,
    },
];

/// Which boot firmware and platform family a template uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    LinuxUefi,
    LinuxBios,
    WindowsUefi,
    WindowsBios,
    Other,
}

impl Kind {
    fn is_linux(self) -> bool {
        matches!(self, Kind::LinuxUefi | Kind::LinuxBios)
    }

    fn is_windows(self) -> bool {
        matches!(self, Kind::WindowsUefi | Kind::WindowsBios)
    }

    fn is_uefi(self) -> bool {
        matches!(self, Kind::LinuxUefi | Kind::WindowsUefi)
    }
}

struct Tpl {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    /// `memory_static_min`; the other limits default to twice this.
    min_memory: i64,
    /// Size of the provisioned system disk, or 0 for none.
    disk: i64,
    max_memory: i64,
    vcpus_max: i64,
    vcpus_min: i64,
}

const fn tpl(name: &'static str, label: &'static str, kind: Kind, min_mib: i64, disk_gib: i64) -> Tpl {
    let windows = matches!(kind, Kind::WindowsUefi | Kind::WindowsBios);
    Tpl {
        name,
        label,
        kind,
        min_memory: min_mib * MIB,
        disk: disk_gib * GIB,
        max_memory: 1536 * GIB,
        vcpus_max: if windows { 64 } else { 32 },
        vcpus_min: if matches!(kind, Kind::WindowsUefi) { 2 } else { 1 },
    }
}

const TEMPLATES: &[Tpl] = &[
    tpl("AlmaLinux 9", "almalinux-9", Kind::LinuxUefi, 1024, 10),
    tpl("CentOS Stream 8", "centos-stream-8", Kind::LinuxBios, 1024, 10),
    tpl("CentOS Stream 9", "centos-stream-9", Kind::LinuxUefi, 1024, 10),
    tpl("Debian Bookworm 12", "debian-12", Kind::LinuxUefi, 1024, 10),
    tpl("Debian Bullseye 11", "debian-11", Kind::LinuxBios, 512, 10),
    tpl("Generic Linux BIOS", "generic-linux-bios", Kind::LinuxBios, 512, 10),
    tpl("Generic Linux UEFI", "generic-linux-uefi", Kind::LinuxUefi, 512, 10),
    tpl("Oracle Linux 9", "oel-9", Kind::LinuxUefi, 1024, 10),
    Tpl { max_memory: 128 * GIB, ..tpl("Other install media", "other-install-media", Kind::Other, 128, 0) },
    tpl("Red Hat Enterprise Linux 8", "rhel-8", Kind::LinuxBios, 1024, 10),
    tpl("Red Hat Enterprise Linux 9", "rhel-9", Kind::LinuxUefi, 1024, 10),
    tpl("Rocky Linux 8", "rocky-8", Kind::LinuxBios, 1024, 10),
    tpl("Rocky Linux 9", "rocky-9", Kind::LinuxUefi, 1024, 10),
    tpl("SUSE Linux Enterprise Server 15 (64-bit)", "sle-15-64bit", Kind::LinuxBios, 1024, 16),
    tpl("Ubuntu Focal Fossa 20.04", "ubuntu-20.04", Kind::LinuxBios, 1024, 10),
    tpl("Ubuntu Jammy Jellyfish 22.04", "ubuntu-22.04", Kind::LinuxUefi, 1024, 10),
    tpl("Ubuntu Noble Numbat 24.04", "ubuntu-24.04", Kind::LinuxUefi, 1024, 10),
    tpl("Windows 10 (64-bit)", "windows-10-64bit", Kind::WindowsBios, 1024, 32),
    tpl("Windows 11", "windows-11", Kind::WindowsUefi, 4096, 64),
    tpl("Windows Server 2016 (64-bit)", "windows-server-2016-64bit", Kind::WindowsBios, 1024, 32),
    tpl("Windows Server 2019 (64-bit)", "windows-server-2019-64bit", Kind::WindowsBios, 1024, 32),
    tpl("Windows Server 2022 (64-bit)", "windows-server-2022-64bit", Kind::WindowsUefi, 2048, 32),
];

fn template(name: &str) -> &'static Tpl {
    TEMPLATES.iter().find(|t| t.name == name).expect("known template")
}

impl Tpl {
    fn description(&self) -> String {
        match self.kind {
            Kind::Other => "Template for installing any operating system from install media".to_string(),
            k if k.is_windows() => format!(
                "Template for {}: clones provision their disks on first boot; install from the CD drive",
                self.name
            ),
            _ => format!(
                "Template for {}: install from the CD drive, or set other-config:install-repository \
                 to an http://, ftp:// or nfs: repository",
                self.name
            ),
        }
    }

    fn install_methods(&self) -> &'static str {
        if self.kind.is_linux() {
            "cdrom,nfs,http,ftp"
        } else {
            "cdrom"
        }
    }

    fn boot_params(&self) -> Value {
        let firmware = if self.kind.is_uefi() { "uefi" } else { "bios" };
        let order = if self.kind.is_linux() { "cdn" } else { "dc" };
        smap(&[("firmware", firmware), ("order", order)])
    }

    fn platform(&self) -> Value {
        let mut p: Vec<(&str, &str)> =
            vec![("acpi", "1"), ("apic", "true"), ("hpet", "true"), ("nx", "true"), ("pae", "true")];
        let model = if self.kind.is_uefi() { "qemu-upstream-uefi" } else { "qemu-upstream-compat" };
        p.push(("device-model", model));
        match self.kind {
            Kind::LinuxUefi | Kind::LinuxBios => {
                p.extend([("device_id", "0001"), ("viridian", "false")]);
                p.push(("secureboot", if self.kind.is_uefi() { "auto" } else { "false" }));
            }
            Kind::WindowsUefi | Kind::WindowsBios => {
                p.extend([
                    ("cores-per-socket", "2"),
                    ("device_id", "0002"),
                    ("viridian", "true"),
                    ("viridian_apic_assist", "true"),
                    ("viridian_crash_ctl", "true"),
                    ("viridian_hcall_remote_tlb_flush", "true"),
                    ("viridian_reference_tsc", "true"),
                    ("viridian_stimer", "true"),
                    ("viridian_time_ref_count", "true"),
                ]);
                p.push(("secureboot", if self.kind.is_uefi() { "true" } else { "false" }));
            }
            Kind::Other => p.extend([("viridian", "true"), ("secureboot", "false")]),
        }
        p.extend([("timeoffset", "0"), ("vga", "std"), ("videoram", "8")]);
        smap(&p)
    }

    fn recommendations(&self) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let mut x = String::from("<restrictions>");
        x += &format!(r#"<restriction field="memory-static-max" max="{}"/>"#, self.max_memory);
        if self.vcpus_min > 1 {
            x += &format!(r#"<restriction field="vcpus-min" min="{}"/>"#, self.vcpus_min);
        }
        x += &format!(r#"<restriction field="vcpus-max" max="{}"/>"#, self.vcpus_max);
        x += &format!(r#"<restriction field="has-vendor-device" value="{}"/>"#, self.kind.is_windows());
        if self.kind != Kind::Other {
            x += r#"<restriction field="allow-gpu-passthrough" value="1"/>"#;
            x += r#"<restriction field="allow-vgpu" value="1"/>"#;
            x += &format!(r#"<restriction field="supports-bios" value="{}"/>"#, yes_no(!self.kind.is_uefi()));
            x += &format!(r#"<restriction field="supports-uefi" value="{}"/>"#, yes_no(self.kind.is_uefi()));
            x += &format!(r#"<restriction field="supports-secure-boot" value="{}"/>"#, yes_no(self.kind.is_uefi()));
        }
        x += r#"<restriction max="255" property="number-of-vbds"/>"#;
        x += r#"<restriction max="7" property="number-of-vifs"/>"#;
        x += "</restrictions>";
        x
    }

    /// The `other_config` of a VM installed from this template.
    fn instance_other_config(&self, mac_seed: String) -> Value {
        let mut oc = vec![
            ("base_template_name".to_string(), self.name.to_string()),
            ("install-methods".to_string(), self.install_methods().to_string()),
        ];
        if self.kind.is_linux() {
            oc.push(("linux_template".to_string(), "true".to_string()));
        }
        oc.push(("mac_seed".to_string(), mac_seed));
        smap(&oc)
    }
}

/// ISO images in the ISO library: file name and size in bytes.
const ISOS: &[(&str, i64)] = &[
    ("debian-12.5.0-amd64-netinst.iso", 659_554_304),
    ("ubuntu-22.04.4-live-server-amd64.iso", 2_104_408_064),
    ("ubuntu-24.04.1-live-server-amd64.iso", 2_773_874_688),
    ("CentOS-Stream-9-latest-x86_64-dvd1.iso", 11_469_324_288),
    ("Rocky-9.4-x86_64-minimal.iso", 1_825_570_816),
    ("Win2022_EN-US.iso", 5_365_624_832),
];
const TOOLS_ISO_SIZE: i64 = 43_251_712;
const TOOLS_SR_NAME: &str = "XCP-ng Tools";

// ---------------------------------------------------------------------------
// The builder.

#[derive(Clone, Copy)]
struct Classes {
    pool: usize,
    host: usize,
    host_metrics: usize,
    host_cpu: usize,
    vm: usize,
    vm_metrics: usize,
    vm_guest_metrics: usize,
    network: usize,
    pif: usize,
    pif_metrics: usize,
    sm: usize,
    sr: usize,
    pbd: usize,
    vdi: usize,
    vbd: usize,
    vif: usize,
    console: usize,
}

struct Host {
    r: String,
    name: String,
    ip: String,
    dom0: String,
    local_sr: String,
    /// Memory not yet taken by resident domains.
    free: i64,
    next_domid: i64,
}

struct Networks {
    eth0: String,
    eth1: String,
    private: String,
}

struct Storage {
    local: Vec<String>,
    dvd: Vec<String>,
    removable: Vec<String>,
    nfs: String,
    iso: String,
    tools: String,
}

enum Power {
    Running(usize),
    Halted,
    Suspended,
}

enum Cd {
    None,
    Empty,
    Iso(String),
}

struct DiskSpec {
    label: String,
    sr: String,
    size: i64,
    used: i64,
    userdevice: &'static str,
    system: bool,
}

struct GuestSpec {
    os: &'static [(&'static str, &'static str)],
    ip: &'static str,
}

struct VmSpec<'a> {
    name: &'a str,
    description: &'a str,
    tpl: &'static Tpl,
    power: Power,
    vcpus: i64,
    memory: i64,
    disks: Vec<DiskSpec>,
    cd: Cd,
    networks: Vec<String>,
    guest: Option<GuestSpec>,
    /// Demo VMs get the full treatment (BIOS strings, guest metrics…); bench VMs stay lean.
    full: bool,
}

struct Seeder<'a> {
    db: &'a mut Db,
    c: Classes,
    blanks: Vec<Option<Vec<Value>>>,
    mac_counter: u32,
}

impl<'a> Seeder<'a> {
    fn new(db: &'a mut Db) -> Seeder<'a> {
        let ci = |name: &str| db.cls(name);
        let c = Classes {
            pool: ci("pool"),
            host: ci("host"),
            host_metrics: ci("host_metrics"),
            host_cpu: ci("host_cpu"),
            vm: ci("VM"),
            vm_metrics: ci("VM_metrics"),
            vm_guest_metrics: ci("VM_guest_metrics"),
            network: ci("network"),
            pif: ci("PIF"),
            pif_metrics: ci("PIF_metrics"),
            sm: ci("SM"),
            sr: ci("SR"),
            pbd: ci("PBD"),
            vdi: ci("VDI"),
            vbd: ci("VBD"),
            vif: ci("VIF"),
            console: ci("console"),
        };
        let blanks = vec![None; db.schema.classes.len()];
        Seeder { db, c, blanks, mac_counter: 0 }
    }

    /// Creates an object like [`Db::create`], but clones a cached blank record
    /// and panics on unknown field names (the fixture is static, so a typo is a bug).
    fn make_with_ref(&mut self, class: usize, r: String, members: Vec<(&str, Value)>) -> String {
        let cls = self.db.class(class);
        if self.blanks[class].is_none() {
            self.blanks[class] = Some(self.db.blank_record(class));
        }
        let mut fields = self.blanks[class].clone().unwrap_or_default();
        for (name, v) in members {
            let pos = cls.field_pos(name).unwrap_or_else(|| panic!("{}.{name} is not a field", cls.name()));
            fields[pos] = v;
        }
        self.db.insert(class, r, fields)
    }

    fn make(&mut self, class: usize, members: Vec<(&str, Value)>) -> String {
        let r = self.db.new_ref();
        self.make_with_ref(class, r, members)
    }

    fn next_mac(&mut self) -> String {
        self.mac_counter += 1;
        let n = self.mac_counter;
        // 0x16: locally administered, unicast.
        format!("16:5e:{:02x}:{:02x}:{:02x}:{:02x}", (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    }

    // --- networks, SMs, SRs -------------------------------------------------

    fn network(&mut self, label: &str, description: &str, bridge: &str, other_config: Value) -> String {
        let c = self.c.network;
        self.make(
            c,
            vec![
                ("name_label", Value::str(label)),
                ("name_description", Value::str(description)),
                ("bridge", Value::str(bridge)),
                ("MTU", Value::Int(1500)),
                ("managed", Value::Bool(true)),
                ("other_config", other_config),
            ],
        )
    }

    fn networks(&mut self) -> Networks {
        let eth0 = self.network("Pool-wide network associated with eth0", "", "xenbr0", empty_map());
        let eth1 = self.network("Pool-wide network associated with eth1", "", "xenbr1", empty_map());
        self.network(
            "Host internal management network",
            "Network on which guests will be assigned a private link-local IP address which can be used to talk XenAPI",
            "xenapi",
            smap(&[
                ("is_guest_installer_network", "true"),
                ("is_host_internal_management_network", "true"),
                ("ip_begin", "169.254.0.1"),
                ("ip_end", "169.254.255.254"),
                ("netmask", "255.255.0.0"),
            ]),
        );
        let private = self.network("Internal network", "Private network between the pool's VMs", "xapi1", empty_map());
        Networks { eth0, eth1, private }
    }

    fn sms(&mut self) {
        for sm in SMS {
            let features = Value::Struct(sm.features.iter().map(|(k, v)| (k.to_string(), Value::Int(*v))).collect());
            let capabilities = Value::Array(sm.features.iter().map(|(k, _)| Value::str(*k)).collect());
            let c = self.c.sm;
            self.make(
                c,
                vec![
                    ("name_label", Value::str(sm.name)),
                    ("name_description", Value::str(sm.description)),
                    ("type", Value::str(sm.ty)),
                    ("vendor", Value::str("Citrix Systems Inc")),
                    ("copyright", Value::str("(C) 2008 Citrix Systems Inc")),
                    ("version", Value::str("1.0")),
                    ("required_api_version", Value::str("1.0")),
                    ("configuration", smap(sm.configuration)),
                    ("capabilities", capabilities),
                    ("features", features),
                    ("driver_filename", Value::str(sm.driver)),
                ],
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sr(
        &mut self,
        label: &str,
        description: &str,
        ty: &str,
        content_type: &str,
        shared: bool,
        size: i64,
        ops: &[&str],
        other_config: Value,
        sm_config: Value,
    ) -> String {
        let c = self.c.sr;
        self.make(
            c,
            vec![
                ("name_label", Value::str(label)),
                ("name_description", Value::str(description)),
                ("allowed_operations", sset(ops)),
                ("physical_size", Value::Int(size)),
                ("type", Value::str(ty)),
                ("content_type", Value::str(content_type)),
                ("shared", Value::Bool(shared)),
                ("other_config", other_config),
                ("sm_config", sm_config),
                ("is_tools_sr", Value::Bool(label == TOOLS_SR_NAME)),
            ],
        )
    }

    fn storage(&mut self) -> Storage {
        let mut local = Vec::new();
        let mut dvd = Vec::new();
        let mut removable = Vec::new();
        for h in 1..=HOST_COUNT {
            let devserial = format!("scsi-3600508b1001c5f3a9d7e2b4c8a10000{h}");
            local.push(self.sr(
                "Local storage",
                "",
                "lvm",
                "user",
                false,
                500 * GIB,
                SR_DISK_OPS,
                smap(&[("i18n-key", "local-storage"), ("i18n-original-value-name_label", "Local storage")]),
                smap(&[
                    ("allocation", "thick"),
                    ("devserial", &devserial),
                    ("multipathable", "false"),
                    ("use_vhd", "true"),
                ]),
            ));
            dvd.push(self.sr(
                "DVD drives",
                "Physical DVD drives",
                "udev",
                "iso",
                false,
                0,
                SR_UDEV_OPS,
                smap(&[
                    ("i18n-key", "local-hotplug-cd"),
                    ("i18n-original-value-name_description", "Physical DVD drives"),
                    ("i18n-original-value-name_label", "DVD drives"),
                ]),
                smap(&[("type", "cd")]),
            ));
            removable.push(self.sr(
                "Removable storage",
                "",
                "udev",
                "disk",
                false,
                0,
                SR_UDEV_OPS,
                smap(&[("i18n-key", "local-hotplug-disk"), ("i18n-original-value-name_label", "Removable storage")]),
                smap(&[("type", "block")]),
            ));
        }
        let nfs = self.sr(
            "NFS virtual disk storage",
            "Shared VM disks on nfs01.example.com:/export/xcp-ng/sr",
            "nfs",
            "",
            true,
            2 * TIB,
            SR_DISK_OPS,
            smap(&[("auto-scan", "false")]),
            empty_map(),
        );
        let iso = self.sr(
            "ISO library",
            "Installation media on nfs01.example.com:/export/iso",
            "iso",
            "iso",
            true,
            TIB,
            SR_ISO_OPS,
            smap(&[("auto-scan", "true")]),
            empty_map(),
        );
        let tools = self.sr(
            TOOLS_SR_NAME,
            "XCP-ng Tools ISOs",
            "iso",
            "iso",
            true,
            TOOLS_ISO_SIZE,
            SR_ISO_OPS,
            smap(&[
                ("xenserver_tools_sr", "true"),
                ("i18n-key", "xenserver-tools"),
                ("i18n-original-value-name_label", "XCP-ng Tools"),
                ("i18n-original-value-name_description", "XCP-ng Tools ISOs"),
            ]),
            empty_map(),
        );
        // Media: ISO library content, the tools ISO, and one drive per host.
        for (file, size) in ISOS {
            self.media_vdi(&iso, file, file, *size, VDI_ISO_OPS, false, empty_map());
        }
        self.media_vdi(&tools, "guest-tools.iso", "guest-tools.iso", TOOLS_ISO_SIZE, &["copy"], true, empty_map());
        for sr in &dvd {
            self.media_vdi(
                sr,
                "SCSI 0:0:0:0",
                "/dev/xapi/cd/sr0",
                0,
                &["forget", "update"],
                false,
                smap(&[("hotplugged_at", "2025-01-01T06:00:12Z"), ("type", "cd")]),
            );
        }
        Storage { local, dvd, removable, nfs, iso, tools }
    }

    #[allow(clippy::too_many_arguments)]
    fn media_vdi(
        &mut self,
        sr: &str,
        label: &str,
        location: &str,
        size: i64,
        ops: &[&str],
        tools: bool,
        sm_config: Value,
    ) -> String {
        let c = self.c.vdi;
        self.make(
            c,
            vec![
                ("name_label", Value::str(label)),
                ("allowed_operations", sset(ops)),
                ("SR", Value::str(sr)),
                ("virtual_size", Value::Int(size)),
                ("physical_utilisation", Value::Int(size)),
                ("type", Value::str("user")),
                ("sharable", Value::Bool(false)),
                ("read_only", Value::Bool(true)),
                ("other_config", empty_map()),
                ("location", Value::str(location)),
                ("managed", Value::Bool(true)),
                ("sm_config", sm_config),
                ("is_tools_iso", Value::Bool(tools)),
            ],
        )
    }

    // --- hosts --------------------------------------------------------------

    fn hosts(&mut self, storage: &Storage, loopback: bool) -> Vec<Host> {
        let mut hosts = Vec::new();
        for h in 0..HOST_COUNT {
            let n = h + 1;
            let name = format!("xs-host-{n}");
            let ip = if loopback { format!("127.0.0.{}", 10 + n) } else { format!("192.0.2.{}", 10 + n) };
            let c = self.c.host_metrics;
            let metrics = self.make(
                c,
                vec![
                    ("memory_total", Value::Int(HOST_MEMORY)),
                    ("memory_free", Value::Int(HOST_MEMORY - HOST_MEMORY_OVERHEAD)),
                    ("live", Value::Bool(true)),
                    ("last_updated", Value::DateTime(LAST_UPDATED.into())),
                ],
            );
            let dom0 = self.db.new_ref();
            let iqn = format!("iqn.2024-12.com.example:{}", &self.db.new_uuid()[..8]);
            let serial = format!("EX{:06}", 400 + n);
            let agent_start = format!("{}.", 1_735_711_260 + 5 * h);
            let c = self.c.host;
            let r = self.make(
                c,
                vec![
                    ("name_label", Value::str(&name)),
                    ("name_description", Value::str(format!("Demo host {n} of 3"))),
                    ("memory_overhead", Value::Int(HOST_MEMORY_OVERHEAD)),
                    (
                        "allowed_operations",
                        sset(&["vm_migrate", "provision", "vm_resume", "evacuate", "vm_start", "reboot", "shutdown"]),
                    ),
                    ("API_version_major", Value::Int(2)),
                    ("API_version_minor", Value::Int(21)),
                    ("API_version_vendor", Value::str("XenSource")),
                    ("API_version_vendor_implementation", empty_map()),
                    ("enabled", Value::Bool(true)),
                    ("software_version", software_version(&name)),
                    (
                        "other_config",
                        smap(&[
                            ("agent_start_time", agent_start.as_str()),
                            ("boot_time", "1735711200."),
                            ("iscsi_iqn", &iqn),
                            ("multipathing", "false"),
                            ("multipathhandle", "dmp"),
                        ]),
                    ),
                    ("capabilities", sset(&["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_32p", "hvm-3.0-x86_64"])),
                    ("cpu_configuration", empty_map()),
                    ("sched_policy", Value::str("credit")),
                    ("supported_bootloaders", sset(&["pygrub", "eliloader"])),
                    ("logging", empty_map()),
                    ("suspend_image_sr", Value::str(&storage.local[h])),
                    ("crash_dump_sr", Value::str(&storage.local[h])),
                    ("cpu_info", host_cpu_info()),
                    ("hostname", Value::str(&name)),
                    ("address", Value::str(&ip)),
                    ("metrics", Value::str(&metrics)),
                    ("license_params", license_params()),
                    ("edition", Value::str("xcp-ng")),
                    ("editions", sset(&["xcp-ng"])),
                    (
                        "bios_strings",
                        smap(&[
                            ("bios-vendor", "Dell Inc."),
                            ("bios-version", "1.13.2"),
                            ("system-manufacturer", "Dell Inc."),
                            ("system-product-name", "PowerEdge R650"),
                            ("system-version", ""),
                            ("system-serial-number", &serial),
                            ("baseboard-manufacturer", "Dell Inc."),
                            ("baseboard-product-name", "0PYXKY"),
                            ("enclosure-asset-tag", ""),
                            ("oem-1", "Dell System"),
                        ]),
                    ),
                    ("chipset_info", smap(&[("iommu", "true")])),
                    (
                        "virtual_hardware_platform_versions",
                        Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(2)]),
                    ),
                    ("control_domain", Value::str(&dom0)),
                    ("iscsi_iqn", Value::str(&iqn)),
                ],
            );
            for i in 0..HOST_CPUS {
                let c = self.c.host_cpu;
                self.make(
                    c,
                    vec![
                        ("host", Value::str(&r)),
                        ("number", Value::Int(i)),
                        ("vendor", Value::str(CPU_VENDOR)),
                        ("speed", Value::Int(2400)),
                        ("modelname", Value::str(CPU_MODEL)),
                        ("family", Value::Int(6)),
                        ("model", Value::Int(106)),
                        ("stepping", Value::str("6")),
                        ("flags", Value::str(CPU_FLAGS)),
                        ("features", Value::str(CPU_FEATURES)),
                        ("utilisation", Value::Float(0.0)),
                    ],
                );
            }
            hosts.push(Host {
                r,
                name,
                ip,
                dom0,
                local_sr: storage.local[h].clone(),
                free: HOST_MEMORY - HOST_MEMORY_OVERHEAD - DOM0_MEMORY,
                next_domid: 1,
            });
        }
        hosts
    }

    fn pifs(&mut self, hosts: &[Host], nets: &Networks) {
        let loopback = hosts.first().is_some_and(|h| h.ip.starts_with("127."));
        for (h, host) in hosts.iter().enumerate() {
            for (dev, net) in [("eth0", &nets.eth0), ("eth1", &nets.eth1)] {
                let n = if dev == "eth0" { 0 } else { 1 };
                let c = self.c.pif_metrics;
                let metrics = self.make(
                    c,
                    vec![
                        ("carrier", Value::Bool(true)),
                        ("vendor_id", Value::str("8086")),
                        ("vendor_name", Value::str("Intel Corporation")),
                        ("device_id", Value::str("1572")),
                        ("device_name", Value::str("Ethernet Controller X710 for 10GbE SFP+")),
                        ("speed", Value::Int(10000)),
                        ("duplex", Value::Bool(true)),
                        ("pci_bus_path", Value::str(format!("0000:18:00.{n}"))),
                        ("last_updated", Value::DateTime(LAST_UPDATED.into())),
                    ],
                );
                let mac = format!("3c:fd:fe:a{}:5e:{:02x}", h + 1, 0x10 + n);
                let mut members = vec![
                    ("device", Value::str(dev)),
                    ("network", Value::str(net)),
                    ("host", Value::str(&host.r)),
                    ("MAC", Value::str(mac)),
                    ("MTU", Value::Int(1500)),
                    ("VLAN", Value::Int(-1)),
                    ("metrics", Value::str(&metrics)),
                    ("physical", Value::Bool(true)),
                    ("currently_attached", Value::Bool(true)),
                    ("other_config", empty_map()),
                    ("properties", smap(&[("gro", "on")])),
                    ("capabilities", empty_set()),
                ];
                if n == 0 {
                    members.extend([
                        ("management", Value::Bool(true)),
                        ("ip_configuration_mode", Value::str("Static")),
                        ("IP", Value::str(&host.ip)),
                        ("netmask", Value::str(if loopback { "255.0.0.0" } else { "255.255.255.0" })),
                        ("gateway", Value::str(if loopback { "" } else { "192.0.2.1" })),
                        ("DNS", Value::str(if loopback { "" } else { "192.0.2.53" })),
                    ]);
                } else {
                    members.push(("ip_configuration_mode", Value::str("None")));
                }
                let c = self.c.pif;
                self.make(c, members);
            }
        }
    }

    fn pbds(&mut self, hosts: &[Host], st: &Storage) {
        for (h, host) in hosts.iter().enumerate() {
            let local = [
                (&st.local[h], smap(&[("device", "/dev/sda3")])),
                (&st.dvd[h], smap(&[("location", "/dev/xapi/cd")])),
                (&st.removable[h], smap(&[("location", "/dev/xapi/block")])),
            ];
            let shared = [
                (
                    &st.nfs,
                    smap(&[
                        ("server", "nfs01.example.com"),
                        ("serverpath", "/export/xcp-ng/sr"),
                        ("nfsversion", "4.1"),
                    ]),
                ),
                (&st.iso, smap(&[("location", "nfs01.example.com:/export/iso"), ("type", "nfs_iso")])),
                (&st.tools, smap(&[("location", "/opt/xensource/packages/iso"), ("legacy_mode", "true")])),
            ];
            for (sr, device_config) in local.into_iter().chain(shared) {
                let c = self.c.pbd;
                self.make(
                    c,
                    vec![
                        ("host", Value::str(&host.r)),
                        ("SR", Value::str(sr.as_str())),
                        ("device_config", device_config),
                        ("currently_attached", Value::Bool(true)),
                        ("other_config", empty_map()),
                    ],
                );
            }
        }
    }

    fn pool(&mut self, hosts: &[Host], st: &Storage) {
        let c = self.c.pool;
        self.make(
            c,
            vec![
                ("name_label", Value::str("xapi-sim demo pool")),
                ("name_description", Value::str("Simulated XCP-ng 8.3 pool of three hosts")),
                ("master", Value::str(&hosts[0].r)),
                ("default_SR", Value::str(&st.nfs)),
                ("suspend_image_SR", Value::str(&st.nfs)),
                ("crash_dump_SR", Value::str(&st.nfs)),
                (
                    "other_config",
                    smap(&[("auto_poweron", "false"), ("memory-ratio-hvm", "0.25"), ("memory-ratio-pv", "0.25")]),
                ),
                ("restrictions", license_params()),
                (
                    "cpu_info",
                    smap(&[
                        ("cpu_count", "48"),
                        ("socket_count", "3"),
                        ("vendor", CPU_VENDOR),
                        ("features_pv", CPU_FEATURES_PV),
                        ("features_hvm", CPU_FEATURES_HVM),
                        ("features_pv_host", CPU_FEATURES_PV),
                        ("features_hvm_host", CPU_FEATURES_HVM),
                    ]),
                ),
                ("tls_verification_enabled", Value::Bool(true)),
            ],
        );
    }

    // --- VMs ----------------------------------------------------------------

    fn control_domains(&mut self, hosts: &[Host]) {
        for host in hosts {
            let c = self.c.vm_metrics;
            let vcpus_cpu = Value::Struct((0..DOM0_VCPUS).map(|i| (i.to_string(), Value::Int(i))).collect());
            let metrics = self.make(
                c,
                vec![
                    ("memory_actual", Value::Int(DOM0_MEMORY)),
                    ("VCPUs_number", Value::Int(DOM0_VCPUS)),
                    ("VCPUs_CPU", vcpus_cpu),
                    ("VCPUs_params", empty_map()),
                    ("state", empty_set()),
                    ("start_time", Value::DateTime(BOOT_TIME.into())),
                    ("install_time", Value::DateTime(INSTALL_TIME.into())),
                    ("last_updated", Value::DateTime(LAST_UPDATED.into())),
                    ("current_domain_type", Value::str("pv")),
                ],
            );
            let c = self.c.vm;
            let r = host.dom0.clone();
            self.make_with_ref(
                c,
                r.clone(),
                vec![
                    ("allowed_operations", sset(DOM0_OPS)),
                    ("name_label", Value::str(format!("Control domain on host: {}", host.name))),
                    (
                        "name_description",
                        Value::str("The control domain (dom0): runs the toolstack and device backends"),
                    ),
                    ("power_state", Value::str("Running")),
                    ("user_version", Value::Int(1)),
                    ("resident_on", Value::str(&host.r)),
                    ("affinity", null()),
                    ("memory_static_max", Value::Int(DOM0_MEMORY)),
                    ("memory_dynamic_max", Value::Int(DOM0_MEMORY)),
                    ("memory_dynamic_min", Value::Int(DOM0_MEMORY)),
                    ("memory_static_min", Value::Int(DOM0_MEMORY)),
                    ("memory_target", Value::Int(DOM0_MEMORY)),
                    ("VCPUs_params", empty_map()),
                    ("VCPUs_max", Value::Int(DOM0_VCPUS)),
                    ("VCPUs_at_startup", Value::Int(DOM0_VCPUS)),
                    ("actions_after_shutdown", Value::str("destroy")),
                    ("actions_after_reboot", Value::str("destroy")),
                    ("actions_after_crash", Value::str("destroy")),
                    ("HVM_boot_params", empty_map()),
                    ("platform", empty_map()),
                    ("other_config", smap(&[("storage_driver_domain", r.as_str()), ("is_system_domain", "true")])),
                    ("domid", Value::Int(0)),
                    ("is_control_domain", Value::Bool(true)),
                    ("metrics", Value::str(&metrics)),
                    ("guest_metrics", null()),
                    ("domain_type", Value::str("pv")),
                ],
            );
            let uuid = self.db.new_uuid();
            let location = format!("https://{}/console?uuid={uuid}", host.ip);
            let c = self.c.console;
            self.make(
                c,
                vec![
                    ("uuid", Value::str(uuid)),
                    ("protocol", Value::str("rfb")),
                    ("location", Value::str(location)),
                    ("VM", Value::str(&r)),
                    ("other_config", empty_map()),
                ],
            );
        }
    }

    fn templates(&mut self) {
        for t in TEMPLATES {
            let c = self.c.vm_metrics;
            let metrics = self.make(
                c,
                vec![
                    ("VCPUs_CPU", Value::Struct(vec![])),
                    ("VCPUs_params", empty_map()),
                    ("VCPUs_flags", Value::Struct(vec![])),
                    ("state", empty_set()),
                    ("start_time", Value::DateTime(xenapi::datetime::EPOCH.into())),
                    ("install_time", Value::DateTime(INSTALL_TIME.into())),
                    ("last_updated", Value::DateTime(xenapi::datetime::EPOCH.into())),
                ],
            );
            let mut oc = vec![("default_template".to_string(), "true".to_string())];
            if t.kind.is_linux() {
                oc.push(("linux_template".into(), "true".into()));
            }
            oc.push(("install-methods".into(), t.install_methods().into()));
            if t.disk > 0 {
                oc.push((
                    "disks".into(),
                    format!(
                        r#"<provision><disk device="0" size="{}" sr="" bootable="true" type="system"/></provision>"#,
                        t.disk
                    ),
                ));
            }
            oc.push(("base_template_name".into(), t.name.into()));
            oc.push(("mac_seed".into(), self.db.new_uuid()));
            let vcpus = if t.kind.is_windows() { 2 } else { 1 };
            let mem = t.min_memory * 2;
            let c = self.c.vm;
            self.make(
                c,
                vec![
                    ("allowed_operations", sset(TEMPLATE_OPS)),
                    ("name_label", Value::str(t.name)),
                    ("name_description", Value::str(t.description())),
                    ("power_state", Value::str("Halted")),
                    ("user_version", Value::Int(1)),
                    ("is_a_template", Value::Bool(true)),
                    ("is_default_template", Value::Bool(true)),
                    ("resident_on", null()),
                    ("affinity", null()),
                    ("memory_overhead", Value::Int(vm_overhead(mem, vcpus))),
                    ("memory_static_max", Value::Int(mem)),
                    ("memory_dynamic_max", Value::Int(mem)),
                    ("memory_dynamic_min", Value::Int(mem)),
                    ("memory_static_min", Value::Int(t.min_memory)),
                    ("VCPUs_params", empty_map()),
                    ("VCPUs_max", Value::Int(vcpus)),
                    ("VCPUs_at_startup", Value::Int(vcpus)),
                    ("actions_after_shutdown", Value::str("destroy")),
                    ("actions_after_reboot", Value::str("restart")),
                    ("actions_after_crash", Value::str("restart")),
                    ("HVM_boot_policy", Value::str("BIOS order")),
                    ("HVM_boot_params", t.boot_params()),
                    ("platform", t.platform()),
                    ("other_config", smap(&oc)),
                    ("domid", Value::Int(-1)),
                    ("metrics", Value::str(&metrics)),
                    ("guest_metrics", null()),
                    ("recommendations", Value::str(t.recommendations())),
                    ("has_vendor_device", Value::Bool(t.kind.is_windows())),
                    ("reference_label", Value::str(t.label)),
                    ("domain_type", Value::str("hvm")),
                    ("generation_id", Value::str("")),
                ],
            );
        }
    }

    fn demo_vms(&mut self, hosts: &mut [Host], nets: &Networks, st: &Storage) {
        let tools_iso = self.find_vdi(&st.tools, "guest-tools.iso");
        let netinst = self.find_vdi(&st.iso, "debian-12.5.0-amd64-netinst.iso");
        let disk = |label: &str, sr: &str, size: i64, used: i64, userdevice: &'static str, system: bool| DiskSpec {
            label: label.to_string(),
            sr: sr.to_string(),
            size,
            used,
            userdevice,
            system,
        };
        let web01_sr = hosts[0].local_sr.clone();
        self.vm(
            hosts,
            VmSpec {
                name: "web01",
                description: "Demo web server (nginx)",
                tpl: template("Debian Bookworm 12"),
                power: Power::Running(0),
                vcpus: 2,
                memory: 2 * GIB,
                disks: vec![disk("web01 0", &web01_sr, 10 * GIB, 10 * GIB + 24 * MIB, "0", true)],
                cd: Cd::Empty,
                networks: vec![nets.eth0.clone()],
                guest: Some(GuestSpec {
                    os: &[
                        ("name", "Debian GNU/Linux 12 (bookworm)"),
                        ("distro", "debian"),
                        ("major", "12"),
                        ("minor", "5"),
                        ("uname", "6.1.0-18-amd64"),
                    ],
                    ip: "192.0.2.101",
                }),
                full: true,
            },
        );
        self.vm(
            hosts,
            VmSpec {
                name: "db01",
                description: "Demo database server (PostgreSQL)",
                tpl: template("Rocky Linux 9"),
                power: Power::Running(1),
                vcpus: 4,
                memory: 8 * GIB,
                disks: vec![
                    disk("db01 0", &st.nfs, 20 * GIB, 6_871_947_264, "0", true),
                    disk("db01 data", &st.nfs, 100 * GIB, 44_023_414_784, "1", false),
                ],
                cd: Cd::Iso(tools_iso),
                networks: vec![nets.eth0.clone(), nets.private.clone()],
                guest: Some(GuestSpec {
                    os: &[
                        ("name", "Rocky Linux 9.4 (Blue Onyx)"),
                        ("distro", "rocky"),
                        ("major", "9"),
                        ("minor", "4"),
                        ("uname", "5.14.0-427.13.1.el9_4.x86_64"),
                    ],
                    ip: "192.0.2.102",
                }),
                full: true,
            },
        );
        self.vm(
            hosts,
            VmSpec {
                name: "test-halted",
                description: "Halted test VM, waiting for its OS install",
                tpl: template("Debian Bookworm 12"),
                power: Power::Halted,
                vcpus: 1,
                memory: 2 * GIB,
                disks: vec![disk("test-halted 0", &st.nfs, 16 * GIB, 8_388_608, "0", true)],
                cd: Cd::Iso(netinst),
                networks: vec![nets.eth0.clone()],
                guest: None,
                full: true,
            },
        );
        self.vm(
            hosts,
            VmSpec {
                name: "build-suspended",
                description: "Suspended CI build runner",
                tpl: template("CentOS Stream 9"),
                power: Power::Suspended,
                vcpus: 2,
                memory: 4 * GIB,
                disks: vec![disk("build-suspended 0", &st.nfs, 30 * GIB, 9_663_676_416, "0", true)],
                cd: Cd::Empty,
                networks: vec![nets.eth1.clone()],
                guest: None,
                full: true,
            },
        );
    }

    fn extra_vms(&mut self, n: usize, hosts: &mut [Host], nets: &Networks, st: &Storage) {
        let tpl = template("Debian Bookworm 12");
        let mut running = 0usize;
        for i in 0..n {
            let name = format!("bench-vm-{:05}", i + 1);
            let mut power = Power::Halted;
            if i % 4 == 0 {
                let h = running % hosts.len();
                running += 1;
                if hosts[h].free >= BENCH_MEMORY + vm_overhead(BENCH_MEMORY, 1) {
                    power = Power::Running(h);
                }
            }
            let label = format!("{name} 0");
            self.vm(
                hosts,
                VmSpec {
                    name: &name,
                    description: "Benchmark VM",
                    tpl,
                    power,
                    vcpus: 1,
                    memory: BENCH_MEMORY,
                    disks: vec![DiskSpec {
                        label,
                        sr: st.nfs.clone(),
                        size: 10 * GIB,
                        used: 64 * MIB,
                        userdevice: "0",
                        system: true,
                    }],
                    cd: Cd::None,
                    networks: vec![nets.eth0.clone()],
                    guest: None,
                    full: false,
                },
            );
        }
    }

    fn find_vdi(&self, sr: &str, label: &str) -> String {
        let vdis = self.db.field(sr, "VDIs").and_then(Value::as_array).unwrap_or(&[]);
        vdis.iter()
            .filter_map(Value::as_str)
            .find(|v| self.db.field_str(v, "name_label") == label)
            .unwrap_or(NULL_REF)
            .to_string()
    }

    /// Creates a guest VM with its metrics, disks, CD drive, VIFs and (when running) console.
    fn vm(&mut self, hosts: &mut [Host], spec: VmSpec) -> String {
        let c = self.c;
        let t = spec.tpl;
        let overhead = vm_overhead(spec.memory, spec.vcpus);
        let (host, running) = match spec.power {
            Power::Running(h) => (Some(h), true),
            _ => (None, false),
        };
        let domid = match host {
            Some(h) => {
                let d = hosts[h].next_domid;
                hosts[h].next_domid += 1;
                hosts[h].free -= spec.memory + overhead;
                d
            }
            None => -1,
        };
        let resident_on = host.map(|h| hosts[h].r.clone()).unwrap_or_else(|| NULL_REF.to_string());

        // Metrics first: the VM record points at them.
        let state = if running { sset(&["running"]) } else { empty_set() };
        let vcpus_cpu = if running {
            Value::Struct((0..spec.vcpus).map(|i| (i.to_string(), Value::Int((domid * 3 + i) % HOST_CPUS))).collect())
        } else {
            Value::Struct(vec![])
        };
        let metrics = self.make(
            c.vm_metrics,
            vec![
                ("memory_actual", Value::Int(if running { spec.memory } else { 0 })),
                ("VCPUs_number", Value::Int(if running { spec.vcpus } else { 0 })),
                ("VCPUs_CPU", vcpus_cpu),
                ("VCPUs_params", empty_map()),
                ("VCPUs_flags", Value::Struct(vec![])),
                ("state", state),
                ("start_time", Value::DateTime(if running { BOOT_TIME } else { xenapi::datetime::EPOCH }.into())),
                ("install_time", Value::DateTime(INSTALL_TIME.into())),
                ("last_updated", Value::DateTime(LAST_UPDATED.into())),
                ("hvm", Value::Bool(running)),
                ("current_domain_type", Value::str(if running { "hvm" } else { "unspecified" })),
            ],
        );
        let guest_metrics = match (&spec.guest, running) {
            (Some(g), true) => self.make(
                c.vm_guest_metrics,
                vec![
                    ("os_version", smap(g.os)),
                    ("PV_drivers_version", smap(&[("major", "8"), ("minor", "4"), ("micro", "0"), ("build", "1")])),
                    ("PV_drivers_up_to_date", Value::Bool(true)),
                    ("networks", smap(&[("0/ip", g.ip), ("0/ipv4/0", g.ip), ("0/ipv6/0", "fe80::145e:ff:fe00:1")])),
                    (
                        "other",
                        smap(&[
                            ("feature-poweroff", "1"),
                            ("feature-reboot", "1"),
                            ("feature-suspend", "1"),
                            ("feature-vcpu-hotplug", "1"),
                            ("has-vendor-device", "0"),
                            ("platform-feature-multiprocessor-suspend", "1"),
                        ]),
                    ),
                    ("last_updated", Value::DateTime(LAST_UPDATED.into())),
                    ("other_config", empty_map()),
                    ("live", Value::Bool(true)),
                    ("can_use_hotplug_vbd", Value::str("yes")),
                    ("can_use_hotplug_vif", Value::str("yes")),
                    ("PV_drivers_detected", Value::Bool(true)),
                ],
            ),
            _ => NULL_REF.to_string(),
        };

        // The suspend image lives on the pool's suspend SR (the first disk's SR here).
        let suspend_vdi = match spec.power {
            Power::Suspended => {
                let sr = spec.disks.first().map(|d| d.sr.clone()).unwrap_or_default();
                let size = spec.memory + 4 * MIB;
                self.disk_vdi(&sr, &format!("Suspend image for {}", spec.name), size, size, "suspend", false, None)
            }
            _ => NULL_REF.to_string(),
        };
        let suspend_sr =
            if suspend_vdi != NULL_REF { self.db.string(&suspend_vdi, "SR") } else { NULL_REF.to_string() };

        let (power_state, ops) = match spec.power {
            Power::Running(_) => ("Running", VM_RUNNING_OPS),
            Power::Halted => ("Halted", VM_HALTED_OPS),
            Power::Suspended => ("Suspended", VM_SUSPENDED_OPS),
        };
        let mac_seed = self.db.new_uuid();
        let mut members = vec![
            ("allowed_operations", sset(ops)),
            ("name_label", Value::str(spec.name)),
            ("name_description", Value::str(spec.description)),
            ("power_state", Value::str(power_state)),
            ("user_version", Value::Int(1)),
            ("suspend_VDI", Value::str(&suspend_vdi)),
            ("resident_on", Value::str(&resident_on)),
            ("affinity", null()),
            ("memory_overhead", Value::Int(overhead)),
            ("memory_target", Value::Int(if running { spec.memory } else { 0 })),
            ("memory_static_max", Value::Int(spec.memory)),
            ("memory_dynamic_max", Value::Int(spec.memory)),
            ("memory_dynamic_min", Value::Int(spec.memory)),
            ("memory_static_min", Value::Int(t.min_memory.min(spec.memory))),
            ("VCPUs_params", empty_map()),
            ("VCPUs_max", Value::Int(spec.vcpus)),
            ("VCPUs_at_startup", Value::Int(spec.vcpus)),
            ("actions_after_shutdown", Value::str("destroy")),
            ("actions_after_reboot", Value::str("restart")),
            ("actions_after_crash", Value::str("restart")),
            ("HVM_boot_policy", Value::str("BIOS order")),
            ("HVM_boot_params", t.boot_params()),
            ("platform", t.platform()),
            ("other_config", t.instance_other_config(mac_seed)),
            ("domid", Value::Int(domid)),
            ("metrics", Value::str(&metrics)),
            ("guest_metrics", Value::str(&guest_metrics)),
            ("recommendations", Value::str(t.recommendations())),
            ("reference_label", Value::str(t.label)),
            ("domain_type", Value::str("hvm")),
            ("hardware_platform_version", Value::Int(2)),
            ("suspend_SR", Value::str(&suspend_sr)),
        ];
        if spec.full {
            members.push(("bios_strings", smap(GENERIC_BIOS_STRINGS)));
            members.push(("generation_id", Value::str("6520137465387463925:1832051466438107232")));
        }
        let vm = self.make(c.vm, members);

        // Disks.
        for d in &spec.disks {
            let attached_on = host.map(|h| hosts[h].r.clone());
            let vdi_type = if d.system { "system" } else { "user" };
            let vdi = self.disk_vdi(&d.sr, &d.label, d.size, d.used, vdi_type, running, attached_on.as_deref());
            self.vbd(&vm, &vdi, d.userdevice, d.system, "Disk", running);
        }
        match &spec.cd {
            Cd::None => {}
            Cd::Empty => {
                self.vbd(&vm, NULL_REF, "3", false, "CD", running);
            }
            Cd::Iso(vdi) => {
                self.vbd(&vm, vdi, "3", false, "CD", running);
            }
        }

        // Network.
        for (i, net) in spec.networks.iter().enumerate() {
            let mac = self.next_mac();
            let ops: &[&str] = if running { &["attach", "unplug"] } else { &["attach"] };
            self.make(
                c.vif,
                vec![
                    ("allowed_operations", sset(ops)),
                    ("device", Value::str(i.to_string())),
                    ("network", Value::str(net)),
                    ("VM", Value::str(&vm)),
                    ("MAC", Value::str(mac)),
                    ("MTU", Value::Int(1500)),
                    ("other_config", empty_map()),
                    ("currently_attached", Value::Bool(running)),
                    ("status_detail", Value::str("")),
                    ("runtime_properties", empty_map()),
                    ("qos_algorithm_params", empty_map()),
                    ("qos_supported_algorithms", sset(&["ratelimit"])),
                    ("MAC_autogenerated", Value::Bool(true)),
                ],
            );
        }

        if let Some(h) = host {
            let uuid = self.db.new_uuid();
            let location = format!("https://{}/console?uuid={uuid}", hosts[h].ip);
            self.make(
                c.console,
                vec![
                    ("uuid", Value::str(uuid)),
                    ("protocol", Value::str("rfb")),
                    ("location", Value::str(location)),
                    ("VM", Value::str(&vm)),
                    ("other_config", empty_map()),
                ],
            );
        }
        vm
    }

    /// A VHD disk on an lvm or nfs SR; `host` is where it is attached, if anywhere.
    #[allow(clippy::too_many_arguments)]
    fn disk_vdi(
        &mut self,
        sr: &str,
        label: &str,
        size: i64,
        used: i64,
        vdi_type: &str,
        in_use: bool,
        host: Option<&str>,
    ) -> String {
        let uuid = self.db.new_uuid();
        let mut sm_config = vec![("vdi_type".to_string(), "vhd".to_string())];
        if let Some(h) = host {
            sm_config.push((format!("host_{h}"), "RW".to_string()));
        }
        let location = uuid.clone();
        let ops = if in_use { VDI_IN_USE_OPS } else { VDI_IDLE_OPS };
        let c = self.c.vdi;
        self.make(
            c,
            vec![
                ("uuid", Value::str(uuid)),
                ("name_label", Value::str(label)),
                ("name_description", Value::str("")),
                ("allowed_operations", sset(ops)),
                ("SR", Value::str(sr)),
                ("virtual_size", Value::Int(size)),
                ("physical_utilisation", Value::Int(used)),
                ("type", Value::str(vdi_type)),
                ("sharable", Value::Bool(false)),
                ("read_only", Value::Bool(false)),
                ("other_config", empty_map()),
                ("storage_lock", Value::Bool(false)),
                ("location", Value::str(location)),
                ("managed", Value::Bool(true)),
                ("missing", Value::Bool(false)),
                ("parent", null()),
                ("sm_config", smap(&sm_config)),
                ("on_boot", Value::str("persist")),
            ],
        )
    }

    fn vbd(&mut self, vm: &str, vdi: &str, userdevice: &str, bootable: bool, ty: &str, attached: bool) {
        let cd = ty == "CD";
        let empty = vdi == NULL_REF;
        let ops: Vec<&str> = match (attached, cd, empty) {
            (true, false, _) => vec!["attach", "unplug", "unplug_force"],
            (true, true, true) => vec!["attach", "insert"],
            (true, true, false) => vec!["attach", "eject"],
            (false, true, true) => vec!["attach", "insert"],
            (false, true, false) => vec!["attach", "eject"],
            (false, false, _) => vec!["attach"],
        };
        let other_config = if cd { empty_map() } else { smap(&[("owner", "true")]) };
        let c = self.c.vbd;
        self.make(
            c,
            vec![
                ("allowed_operations", sset(&ops)),
                ("VM", Value::str(vm)),
                ("VDI", Value::str(vdi)),
                ("device", Value::str(disk_device(userdevice))),
                ("userdevice", Value::str(userdevice)),
                ("bootable", Value::Bool(bootable)),
                ("mode", Value::str(if cd { "RO" } else { "RW" })),
                ("type", Value::str(ty)),
                ("unpluggable", Value::Bool(true)),
                ("storage_lock", Value::Bool(false)),
                ("empty", Value::Bool(empty)),
                ("other_config", other_config),
                ("currently_attached", Value::Bool(attached)),
                ("status_code", Value::Int(0)),
                ("status_detail", Value::str("")),
                ("runtime_properties", empty_map()),
                ("qos_algorithm_type", Value::str("")),
                ("qos_algorithm_params", empty_map()),
                ("qos_supported_algorithms", sset(&["ionice"])),
            ],
        );
    }

    // --- totals -------------------------------------------------------------

    fn finish(&mut self, hosts: &[Host]) {
        // SR usage: sums over each SR's VDIs.
        let mut usage: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let cls = self.db.class(self.c.vdi);
        let pos = |name: &str| cls.field_pos(name).unwrap_or_else(|| panic!("VDI.{name}"));
        let (sr_pos, virt_pos, phys_pos) = (pos("SR"), pos("virtual_size"), pos("physical_utilisation"));
        for (_, o) in self.db.iter(self.c.vdi) {
            let sr = o.fields[sr_pos].as_str().unwrap_or("").to_string();
            let virt = o.fields[virt_pos].as_int().unwrap_or(0);
            let phys = o.fields[phys_pos].as_int().unwrap_or(0);
            let e = usage.entry(sr).or_default();
            e.0 += virt;
            e.1 += phys;
        }
        let srs: Vec<String> = self.db.iter(self.c.sr).map(|(r, _)| r.clone()).collect();
        for sr in srs {
            let (virt, phys) = usage.get(&sr).copied().unwrap_or((0, 0));
            self.db.set_named(&sr, "virtual_allocation", Value::Int(virt));
            self.db.set_named(&sr, "physical_utilisation", Value::Int(phys));
            // Removable media SRs are as big as what is in them.
            let size = self.db.int(&sr, "physical_size");
            if size < phys {
                self.db.set_named(&sr, "physical_size", Value::Int(phys));
            }
        }
        for host in hosts {
            let free = host_memory_free(self.db, &host.r);
            debug_assert_eq!(free, host.free, "{}", host.name);
            let metrics = self.db.string(&host.r, "metrics");
            self.db.set_named(&metrics, "memory_free", Value::Int(free));
        }
    }
}

fn software_version(hostname: &str) -> Value {
    let (major, minor) = crate::xmldb::SCHEMA_VERSION;
    let schema = format!("{major}.{minor}");
    smap(&[
        ("product_version", "8.3.0"),
        ("product_version_text", "8.3"),
        ("product_version_text_short", "8.3"),
        ("platform_name", "XCP"),
        ("platform_version", "3.4.0"),
        ("product_brand", "XCP-ng"),
        ("build_number", "cloud"),
        ("git_id", "0"),
        ("hostname", hostname),
        ("date", "2024-10-02"),
        ("dbv", "2024.0925"),
        ("is_preview_release", "false"),
        ("xapi", "24.19"),
        ("xapi_build", "24.19.2"),
        ("xen", "4.17.5-3"),
        ("linux", "4.19.0+1"),
        ("xencenter_min", "2.21"),
        ("xencenter_max", "2.21"),
        ("network_backend", "openvswitch"),
        ("db_schema", &schema),
    ])
}

fn host_cpu_info() -> Value {
    smap(&[
        ("cpu_count", "16"),
        ("socket_count", "1"),
        ("threads_per_core", "2"),
        ("vendor", CPU_VENDOR),
        ("speed", "2399.998"),
        ("modelname", CPU_MODEL),
        ("family", "6"),
        ("model", "106"),
        ("stepping", "6"),
        ("flags", CPU_FLAGS),
        ("features_pv", CPU_FEATURES_PV),
        ("features_hvm", CPU_FEATURES_HVM),
        ("features_pv_host", CPU_FEATURES_PV),
        ("features_hvm_host", CPU_FEATURES_HVM),
    ])
}

fn license_params() -> Value {
    smap(&[
        ("sku_type", "xcp-ng"),
        ("sku_marketing_name", "XCP-ng"),
        ("expiry", "20380119T03:14:07Z"),
        ("restrict_vswitch_controller", "false"),
        ("restrict_lab", "false"),
        ("restrict_stage", "false"),
        ("restrict_storagelink", "false"),
        ("restrict_storagelink_site_recovery", "false"),
        ("restrict_web_selfservice", "true"),
        ("restrict_web_selfservice_manager", "true"),
        ("restrict_hotfix_apply", "false"),
        ("restrict_export_resource_data", "false"),
        ("restrict_read_caching", "false"),
        ("restrict_cifs", "false"),
        ("restrict_health_check", "false"),
        ("restrict_xcm", "false"),
        ("restrict_vm_memory_introspection", "false"),
        ("restrict_batch_hotfix_apply", "false"),
        ("restrict_management_on_vlan", "false"),
        ("restrict_ws_proxy", "false"),
        ("restrict_vlan", "false"),
        ("restrict_qos", "false"),
        ("restrict_pool_attached_storage", "false"),
        ("restrict_netapp", "false"),
        ("restrict_equalogic", "false"),
        ("restrict_pooling", "false"),
        ("enable_xha", "true"),
        ("restrict_marathon", "false"),
        ("restrict_email_alerting", "false"),
        ("restrict_historical_performance", "false"),
        ("restrict_wlb", "false"),
        ("restrict_rbac", "false"),
        ("restrict_dmc", "false"),
        ("restrict_checkpoint", "false"),
        ("restrict_cpu_masking", "false"),
        ("restrict_connection", "false"),
        ("platform_filter", "false"),
        ("regular_nag_dialog", "false"),
        ("restrict_vmpr", "false"),
        ("restrict_vmss", "false"),
        ("restrict_intellicache", "false"),
        ("restrict_gpu", "false"),
        ("restrict_dr", "false"),
        ("restrict_vif_locking", "false"),
        ("restrict_storage_xen_motion", "false"),
        ("restrict_vgpu", "false"),
        ("restrict_integrated_gpu_passthrough", "false"),
        ("restrict_vss", "false"),
        ("restrict_guest_agent_auto_update", "false"),
        ("restrict_pci_device_for_auto_update", "false"),
        ("restrict_xen_motion", "false"),
        ("restrict_guest_ip_setting", "false"),
        ("restrict_ad", "false"),
        ("restrict_nested_virt", "false"),
        ("restrict_live_patching", "false"),
        ("restrict_set_vcpus_number_live", "false"),
        ("restrict_pvs_proxy", "false"),
        ("restrict_igmp_snooping", "false"),
        ("restrict_rpu", "false"),
        ("restrict_pool_size", "false"),
        ("restrict_cbt", "false"),
        ("restrict_usb_passthrough", "false"),
        ("restrict_network_sriov", "false"),
        ("restrict_corosync", "false"),
        ("restrict_zstd_export", "false"),
        ("restrict_pool_secret_rotation", "false"),
        ("restrict_certificate_verification", "false"),
        ("restrict_updates", "false"),
        ("restrict_internal_repo_access", "false"),
        ("restrict_vtpm", "false"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenapi::model::Type;

    fn seeded(extra_vms: usize) -> Db {
        let mut db = Db::new(42);
        seed(&mut db, &FixtureOptions { extra_vms, ..FixtureOptions::default() });
        db
    }

    fn set_of<'d>(db: &'d Db, r: &str, field: &str) -> Vec<&'d str> {
        db.field(r, field).and_then(Value::as_array).unwrap_or(&[]).iter().filter_map(Value::as_str).collect()
    }

    fn num(db: &Db, r: &str, field: &str) -> i64 {
        db.field(r, field).and_then(Value::as_int).unwrap_or(i64::MIN)
    }

    fn by_name(db: &Db, class_name: &str, label: &str) -> Vec<String> {
        db.all(class_name).into_iter().filter(|r| db.field_str(r, "name_label") == label).collect()
    }

    /// Guest VMs: neither templates nor control domains.
    fn guests(db: &Db) -> Vec<String> {
        db.all("VM").into_iter().filter(|r| !db.bool(r, "is_a_template") && !db.bool(r, "is_control_domain")).collect()
    }

    #[test]
    fn standard_pool_has_three_hosts_and_a_master() {
        let db = seeded(0);
        let hosts = db.all("host");
        assert_eq!(hosts.len(), 3);
        let names: Vec<&str> = hosts.iter().map(|h| db.field_str(h, "name_label")).collect();
        assert_eq!(names, ["xs-host-1", "xs-host-2", "xs-host-3"]);
        let pools = db.all("pool");
        assert_eq!(pools.len(), 1);
        assert_eq!(db.field_str(&pools[0], "master"), hosts[0]);
        let nfs = db.field_str(&pools[0], "default_SR");
        assert_eq!(db.field_str(nfs, "type"), "nfs");
        for h in &hosts {
            assert_eq!(set_of(&db, h, "host_CPUs").len(), 16);
            let pifs = set_of(&db, h, "PIFs");
            let devices: Vec<&str> = pifs.iter().map(|p| db.field_str(p, "device")).collect();
            assert_eq!(devices, ["eth0", "eth1"]);
            let mgmt: Vec<&&str> = pifs.iter().filter(|p| db.bool(p, "management")).collect();
            assert_eq!(mgmt.len(), 1);
            assert_eq!(db.field_str(mgmt[0], "IP"), db.field_str(h, "address"));
            assert!(db.is(db.field_str(h, "metrics"), "host_metrics"));
        }
        let bridges: Vec<String> = db.all("network").iter().map(|n| db.string(n, "bridge")).collect();
        assert_eq!(bridges, ["xenbr0", "xenbr1", "xenapi", "xapi1"]);
        let sm_types: Vec<String> = db.all("SM").iter().map(|r| db.string(r, "type")).collect();
        for ty in ["lvm", "ext", "nfs", "iso", "udev", "lvmoiscsi", "lvmohba", "file", "smb", "dummy"] {
            assert!(sm_types.iter().any(|t| t == ty), "SM {ty}");
        }
    }

    #[test]
    fn templates_are_the_named_defaults() {
        let db = seeded(0);
        let templates: Vec<String> = db.all("VM").into_iter().filter(|r| db.bool(r, "is_a_template")).collect();
        assert!(templates.len() >= 20, "{} templates", templates.len());
        for name in [
            "Debian Bookworm 12",
            "Debian Bullseye 11",
            "Ubuntu Jammy Jellyfish 22.04",
            "Ubuntu Focal Fossa 20.04",
            "Ubuntu Noble Numbat 24.04",
            "CentOS Stream 9",
            "Rocky Linux 9",
            "AlmaLinux 9",
            "Red Hat Enterprise Linux 9",
            "Windows Server 2022 (64-bit)",
            "Windows 11",
            "Windows 10 (64-bit)",
            "Other install media",
            "Generic Linux UEFI",
        ] {
            let found = by_name(&db, "VM", name);
            assert_eq!(found.len(), 1, "{name}");
            let t = &found[0];
            assert!(db.bool(t, "is_a_template") && db.bool(t, "is_default_template"), "{name}");
            assert_eq!(db.field_str(t, "power_state"), "Halted");
            let oc = db.field(t, "other_config").unwrap();
            assert_eq!(oc.get("default_template").and_then(Value::as_str), Some("true"));
            assert!(oc.get("install-methods").is_some(), "{name}");
            let disks = oc.get("disks").and_then(Value::as_str);
            if name == "Other install media" {
                assert!(disks.is_none());
            } else {
                assert!(disks.unwrap().starts_with("<provision><disk device=\"0\""), "{name}");
            }
            assert!(db.field_str(t, "recommendations").starts_with("<restrictions>"));
        }
        let debian = &by_name(&db, "VM", "Debian Bookworm 12")[0];
        assert_eq!(num(&db, debian, "memory_static_max"), 2 * GIB);
        assert_eq!(db.field_str(debian, "reference_label"), "debian-12");
    }

    #[test]
    fn every_host_has_a_resident_control_domain() {
        let db = seeded(0);
        for h in db.all("host") {
            let dom0 = db.field_str(&h, "control_domain");
            assert!(db.bool(dom0, "is_control_domain"));
            assert_eq!(db.field_str(dom0, "resident_on"), h);
            assert_eq!(db.field_str(dom0, "power_state"), "Running");
            assert_eq!(num(&db, dom0, "domid"), 0);
            assert!(set_of(&db, &h, "resident_VMs").contains(&dom0));
            let label = format!("Control domain on host: {}", db.field_str(&h, "name_label"));
            assert_eq!(db.field_str(dom0, "name_label"), label);
            assert!(db.is(db.field_str(dom0, "metrics"), "VM_metrics"));
        }
        let dom0s = db.all("VM").into_iter().filter(|r| db.bool(r, "is_control_domain")).count();
        assert_eq!(dom0s, 3);
    }

    #[test]
    fn pbds_link_live_srs_and_hosts() {
        let db = seeded(0);
        let (sr_c, host_c) = (db.cls("SR"), db.cls("host"));
        for pbd in db.all("PBD") {
            let (sr, host) = (db.field_str(&pbd, "SR"), db.field_str(&pbd, "host"));
            assert!(db.is_a(sr, sr_c) && db.is_a(host, host_c), "{pbd}");
            assert!(set_of(&db, sr, "PBDs").contains(&pbd.as_str()));
            assert!(set_of(&db, host, "PBDs").contains(&pbd.as_str()));
            assert!(db.bool(&pbd, "currently_attached"));
        }
        for sr in db.all("SR") {
            let pbds = set_of(&db, &sr, "PBDs");
            let expected = if db.bool(&sr, "shared") { 3 } else { 1 };
            assert_eq!(pbds.len(), expected, "{}", db.field_str(&sr, "name_label"));
            let hosts: std::collections::BTreeSet<&str> = pbds.iter().map(|p| db.field_str(p, "host")).collect();
            assert_eq!(hosts.len(), expected);
        }
        assert_eq!(by_name(&db, "SR", "Local storage").len(), 3);
        assert_eq!(by_name(&db, "SR", "DVD drives").len(), 3);
        let tools = &by_name(&db, "SR", "XCP-ng Tools")[0];
        assert!(db.bool(tools, "is_tools_sr"));
        let tools_vdis = set_of(&db, tools, "VDIs");
        assert_eq!(tools_vdis.len(), 1);
        assert!(db.bool(tools_vdis[0], "is_tools_iso"));
        let iso = &by_name(&db, "SR", "ISO library")[0];
        assert!(set_of(&db, iso, "VDIs").len() >= 4);
        for h in db.all("host") {
            let local = db.field_str(&h, "suspend_image_sr");
            assert_eq!(db.field_str(local, "name_label"), "Local storage");
            let pbd = set_of(&db, local, "PBDs")[0];
            assert_eq!(db.field_str(pbd, "host"), h);
        }
    }

    #[test]
    fn running_vms_are_listed_by_their_host() {
        let db = seeded(40);
        let mut running = 0;
        for vm in db.all("VM") {
            let host = db.field_str(&vm, "resident_on");
            if db.field_str(&vm, "power_state") == "Running" {
                running += 1;
                assert!(set_of(&db, host, "resident_VMs").contains(&vm.as_str()));
                assert!(num(&db, &vm, "domid") >= 0);
                assert!(db.field(db.field_str(&vm, "metrics"), "memory_actual").and_then(Value::as_int) > Some(0));
                for vbd in set_of(&db, &vm, "VBDs") {
                    assert!(db.bool(vbd, "currently_attached"));
                }
                assert!(!set_of(&db, &vm, "consoles").is_empty());
            } else {
                assert_eq!(host, NULL_REF, "{}", db.field_str(&vm, "name_label"));
                assert_eq!(num(&db, &vm, "domid"), -1);
                for vbd in set_of(&db, &vm, "VBDs") {
                    assert!(!db.bool(vbd, "currently_attached"));
                }
            }
        }
        assert_eq!(running, 3 + 2 + 10);
        for h in db.all("host") {
            for vm in set_of(&db, &h, "resident_VMs") {
                assert_eq!(db.field_str(vm, "resident_on"), h);
                assert_eq!(db.field_str(vm, "power_state"), "Running");
            }
        }
        let web01 = &by_name(&db, "VM", "web01")[0];
        assert_eq!(db.field_str(web01, "resident_on"), db.all("host")[0]);
        let gm = db.field_str(web01, "guest_metrics");
        let os = db.field(gm, "os_version").unwrap();
        assert_eq!(os.get("distro").and_then(Value::as_str), Some("debian"));
        let suspended = &by_name(&db, "VM", "build-suspended")[0];
        assert_eq!(db.field_str(suspended, "power_state"), "Suspended");
        assert_eq!(db.field_str(db.field_str(suspended, "suspend_VDI"), "type"), "suspend");
    }

    #[test]
    fn seeding_is_deterministic() {
        let (a, b) = (seeded(25), seeded(25));
        for c in 0..a.schema.classes.len() {
            let ra: Vec<(&String, &Vec<Value>)> = a.iter(c).map(|(r, o)| (r, &o.fields)).collect();
            let rb: Vec<(&String, &Vec<Value>)> = b.iter(c).map(|(r, o)| (r, &o.fields)).collect();
            assert_eq!(ra, rb, "{}", a.class(c).name());
        }
        let uuids = |db: &Db| db.all("VM").iter().map(|r| db.string(r, "uuid")).collect::<Vec<_>>();
        assert_eq!(uuids(&a), uuids(&b));
        assert_ne!(
            uuids(&a),
            uuids(&{
                let mut other = Db::new(43);
                seed(&mut other, &FixtureOptions { extra_vms: 25, ..FixtureOptions::default() });
                other
            })
        );
    }

    #[test]
    fn vbd_vdi_sr_links_are_consistent() {
        let db = seeded(10);
        let vdi_c = db.cls("VDI");
        for vbd in db.all("VBD") {
            let vm = db.field_str(&vbd, "VM");
            assert!(set_of(&db, vm, "VBDs").contains(&vbd.as_str()));
            let vdi = db.field_str(&vbd, "VDI");
            if vdi == NULL_REF {
                assert!(db.bool(&vbd, "empty"));
                assert_eq!(db.field_str(&vbd, "type"), "CD");
                continue;
            }
            assert!(db.is_a(vdi, vdi_c));
            assert!(set_of(&db, vdi, "VBDs").contains(&vbd.as_str()));
            let sr = db.field_str(vdi, "SR");
            assert!(set_of(&db, sr, "VDIs").contains(&vdi));
            if db.field_str(&vbd, "type") == "Disk" {
                assert_eq!(db.field_str(&vbd, "mode"), "RW");
                let oc = db.field(&vbd, "other_config").unwrap();
                assert_eq!(oc.get("owner").and_then(Value::as_str), Some("true"));
                // Disks of running VMs live on SRs their host can see.
                let host = db.field_str(vm, "resident_on");
                if host != NULL_REF {
                    assert!(set_of(&db, sr, "PBDs").iter().any(|p| db.field_str(p, "host") == host));
                }
            }
        }
        for vdi in db.all("VDI") {
            assert!(db.is(db.field_str(&vdi, "SR"), "SR"));
        }
        for vif in db.all("VIF") {
            assert!(set_of(&db, db.field_str(&vif, "VM"), "VIFs").contains(&vif.as_str()));
            assert!(set_of(&db, db.field_str(&vif, "network"), "VIFs").contains(&vif.as_str()));
        }
        let macs: std::collections::BTreeSet<String> = db.all("VIF").iter().map(|v| db.string(v, "MAC")).collect();
        assert_eq!(macs.len(), db.count(db.cls("VIF")));
    }

    #[test]
    fn memory_and_storage_totals_are_consistent() {
        let db = seeded(1200);
        for h in db.all("host") {
            let metrics = db.field_str(&h, "metrics");
            let free = num(&db, metrics, "memory_free");
            assert_eq!(free, host_memory_free(&db, &h));
            assert!((0..HOST_MEMORY).contains(&free));
        }
        let vdis = db.all("VDI");
        for sr in db.all("SR") {
            let mine: Vec<&String> = vdis.iter().filter(|v| db.field_str(v, "SR") == sr).collect();
            let virt: i64 = mine.iter().map(|v| num(&db, v, "virtual_size")).sum();
            let phys: i64 = mine.iter().map(|v| num(&db, v, "physical_utilisation")).sum();
            assert_eq!(num(&db, &sr, "virtual_allocation"), virt);
            assert_eq!(num(&db, &sr, "physical_utilisation"), phys);
            assert!(phys <= num(&db, &sr, "physical_size"), "{}", db.field_str(&sr, "name_label"));
        }
    }

    #[test]
    fn extra_vms_adds_exactly_n() {
        let base = seeded(0);
        let more = seeded(2000);
        assert_eq!(guests(&more).len(), guests(&base).len() + 2000);
        for cls in ["VDI", "VBD", "VIF"] {
            assert_eq!(more.count(more.cls(cls)), base.count(base.cls(cls)) + 2000, "{cls}");
        }
        let bench = by_name(&more, "VM", "bench-vm-02000");
        assert_eq!(bench.len(), 1);
        assert_eq!(set_of(&more, &bench[0], "VBDs").len(), 1);
        assert_eq!(set_of(&more, &bench[0], "VIFs").len(), 1);
        let running = guests(&more).iter().filter(|r| more.field_str(r, "power_state") == "Running").count();
        assert_eq!(running, 2 + 500);
    }

    #[test]
    fn extra_vms_stop_running_when_hosts_are_full() {
        let db = seeded(4000);
        for h in db.all("host") {
            assert!(host_memory_free(&db, &h) >= 0);
        }
        let running = guests(&db).iter().filter(|r| db.field_str(r, "power_state") == "Running").count();
        assert!(running > 600 && running < 1000, "{running}");
    }

    /// Checks a value against its datamodel type: exact variant, enum
    /// membership, and refs naming live objects of the right class.
    fn check(db: &Db, ty: &Type, v: &Value) -> Result<(), String> {
        let bad = || Err(format!("{v:?} is not a {ty:?}"));
        match (ty, v) {
            (Type::String | Type::Void, Value::String(_)) => Ok(()),
            (Type::Int, Value::Int(_)) | (Type::Float, Value::Float(_)) | (Type::Bool, Value::Bool(_)) => Ok(()),
            (Type::DateTime, Value::DateTime(d)) if d.len() == 18 && d.ends_with('Z') => Ok(()),
            (Type::Enum(e), Value::String(x)) => {
                let def = db.schema.enum_def(e).ok_or(format!("no enum {e}"))?;
                if def.values.contains(&x.as_str()) {
                    Ok(())
                } else {
                    Err(format!("{x:?} is not in enum {e}"))
                }
            }
            (Type::Ref(c), Value::String(r)) => match db.get(r) {
                _ if r == NULL_REF => Ok(()),
                Some((ci, _)) if db.class(ci).name() == c => Ok(()),
                _ => Err(format!("{r} is not a live {c}")),
            },
            (Type::Set(inner), Value::Array(items)) => items.iter().try_for_each(|x| check(db, inner, x)),
            (Type::Option(_), Value::Array(items)) if items.len() <= 1 => Ok(()),
            (Type::Map(k, val), Value::Struct(members)) => members.iter().try_for_each(|(key, x)| {
                match &**k {
                    Type::Int => key.parse::<i64>().map(drop).map_err(|_| format!("bad int key {key}"))?,
                    other => check(db, other, &Value::String(key.clone()))?,
                }
                check(db, val, x)
            }),
            (Type::Record(_), Value::Struct(_)) => Ok(()),
            _ => bad(),
        }
    }

    #[test]
    fn every_field_has_its_datamodel_type() {
        let db = seeded(8);
        for c in 0..db.schema.classes.len() {
            let cls = db.class(c);
            for (r, o) in db.iter(c) {
                assert_eq!(o.fields.len(), cls.fields.len());
                for (f, v) in cls.fields.iter().zip(&o.fields) {
                    if let Err(e) = check(&db, &f.ty, v) {
                        panic!("{}.{} of {r}: {e}", cls.name(), f.name());
                    }
                }
            }
        }
    }

    fn all_fields_typed_and_live(db: &Db) {
        for c in 0..db.schema.classes.len() {
            let cls = db.class(c);
            for (r, o) in db.iter(c) {
                for (f, v) in cls.fields.iter().zip(&o.fields) {
                    if let Err(e) = check(db, &f.ty, v) {
                        panic!("{}.{} of {r}: {e}", cls.name(), f.name());
                    }
                }
            }
        }
    }

    #[test]
    fn a_standalone_pool_is_one_fresh_host() {
        let mut db = Db::new(7);
        seed_standalone(&mut db, "lone", "127.0.2.11", Some("0f0f0f0f-0000-4000-8000-000000000001"));
        all_fields_typed_and_live(&db);
        let hosts = db.all("host");
        assert_eq!(hosts.len(), 1);
        let h = &hosts[0];
        assert_eq!(db.field_str(h, "address"), "127.0.2.11");
        assert_eq!(db.field_str(h, "uuid"), "0f0f0f0f-0000-4000-8000-000000000001");
        assert_eq!(crate::rules::pool::master(&db), *h);
        let metrics = db.field_str(h, "metrics");
        assert_eq!(num(&db, metrics, "memory_free"), host_memory_free(&db, h));
        assert!(db.all("SR").iter().all(|sr| !db.bool(sr, "shared") || db.bool(sr, "is_tools_sr")));
        assert!(guests(&db).is_empty());
        assert_eq!(db.all("VM").iter().filter(|vm| db.bool(vm, "is_control_domain")).count(), 1);
    }

    #[test]
    fn a_host_moves_between_databases_without_dangling_refs() {
        use crate::rules::membership::{host_objects, transplant};
        let mut pool = seeded(0);
        let mut lone = Db::new(99);
        seed_standalone(&mut lone, "lone", "127.0.2.11", None);
        let host = lone.all("host")[0].clone();
        let objects = host_objects(&lone, &host, &[]);
        transplant(&mut lone, &mut pool, &objects);
        all_fields_typed_and_live(&pool);
        assert!(lone.get(&host).is_none());
        assert_eq!(pool.all("host").len(), HOST_COUNT + 1);
        // Its PIFs joined the pool's networks (by bridge), listed both ways.
        for pif in pool.strings(&host, "PIFs") {
            let net = pool.string(&pif, "network");
            assert!(pool.strings(&net, "PIFs").contains(&pif));
        }
        assert_eq!(pool.all("network").len(), seeded(0).all("network").len());
    }

    /// Not a test: `cargo test --release -p xapi-sim seed_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn seed_timing() {
        for n in [0, 10_000] {
            let t = std::time::Instant::now();
            let db = seeded(n);
            let objects: usize = (0..db.schema.classes.len()).map(|c| db.count(c)).sum();
            println!("extra_vms={n}: {objects} objects in {:?}", t.elapsed());
        }
    }
}
