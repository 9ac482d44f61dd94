//! What the SM drivers decide by SR type: the device_config keys each needs
//! (and the `SR_BACKEND_FAILURE_<n>` codes of `XE_SR_ERRORCODES.xml` they
//! raise), how each kind of storage allocates a disk, and how big disks are.

use crate::db::{ApiResult, Db, Failure};
use crate::rules::{GIB, MIB, TIB};

/// VHD data block: virtual sizes are whole blocks.
const VHD_BLOCK: i64 = 2 * MIB;
/// LVM extent: logical volumes are whole extents.
const LVM_EXTENT: i64 = 4 * MIB;
/// vhdutil.MAX_VHD_SIZE.
pub const MAX_VHD_SIZE: i64 = 2040 * GIB;
/// vhdutil.MAX_CHAIN_SIZE.
pub const MAX_CHAIN: usize = 30;

/// How an SR type stores a disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Alloc {
    /// VHD on logical volumes: leaves take their full size (LVHD, thick).
    Lvhd,
    /// VHD files: only written blocks take space.
    VhdFile,
    /// Plain files or devices of exactly the requested size (ISO, udev).
    Exact,
    /// Nothing is stored (the dummy SR).
    Nothing,
}

/// One SR type's rules.
pub struct Kind {
    pub ty: &'static str,
    /// device_config keys that must be present: (key, error code, description).
    pub required: &'static [(&'static str, u32, &'static str)],
    pub alloc: Alloc,
    /// Size of a new SR when SR.create is given none.
    pub default_size: i64,
}

pub const DEVICE: (&str, u32, &str) = ("device", 90, "The request is missing the device parameter");
pub const LOCATION: (&str, u32, &str) = ("location", 94, "The request is missing the location parameter");
pub const SERVER: (&str, u32, &str) = ("server", 102, "The request is missing the server parameter");
pub const SERVERPATH: (&str, u32, &str) = ("serverpath", 101, "The request is missing the serverpath parameter");
pub const TARGET: (&str, u32, &str) = ("target", 95, "The request is missing the target parameter");
pub const TARGET_IQN: (&str, u32, &str) =
    ("targetIQN", 96, "The request is missing or has an incorrect target IQN parameter");
pub const SCSI_ID: (&str, u32, &str) = ("SCSIid", 107, "The SCSIid parameter is missing or incorrect");
pub const ISO_LOCATION: (&str, u32, &str) =
    ("location", 220, "'Location' parameter must be specified in Device Configuration");

const KINDS: &[Kind] = &[
    Kind { ty: "lvm", required: &[DEVICE], alloc: Alloc::Lvhd, default_size: 500 * GIB },
    Kind { ty: "ext", required: &[DEVICE], alloc: Alloc::VhdFile, default_size: 500 * GIB },
    Kind { ty: "nfs", required: &[SERVER, SERVERPATH], alloc: Alloc::VhdFile, default_size: 2 * TIB },
    Kind { ty: "smb", required: &[SERVER], alloc: Alloc::VhdFile, default_size: 2 * TIB },
    Kind { ty: "file", required: &[LOCATION], alloc: Alloc::VhdFile, default_size: 100 * GIB },
    Kind { ty: "iso", required: &[ISO_LOCATION], alloc: Alloc::Exact, default_size: TIB },
    Kind { ty: "udev", required: &[LOCATION], alloc: Alloc::Exact, default_size: 0 },
    Kind { ty: "lvmoiscsi", required: &[TARGET, TARGET_IQN, SCSI_ID], alloc: Alloc::Lvhd, default_size: TIB },
    Kind { ty: "lvmohba", required: &[SCSI_ID], alloc: Alloc::Lvhd, default_size: TIB },
    Kind { ty: "dummy", required: &[], alloc: Alloc::Nothing, default_size: TIB },
];

/// Types known to the pool but not to this table behave like plain VHD files.
const GENERIC: Kind = Kind { ty: "", required: &[], alloc: Alloc::VhdFile, default_size: TIB };

/// The rules of an SR type.
pub fn kind(ty: &str) -> &'static Kind {
    KINDS.iter().find(|k| k.ty == ty).unwrap_or(&GENERIC)
}

/// The rules that apply to an existing SR: LVHD SRs may be thin-provisioned.
pub fn alloc_of(db: &Db, sr: &str) -> Alloc {
    let k = kind(db.field_str(sr, "type"));
    if k.alloc == Alloc::Lvhd && db.map_get(sr, "sm_config", "allocation").as_deref() == Some("thin") {
        return Alloc::VhdFile;
    }
    k.alloc
}

/// An SM driver failure: `SR_BACKEND_FAILURE_<code>` ["", reason, stderr].
pub fn backend(code: u32, reason: &str, stderr: &str) -> Failure {
    Failure::new(&format!("SR_BACKEND_FAILURE_{code}"), ["", reason, stderr])
}

fn roundup(q: i64, n: i64) -> i64 {
    (n.max(0) + q - 1) / q * q
}

/// vhdutil.calcOverheadEmpty: footer, header, BAT and BATMAP.
fn overhead_empty(virt: i64) -> i64 {
    let size_mb = virt / MIB;
    let mut o = 3 * 1024 + (size_mb / 2) * 4;
    o = roundup(512, o);
    o += (size_mb / 2) / 8;
    roundup(4096, o)
}

