//! Metrics over raw HTTP and the API: `/rrd_updates` asked of every host of
//! a pool with extra VMs covers each live VM once (dom0s included) and the
//! host with `host=true`; answers are reproducible under a fixed metrics
//! clock; `/vm_rrd` sends the client to the VM's host; an export in
//! progress shows as reads on the SR holding the VM's disks.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use xapi_sim::fixtures::FixtureOptions;
use xapi_sim::{Sim, SimOptions};
use xenapi::client::{Connection, Options, Session, Tls};
use xenapi::Value;

const CLOCK: i64 = 1_780_000_000;

fn sim(extra_vms: usize) -> Sim {
    let mut opts =
        SimOptions { fixture: FixtureOptions { extra_vms, ..SimOptions::default().fixture }, ..SimOptions::default() };
    opts.config.time_scale = 0.0;
    opts.config.metrics_clock = Some(CLOCK);
    Sim::start(opts).expect("simulator")
}

fn login(sim: &Sim) -> Session {
    let conn = Connection::new(&sim.url(), Options::new(Tls::Insecure)).expect("connection");
    Session::login(conn, "root", "xenroot", "metrics-tests").expect("login")
}

fn call(session: &mut Session, method: &str, args: &[Value]) -> Value {
    session.call(method, args).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// One GET in HTTP/1.0 to the front door, as the host named by `host`
/// (its address, in the `Host` header): status line, headers, body.
fn get(sim: &Sim, host: &str, path: &str) -> (String, HashMap<String, String>, String) {
    let mut s = TcpStream::connect(sim.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/xml\r\n\r\n").expect("request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The texts of every `<tag>` element, in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|p| p.split_once(&close).map(|(t, _)| t.to_string())).collect()
}

fn records(session: &mut Session, class: &str) -> Vec<(String, Value)> {
    match call(session, &format!("{class}.get_all_records"), &[]) {
        Value::Struct(m) => m,
        other => panic!("{class}.get_all_records: {other:?}"),
    }
}

fn field<'a>(rec: &'a Value, name: &str) -> &'a str {
    rec.get(name).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn rrd_updates_of_every_host_cover_each_live_vm_once() {
    let sim = sim(40);
    let mut session = login(&sim);
    let sid = session.session_ref().to_string();
    let hosts = records(&mut session, "host");
    let live: Vec<String> = records(&mut session, "VM")
        .iter()
        .filter(|(_, r)| matches!(field(r, "power_state"), "Running" | "Paused"))
        .map(|(_, r)| field(r, "uuid").to_string())
        .collect();
    assert!(live.len() > 10, "{} live VMs", live.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, h) in &hosts {
        let path = format!("/rrd_updates?session_id={sid}&start={}&host=true", CLOCK - 60);
        let (status, headers, body) = get(&sim, field(h, "address"), &path);
        assert!(status.contains("200"), "{status}");
        assert_eq!(headers["content-type"], "text/xml");
        assert_eq!(headers["content-length"], body.len().to_string());
        let legend = elements(&body, "entry");
        assert!(legend[0].starts_with(&format!("AVERAGE:host:{}:", field(h, "uuid"))), "{}", legend[0]);
        assert_eq!(elements(&body, "columns"), [legend.len().to_string()]);
        let rows = elements(&body, "row");
        assert_eq!(rows.len(), 13);
        for row in &rows {
            let values = elements(row, "v");
            assert_eq!(values.len(), legend.len());
            assert!(values.iter().all(|v| v.parse::<f64>().is_ok_and(|f| f >= 0.0)), "{row}");
        }
        let mut vms: Vec<&str> =
            legend.iter().filter(|e| e.contains(":vm:")).map(|e| e.split(':').nth(2).unwrap_or("")).collect();
        vms.dedup();
        for vm in vms {
            *seen.entry(vm.to_string()).or_default() += 1;
        }
        // Under a fixed metrics clock the answer is the same every time.
        assert_eq!(get(&sim, field(h, "address"), &path).2, body);
    }
    let mut expected: Vec<&String> = live.iter().collect();
    expected.sort();
    let mut got: Vec<&String> = seen.keys().collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(seen.values().all(|n| *n == 1));
}

#[test]
fn vm_rrd_sends_the_client_to_the_vms_host() {
    let sim = sim(0);
    let mut session = login(&sim);
    let sid = session.session_ref().to_string();
    let pool = call(&mut session, "pool.get_all", &[]).as_array().unwrap()[0].clone();
    let master = call(&mut session, "pool.get_master", &[pool]);
    let vms = records(&mut session, "VM");
    let (_, db01) = vms.iter().find(|(_, r)| field(r, "name_label") == "db01").expect("db01");
    let host = field(db01, "resident_on");
    assert_ne!(Some(host), master.as_str());
    let address = call(&mut session, "host.get_address", &[Value::str(host)]);
    let master_address = call(&mut session, "host.get_address", &[master]);
    let path = format!("/vm_rrd?session_id={sid}&uuid={}", field(db01, "uuid"));
    let (status, headers, _) = get(&sim, master_address.as_str().unwrap(), &path);
    assert!(status.contains("302"), "{status}");
    assert_eq!(headers["location"], format!("https://{}{path}", address.as_str().unwrap()));
    let (status, _, body) = get(&sim, address.as_str().unwrap(), &path);
    assert!(status.contains("200"), "{status}");
    assert_eq!(elements(&body, "rra").len(), 4);
    assert_eq!(elements(&body, "lastupdate"), [CLOCK.to_string()]);
    // No uuid: 400; a halted VM on the master: nothing archived, 404.
    assert!(get(&sim, master_address.as_str().unwrap(), &format!("/vm_rrd?session_id={sid}")).0.contains("400"));
    let (_, halted) = vms.iter().find(|(_, r)| field(r, "name_label") == "test-halted").expect("test-halted");
    let path = format!("/vm_rrd?session_id={sid}&uuid={}", field(halted, "uuid"));
    assert!(get(&sim, master_address.as_str().unwrap(), &path).0.contains("404"));
}

#[test]
fn an_export_reads_the_disks_of_its_sr() {
    let sim = sim(0);
    let mut session = login(&sim);
    let vms = records(&mut session, "VM");
    let (vm, _) = vms.iter().find(|(_, r)| field(r, "name_label") == "test-halted").expect("test-halted");
    let vbd = call(&mut session, "VM.get_VBDs", &[Value::str(vm)]).as_array().unwrap()[0].clone();
    let vdi = call(&mut session, "VBD.get_VDI", &[vbd]);
    let sr = call(&mut session, "VDI.get_SR", &[vdi]);
    let read = |session: &mut Session| {
        call(session, "SR.query_data_source", &[sr.clone(), Value::str("io_throughput_read")])
            .as_float()
            .expect("float")
    };
    let before = read(&mut session);
    sim.core
        .write(|db| {
            let task = xapi_sim::tasks::new_task(db, "Export", "", false);
            db.set_named(vm, "current_operations", xapi_sim::values::smap(&[(task.as_str(), "export")]));
            Ok(())
        })
        .expect("export marked");
    let during = read(&mut session);
    assert!(during > before + 30.0, "{before} MiB/s, then {during} MiB/s");
}
