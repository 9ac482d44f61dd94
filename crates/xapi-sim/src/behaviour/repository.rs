//! Update repositories: `Repository.*`, the pool's repository calls
//! (`add_repository`, `set_repositories`, `remove_repository`,
//! `sync_updates`, the update-sync schedule and the repository proxy) and
//! `host.apply_updates`, with xapi's checks and errors (repository.ml,
//! repository_helpers.ml, xapi_pool.ml).
//!
//! Nothing is downloaded. `pool.sync_updates` makes a fixed set of updates
//! ([`AVAILABLE`]) available from the pool's one enabled update repository:
//! it records the repository's `hash` (an MD5 of its URL and that set, so
//! it is the same for every sync of one repository) and returns it; the
//! hosts whose last applied hash differs have `latest_synced_updates_applied`
//! `no`. `host.apply_updates` with that hash disables the host and
//! installs them: its mandatory guidance becomes `reboot_host` (a host with
//! guests must be evacuated first, HOST_EVACUATION_IS_REQUIRED), and its
//! next boot clears it (and enables the host again) ([`crate::rules::host::came_up`]). The token of a sync is accepted
//! and not used.

use crate::call::{Call, Handler};
use crate::db::{ApiResult, Db, Failure};
use crate::values::{empty_map, null, sset};
use std::collections::HashMap;
use xenapi::Value;

/// The packages every simulated sync makes available (name, version).
pub const AVAILABLE: &[(&str, &str)] =
    &[("kernel", "4.19.19-8.0.38"), ("xen-hypervisor", "4.17.5-4"), ("xapi-core", "24.19.3-1")];

/// The guidance installing [`AVAILABLE`] leaves on a host.
const GUIDANCE: &str = "reboot_host";

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    t.insert("Repository.introduce", Handler::Sync(introduce));
    t.insert("Repository.forget", Handler::Sync(forget));
    t.insert("Repository.set_gpgkey_path", Handler::Sync(set_gpgkey_path));
    t.insert("pool.set_repositories", Handler::Sync(set_repositories));
    t.insert("pool.add_repository", Handler::Sync(add_repository));
    t.insert("pool.remove_repository", Handler::Sync(remove_repository));
    t.insert("pool.sync_updates", Handler::Sync(sync_updates));
    t.insert("pool.configure_update_sync", Handler::Sync(configure_update_sync));
    t.insert("pool.set_update_sync_enabled", Handler::Sync(set_update_sync_enabled));
    t.insert("pool.configure_repository_proxy", Handler::Sync(configure_repository_proxy));
    t.insert("pool.disable_repository_proxy", Handler::Sync(disable_repository_proxy));
    t.insert("host.apply_updates", Handler::Sync(apply_updates));
    t.insert("host.emergency_clear_mandatory_guidance", Handler::Sync(emergency_clear_mandatory_guidance));
}

fn void() -> Value {
    Value::str("")
}

/// An http or https URL with a host (INVALID_BASE_URL otherwise).
fn assert_url_is_valid(url: &str) -> ApiResult<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or("")).unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    let name = host.split(':').next().unwrap_or("");
    if name.is_empty() && !host.starts_with('[') {
        return Err(Failure::new("INVALID_BASE_URL", [url]));
    }
    Ok(())
}

/// Empty, or letters, digits, `_` and `-` (INVALID_GPGKEY_PATH).
fn assert_gpgkey_path_is_valid(path: &str) -> ApiResult<()> {
    if path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(Failure::new("INVALID_GPGKEY_PATH", [path]))
    }
}

/// `introduce(name_label, name_description, binary_url, source_url,
/// update, gpgkey_path)`: both URLs valid, the key path valid, and no
/// repository with that name or binary URL (REPOSITORY_ALREADY_EXISTS).
fn introduce(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (name, binary, source) = (call.str(0), call.str(2), call.str(3));
    assert_url_is_valid(binary)?;
    assert_url_is_valid(source)?;
    let gpgkey = call.str(5);
    assert_gpgkey_path_is_valid(gpgkey)?;
    for r in db.all("Repository") {
        if db.field_str(&r, "name_label") == name || db.field_str(&r, "binary_url") == binary {
            return Err(Failure::new("REPOSITORY_ALREADY_EXISTS", [r.as_str()]));
        }
    }
    let c = db.cls("Repository");
    let r = db.create(
        c,
        vec![
            ("name_label", Value::str(name)),
            ("name_description", Value::str(call.str(1))),
            ("binary_url", Value::str(binary)),
            ("source_url", Value::str(source)),
            ("update", Value::Bool(call.bool(4))),
            ("hash", Value::str("")),
            ("up_to_date", Value::Bool(false)),
            ("gpgkey_path", Value::str(gpgkey)),
        ],
    );
    Ok(Value::String(r))
}

