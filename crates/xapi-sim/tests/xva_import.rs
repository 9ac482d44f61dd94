//! `PUT /import` and `PUT /import_metadata` spoken to in raw HTTP, fed
//! archives from `xva::import::sample` (V7 tar headers as xapi writes
//! them): the order of xapi's checks (chunked, the default SR, an ISO SR),
//! zstd and gzip wrappings, short and misordered archives, and metadata
//! imports with a `vdi:` map and `dry_run`.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use xapi_sim::xva::block_checksum;
use xapi_sim::xva::import::sample::{compress, member, Disk, Sample};
use xapi_sim::Sim;
use xenapi::client::Session;
use xenapi::Value;

const MIB: usize = 1 << 20;

/// Sends a PUT (HTTP/1.0 with a length, as xe sends a regular file, unless
/// `extra` header lines say how the body is framed) and reads the answer to
/// the end of the connection; the body may be cut short by a server that
/// stopped reading.
fn put_with(addr: SocketAddr, path: &str, extra: &str, body: &[u8]) -> (String, Vec<(String, String)>) {
    let head = match extra {
        "" => format!("PUT {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()),
        _ => format!("PUT {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"),
    };
    let answer = request(addr, &head, body);
    (answer.status_line, answer.headers)
}

fn task(session: &mut Session) -> String {
    text(&call(session, "task.create", &[s("VM import"), s("")]))
}

/// Imports `body` at `handler` with `query` under a new task: (status line, task outcome).
fn import(
    sim: &Sim,
    session: &mut Session,
    handler: &str,
    query: &str,
    body: &[u8],
) -> (String, (String, Vec<String>, String)) {
    let sid = session.session_ref().to_string();
    let t = task(session);
    let (status, headers) = put_with(sim.addr, &format!("{handler}?session_id={sid}&task_id={t}{query}"), "", body);
    if status.contains(" 200 ") {
        assert_eq!(headers.iter().find(|(k, _)| k == "task-id").map(|(_, v)| v.as_str()), Some(t.as_str()));
    }
    (status, outcome(session, &t))
}

fn disks() -> Vec<Disk> {
    let data: Vec<u8> = (0..MIB + 300).map(|i| (i % 251) as u8 | 1).collect();
    let mut big = data.clone();
    big.resize(3 * MIB, 0);
    big.extend_from_slice(b"end of the disk");
    vec![
        Disk { id: "Ref:10".into(), size: (4 * MIB + 100) as u64, device: "0".into(), data: big },
        Disk { id: "Ref:9".into(), size: (2 * MIB) as u64, device: "1".into(), data: b"second".to_vec() },
    ]
}

fn counts(session: &mut Session) -> Vec<usize> {
    ["VM", "VDI", "VBD", "VIF", "network"]
        .iter()
        .map(|c| call(session, &format!("{c}.get_all"), &[]).as_array().map_or(0, <[Value]>::len))
        .collect()
}

/// The VM of a task result `<value><array><data><value>REF</value>...`.
fn first_vm(result: &str) -> String {
    result.split("<value>").nth(2).and_then(|v| v.split("</value>").next()).unwrap_or_default().to_string()
}

/// The bytes of a VDI, read back through /export_raw_vdi.
fn bytes_of(sim: &Sim, session: &mut Session, vdi: &str) -> Vec<u8> {
    let sid = session.session_ref().to_string();
    get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={vdi}")).body
}

#[test]
fn zstd_and_gzip_archives_import_with_their_disks() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    for kind in ["zstd", "gzip", "plain"] {
        let sample = Sample::new(&format!("xva {kind}"), disks());
        let body = compress(kind, &sample.xva());
        let (status, (st, info, result)) = import(&sim, &mut session, "/import", "", &body);
        assert_eq!(status, "HTTP/1.0 200 OK", "{kind}");
        assert_eq!(st, "success", "{kind}: {info:?}");
        let vm = first_vm(&result);
        assert_eq!(text(&call(&mut session, "VM.get_name_label", &[s(&vm)])), format!("xva {kind}"));
        for d in disks() {
            let vbds = strings(&call(&mut session, "VM.get_VBDs", &[s(&vm)]));
            let vbd = vbds
                .iter()
                .find(|b| text(&call(&mut session, "VBD.get_userdevice", &[s(b)])) == d.device)
                .expect("the disk's VBD")
                .clone();
            let vdi = text(&call(&mut session, "VBD.get_VDI", &[s(&vbd)]));
            let got = bytes_of(&sim, &mut session, &vdi);
            let mut want = d.data.clone();
            want.resize(d.size as usize, 0);
            assert_eq!(&got[..want.len()], &want[..], "{kind} disk {}", d.device);
            assert!(got[want.len()..].iter().all(|&b| b == 0));
        }
    }
}

