//! xapi's XML database format end to end: the simulator's dump read back
//! gives the same database, a hand-written dump of a small real pool
//! (`tests/fixtures/pool-2hosts.db`) loads with its unknown tables and
//! columns kept, and broken files are refused whole.

mod common;

use common::{login, ok, s};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xapi_sim::server::{build_core, build_core_noting, SimOptions};
use xapi_sim::xmldb;
use xapi_sim::Core;
use xenapi::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pool-2hosts.db")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xapi-sim-xmldb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A dump without its generation counts (`__ctime`, `__mtime`,
/// `generation_count`): they number the changes of one process.
fn contents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" __") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let end = tail.find("\" ").or_else(|| tail.find("\"/>")).map_or(tail.len(), |e| e + 1);
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Each start gives every host the certificate it serves (as xapi's
    // certificate sync does): the records of the certificates differ.
    if let Some(i) = out.find("<table name=\"Certificate\">") {
        let end = i + out[i..].find("</table>").map_or(0, |e| e + "</table>".len());
        out.replace_range(i..end, "");
    }
    while let Some(i) = out.find(" certificates=\"") {
        let end = i + 1 + out[i + 1..].find("\" ").or_else(|| out[i + 1..].find("\"/>")).map_or(0, |e| e + 1);
        out.replace_range(i..end, "");
    }
    let start = out.find("key=\"generation_count\" value=\"").map(|i| i + 30);
    if let Some(start) = start {
        let end = start + out[start..].find('"').unwrap_or(0);
        out.replace_range(start..end, "");
    }
    out
}

fn loaded(file: &Path) -> SimOptions {
    let mut opts = SimOptions { load: Some(file.to_path_buf()), ..SimOptions::default() };
    opts.config.time_scale = 0.0;
    opts
}