/// vhdutil.calcOverheadBitmap: a sector bitmap per data block.
fn overhead_bitmap(virt: i64) -> i64 {
    (virt + VHD_BLOCK - 1) / VHD_BLOCK * 4096
}

/// The virtual size a driver gives a disk asked to be `size` bytes.
pub fn round_virtual(alloc: Alloc, size: i64) -> i64 {
    match alloc {
        Alloc::Lvhd | Alloc::VhdFile => roundup(VHD_BLOCK, size),
        Alloc::Exact | Alloc::Nothing => size,
    }
}

/// Checks a requested virtual size against the VHD limits.
pub fn check_size(alloc: Alloc, size: i64) -> ApiResult<()> {
    if size < 0 {
        return Err(backend(79, "VDI Invalid size [opterr=size must be positive]", ""));
    }
    if matches!(alloc, Alloc::Lvhd | Alloc::VhdFile) && size > MAX_VHD_SIZE {
        let why = format!("VDI Invalid size [opterr=VDI size must be <= {} MB]", MAX_VHD_SIZE / MIB);
        return Err(backend(79, &why, ""));
    }
    Ok(())
}

/// Space a writable leaf of `virt` bytes takes: LVHD leaves are inflated
/// to their full size, VHD files start with just their metadata.
pub fn leaf_size(alloc: Alloc, virt: i64) -> i64 {
    match alloc {
        Alloc::Lvhd => roundup(LVM_EXTENT, virt + overhead_empty(virt) + overhead_bitmap(virt)),
        Alloc::VhdFile => overhead_empty(virt),
        Alloc::Exact => virt,
        Alloc::Nothing => 0,
    }
}

/// Space a read-only snapshot leaf takes: LVHD deflates it to its metadata.
pub fn snapshot_leaf_size(alloc: Alloc, virt: i64) -> i64 {
    match alloc {
        Alloc::Lvhd => roundup(LVM_EXTENT, overhead_empty(virt)),
        other => leaf_size(other, virt),
    }
}

/// Space a disk takes after growing from `old_virt` to `new_virt` bytes.
pub fn resized_size(alloc: Alloc, old_virt: i64, new_virt: i64, old_phys: i64) -> i64 {
    match alloc {
        Alloc::Lvhd | Alloc::VhdFile => old_phys + leaf_size(alloc, new_virt) - leaf_size(alloc, old_virt),
        Alloc::Exact => new_virt,
        Alloc::Nothing => 0,
    }
}

/// Space a disk takes once `blocks` 2 MiB blocks of its own hold data: a
/// VHD file grows by each block and its sector bitmap; thick and plain
/// disks keep their size.
pub fn written_size(alloc: Alloc, virt: i64, blocks: i64) -> i64 {
    match alloc {
        Alloc::VhdFile => {
            let full = virt + overhead_empty(virt) + overhead_bitmap(virt);
            (overhead_empty(virt) + blocks.max(0) * (VHD_BLOCK + 4096)).min(full)
        }
        other => leaf_size(other, virt),
    }
}

/// Space a full copy of a disk with `data` bytes written takes.
pub fn copy_size(alloc: Alloc, virt: i64, data: i64) -> i64 {
    match alloc {
        Alloc::Lvhd => leaf_size(alloc, virt),
        Alloc::VhdFile => (overhead_empty(virt) + data).min(virt + overhead_empty(virt) + overhead_bitmap(virt)),
        Alloc::Exact => virt,
        Alloc::Nothing => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhd_sizes_round_like_the_drivers() {
        assert_eq!(round_virtual(Alloc::VhdFile, 1), 2 * MIB);
        assert_eq!(round_virtual(Alloc::Lvhd, 10 * GIB), 10 * GIB);
        assert_eq!(round_virtual(Alloc::Exact, 12345), 12345);
        // An empty 10 GiB VHD file: 3 KiB + a 20 KiB BAT, rounded to 4 KiB.
        assert_eq!(leaf_size(Alloc::VhdFile, 10 * GIB), 24 * 1024);
        // LVHD leaves are whole 4 MiB extents holding data plus metadata.
        let l = leaf_size(Alloc::Lvhd, 10 * GIB);
        assert!(l > 10 * GIB && l % (4 * MIB) == 0 && l - 10 * GIB <= 32 * MIB);
        assert_eq!(snapshot_leaf_size(Alloc::Lvhd, 10 * GIB), 4 * MIB);
        assert!(check_size(Alloc::VhdFile, 3 * TIB).is_err());
        // Written blocks count in VHD files only, never beyond a full disk.
        assert_eq!(written_size(Alloc::VhdFile, 10 * GIB, 0), 24 * 1024);
        assert_eq!(written_size(Alloc::VhdFile, 10 * GIB, 3), 24 * 1024 + 3 * (2 * MIB + 4096));
        assert_eq!(written_size(Alloc::VhdFile, 4 * MIB, 99), written_size(Alloc::VhdFile, 4 * MIB, 2));
        assert_eq!(written_size(Alloc::Lvhd, 10 * GIB, 3), leaf_size(Alloc::Lvhd, 10 * GIB));
        assert!(check_size(Alloc::Exact, 3 * TIB).is_ok());
    }
}