#[test]
fn chunked_bodies_iso_srs_and_a_missing_default_sr_are_refused() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    let sid = session.session_ref().to_string();
    let body = Sample::new("refused", disks()).xva();

    let t = task(&mut session);
    let (status, _) = put_with(
        sim.addr,
        &format!("/import?session_id={sid}&task_id={t}"),
        "Transfer-Encoding: chunked\r\n",
        b"0\r\n\r\n",
    );
    assert!(status.contains(" 403 "), "{status}");
    assert_eq!(outcome(&mut session, &t).1, ["IMPORT_ERROR_CANNOT_HANDLE_CHUNKED"]);

    let iso = call(&mut session, "SR.get_all_records_where", &[s("field \"content_type\"=\"iso\"")]);
    let iso = iso.as_struct().and_then(|m| m.first()).map(|(r, _)| r.clone()).expect("an ISO SR");
    let (status, (_, info, _)) = import(&sim, &mut session, "/import", &format!("&sr_id={iso}"), &body);
    assert!(status.contains(" 400 "), "{status}");
    assert_eq!(info, ["SR_OPERATION_NOT_SUPPORTED"]);

    let pool = text(&call(&mut session, "pool.get_all", &[]).as_array().expect("pools")[0]);
    let default = text(&call(&mut session, "pool.get_default_SR", &[s(&pool)]));
    call(&mut session, "pool.set_default_SR", &[s(&pool), s("OpaqueRef:NULL")]);
    let (status, (_, info, _)) = import(&sim, &mut session, "/import", "", &body);
    assert!(status.contains(" 500 "), "{status}");
    assert_eq!(info, ["DEFAULT_SR_NOT_FOUND", "OpaqueRef:NULL"]);
    call(&mut session, "pool.set_default_SR", &[s(&pool), s(&default)]);
    // With the default back, the same body goes to it.
    let (_, (st, info, result)) = import(&sim, &mut session, "/import", "", &body);
    assert_eq!(st, "success", "{info:?}");
    let vm = first_vm(&result);
    let vbd = strings(&call(&mut session, "VM.get_VBDs", &[s(&vm)]))
        .into_iter()
        .find(|b| !call(&mut session, "VBD.get_empty", &[s(b)]).as_bool().unwrap_or(true))
        .expect("a disk");
    let vdi = text(&call(&mut session, "VBD.get_VDI", &[s(&vbd)]));
    assert_eq!(text(&call(&mut session, "VDI.get_SR", &[s(&vdi)])), default);
}

#[test]
fn short_misordered_and_corrupt_archives_fail_and_leave_nothing() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    let before = counts(&mut session);
    let whole = Sample::new("short", disks()).xva();
    let (_, (st, info, _)) = import(&sim, &mut session, "/import", "", &whole[..2 * MIB]);
    assert_eq!((st.as_str(), info), ("failure", vec!["IMPORT_ERROR_PREMATURE_EOF".to_string()]));
    assert_eq!(counts(&mut session), before, "a failed import destroys what it made");

    let mut first = Sample::new("first", disks());
    first.first = Some("Ref:10/00000000".into());
    let (_, (_, info, _)) = import(&sim, &mut session, "/import", "", &first.xva());
    assert_eq!(info, ["IMPORT_ERROR_UNEXPECTED_FILE", "ova.xml", "Ref:10/00000000"]);
    let (_, (_, info, _)) = import(&sim, &mut session, "/import", "", &compress("gzip", &first.xva()));
    assert_eq!(info, ["IMPORT_ERROR_UNEXPECTED_FILE", "ova.xml", "Ref:10/00000000"]);

    let mut corrupt = Sample::new("corrupt", disks());
    corrupt.corrupt = Some("Ref:9/00000001".into());
    let (_, (_, info, _)) = import(&sim, &mut session, "/import", "", &corrupt.xva());
    assert_eq!(info[0], "IMPORT_ERROR_GENERIC");
    assert!(info[1].contains("Block Ref:9/00000001 checksum failed: original = 0000000000000000; recomputed = "));
    assert_eq!(counts(&mut session), before);
    let (_, (st, info, _)) = import(&sim, &mut session, "/import", "&force=true", &corrupt.xva());
    assert_eq!(st, "success", "{info:?}");

    let mut newer = Sample::new("newer", disks());
    newer.xapi = (99, 1);
    let (_, (_, info, _)) = import(&sim, &mut session, "/import", "", &newer.xva());
    assert_eq!(info, ["IMPORT_INCOMPATIBLE_VERSION"]);
}