#[test]
fn the_demo_pool_survives_dump_load_dump() {
    let dir = temp_dir("roundtrip");
    let mut opts = SimOptions::default();
    opts.fixture.extra_vms = 3;
    let core = build_core(&opts).unwrap();
    let first = xmldb::dump(&core.db.read());
    let file = dir.join("pool.db");
    std::fs::write(&file, &first).unwrap();
    let (again, notes) = build_core_noting(&loaded(&file)).unwrap();
    assert_eq!(notes, Vec::<String>::new(), "our own dump has nothing unknown");
    let second = xmldb::dump(&again.db.read());
    let (a, b) = (contents(&first), contents(&second));
    if a != b {
        let diff: Vec<(&str, &str)> = a.split("<row").zip(b.split("<row")).filter(|(x, y)| x != y).take(3).collect();
        panic!("the dumps differ:\n{diff:#?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn text_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

async fn by_name(core: &Arc<Core>, session: &Value, class: &str, name: &str) -> Value {
    let found = ok(core, &format!("{class}.get_by_name_label"), vec![session.clone(), s(name)]).await;
    found.as_array().and_then(|a| a.first()).cloned().unwrap_or_else(|| panic!("no {class} {name}"))
}

#[tokio::test]
async fn a_real_pools_dump_loads_with_what_the_simulator_does_not_know() {
    let (core, notes) = build_core_noting(&loaded(&fixture())).unwrap();
    assert_eq!(
        notes,
        [
            "the file has database schema 5.789, the simulator's is 5.780: columns are matched by name",
            "table VM_group (1 row) is not in the simulator's datamodel: kept as is",
            "column VM.groups (3 rows) is not in the simulator's datamodel: kept as is",
            "column host.ssh_enabled (2 rows) is not in the simulator's datamodel: kept as is",
            "dropped the 1 session and 1 task rows: they do not outlive xapi",
        ]
    );
    let session = login(&core).await;
    // Namespaced columns land in the API's fields.
    let h1 = by_name(&core, &session, "host", "xcp-ng-01").await;
    assert_eq!(ok(&core, "host.get_address", vec![session.clone(), h1.clone()]).await, s("192.168.10.11"));
    let pool = ok(&core, "pool.get_all", vec![session.clone()]).await.as_array().unwrap()[0].clone();
    assert_eq!(ok(&core, "pool.get_master", vec![session.clone(), pool.clone()]).await, h1);
    assert_eq!(ok(&core, "pool.get_name_label", vec![session.clone(), pool]).await, s("Lab pool"));
    let db = by_name(&core, &session, "VM", "db-01").await;
    assert_eq!(ok(&core, "VM.get_memory_static_max", vec![session.clone(), db.clone()]).await, Value::Int(8 << 30));
    assert_eq!(ok(&core, "VM.get_VCPUs_max", vec![session.clone(), db.clone()]).await, Value::Int(4));
    assert_eq!(ok(&core, "VM.get_HVM_shadow_multiplier", vec![session.clone(), db.clone()]).await, Value::Float(1.0));
    let platform = ok(&core, "VM.get_platform", vec![session.clone(), db.clone()]).await;
    assert_eq!(platform.get("device-model"), Some(&s("qemu-upstream-compat")));
    let metrics = ok(&core, "host.get_metrics", vec![session.clone(), h1.clone()]).await;
    assert_eq!(ok(&core, "host_metrics.get_memory_total", vec![session.clone(), metrics]).await, Value::Int(64 << 30));
    // The two-way sets are rebuilt from the refs: host.PBDs was empty in the file.
    let pbds = ok(&core, "host.get_PBDs", vec![session.clone(), h1.clone()]).await;
    assert_eq!(pbds.as_array().unwrap().len(), 3, "local, NFS and ISO");
    // Sessions and tasks of the file are gone; ours work.
    let tasks = ok(&core, "task.get_all", vec![session.clone()]).await;
    assert_eq!(tasks, Value::Array(vec![]));
    // The pool is usable: db-01's disk is on xcp-ng-02's local SR, so it starts there.
    ok(&core, "VM.start", vec![session.clone(), db.clone(), Value::Bool(false), Value::Bool(false)]).await;
    let on = ok(&core, "VM.get_resident_on", vec![session.clone(), db.clone()]).await;
    assert_eq!(text_of(&ok(&core, "host.get_name_label", vec![session.clone(), on]).await), "xcp-ng-02");

    // What the datamodel lacks is written back, the rest as a new dump.
    let dump = xmldb::dump(&core.db.read());
    assert!(dump.contains("<table name=\"VM_group\"><row ref="), "the unknown table comes back");
    assert!(dump.contains("placement=\"anti_affinity\""));
    assert!(dump.contains(" ssh_enabled=\"true\""), "unknown columns come back");
    assert!(dump.contains(" groups=\"(&apos;OpaqueRef:"));
    assert!(dump.contains(" name__label=\"xcp-ng-01\" "));
    // ... and reading that dump again gives the same database.
    let dir = temp_dir("real");
    let file = dir.join("again.db");
    std::fs::write(&file, &dump).unwrap();
    let (again, notes) = build_core_noting(&loaded(&file)).unwrap();
    assert_eq!(notes.len(), 3, "only the unknown table and columns: {notes:?}");
    assert_eq!(contents(&xmldb::dump(&again.db.read())), contents(&dump));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_files_are_refused_whole_with_a_reason() {
    let good = std::fs::read_to_string(fixture()).unwrap();
    let dir = temp_dir("broken");
    let h2_row = good.lines().find(|l| l.contains("name__label=\"xcp-ng-02\"") && l.contains("<row")).unwrap();
    let first_ref = |line: &str| line.split('"').nth(1).unwrap().to_string();
    let pool_row = good.lines().find(|l| l.contains("name_label=\"Lab%.pool\"")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("not UTF-8", String::from_utf8_lossy(b"\xff").into_owned(), "no <database>"),
        ("truncated", good[..good.len() / 2].to_string(), "line "),
        (
            "bad int",
            good.replacen("VCPUs__max=\"4\"", "VCPUs__max=\"four\"", 1),
            "column VCPUs__max: \"four\" is not a int",
        ),
        ("bad map", good.replacen("platform=\"((", "platform=\"(((", 1), "column platform"),
        (
            "two refs",
            good.replacen(&h2_row.replace("    ", ""), &format!("{0}\n{0}", h2_row.trim()), 1),
            "is used twice",
        ),
        ("no pool", good.replace(pool_row, ""), "0 pool objects"),
    ];
    for (what, text, reason) in cases {
        let file = dir.join("broken.db");
        std::fs::write(&file, &text).unwrap();
        let state = dir.join("state.json");
        let mut opts = loaded(&file);
        opts.state = Some(state.clone());
        match build_core_noting(&opts) {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(&file.display().to_string()) && msg.contains(reason), "{what}: {msg}");
                assert!(!state.exists(), "{what}: nothing half-loaded is kept");
            }
        }
        let _ = std::fs::remove_file(&state);
        let _ = std::fs::remove_file(dir.join("state.json.journal"));
    }
    // A pool whose master is not among its hosts is refused.
    let master =
        first_ref(good.lines().find(|l| l.contains("name__label=\"xcp-ng-01\"") && l.contains("<row")).unwrap());
    let file = dir.join("headless.db");
    std::fs::write(&file, good.replace(&format!("master=\"{master}\""), "master=\"OpaqueRef:NULL\"")).unwrap();
    let err = build_core_noting(&loaded(&file)).err().unwrap().to_string();
    assert!(err.contains("the pool's master OpaqueRef:NULL is not a host of the file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn vms_running_on_hosts_the_file_lacks_are_halted() {
    let good = std::fs::read_to_string(fixture()).unwrap();
    let h2_row = good.lines().find(|l| l.contains("name__label=\"xcp-ng-02\"") && l.contains("<row")).unwrap();
    let dir = temp_dir("missing-host");
    let file = dir.join("pool.db");
    std::fs::write(&file, good.replace(h2_row, "")).unwrap();
    let (core, notes) = build_core_noting(&loaded(&file)).unwrap();
    let reset: Vec<&String> = notes.iter().filter(|n| n.contains("reset to Halted")).collect();
    assert_eq!(reset.len(), 1, "{notes:?}");
    assert!(reset[0].contains("(Control domain on host: xcp-ng-02) was Running on a host"), "{}", reset[0]);
    let session = login(&core).await;
    let dom0 = by_name(&core, &session, "VM", "Control domain on host: xcp-ng-02").await;
    assert_eq!(ok(&core, "VM.get_power_state", vec![session.clone(), dom0.clone()]).await, s("Halted"));
    assert_eq!(ok(&core, "VM.get_resident_on", vec![session.clone(), dom0]).await, s("OpaqueRef:NULL"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_starts_a_state_but_never_replaces_one() {
    let dir = temp_dir("state");
    let state = dir.join("pool.json");
    let mut opts = loaded(&fixture());
    opts.state = Some(state.clone());
    let core = build_core(&opts).unwrap();
    let first = xmldb::dump(&core.db.read());
    drop(core);
    // The state now holds the loaded pool, unknown tables included.
    let mut again = SimOptions { state: Some(state.clone()), ..SimOptions::default() };
    again.config.time_scale = 0.0;
    let core = build_core(&again).unwrap();
    let second = xmldb::dump(&core.db.read());
    assert!(second.contains("<table name=\"VM_group\"><row ") && second.contains(" ssh_enabled=\"true\""));
    assert_eq!(contents(&first), contents(&second));
    drop(core);
    // A second --load would lose it: refused.
    let err = build_core(&opts).err().unwrap().to_string();
    assert!(err.contains("already exists (start with --state alone to keep it, or remove it)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

// --- the HTTP handlers ------------------------------------------------------------------------

use xapi_sim::Sim;

/// A raw HTTP/1.0 exchange, as xe makes it: the status code, the head and the body.
fn http(sim: &Sim, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(sim.addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head, out[split..].to_vec())
}

fn put(sim: &Sim, query: &str, body: &[u8]) -> (u16, String) {
    let head = format!("PUT /pool/xmldbdump?{query} HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len());
    let (code, head, _) = http(sim, &head, body);
    (code, head)
}

fn sim_with(state: Option<PathBuf>, time_scale: f64) -> Sim {
    let mut opts = SimOptions { state, ..SimOptions::default() };
    opts.config.time_scale = time_scale;
    Sim::start(opts).unwrap()
}

/// Runs a future on a small runtime of its own (the simulator has its own thread).
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn new_task(core: &Arc<Core>, session: &Value, label: &str) -> String {
    text_of(&block(ok(core, "task.create", vec![session.clone(), s(label), s("")])))
}

/// A task's status and error_info once it is no longer pending.
fn outcome(core: &Arc<Core>, task: &str) -> (String, Vec<String>) {
    for _ in 0..500 {
        let db = core.db.read();
        let status = db.string(task, "status");
        if status != "pending" {
            return (status, db.strings(task, "error_info"));
        }
        drop(db);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("task {task} still pending");
}

#[test]
fn the_dump_handler_checks_credentials_and_sends_the_database() {
    let sim = sim_with(None, 0.0);
    let core = sim.core.clone();
    let session = block(login(&core));
    let sid = text_of(&session);

    let (code, head, _) = http(&sim, "GET /pool/xmldbdump HTTP/1.0\r\n\r\n", b"");
    assert_eq!(code, 401);
    assert!(head.contains("www-authenticate: Basic realm=\"Dumping database as XML\""), "{head}");
    // A bad session fails the caller's task, so that the caller learns it.
    let task = new_task(&core, &session, "dump database");
    let (code, _, _) =
        http(&sim, &format!("GET /pool/xmldbdump?session_id=OpaqueRef:bad&task_id={task} HTTP/1.0\r\n\r\n"), b"");
    assert_eq!(code, 401);
    assert_eq!(outcome(&core, &task), ("failure".into(), vec!["SESSION_AUTHENTICATION_FAILED".to_string()]));

    let task = new_task(&core, &session, "dump database");
    let (code, head, body) =
        http(&sim, &format!("GET /pool/xmldbdump?session_id={sid}&task_id={task} HTTP/1.0\r\n\r\n"), b"");
    assert_eq!(code, 200);
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert_eq!(outcome(&core, &task).0, "success");
    let text = String::from_utf8(body).unwrap();
    let parsed = xmldb::parse(&text).unwrap();
    assert_eq!(parsed.version, xmldb::SCHEMA_VERSION);
    assert_eq!(contents(&text), contents(&xmldb::dump(&core.db.read())));
    // HTTP Basic makes a session of its own for the request.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("root:xenroot");
    let (code, _, body) =
        http(&sim, &format!("GET /pool/xmldbdump HTTP/1.0\r\nAuthorization: Basic {basic}\r\n\r\n"), b"");
    assert_eq!(code, 200);
    assert!(body.starts_with(b"<?xml"));
}

#[test]
fn a_restore_needs_a_length_and_a_compatible_valid_database() {
    let sim = sim_with(None, 0.0);
    let core = sim.core.clone();
    let session = block(login(&core));
    let sid = text_of(&session);
    let ours = xmldb::dump(&core.db.read());
    let before = contents(&ours);

    // No Content-Length (a chunked body): 400, and the task does not fail, as in xapi.
    let task = new_task(&core, &session, "restore database");
    let head = format!("PUT /pool/xmldbdump?session_id={sid}&task_id={task} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let (code, _, _) = http(&sim, &head, b"5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(code, 400);
    assert_eq!(outcome(&core, &task).0, "success");

    let attempt = |body: &[u8], dry: bool| {
        let task = new_task(&core, &session, "restore database");
        let (code, _) = put(&sim, &format!("session_id={sid}&task_id={task}&dry_run={dry}"), body);
        assert_eq!(code, 200, "the answer comes before the body is read");
        outcome(&core, &task)
    };
    assert_eq!(attempt(ours.as_bytes(), true), ("success".into(), vec![]));
    let other_version = std::fs::read(fixture()).unwrap();
    assert_eq!(attempt(&other_version, true), ("failure".into(), vec!["RESTORE_INCOMPATIBLE_VERSION".to_string()]));
    let (status, info) = attempt(b"<database><manifest>", false);
    assert_eq!(status, "failure");
    assert_eq!(info[0], "INTERNAL_ERROR");
    assert!(info[1].starts_with("cannot read the database: "), "{info:?}");
    // The backup's master has a NIC this host lacks.
    let renamed = ours.replace("device=\"eth0\"", "device=\"eth9\"");
    assert_eq!(
        attempt(renamed.as_bytes(), false),
        ("failure".into(), vec!["RESTORE_TARGET_MISSING_DEVICE".to_string(), "eth9".to_string()])
    );
    // None of these changed the pool, nor did the dry run.
    assert_eq!(contents(&xmldb::dump(&core.db.read())), before);
    assert!(core.check_session(&sid).is_ok());
}

#[test]
fn a_restore_restarts_the_host_onto_the_backup_once_the_caller_is_done() {
    let dir = temp_dir("restore");
    let state = dir.join("pool.json");
    let sim = sim_with(Some(state.clone()), 0.0);
    let core = sim.core.clone();
    let session = block(login(&core));
    let sid = text_of(&session);
    let master_uuid = core.db.read().string(&xapi_sim::rules::pool::master(&core.db.read()), "uuid");
    let backup = xmldb::dump(&core.db.read()).replace("name__label=\"test-halted\"", "name__label=\"from-backup\"");
    // The master's certificate changes after the backup was taken.
    let master = xapi_sim::rules::pool::master(&core.db.read());
    block(ok(&core, "host.reset_server_certificate", vec![session.clone(), s(&master)]));
    let task = new_task(&core, &session, "restore database");
    let (code, _) = put(&sim, &format!("session_id={sid}&task_id={task}&dry_run=false"), backup.as_bytes());
    assert_eq!(code, 200);
    assert_eq!(outcome(&core, &task), ("success".into(), vec![]));
    // Staged durably; the old pool still serves until the caller is done with its task.
    let staged = xapi_sim::persist::restore_path(&state);
    assert!(staged.exists());
    assert!(core.check_session(&sid).is_ok());
    assert!(block(ok(&core, "VM.get_by_name_label", vec![session.clone(), s("from-backup")]))
        .as_array()
        .unwrap()
        .is_empty());
    block(ok(&core, "task.destroy", vec![session.clone(), s(&task)]));
    for _ in 0..500 {
        if core.check_session(&sid).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(core.check_session(&sid).is_err(), "a restart ends every session");
    let session = block(login(&core));
    let vms = block(ok(&core, "VM.get_by_name_label", vec![session.clone(), s("from-backup")]));
    assert_eq!(vms.as_array().unwrap().len(), 1);
    // The restoring host is the master and the only host left.
    let hosts = block(ok(&core, "host.get_all", vec![session.clone()]));
    assert_eq!(hosts.as_array().unwrap().len(), 1);
    assert_eq!(core.db.read().string(&xapi_sim::rules::pool::master(&core.db.read()), "uuid"), master_uuid);
    assert!(!staged.exists(), "the state holds the restored pool");
    // Its certificate record says what it serves, not what the backup said.
    {
        let db = core.db.read();
        let records = xapi_sim::rules::certificate::of_host(&db, &master, "host");
        assert_eq!(records.len(), 1);
        let served = core.certs.get(&master_uuid).unwrap().facts.sha256.clone();
        assert_eq!(db.string(&records[0], "fingerprint"), served);
    }
    drop(sim);
    let again = build_core(&SimOptions { state: Some(state), ..SimOptions::default() }).unwrap();
    let session = block(login(&again));
    assert_eq!(block(ok(&again, "VM.get_by_name_label", vec![session, s("from-backup")])).as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restore_staged_before_a_crash_is_applied_at_the_next_start() {
    let dir = temp_dir("staged");
    let state = dir.join("pool.json");
    // A fuse of hours: the "crash" comes first.
    let sim = sim_with(Some(state.clone()), 1000.0);
    let core = sim.core.clone();
    let session = block(login(&core));
    let sid = text_of(&session);
    let backup = xmldb::dump(&core.db.read()).replace("name__label=\"test-halted\"", "name__label=\"from-backup\"");
    let task = new_task(&core, &session, "restore database");
    put(&sim, &format!("session_id={sid}&task_id={task}&dry_run=false"), backup.as_bytes());
    assert_eq!(outcome(&core, &task).0, "success");
    drop(sim);
    drop(core);
    let (again, _) = build_core_noting(&SimOptions { state: Some(state.clone()), ..SimOptions::default() }).unwrap();
    let session = block(login(&again));
    assert_eq!(block(ok(&again, "VM.get_by_name_label", vec![session, s("from-backup")])).as_array().unwrap().len(), 1);
    assert!(!xapi_sim::persist::restore_path(&state).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
