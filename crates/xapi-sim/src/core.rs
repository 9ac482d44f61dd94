//! The simulator's shared state: the database behind a lock, sessions, event
//! wake-ups and the journal writer. Every transport calls [`Core::call`],
//! which `rpc` implements: this module knows nothing of dispatch.

use crate::db::{ApiResult, Db, Failure};
use crate::disks::Disks;
use crate::faults::{Faults, Rule};
use crate::metrics::Metrics;
use crate::persist::Wal;
use crate::trace::Trace;
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Settings a simulator runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Accepted `(user, password)` pairs.
    pub users: Vec<(String, String)>,
    /// `(user, role)` for users given a role (`--user NAME:PASSWORD:ROLE`);
    /// the others are pool admins, as xapi's local root is.
    pub roles: Vec<(String, String)>,
    /// Sessions allowed per originator (or per user when there is none).
    pub session_limit: usize,
    /// A session unused for this long is invalid.
    pub session_idle: Duration,
    /// Finished tasks older than this are destroyed.
    pub task_ttl: Duration,
    /// Multiplier for simulated durations; 0 makes operations instant.
    pub time_scale: f64,
    /// Events kept for `event.next` before slow clients get EVENTS_LOST.
    pub journal_capacity: usize,
    /// Methods answered with MESSAGE_METHOD_UNKNOWN, as on a server without
    /// them: wire names, where `*` matches any run of characters. A pattern
    /// matches a call by its name as sent or without `Async.`, so `VM.start`
    /// disables `Async.VM.start` too.
    pub disabled: Vec<String>,
    /// Fault and latency rules in force at start (`--faults`, `--delay`).
    pub faults: Vec<Rule>,
    /// Where to append a JSON line per call (`--trace`).
    pub trace: Option<PathBuf>,
    /// The external directory behind `pool.enable_external_auth` (`--directory`).
    pub directory: Option<crate::directory::Directory>,
    /// A fixed time (Unix seconds) for every metrics reading (`--metrics-clock`).
    pub metrics_clock: Option<i64>,
    /// How often performance alarms are checked (`--perfmon-interval`); `None`: never.
    pub perfmon_interval: Option<Duration>,
}

impl Config {
    /// Whether a call by this wire name is disabled.
    pub fn is_disabled(&self, method: &str) -> bool {
        self.disabled.iter().any(|p| crate::faults::method_matches(p, method))
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            users: vec![("root".into(), "xenroot".into())],
            roles: Vec::new(),
            session_limit: 500,
            session_idle: Duration::from_secs(24 * 3600),
            task_ttl: Duration::from_secs(3600),
            time_scale: 1.0,
            journal_capacity: crate::db::JOURNAL_CAPACITY,
            disabled: Vec::new(),
            faults: Vec::new(),
            trace: None,
            directory: None,
            metrics_clock: None,
            perfmon_interval: Some(Duration::from_secs(300)),
        }
    }
}

/// What the server keeps about a session beyond its database record.
#[derive(Debug, Clone)]
pub struct SessionMeta {
    pub key: String,
    pub last_active: Instant,
    /// A pool member's address for a session made there by
    /// `slave_local_login_with_password`: the only sessions a member serves.
    pub local_to: Option<String>,
    /// The user's role, one of `xenapi::model::ROLES`: what RBAC checks.
    pub role: &'static str,
}

/// Called after a host failed (`POST /sim/hosts/<uuid>/fail`) with the
/// host's ref and the guests that were running on it (now halted): where
/// HA registers to restart them elsewhere.
pub type HostFailureHook = Arc<dyn Fn(&Arc<Core>, &str, &[String]) + Send + Sync>;

/// An `event.register` subscription.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub classes: Vec<String>,
    pub position: u64,
}

/// The other pools one process serves (`xapi-sim --pools N`), as a pool
/// sees them: what `pool.join` reaches at the master's address, and where
/// `pool.eject` leaves a host as a pool of its own. `pools` implements it;
/// a core reaches it through [`Core::federation`], so that nothing below
/// the registry depends on it.
pub trait Federation: Send + Sync {
    /// The pool one of whose hosts has this address, if any.
    fn pool_at(&self, address: &str) -> Option<Arc<Core>>;
    /// Makes a host that left its pool the master of a new standalone pool
    /// (its name, address and uuid kept), in a pool without hosts or a new one.
    fn take_in(&self, name: &str, address: &str, host_uuid: &str) -> std::io::Result<()>;
}

