//! What the SM drivers would do beyond sizes ([`crate::rules::sm`]): check a
//! device_config as they load, probe, and keep the "disks on the storage"
//! that outlive `SR.forget`/`VDI.forget`.

use crate::core::Core;
use crate::db::{ApiResult, Db, Failure};
use crate::record::Rec;
use crate::rules::sm::{backend, kind, SCSI_ID, SERVERPATH, TARGET_IQN};
use crate::rules::TIB;
use crate::values::{pairs, smap};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use xenapi::Value;

/// The SR types the pool has drivers for (its SM objects).
pub(crate) fn supported_types(db: &Db) -> Vec<String> {
    db.all("SM").iter().map(|r| db.string(r, "type")).collect()
}

/// Whether the SM driver of a type advertises a feature.
pub(crate) fn has_feature(db: &Db, ty: &str, feature: &str) -> bool {
    db.all("SM")
        .iter()
        .find(|r| db.field_str(r, "type") == ty)
        .and_then(|r| db.field(r, "features"))
        .is_some_and(|f| f.get(feature).is_some())
}

fn dc_get<'a>(dc: &'a [(String, String)], key: &str) -> Option<&'a str> {
    dc.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// What an iSCSI target reports on discovery, as the SM prints it.
fn iscsi_targets_xml(target: &str) -> String {
    format!(
        "<?xml version=\"1.0\" ?>\n<iscsi-target-iqns>\n\t<TGT>\n\t\t<Index>0</Index>\n\t\t<IPAddress>{target}</IPAddress>\
\n\t\t<TargetIQN>{}</TargetIQN>\n\t</TGT>\n</iscsi-target-iqns>\n",
        target_iqn(target)
    )
}

fn target_iqn(target: &str) -> String {
    format!("iqn.2024-12.com.example:storage.{}", target.replace(['.', ':'], "-"))
}

/// The SCSI id of the simulated LUN behind a target (or HBA).
fn lun_scsi_id(seed: &str) -> String {
    let h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("36001405{h:016x}")
}

fn luns_xml(seed: &str, wrapper: &str) -> String {
    format!(
        "<?xml version=\"1.0\" ?>\n<{wrapper}>\n\t<LUN>\n\t\t<vendor>LIO-ORG</vendor>\n\t\t<serial>{}</serial>\n\
\t\t<LUNid>0</LUNid>\n\t\t<size>{}</size>\n\t\t<SCSIid>{}</SCSIid>\n\t</LUN>\n</{wrapper}>\n",
        &lun_scsi_id(seed)[8..],
        TIB,
        lun_scsi_id(seed)
    )
}

/// Checks a device_config the way the driver's load/attach does.
pub(crate) fn check_device_config(ty: &str, dc: &[(String, String)]) -> ApiResult<()> {
    for (key, code, why) in kind(ty).required {
        if dc_get(dc, key).is_some() {
            continue;
        }
        let stderr = match (*key, dc_get(dc, "target")) {
            ("targetIQN", Some(t)) => iscsi_targets_xml(t),
            ("SCSIid", Some(t)) => luns_xml(t, "iscsi-target"),
            ("SCSIid", None) => luns_xml("hba", "Devlist"),
            _ => String::new(),
        };
        return Err(backend(*code, why, &stderr));
    }
    if ty == "lvmoiscsi" {
        if let Some(port) = dc_get(dc, "port") {
            if !port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)) {
                return Err(backend(142, "Incorrect value for iSCSI port, must be a number between 1 and 65535", ""));
            }
        }
    }
    if ty == "iso" {
        let loc = dc_get(dc, "location").unwrap_or("");
        let bad = match dc_get(dc, "type") {
            Some("nfs_iso") => !loc.contains(':'),
            Some("cifs") => !(loc.starts_with("//") || loc.starts_with("\\\\")),
            _ => false,
        };
        if bad {
            let why = "Incorrect Location string format. String must be in the format SERVER:PATH for NFS targets, \
or \\\\SERVER\\PATH for CIFS targets";
            return Err(backend(225, why, ""));
        }
    }
    Ok(())
}