fn pool_of(db: &Db) -> String {
    db.all("pool").into_iter().next().unwrap_or_default()
}

/// Not while the pool has it enabled (REPOSITORY_IS_IN_USE).
fn forget(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let r = call.str(0);
    db.expect_is(r, "Repository")?;
    if db.strings(&pool_of(db), "repositories").iter().any(|x| x == r) {
        return Err(Failure::new::<&str>("REPOSITORY_IS_IN_USE", []));
    }
    db.destroy(r);
    Ok(void())
}

fn set_gpgkey_path(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let r = call.str(0);
    db.expect_is(r, "Repository")?;
    assert_gpgkey_path_is_valid(call.str(1))?;
    db.set_named(r, "gpgkey_path", Value::str(call.str(1)));
    Ok(void())
}

fn epoch() -> Value {
    Value::DateTime("19700101T00:00:00Z".into())
}

/// A repository newly enabled starts unsynced.
fn enabled_anew(db: &mut Db, pool: &str, repo: &str) {
    db.set_named(repo, "hash", Value::str(""));
    db.set_named(pool, "last_update_sync", epoch());
}

fn set_repositories(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0);
    db.expect_is(pool, "pool")?;
    let value: Vec<String> =
        call.args[1].as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string).collect();
    for r in &value {
        db.expect_is(r, "Repository")?;
    }
    let existing = db.strings(pool, "repositories");
    for r in &value {
        if !existing.contains(r) {
            enabled_anew(db, pool, r);
        }
    }
    let mut unique = Vec::new();
    for r in value {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    db.set_named(pool, "repositories", sset(&unique));
    if unique.is_empty() {
        db.set_named(pool, "last_update_sync", epoch());
        for h in db.all("host") {
            db.set_named(&h, "latest_synced_updates_applied", Value::str("unknown"));
        }
    }
    Ok(void())
}

fn add_repository(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (pool, repo) = (call.str(0), call.str(1));
    db.expect_is(pool, "pool")?;
    db.expect_is(repo, "Repository")?;
    let mut existing = db.strings(pool, "repositories");
    if !existing.iter().any(|r| r == repo) {
        existing.push(repo.to_string());
        db.set_named(pool, "repositories", sset(&existing));
        enabled_anew(db, pool, repo);
    }
    Ok(void())
}

fn remove_repository(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (pool, repo) = (call.str(0), call.str(1));
    db.expect_is(pool, "pool")?;
    db.expect_is(repo, "Repository")?;
    let mut existing = db.strings(pool, "repositories");
    existing.retain(|r| r != repo);
    db.set_named(pool, "repositories", sset(&existing));
    if existing.is_empty() {
        db.set_named(pool, "last_update_sync", epoch());
    }
    Ok(void())
}

/// The pool's one enabled update repository: NO_REPOSITORY_ENABLED or
/// MULTIPLE_UPDATE_REPOSITORIES_ENABLED otherwise.
fn single_update_repository(db: &Db, pool: &str) -> ApiResult<String> {
    let repos: Vec<String> = db.strings(pool, "repositories").into_iter().filter(|r| db.bool(r, "update")).collect();
    match repos.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::new::<&str>("NO_REPOSITORY_ENABLED", [])),
        _ => Err(Failure::new::<&str>("MULTIPLE_UPDATE_REPOSITORIES_ENABLED", [])),
    }
}

/// The hash of what a repository offers after a sync.
fn content_hash(binary_url: &str) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(binary_url.as_bytes());
    for (name, version) in AVAILABLE {
        h.update(format!("\n{name}-{version}").as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `sync_updates(self, force, token, token_id)`: returns the new hash.
fn sync_updates(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0);
    db.expect_is(pool, "pool")?;
    let repo = single_update_repository(db, pool)?;
    let hash = content_hash(db.field_str(&repo, "binary_url"));
    db.set_named(&repo, "hash", Value::str(&hash));
    let now = db.now();
    db.set_named(pool, "last_update_sync", now);
    for h in db.all("host") {
        let state = if db.field_str(&h, "last_update_hash") == hash { "yes" } else { "no" };
        db.set_named(&h, "latest_synced_updates_applied", Value::str(state));
    }
    Ok(Value::String(hash))
}

/// `weekly` takes a day from 0 to 6 (INVALID_UPDATE_SYNC_DAY); `daily` sets 0.
fn configure_update_sync(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0);
    db.expect_is(pool, "pool")?;
    let frequency = call.str(1);
    let day = call.args.get(2).and_then(Value::as_int).unwrap_or(0);
    let day = match frequency {
        "weekly" if !(0..=6).contains(&day) => {
            return Err(Failure::new("INVALID_UPDATE_SYNC_DAY", [day.to_string()]));
        }
        "weekly" => day,
        _ => 0,
    };
    db.set_named(pool, "update_sync_frequency", Value::str(frequency));
    db.set_named(pool, "update_sync_day", Value::Int(day));
    Ok(void())
}