#[test]
fn metadata_imports_map_disks_and_dry_runs_make_nothing() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    // The disks the metadata stands for: imported first, by a full import.
    let full = Sample::new("with disks", disks());
    let (_, (st, info, _)) = import(&sim, &mut session, "/import", "", &full.xva());
    assert_eq!(st, "success", "{info:?}");
    let existing: Vec<String> = ["disk 0", "disk 1"]
        .iter()
        .map(|n| text(&call(&mut session, "VDI.get_by_name_label", &[s(n)]).as_array().expect("list")[0]))
        .collect();
    let uuids: Vec<String> = existing.iter().map(|v| text(&call(&mut session, "VDI.get_uuid", &[s(v)]))).collect();

    let mut meta = Sample::new("metadata only", disks());
    meta.metadata_only = true;
    let body = meta.xva();
    // Nothing matches the exported disks: their SR is unknown here.
    let (status, (_, info, _)) = import(&sim, &mut session, "/import_metadata", "", &body);
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert_eq!(info, ["VDI_CONTENT_ID_MISSING"]);

    let before = counts(&mut session);
    let map = format!(
        "&vdi:a1b2c3d4-0000-4000-8000-000000000000={}&vdi:a1b2c3d4-0000-4000-8000-000000000001={}",
        uuids[0], uuids[1]
    );
    let (_, (st, info, result)) = import(&sim, &mut session, "/import_metadata", &format!("&dry_run=true{map}"), &body);
    assert_eq!((st.as_str(), info.len()), ("success", 0), "{info:?}");
    assert_eq!(result, "<value><array><data/></array></value>".replace("<data/>", "<data></data>"));
    assert_eq!(counts(&mut session), before, "a dry run makes nothing");

    let (_, (st, info, result)) = import(&sim, &mut session, "/import_metadata", &map, &body);
    assert_eq!(st, "success", "{info:?}");
    let vm = first_vm(&result);
    let vdis: Vec<String> = strings(&call(&mut session, "VM.get_VBDs", &[s(&vm)]))
        .iter()
        .map(|b| text(&call(&mut session, "VBD.get_VDI", &[s(b)])))
        .filter(|v| v != "OpaqueRef:NULL")
        .collect();
    assert_eq!(vdis.len(), 2);
    assert!(vdis.iter().all(|v| existing.contains(v)), "the VM uses the mapped disks");
    assert_eq!(counts(&mut session)[1], before[1], "no disk is made");

    // force skips the disks it cannot match; the VM comes without them.
    let (_, (st, info, result)) = import(&sim, &mut session, "/import_metadata", "&force=true", &body);
    assert_eq!(st, "success", "{info:?}");
    let vm = first_vm(&result);
    let vbds = strings(&call(&mut session, "VM.get_VBDs", &[s(&vm)]));
    assert_eq!(vbds.len(), 1, "only the CD drive");
}