// --- disks that outlive their records ----------------------------------------

/// A VDI as it sits on storage after its record is forgotten.
#[derive(Clone)]
pub(crate) struct StoredVdi {
    pub fields: Vec<Value>,
    /// uuid of the VDI it is a snapshot of, resolved again on rediscovery.
    pub snapshot_of: String,
}

/// An SR's on-storage identity and contents after `SR.forget`.
#[derive(Clone, Default)]
pub(crate) struct StoredSr {
    pub ty: String,
    pub name_label: String,
    pub name_description: String,
    pub device_config: Vec<(String, String)>,
    pub physical_size: i64,
    pub vdis: Vec<StoredVdi>,
}

type Stores = Vec<(Weak<Core>, HashMap<String, StoredSr>)>;

static STORES: Mutex<Stores> = Mutex::new(Vec::new());

/// Runs `f` on this simulator's storage contents, keyed by SR uuid.
pub(crate) fn with_store<T>(core: &Arc<Core>, f: impl FnOnce(&mut HashMap<String, StoredSr>) -> T) -> T {
    let mut stores = STORES.lock();
    stores.retain(|(w, _)| w.strong_count() > 0);
    let me = Arc::downgrade(core);
    let i = match stores.iter().position(|(w, _)| w.ptr_eq(&me)) {
        Some(i) => i,
        None => {
            stores.push((me, HashMap::new()));
            stores.len() - 1
        }
    };
    f(&mut stores[i].1)
}

/// A VDI record as stored: relation sets emptied, snapshot_of by uuid.
pub(crate) fn stored_vdi(db: &Db, vdi: &str) -> Option<StoredVdi> {
    let rec = Rec::of(db, vdi)?;
    let snapshot_of = db.string(rec.str("snapshot_of"), "uuid");
    Some(StoredVdi { fields: rec.fields, snapshot_of })
}

/// The device_config an SR's PBDs use (the first one found).
pub(crate) fn sr_device_config(db: &Db, sr: &str) -> Vec<(String, String)> {
    db.strings(sr, "PBDs").first().and_then(|p| db.field(p, "device_config")).map(pairs).unwrap_or_default()
}

/// Whether an SR with this device_config lives where a probe looks.
fn probe_matches(ty: &str, probe: &[(String, String)], dc: &[(String, String)]) -> bool {
    let same = |k: &str| dc_get(probe, k).is_some() && dc_get(probe, k) == dc_get(dc, k);
    match ty {
        "nfs" => same("server") && same("serverpath"),
        "smb" => same("server"),
        "lvm" | "ext" => same("device"),
        "file" | "iso" | "udev" => same("location"),
        "lvmoiscsi" | "lvmohba" => same("SCSIid"),
        _ => false,
    }
}

/// An SR a probe finds on storage.
pub(crate) struct FoundSr {
    pub uuid: String,
    pub name_label: String,
    pub name_description: String,
    pub total: i64,
    pub free: i64,
}

/// What a probe learns: the SRs where a complete device_config points, or
/// (when a key that discovery can fill in is missing) the driver's error
/// and the complete device_configs to choose from.
pub(crate) enum Probed {
    Srs(Vec<FoundSr>),
    Choices(Failure, Vec<Vec<(String, String)>>),
}