/// Shared simulator state.
pub struct Core {
    pub db: RwLock<Db>,
    pub config: Config,
    /// Accepted `(user, password)` pairs: `config.users` as started, then as
    /// `session.change_password` leaves them. Kept in memory only: the users
    /// come from the command line at every start and are not part of `--state`.
    pub users: RwLock<Vec<(String, String)>>,
    pub sessions: Mutex<HashMap<String, SessionMeta>>,
    pub registrations: Mutex<HashMap<String, Registration>>,
    events: watch::Sender<u64>,
    wal: Option<Mutex<Wal>>,
    /// Counts RPCs served, for benchmarks.
    pub rpc_count: std::sync::atomic::AtomicU64,
    /// The fault rules in force (`/sim/faults` replaces them).
    pub faults: Mutex<Faults>,
    pub trace: Option<Trace>,
    /// The contents of the disks.
    pub disks: Disks,
    /// Run in order after a host fails (see [`HostFailureHook`]).
    pub host_failure_hooks: Mutex<Vec<HostFailureHook>>,
    /// HA restarts wait until then (`pool.ha_prevent_restarts_for`).
    pub ha_restarts_prevented_until: Mutex<Option<Instant>>,
    /// The other pools of the process, when there are several.
    federation: RwLock<Option<std::sync::Weak<dyn Federation>>>,
    /// The metrics' clock and which data sources users record.
    pub metrics: Metrics,
    /// The audit log (`GET /audit_log`).
    pub audit: crate::audit::AuditLog,
    /// Each host's server certificate as its listener serves it, and the CRLs.
    pub certs: crate::certs::CertStore,
}

impl Core {
    /// Wraps a populated database and its disks; `seed` drives the fault
    /// rules' draws. Fails only when the trace file cannot be opened.
    pub fn new(mut db: Db, config: Config, wal: Option<Wal>, disks: Disks, seed: u64) -> std::io::Result<Arc<Core>> {
        db.journal_capacity = config.journal_capacity;
        let (events, _) = watch::channel(db.event_id());
        let trace = config.trace.as_deref().map(Trace::open).transpose()?;
        Ok(Arc::new(Core {
            db: RwLock::new(db),
            users: RwLock::new(config.users.clone()),
            sessions: Mutex::new(HashMap::new()),
            registrations: Mutex::new(HashMap::new()),
            events,
            wal: wal.map(Mutex::new),
            rpc_count: std::sync::atomic::AtomicU64::new(0),
            faults: Mutex::new(Faults::new(config.faults.clone(), seed)),
            trace,
            metrics: Metrics::new(config.metrics_clock),
            audit: crate::audit::AuditLog::default(),
            config,
            disks,
            host_failure_hooks: Mutex::new(Vec::new()),
            ha_restarts_prevented_until: Mutex::new(None),
            federation: RwLock::new(None),
            certs: crate::certs::CertStore::default(),
        }))
    }

    /// Lets this pool reach the others of the process.
    pub fn join_federation(&self, federation: std::sync::Weak<dyn Federation>) {
        *self.federation.write() = Some(federation);
    }

    /// The pools of the process, when this pool is one of several.
    pub fn federation(&self) -> Option<Arc<dyn Federation>> {
        self.federation.read().as_ref().and_then(std::sync::Weak::upgrade)
    }

    /// Runs `f` with the database write-locked, then makes its changes durable
    /// and wakes event waiters before anyone sees the result.
    pub fn write<T>(&self, f: impl FnOnce(&mut Db) -> ApiResult<T>) -> ApiResult<T> {
        let mut db = self.db.write();
        let out = f(&mut db);
        self.commit(&mut db)?;
        out
    }

    /// Persists and announces whatever the locked database has changed.
    pub fn commit(&self, db: &mut RwLockWriteGuard<'_, Db>) -> ApiResult<()> {
        let dirty = db.take_dirty();
        if !dirty.is_empty() {
            if let Some(wal) = &self.wal {
                if let Err(e) = wal.lock().append(db, &dirty) {
                    return Err(Failure::new("INTERNAL_ERROR", [format!("cannot write state: {e}")]));
                }
            }
        }
        // Disks whose VDIs this change destroyed can go now that it is durable.
        self.disks.after_commit();
        let id = db.event_id();
        self.events.send_if_modified(|cur| {
            let changed = *cur != id;
            *cur = id;
            changed
        });
        Ok(())
    }

    /// Returns a receiver that wakes when the event id moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// Writes a full snapshot and truncates the journal (clean shutdown).
    pub fn checkpoint(&self) -> std::io::Result<()> {
        if let Some(wal) = &self.wal {
            let db = self.db.read();
            wal.lock().compact(&db)?;
        }
        Ok(())
    }

    /// Writes a restored database durably for the restart that applies it
    /// (with `--state`; without, there is nothing to survive).
    pub fn stage_restore(&self, text: &str) -> std::io::Result<()> {
        match &self.wal {
            Some(wal) => wal.lock().stage_restore(text),
            None => Ok(()),
        }
    }