/// Enabling needs a repository (NO_REPOSITORIES_CONFIGURED).
fn set_update_sync_enabled(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0);
    db.expect_is(pool, "pool")?;
    let value = call.bool(1);
    if value && db.strings(pool, "repositories").is_empty() {
        return Err(Failure::new::<&str>("NO_REPOSITORIES_CONFIGURED", []));
    }
    db.set_named(pool, "update_sync_enabled", Value::Bool(value));
    Ok(void())
}

fn drop_proxy_secret(db: &mut Db, pool: &str) {
    let old = db.string(pool, "repository_proxy_password");
    if db.is(&old, "secret") {
        db.destroy(&old);
    }
}

/// An http(s) URL (INVALID_REPOSITORY_PROXY_URL); a username and a
/// password together or neither, without newlines
/// (INVALID_REPOSITORY_PROXY_CREDENTIAL). The password goes into a secret.
fn configure_repository_proxy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (pool, url, user, password) = (call.str(0), call.str(1), call.str(2), call.str(3));
    db.expect_is(pool, "pool")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Failure::new("INVALID_REPOSITORY_PROXY_URL", [url]));
    }
    let bad = (user.is_empty() != password.is_empty()) || user.contains('\n') || password.contains('\n');
    if bad {
        return Err(Failure::new::<&str>("INVALID_REPOSITORY_PROXY_CREDENTIAL", []));
    }
    let secret = if password.is_empty() {
        null()
    } else {
        let c = db.cls("secret");
        Value::String(db.create(c, vec![("value", Value::str(password)), ("other_config", empty_map())]))
    };
    drop_proxy_secret(db, pool);
    db.set_named(pool, "repository_proxy_url", Value::str(url));
    db.set_named(pool, "repository_proxy_username", Value::str(user));
    db.set_named(pool, "repository_proxy_password", secret);
    Ok(void())
}

fn disable_repository_proxy(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let pool = call.str(0);
    db.expect_is(pool, "pool")?;
    drop_proxy_secret(db, pool);
    db.set_named(pool, "repository_proxy_url", Value::str(""));
    db.set_named(pool, "repository_proxy_username", Value::str(""));
    db.set_named(pool, "repository_proxy_password", null());
    Ok(void())
}

/// `apply_updates(self, hash)`, in xapi's order: not with HA on
/// (HA_IS_ENABLED); the host is disabled (and stays so whatever follows,
/// until its reboot); no mandatory guidance pending
/// (HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY); the hash of the last sync
/// (UPDATEINFO_HASH_MISMATCH); no guests, as the updates need a reboot
/// (HOST_EVACUATION_IS_REQUIRED). A host that has them already gets
/// nothing new. Returns the live patches that failed: none.
fn apply_updates(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let (host, hash) = (call.str(0), call.str(1));
    db.expect_is(host, "host")?;
    let pool = pool_of(db);
    if db.bool(&pool, "ha_enabled") {
        return Err(Failure::new::<&str>("HA_IS_ENABLED", []));
    }
    crate::rules::host::assert_live(db, host)?;
    if db.bool(host, "enabled") {
        db.set_named(host, "enabled", Value::Bool(false));
        crate::rules::host::update_allowed_operations(db, host);
    }
    if !db.strings(host, "pending_guidances").is_empty() {
        return Err(Failure::new("HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY", [host]));
    }
    let repo = single_update_repository(db, &pool)?;
    if hash.is_empty() || hash != db.field_str(&repo, "hash") {
        return Err(Failure::new::<&str>("UPDATEINFO_HASH_MISMATCH", []));
    }
    if db.field_str(host, "last_update_hash") != hash {
        if !crate::rules::host::resident_guests(db, host).is_empty() {
            return Err(Failure::new("HOST_EVACUATION_IS_REQUIRED", [host]));
        }
        db.set_named(host, "pending_guidances", sset(&[GUIDANCE]));
    }
    let now = db.now();
    db.set_named(host, "last_software_update", now);
    db.set_named(host, "latest_synced_updates_applied", Value::str("yes"));
    db.set_named(host, "last_update_hash", Value::str(hash));
    Ok(Value::Array(Vec::new()))
}

/// Clears the pending guidance of the host the call runs on: the one its
/// (local) session is on, else the master.
fn emergency_clear_mandatory_guidance(call: &Call, db: &mut Db) -> ApiResult<Value> {
    let session = call.session.as_deref().unwrap_or_default();
    let local = call.core.sessions.lock().get(session).and_then(|m| m.local_to.clone());
    let host = local
        .and_then(|address| db.all("host").into_iter().find(|h| db.string(h, "address") == address))
        .unwrap_or_else(|| crate::rules::pool::master(db));
    db.set_named(&host, "pending_guidances", sset::<&str>(&[]));
    Ok(void())
}