/// Probes storage with a device_config, as the type's driver would.
pub(crate) fn probe(core: &Arc<Core>, db: &Db, ty: &str, dc: &[(String, String)]) -> ApiResult<Probed> {
    if !has_feature(db, ty, "SR_PROBE") {
        return Err(Failure::new("UNIMPLEMENTED_IN_SM_BACKEND", ["sr_probe"]));
    }
    let with = |k: &str, v: &str| {
        let mut c: Vec<(String, String)> = dc.iter().filter(|(key, _)| key != k).cloned().collect();
        c.push((k.to_string(), v.to_string()));
        c
    };
    let target = dc_get(dc, "target");
    match ty {
        "nfs" if dc_get(dc, "server").is_some() && dc_get(dc, "serverpath").is_none() => {
            let server = dc_get(dc, "server").unwrap_or_default();
            let paths = nfs_exports(core, db, server);
            let xml = nfs_exports_xml(server, &paths);
            let choices = paths.iter().map(|p| with("serverpath", p)).collect();
            return Ok(Probed::Choices(backend(101, SERVERPATH.2, &xml), choices));
        }
        "lvmoiscsi" if target.is_some() && dc_get(dc, "targetIQN").is_none() => {
            let t = target.unwrap_or_default();
            let f = backend(TARGET_IQN.1, TARGET_IQN.2, &iscsi_targets_xml(t));
            return Ok(Probed::Choices(f, vec![with("targetIQN", &target_iqn(t))]));
        }
        "lvmoiscsi" if target.is_some() && dc_get(dc, "SCSIid").is_none() => {
            let t = target.unwrap_or_default();
            let f = backend(SCSI_ID.1, SCSI_ID.2, &luns_xml(t, "iscsi-target"));
            return Ok(Probed::Choices(f, vec![with("SCSIid", &lun_scsi_id(t))]));
        }
        "lvmohba" if dc_get(dc, "SCSIid").is_none() => {
            let f = backend(SCSI_ID.1, SCSI_ID.2, &luns_xml("hba", "Devlist"));
            return Ok(Probed::Choices(f, vec![with("SCSIid", &lun_scsi_id("hba"))]));
        }
        _ => {}
    }
    check_device_config(ty, dc)?;
    let mut found: Vec<FoundSr> = Vec::new();
    for sr in db.all("SR") {
        let here = db
            .strings(&sr, "PBDs")
            .iter()
            .any(|p| probe_matches(ty, dc, &db.field(p, "device_config").map(pairs).unwrap_or_default()));
        if db.field_str(&sr, "type") == ty && here {
            let total = db.int(&sr, "physical_size");
            found.push(FoundSr {
                uuid: db.string(&sr, "uuid"),
                name_label: db.string(&sr, "name_label"),
                name_description: db.string(&sr, "name_description"),
                total,
                free: (total - db.int(&sr, "physical_utilisation").max(0)).max(0),
            });
        }
    }
    let phys_pos = db.class(db.cls("VDI")).field_pos("physical_utilisation").expect("VDI.physical_utilisation");
    with_store(core, |store| {
        for (uuid, st) in store.iter() {
            if st.ty == ty && probe_matches(ty, dc, &st.device_config) && !found.iter().any(|f| &f.uuid == uuid) {
                let used: i64 = st.vdis.iter().filter_map(|v| v.fields[phys_pos].as_int()).sum();
                found.push(FoundSr {
                    uuid: uuid.clone(),
                    name_label: st.name_label.clone(),
                    name_description: st.name_description.clone(),
                    total: st.physical_size,
                    free: (st.physical_size - used).max(0),
                });
            }
        }
    });
    Ok(Probed::Srs(found))
}

/// `SR.probe`'s answer: the driver's SRlist XML.
pub(crate) fn probe_xml(probed: Probed) -> ApiResult<String> {
    match probed {
        Probed::Choices(f, _) => Err(f),
        Probed::Srs(found) => {
            let mut xml = String::from("<?xml version=\"1.0\" ?>\n<SRlist>\n");
            for sr in found {
                xml.push_str(&format!("\t<SR>\n\t\t<UUID>{}</UUID>\n\t</SR>\n", sr.uuid));
            }
            xml.push_str("</SRlist>\n");
            Ok(xml)
        }
    }
}