/// A `format=tar` body: `vdi/%08d` blocks of `blocks` (index, bytes), each
/// with its checksum (or `bad` for the one named).
fn vdi_tar(blocks: &[(u64, Vec<u8>)], bad: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, data) in blocks {
        member(&mut out, &format!("vdi/{i:08}"), data, 0);
        let sum = if bad == Some(*i) { "0123456789ABCDEF".to_string() } else { block_checksum(data) };
        member(&mut out, &format!("vdi/{i:08}.xxhash"), sum.as_bytes(), 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn raw_vdi_imports_read_tar_blocks_and_check_every_one() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    let sid = session.session_ref().to_string();
    let sr = sr_named(&mut session, "NFS virtual disk storage");
    let vdi = new_vdi_on(&mut session, &sr, "tar target", 4 * MIB as u64);
    let first: Vec<u8> = (0..MIB).map(|i| (i % 253) as u8 | 1).collect();
    let last = vec![7u8; MIB];
    // Block 1 and 2 are left out: zeros. The size reached ends the disk.
    let body = vdi_tar(&[(0, first.clone()), (3, last.clone())], None);
    let t = task(&mut session);
    let (status, _) =
        put_with(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}&format=tar"), "", &body);
    assert_eq!(status, "HTTP/1.0 200 OK");
    let (st, info, result) = outcome(&mut session, &t);
    assert_eq!(st, "success", "{info:?}");
    assert_eq!(result, format!("<value>{vdi}</value>"));
    let got = bytes_of(&sim, &mut session, &vdi);
    assert_eq!(&got[..MIB], &first[..]);
    assert!(got[MIB..3 * MIB].iter().all(|&b| b == 0));
    assert_eq!(&got[3 * MIB..], &last[..]);

    // A bad checksum fails the task, whatever `force` says.
    let body = vdi_tar(&[(0, first.clone()), (3, last.clone())], Some(3));
    let t = task(&mut session);
    put_with(
        sim.addr,
        &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}&format=tar&force=true"),
        "",
        &body,
    );
    let (_, info, _) = outcome(&mut session, &t);
    assert_eq!(info[0], "IMPORT_ERROR_GENERIC");
    assert!(info[1].contains("Block vdi/00000003 checksum failed: original = 0123456789ABCDEF"), "{info:?}");

    // Blocks of another prefix, or a tar without an existing disk, are refused.
    let mut other = Vec::new();
    member(&mut other, "Ref:1/00000000", &first, 0);
    let t = task(&mut session);
    put_with(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}&format=tar"), "", &other);
    assert_eq!(outcome(&mut session, &t).1, ["IMPORT_ERROR_GENERIC", "Stream_vdi.Failure(\"Invalid XVA file\")"]);
    let t = task(&mut session);
    let (status, _) =
        put_with(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&sr_id={sr}&format=tar"), "", &body);
    assert!(status.contains(" 400 "), "{status}");
    assert_eq!(outcome(&mut session, &t).1, ["INTERNAL_ERROR", "Not enough info supplied to import"]);
}

#[test]
fn a_cancelled_import_stops_and_leaves_nothing() {
    let sim = sim();
    let mut session = login(&sim, "xva-import-tests");
    let sid = session.session_ref().to_string();
    let before = counts(&mut session);
    let data: Vec<u8> = (0..8 * MIB).map(|i| (i % 249) as u8 | 1).collect();
    let disk = Disk { id: "Ref:5".into(), size: data.len() as u64, device: "0".into(), data };
    let body = Sample::new("cancelled", vec![disk]).xva();
    let t = task(&mut session);
    let mut tcp = TcpStream::connect(sim.addr).expect("connect");
    let path = format!("/import?session_id={sid}&task_id={t}");
    write!(tcp, "PUT {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()).expect("head");
    // ova.xml and a few blocks: the objects exist, the disk is being written.
    tcp.write_all(&body[..3 * MIB]).expect("first part");
    let mut created = false;
    for _ in 0..500 {
        let oc = call(&mut session, "task.get_other_config", &[s(&t)]);
        if oc
            .as_struct()
            .is_some_and(|m| m.iter().any(|(k, v)| k == "object_creation" && v.as_str() == Some("complete")))
        {
            created = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(created, "the objects are made before the disks stream");
    call(&mut session, "task.cancel", &[s(&t)]);
    let _ = tcp.write_all(&body[3 * MIB..]);
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!((status.as_str(), info), ("cancelled", vec!["TASK_CANCELLED".to_string(), t.clone()]));
    assert_eq!(counts(&mut session), before, "a cancelled import destroys what it made");
}