    /// Replaces the whole database, as xapi's restart onto a restored one
    /// does: the new database is made durable first (the state's snapshot,
    /// the staged restore removed), then swapped in; every session,
    /// subscription and task of the old one is gone, and event ids go on
    /// from the old ones so that waiters wake.
    pub fn replace_db(&self, mut db: Db) -> std::io::Result<()> {
        let mut cur = self.db.write();
        db.set_event_id(cur.event_id());
        db.reindex_changes();
        db.journal_capacity = self.config.journal_capacity;
        db.clock = cur.clock;
        if let Some(wal) = &self.wal {
            let mut wal = wal.lock();
            wal.compact(&db)?;
            match std::fs::remove_file(crate::persist::restore_path(wal.state())) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        *cur = db;
        self.sessions.lock().clear();
        self.registrations.lock().clear();
        let id = cur.event_id();
        drop(cur);
        self.events.send_replace(id);
        Ok(())
    }

    /// Checks that a session is live and marks it used.
    pub fn check_session(&self, session: &str) -> ApiResult<()> {
        let mut sessions = self.sessions.lock();
        match sessions.get_mut(session) {
            Some(meta) if meta.last_active.elapsed() <= self.config.session_idle => {
                meta.last_active = Instant::now();
                Ok(())
            }
            Some(_) => {
                sessions.remove(session);
                drop(sessions);
                let _ = self.write(|db| {
                    db.destroy(session);
                    Ok(())
                });
                Err(Failure::new("SESSION_INVALID", [session]))
            }
            None => Err(Failure::new("SESSION_INVALID", [session])),
        }
    }

    /// The role a live session acts with.
    pub fn session_role(&self, session: &str) -> &'static str {
        self.sessions.lock().get(session).map_or("read-only", |m| m.role)
    }

    /// The host address a session is local to (`slave_local_login_with_password`).
    pub fn session_local_to(&self, session: &str) -> Option<String> {
        self.sessions.lock().get(session).and_then(|m| m.local_to.clone())
    }

    /// Sessions local to a host follow it when its address changes.
    pub fn move_local_sessions(&self, from: &str, to: &str) {
        for m in self.sessions.lock().values_mut() {
            if m.local_to.as_deref() == Some(from) {
                m.local_to = Some(to.to_string());
            }
        }
    }

    /// The role of a configured user: pool-admin unless given another.
    pub fn role_of(&self, user: &str) -> &'static str {
        let given = self.config.roles.iter().find(|(u, _)| u == user).map(|(_, r)| r.as_str());
        given.and_then(|r| xenapi::model::ROLES.iter().find(|x| **x == r).copied()).unwrap_or("pool-admin")
    }

    /// Whether a session is known (live or not yet found idle).
    pub fn has_session(&self, session: &str) -> bool {
        self.sessions.lock().contains_key(session)
    }

    /// A session for the pool's own API calls (xapi's internal logins, as
    /// when a host going down shuts its VMs): pool-admin, with no database
    /// record, until [`Core::end_internal_session`].
    pub fn internal_session(&self) -> String {
        let r = self.db.write().new_ref();
        let meta =
            SessionMeta { key: "internal".into(), last_active: Instant::now(), local_to: None, role: "pool-admin" };
        self.sessions.lock().insert(r.clone(), meta);
        r
    }

    /// Ends a session of [`Core::internal_session`].
    pub fn end_internal_session(&self, session: &str) {
        self.sessions.lock().remove(session);
    }

    /// Forgets a session, as a restarted host would, and gives the answer a
    /// call on it then gets.
    pub fn forget_session(&self, session: &str) -> Failure {
        self.sessions.lock().remove(session);
        self.registrations.lock().remove(session);
        let _ = self.write(|db| {
            db.destroy(session);
            Ok(())
        });
        Failure::new("SESSION_INVALID", [session])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_methods_match_exactly_or_by_glob() {
        let config = Config {
            disabled: vec!["VM.get_all_records_where".into(), "host.get_server*".into(), "*.destroy".into()],
            ..Config::default()
        };
        assert!(config.is_disabled("VM.get_all_records_where"));
        assert!(config.is_disabled("Async.VM.get_all_records_where"));
        assert!(!config.is_disabled("VM.get_all_records"));
        assert!(!config.is_disabled("SR.get_all_records_where"));
        assert!(config.is_disabled("host.get_servertime"));
        assert!(config.is_disabled("host.get_server_localtime"));
        assert!(config.is_disabled("Async.VDI.destroy"));
        assert!(!config.is_disabled("VDI.destroy_many"));
        assert!(!Config::default().is_disabled("VM.start"));
        let only_async = Config { disabled: vec!["Async.VM.start".into()], ..Config::default() };
        assert!(only_async.is_disabled("Async.VM.start"));
        assert!(!only_async.is_disabled("VM.start"));
    }
}