/// `SR.probe_ext`'s answer: probe_result records.
pub(crate) fn probe_records(probed: Probed, dc: &[(String, String)]) -> Value {
    let result = |config: &[(String, String)], complete: bool, sr: Option<&FoundSr>| {
        let stat = sr.map(|sr| {
            Value::Struct(vec![
                ("uuid".into(), Value::Array(vec![Value::str(&sr.uuid)])),
                ("name_label".into(), Value::str(&sr.name_label)),
                ("name_description".into(), Value::str(&sr.name_description)),
                ("free_space".into(), Value::Int(sr.free)),
                ("total_space".into(), Value::Int(sr.total)),
                ("clustered".into(), Value::Bool(false)),
                ("health".into(), Value::str("healthy")),
            ])
        });
        Value::Struct(vec![
            ("configuration".into(), smap(config)),
            ("complete".into(), Value::Bool(complete)),
            ("sr".into(), Value::Array(stat.into_iter().collect())),
            ("extra_info".into(), Value::Struct(Vec::new())),
        ])
    };
    match probed {
        Probed::Choices(_, configs) => Value::Array(configs.iter().map(|c| result(c, false, None)).collect()),
        Probed::Srs(found) if found.is_empty() => Value::Array(vec![result(dc, true, None)]),
        Probed::Srs(found) => Value::Array(found.iter().map(|sr| result(dc, true, Some(sr))).collect()),
    }
}

/// The exports an NFS server offers: the paths the pool already uses there.
fn nfs_exports(core: &Arc<Core>, db: &Db, server: &str) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    let add = |paths: &mut Vec<String>, p: String| {
        if !paths.contains(&p) {
            paths.push(p);
        }
    };
    for pbd in db.all("PBD") {
        let dc = db.field(&pbd, "device_config").map(pairs).unwrap_or_default();
        if dc_get(&dc, "server") == Some(server) {
            if let Some(p) = dc_get(&dc, "serverpath") {
                add(&mut paths, p.to_string());
            }
        }
        if let Some((host, path)) = dc_get(&dc, "location").and_then(|l| l.split_once(':')) {
            if host == server {
                add(&mut paths, path.to_string());
            }
        }
    }
    with_store(core, |store| {
        for st in store.values() {
            if dc_get(&st.device_config, "server") == Some(server) {
                if let Some(p) = dc_get(&st.device_config, "serverpath") {
                    add(&mut paths, p.to_string());
                }
            }
        }
    });
    if paths.is_empty() {
        add(&mut paths, "/export".to_string());
    }
    paths
}

/// The driver's XML list of NFS exports.
fn nfs_exports_xml(server: &str, paths: &[String]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" ?>\n<nfs-exports>\n");
    for p in paths {
        xml.push_str(&format!(
            "\t<Export>\n\t\t<Target>{server}</Target>\n\t\t<Path>{p}</Path>\n\t\t<Accesslist>*</Accesslist>\n\t</Export>\n"
        ));
    }
    xml.push_str("</nfs-exports>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_config_keys_fail_with_driver_codes() {
        let dc = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let e = check_device_config("nfs", &dc(&[("serverpath", "/x")])).unwrap_err();
        assert_eq!(e.0, vec!["SR_BACKEND_FAILURE_102", "", "The request is missing the server parameter", ""]);
        let e = check_device_config("nfs", &dc(&[("server", "a")])).unwrap_err();
        assert_eq!(e.code(), "SR_BACKEND_FAILURE_101");
        let e = check_device_config("lvmoiscsi", &dc(&[("target", "10.0.0.5")])).unwrap_err();
        assert_eq!(e.code(), "SR_BACKEND_FAILURE_96");
        assert!(e.0[3].contains("<TargetIQN>"));
        assert!(check_device_config("dummy", &[]).is_ok());
        assert!(check_device_config("lvm", &dc(&[("device", "/dev/sdb")])).is_ok());
    }
}
