//! `GET /host_backup` and `PUT /host_restore`: a backup of the control
//! domain of the host the request reached, and its restore (xapi runs its
//! `host-backup` and `host-restore` scripts under the caller's task).
//!
//! A simulated host's backup is a gzip-compressed tar of what the pool
//! records about it: `etc/xensource-inventory` (its uuid, its control
//! domain's, its version and management interface) and the pool database
//! as `var/lib/xcp/state.db`. A restore reads such an archive and checks
//! that it is a backup of this host, as the script's checks would; the
//! backup then waits on the host's backup partition for the installer,
//! which the simulator has not, so nothing else changes. A script failure
//! fails the task with BACKUP_SCRIPT_FAILED / RESTORE_SCRIPT_FAILED and the
//! script's log.

use super::context::{Context, Params};
use super::host_logs::archive;
use super::raw_vdi::local_host;
use super::xmldb::{read_exactly, Held};
use crate::core::Core;
use crate::db::{Db, Failure};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use std::io::Read;
use std::sync::Arc;
use xenapi::Value;

/// The largest backup a restore reads (it is held in memory).
const MAX_BACKUP: u64 = 1 << 30;

const INVENTORY: &str = "etc/xensource-inventory";

/// The routes of this module.
pub fn routes() -> Router<Arc<Core>> {
    Router::new().route("/host_backup", get(backup)).route("/host_restore", put(restore))
}

/// The host's `xensource-inventory`, from its record.
fn inventory(db: &Db, host: &str) -> String {
    let dom0 = db
        .strings(host, "resident_VMs")
        .into_iter()
        .find(|vm| db.bool(vm, "is_control_domain"))
        .map(|vm| db.string(&vm, "uuid"))
        .unwrap_or_default();
    let version = |k: &str| {
        db.field(host, "software_version")
            .and_then(Value::as_struct)
            .and_then(|m| m.iter().find(|(key, _)| key == k))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let bridge = db
        .strings(host, "PIFs")
        .into_iter()
        .find(|p| db.bool(p, "management"))
        .map(|p| db.string(&db.string(&p, "network"), "bridge"))
        .unwrap_or_default();
    format!(
        "PRODUCT_BRAND='{}'\nPRODUCT_VERSION='{}'\nBUILD_NUMBER='{}'\nINSTALLATION_UUID='{}'\n\
         CONTROL_DOMAIN_UUID='{dom0}'\nMANAGEMENT_INTERFACE='{bridge}'\nMANAGEMENT_ADDRESS_TYPE='IPv4'\n",
        version("product_brand"),
        version("product_version"),
        version("build_number"),
        db.string(host, "uuid"),
    )
}

async fn backup(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "Downloading host backup", "get_host_backup").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let made = {
        let db = core.db.read();
        let host = local_host(&db, &headers);
        let files = vec![
            (INVENTORY.to_string(), inventory(&db, &host)),
            ("var/lib/xcp/state.db".to_string(), crate::xmldb::dump(&db)),
        ];
        archive(&files)
    };
    // xapi sends its head first, then the script's output, without a length.
    match made {
        Ok(bytes) => {
            ctx.finish(Ok(Value::str("")));
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
        Err(e) => {
            ctx.finish(Err(Failure::new("BACKUP_SCRIPT_FAILED", [format!("host-backup: {e}")])));
            let mut r = Response::new(Body::empty());
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

/// The inventory inside a backup, or what the restore script would say.
fn inventory_of(bytes: &[u8]) -> Result<String, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = tar.entries().map_err(|e| format!("host-restore: not a host backup: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("host-restore: not a host backup: {e}"))?;
        let is_inventory = entry.path().is_ok_and(|p| p.to_string_lossy().trim_start_matches("./") == INVENTORY);
        if is_inventory {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(|e| format!("host-restore: unreadable inventory: {e}"))?;
            return Ok(text);
        }
    }
    Err(format!("host-restore: not a host backup: no {INVENTORY}"))
}

/// The restore script's checks: a host backup, of this host.
fn check(db: &Db, host: &str, bytes: &[u8]) -> Result<(), String> {
    let inventory = inventory_of(bytes)?;
    let uuid = db.string(host, "uuid");
    let of = inventory
        .lines()
        .find_map(|l| l.strip_prefix("INSTALLATION_UUID="))
        .map(|v| v.trim_matches('\'').to_string())
        .unwrap_or_default();
    if of != uuid {
        return Err(format!("host-restore: the backup is of host {of}, not of this host ({uuid})"));
    }
    Ok(())
}

async fn restore(State(core): State<Arc<Core>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let params = Params::new(&uri, &headers);
    let ctx = match Context::open(&core, &params, &headers, "Uploading host backup", "put_host_restore").await {
        Ok(ctx) => ctx,
        Err(page) => return page,
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(MAX_BACKUP)
        .min(MAX_BACKUP);
    // As xapi: the answer's head goes out first, and its (empty) body ends
    // when the script does, so the connection stays open during the upload.
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let outcome = match read_exactly(body, length).await {
            Ok(bytes) => {
                let db = ctx.core.db.read();
                check(&db, &local_host(&db, &headers), &bytes)
            }
            Err(e) => Err(format!("host-restore: reading the backup: {e}")),
        };
        match outcome {
            Ok(()) => ctx.finish(Ok(Value::str(""))),
            Err(log) => ctx.finish(Err(Failure::new("RESTORE_SCRIPT_FAILED", [log]))),
        }
        let _ = done.send(());
    });
    let mut r = Response::new(Body::new(Held(finished)));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_reads_the_inventory_of_a_backup() {
        let files = vec![(INVENTORY.to_string(), "INSTALLATION_UUID='abc'\n".to_string())];
        let bytes = archive(&files).unwrap();
        assert_eq!(inventory_of(&bytes).unwrap(), "INSTALLATION_UUID='abc'\n");
        assert!(inventory_of(b"not a backup").unwrap_err().contains("not a host backup"));
    }
}
