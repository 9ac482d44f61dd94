//! Disk contents and the raw VDI handlers over the wire: `/export_raw_vdi`
//! and `/import_raw_vdi` spoken to in raw HTTP (status lines, heads, the
//! order xapi checks things in, the task each request runs under), VHD
//! round trips read back with the simulator's own VHD reader, and the block
//! store behind VDI.snapshot/clone/copy/destroy/resize and `--state`.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use xenapi::client::{Connection, Options, Session, Tls};
use xenapi::Value;

const MIB: u64 = 1 << 20;

/// A new user VDI of `size` bytes on the NFS SR (VHD files); (ref, uuid).
fn new_vdi(session: &mut Session, size: u64) -> (String, String) {
    let sr = sr_named(session, "NFS virtual disk storage");
    let vdi = new_vdi_on(session, &sr, "raw-vdi test", size);
    let uuid = text(&call(session, "VDI.get_uuid", &[s(&vdi)]));
    (vdi, uuid)
}

/// A client task, as xe makes one.
fn task(session: &mut Session, label: &str) -> String {
    text(&call(session, "task.create", &[s(label), s("")]))
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) | 1).collect()
}

#[test]
fn raw_round_trip_with_xapis_heads_and_task() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (vdi, uuid) = new_vdi(&mut session, 8 * MIB);
    let data = pattern(3, (3 * MIB + 100) as usize);
    let t = task(&mut session, "VDI import");
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid}"), &data);
    assert_eq!(a.status_line, "HTTP/1.0 200 OK");
    assert_eq!(a.header("task-id"), Some(t.as_str()));
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("connection"), Some("close"));
    assert_eq!(a.header("cache-control"), Some("no-cache, no-store"));
    let (status, info, result) = outcome(&mut session, &t);
    assert_eq!((status.as_str(), info.len()), ("success", 0), "{info:?}");
    assert_eq!(result, format!("<value>{vdi}</value>"));
    assert_eq!(call(&mut session, "task.get_progress", &[s(&t)]), Value::Float(1.0));
    // Two blocks of 2 MiB written: the VHD file grew by them.
    let phys = call(&mut session, "VDI.get_physical_utilisation", &[s(&vdi)]).as_int().expect("an int");
    assert_eq!(phys, 4096 + 2 * (2 * MIB as i64 + 4096));

    let t = task(&mut session, "VDI export");
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}"));
    assert_eq!(a.status_line, "HTTP/1.0 200 OK");
    assert_eq!(a.header("task-id"), Some(t.as_str()));
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("content-disposition"), Some(format!("attachment; filename=\"{uuid}.raw\"").as_str()));
    assert_eq!(a.header("content-length"), None, "the end of the body is the end of the connection");
    assert_eq!(a.body.len() as u64, 8 * MIB);
    assert_eq!(&a.body[..data.len()], &data[..]);
    assert!(a.body[data.len()..].iter().all(|&b| b == 0));
    assert_eq!(outcome(&mut session, &t).0, "success");
}

#[test]
fn the_demo_disk_exports_as_a_vhd_that_reads_back() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let vdis = call(&mut session, "VDI.get_by_name_label", &[s("test-halted 0")]);
    let vdi = text(&vdis.as_array().expect("a list")[0]);
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={vdi}&format=VHD"));
    assert_eq!(a.status(), 200);
    assert_eq!(a.header("content-type"), Some("application/vhd"));
    assert!(a.header("content-disposition").is_some_and(|d| d.ends_with(".vhd\"")));
    // A dynamic VHD: footer copy, header, BAT, the two blocks written, footer.
    assert_eq!(&a.body[..8], b"conectix");
    assert_eq!(&a.body[512..520], b"cxsparse");
    let size = 16u64 << 30;
    assert_eq!(a.body.len() as u64, 2048 + (size / (2 * MIB) * 4) + 2 * (512 + 2 * MIB) + 512);
    struct Keep(Vec<(u64, Vec<u8>)>);
    impl xapi_sim::vhd::Sink for Keep {
        fn start(&mut self, _: xapi_sim::vhd::DiskType, _: u64) -> std::io::Result<()> {
            Ok(())
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.0.push((offset, data.to_vec()));
            Ok(())
        }
    }
    let mut keep = Keep(Vec::new());
    let (ty, got) = xapi_sim::vhd::read(&a.body[..], None, &mut keep).expect("a valid VHD");
    assert_eq!((ty, got), (xapi_sim::vhd::DiskType::Dynamic, size));
    let boot = &keep.0[0].1;
    assert!(boot.starts_with(b"XAPI-SIM DEMO DISK: test-halted 0\n"));
    assert_eq!(&boot[510..512], &[0x55, 0xaa]);
    let text_at = keep.0.iter().find(|(o, _)| *o == 2 * MIB).expect("the partition's block");
    assert!(text_at.1.starts_with(b"xapi-sim demo data of VM test-halted"));
}

#[test]
fn credentials_come_first_and_failures_before_the_head_are_xapis() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (_, uuid) = new_vdi(&mut session, 4 * MIB);
    let a = get(sim.addr, &format!("/export_raw_vdi?vdi={uuid}"));
    assert_eq!(a.status(), 401);
    assert_eq!(a.header("www-authenticate"), Some("Basic realm=\"VDI.export_raw\""));
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id=OpaqueRef:gone&vdi={uuid}"), b"x");
    assert_eq!(a.status(), 401);
    assert_eq!(a.header("www-authenticate"), Some("Basic realm=\"VDI.import\""));
    // HTTP Basic makes a session for the request.
    let head = format!("GET /export_raw_vdi?vdi={uuid} HTTP/1.0\r\nAuthorization: Basic cm9vdDp4ZW5yb290\r\n\r\n");
    let a = request(sim.addr, &head, b"");
    assert_eq!((a.status(), a.body.len() as u64), (200, 4 * MIB));

    // An unknown disk is an exception before the head: 500, and the caller's task fails.
    let t = task(&mut session, "VDI export");
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&task_id={t}&vdi=nope"));
    assert_eq!(a.status(), 500);
    assert_eq!(outcome(&mut session, &t).1, ["UUID_INVALID", "VDI", "nope"]);
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}"));
    assert_eq!(a.status(), 500);
    assert!(String::from_utf8_lossy(&a.body).contains("Missing vdi query parameter"));

    // Formats: an unknown one, and those xapi has but the simulator lacks.
    for (format, why) in
        [("qed", "Unknown format qed"), ("QCOW2", "xapi-sim does not implement the qcow2 disk format (use raw or vhd)")]
    {
        let t = task(&mut session, "VDI export");
        let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid}&format={format}"));
        assert_eq!(a.status_line, "HTTP/1.0 404 Not Found");
        assert_eq!(outcome(&mut session, &t).1, ["INTERNAL_ERROR", why]);
    }
}

#[test]
fn imports_are_refused_in_xapis_order() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (_, uuid) = new_vdi(&mut session, 4 * MIB);
    let sr = sr_named(&mut session, "NFS virtual disk storage");
    let cases: &[(&str, &str, u16, &[&str])] = &[
        ("", "", 400, &["VDI_MISSING"]),
        ("&vdi={uuid}&format=Weird", "", 404, &["INTERNAL_ERROR", "Unknown format Weird"]),
        ("&vdi={uuid}&format=vhd&chunked", "", 404, &["INTERNAL_ERROR", "Cannot handle chunked VHD"]),
        ("&vdi={uuid}", "Transfer-Encoding: chunked\r\n", 404, &["INTERNAL_ERROR", "Cannot handle encoding: chunked"]),
        (
            "&sr_id={sr}&format=vhd",
            "",
            400,
            &["INTERNAL_ERROR", "Importing a VHD directly into an SR not yet supported"],
        ),
        ("&sr_id=OpaqueRef:nothing", "", 400, &["HANDLE_INVALID", "SR", "OpaqueRef:nothing"]),
        (
            "&vdi={uuid}",
            "",
            400,
            &[
                "INTERNAL_ERROR",
                "xapi-sim cannot read an upload without Content-Length (its HTTP server takes it as empty)",
            ],
        ),
    ];
    for (query, extra, status, error) in cases {
        let t = task(&mut session, "VDI import");
        let query = query.replace("{uuid}", &uuid).replace("{sr}", &sr);
        let head =
            format!("PUT /import_raw_vdi?session_id={sid}&task_id={t}{query} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let body: &[u8] = if extra.is_empty() { b"" } else { b"3\r\nabc\r\n0\r\n\r\n" };
        let a = request(sim.addr, &head, body);
        assert_eq!(a.status(), *status, "{query} {extra}");
        assert_eq!(outcome(&mut session, &t).1, *error, "{query} {extra}");
    }
    // Raw into an SR without a length: not enough to make a disk.
    let t = task(&mut session, "VDI import");
    let head = format!("PUT /import_raw_vdi?session_id={sid}&task_id={t}&sr_id={sr} HTTP/1.0\r\n\r\n");
    let a = request(sim.addr, &head, b"abc");
    assert_eq!(a.status_line, "HTTP/1.0 400 Bad Request");
    assert_eq!(outcome(&mut session, &t).1, ["INTERNAL_ERROR", "Not enough info supplied to import"]);
}

#[test]
fn a_raw_import_into_an_sr_makes_a_disk_of_its_length() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let sr_uuid = {
        let sr = sr_named(&mut session, "NFS virtual disk storage");
        text(&call(&mut session, "SR.get_uuid", &[s(&sr)]))
    };
    let data = pattern(9, (5 * MIB) as usize);
    let t = task(&mut session, "VDI import");
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&sr_uuid={sr_uuid}"), &data);
    assert_eq!(a.status(), 200);
    let (status, _, result) = outcome(&mut session, &t);
    assert_eq!(status, "success");
    let vdi = result.strip_prefix("<value>").and_then(|r| r.strip_suffix("</value>")).expect("a ref").to_string();
    assert_eq!(text(&call(&mut session, "VDI.get_name_label", &[s(&vdi)])), "Imported VDI");
    assert_eq!(text(&call(&mut session, "VDI.get_type", &[s(&vdi)])), "user");
    // The SR's driver rounds the size up to whole VHD blocks.
    assert_eq!(call(&mut session, "VDI.get_virtual_size", &[s(&vdi)]).as_int(), Some(6 * MIB as i64));
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={vdi}"));
    assert_eq!(&a.body[..data.len()], &data[..]);
}

#[test]
fn the_head_of_an_import_comes_before_its_body_and_failures_after_it_are_in_the_task() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (_, uuid) = new_vdi(&mut session, 2 * MIB);
    // As the real xe does: send the head, read the answer's head, then the body.
    let t = task(&mut session, "VDI import");
    let mut tcp = TcpStream::connect(sim.addr).expect("connect");
    let head =
        format!("PUT /import_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid} HTTP/1.0\r\nContent-length: 4\r\n\r\n");
    tcp.write_all(head.as_bytes()).expect("head");
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).expect("the answer's head before any body byte");
        got.push(byte[0]);
    }
    assert!(got.starts_with(b"HTTP/1.0 200 OK\r\n"));
    assert_eq!(text(&call(&mut session, "task.get_status", &[s(&t)])), "pending");
    tcp.write_all(b"data").expect("body");
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).expect("closed at the end");
    assert_eq!(outcome(&mut session, &t).0, "success");

    // A body longer than the disk, or one that ends early: the task says so.
    let t = task(&mut session, "VDI import");
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid}"), &vec![1; 3 << 20]);
    assert_eq!(a.status(), 200);
    assert_eq!(outcome(&mut session, &t).1, ["VDI_IO_ERROR", "Device I/O errors"]);
    // (The client ends its side of the connection after ten bytes.)
    let t = task(&mut session, "VDI import");
    let mut tcp = TcpStream::connect(sim.addr).expect("connect");
    let head =
        format!("PUT /import_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid} HTTP/1.0\r\nContent-Length: 100\r\n\r\n");
    tcp.write_all(head.as_bytes()).expect("head");
    tcp.write_all(b"only ten..").expect("body");
    tcp.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    assert!(raw.starts_with(b"HTTP/1.0 200 OK"));
    assert_eq!(outcome(&mut session, &t).1, ["VDI_IO_ERROR", "Device I/O errors"]);
    // A VHD that is not one.
    let t = task(&mut session, "VDI import");
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={uuid}&format=vhd"), b"junk");
    assert_eq!(a.status(), 200);
    assert_eq!(outcome(&mut session, &t).1, ["VDI_IO_ERROR", "Device I/O errors"]);
}

#[test]
fn chunked_framing_writes_records_where_they_say() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (vdi, _) = new_vdi(&mut session, 8 * MIB);
    let mut body = Vec::new();
    for (offset, data) in [(5 * MIB + 3, &b"late"[..]), (10, &b"early"[..])] {
        body.extend_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
    }
    body.extend_from_slice(&[0; 12]);
    let t = task(&mut session, "VDI import");
    let a = put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}&chunked=true"), &body);
    assert_eq!(a.status(), 200);
    assert_eq!(outcome(&mut session, &t).0, "success");
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={vdi}"));
    assert_eq!(&a.body[10..15], b"early");
    assert_eq!(&a.body[(5 * MIB + 3) as usize..][..4], b"late");
    assert_eq!(a.body.iter().filter(|&&b| b != 0).count(), 9);
}

#[test]
fn a_delta_against_a_snapshot_holds_only_the_changed_blocks() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (vdi, uuid) = new_vdi(&mut session, 8 * MIB);
    put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&vdi={vdi}"), &pattern(1, (6 * MIB) as usize));
    let snap = text(&call(&mut session, "VDI.snapshot", &[s(&vdi), Value::Struct(Vec::new())]));
    let snap_uuid = text(&call(&mut session, "VDI.get_uuid", &[s(&snap)]));
    // Change block 1; block 0 and 2 stay as in the snapshot.
    let mut body = Vec::new();
    body.extend_from_slice(&(2 * MIB + 7).to_le_bytes());
    body.extend_from_slice(&3u32.to_le_bytes());
    body.extend_from_slice(b"new");
    body.extend_from_slice(&[0; 12]);
    put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&vdi={uuid}&chunked"), &body);
    std::thread::sleep(Duration::from_millis(100));

    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={uuid}&format=vhd&base={snap}"));
    assert_eq!(a.status(), 200);
    // A differencing VHD (type 4) naming the snapshot as its parent, with one block.
    assert_eq!(&a.body[60..64], &4u32.to_be_bytes());
    let parent: String = a.body[512 + 40..512 + 56].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(parent, snap_uuid.replace('-', ""));
    assert_eq!(a.body.len() as u64, 2048 + 512 + (512 + 2 * MIB) + 512);
    // Applied to a clone of the snapshot, the delta gives the disk's contents.
    let delta = a.body;
    let copy = text(&call(&mut session, "VDI.clone", &[s(&snap), Value::Struct(Vec::new())]));
    let t = task(&mut session, "VDI import");
    put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={copy}&format=vhd"), &delta);
    assert_eq!(outcome(&mut session, &t).0, "success");
    let mine = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={uuid}")).body;
    assert!(get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={copy}")).body == mine);
    // Raw with a base: unchanged blocks come out as zeros.
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={uuid}&base={snap_uuid}"));
    assert_eq!(a.body.len() as u64, 8 * MIB);
    assert!(a.body[..(2 * MIB) as usize].iter().all(|&b| b == 0));
    assert_eq!(&a.body[(2 * MIB + 7) as usize..][..3], b"new");
    assert!(a.body[(4 * MIB) as usize..].iter().all(|&b| b == 0));
    // The snapshot kept the old contents.
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&vdi={snap}"));
    assert_eq!(&a.body[..(6 * MIB) as usize], &pattern(1, (6 * MIB) as usize)[..]);
}

#[test]
fn a_disk_on_storage_this_host_cannot_see_is_redirected_to_one_that_can() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    // The local storage of the second host, which the master cannot see.
    let hosts = call(&mut session, "host.get_all", &[]);
    let master = {
        let pool = call(&mut session, "pool.get_all", &[]);
        text(&call(&mut session, "pool.get_master", &[pool.as_array().expect("pools")[0].clone()]))
    };
    let other = hosts.as_array().expect("hosts").iter().map(text).find(|h| *h != master).expect("a member");
    let address = text(&call(&mut session, "host.get_address", &[s(&other)]));
    let pbds = call(&mut session, "host.get_PBDs", &[s(&other)]);
    let srs: Vec<String> = pbds
        .as_array()
        .expect("pbds")
        .iter()
        .map(|p| text(&call(&mut session, "PBD.get_SR", std::slice::from_ref(p))))
        .collect();
    let local_sr = srs
        .into_iter()
        .find(|sr| text(&call(&mut session, "SR.get_name_label", &[s(sr)])) == "Local storage")
        .expect("its local SR");
    let record = Value::Struct(vec![
        ("name_label".into(), s("local")),
        ("SR".into(), s(&local_sr)),
        ("virtual_size".into(), Value::Int(4 << 20)),
        ("type".into(), s("user")),
        ("sharable".into(), Value::Bool(false)),
        ("read_only".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
    ]);
    let vdi = text(&call(&mut session, "VDI.create", &[record]));
    let t = task(&mut session, "VDI export");
    let path = format!("/export_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}");
    let a = get(sim.addr, &path);
    assert_eq!(a.status(), 302);
    assert_eq!(a.header("location"), Some(format!("https://{address}{path}").as_str()));
    assert_eq!(text(&call(&mut session, "task.get_status", &[s(&t)])), "pending", "the task is left for that host");
    // The same request reaching that host (by its address) is served.
    let a = request(sim.addr, &format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"), b"");
    assert_eq!((a.status(), a.body.len()), (200, 4 << 20));
    assert_eq!(outcome(&mut session, &t).0, "success");
}

#[test]
fn a_cancelled_export_stops_and_says_so() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (vdi, _) = new_vdi(&mut session, 256 * MIB);
    let t = task(&mut session, "VDI export");
    let mut tcp = TcpStream::connect(sim.addr).expect("connect");
    tcp.write_all(format!("GET /export_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi} HTTP/1.0\r\n\r\n").as_bytes())
        .expect("request");
    let mut first = [0u8; 4096];
    tcp.read_exact(&mut first).expect("the transfer starts");
    call(&mut session, "task.cancel", &[s(&t)]);
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!((rest.len() as u64) < 256 * MIB, "the transfer stopped");
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!((status.as_str(), info), ("cancelled", vec!["TASK_CANCELLED".to_string(), t.clone()]));
}

#[test]
fn snapshots_clones_and_copies_share_blocks_until_written() {
    let sim = sim();
    let mut session = login(&sim, "raw-vdi-tests");
    let sid = session.session_ref().to_string();
    let (vdi, uuid) = new_vdi(&mut session, 8 * MIB);
    put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&vdi={vdi}"), &pattern(5, (4 * MIB) as usize));
    std::thread::sleep(Duration::from_millis(100));
    let disks = sim.core.disks.clone();
    let uuid_of = |session: &mut Session, r: &str| text(&call(session, "VDI.get_uuid", &[s(r)]));
    let same = |a: &str, b: &str, i: u64| match (disks.block(a, i), disks.block(b, i)) {
        (Some(x), Some(y)) => Arc::ptr_eq(&x, &y),
        _ => false,
    };
    let snap = text(&call(&mut session, "VDI.snapshot", &[s(&vdi), Value::Struct(Vec::new())]));
    let clone = text(&call(&mut session, "VDI.clone", &[s(&vdi), Value::Struct(Vec::new())]));
    let sr = text(&call(&mut session, "VDI.get_SR", &[s(&vdi)]));
    let copy = text(&call(&mut session, "VDI.copy", &[s(&vdi), s(&sr), s("OpaqueRef:NULL"), s("OpaqueRef:NULL")]));
    let (snap_u, clone_u, copy_u) =
        (uuid_of(&mut session, &snap), uuid_of(&mut session, &clone), uuid_of(&mut session, &copy));
    for other in [&snap_u, &clone_u, &copy_u] {
        assert!(same(&uuid, other, 0) && same(&uuid, other, 1), "{other} shares the disk's blocks");
    }
    // Writing the disk gives it a block of its own; the others keep theirs.
    put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&vdi={vdi}"), b"changed");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!same(&uuid, &snap_u, 0) && same(&uuid, &snap_u, 1));
    assert_eq!(disks.read_at(&uuid, 0, 7).expect("read"), b"changed");
    assert_eq!(disks.read_at(&snap_u, 0, 7).expect("read"), pattern(5, 7));
    // The written disk's VHD holds one block of its own over its parent.
    let phys = call(&mut session, "VDI.get_physical_utilisation", &[s(&vdi)]).as_int().expect("an int");
    assert_eq!(phys, 4096 + (2 * MIB as i64 + 4096));
    // Growing keeps the data; destroying frees the disk once committed.
    call(&mut session, "VDI.resize", &[s(&clone), Value::Int(16 << 20)]);
    assert_eq!(disks.read_at(&clone_u, 0, 7).expect("read"), pattern(5, 7));
    call(&mut session, "VDI.destroy", &[s(&copy)]);
    assert_eq!(disks.allocated(&copy_u), 0);
    // A VM snapshot shares its disks' blocks too.
    let vms = call(&mut session, "VM.get_by_name_label", &[s("test-halted")]);
    let vm = vms.as_array().expect("vms")[0].clone();
    let disk = {
        let vdis = call(&mut session, "VDI.get_by_name_label", &[s("test-halted 0")]);
        uuid_of(&mut session, &text(&vdis.as_array().expect("vdis")[0]))
    };
    let vm_snap = call(&mut session, "VM.snapshot", &[vm, s("snap")]);
    let vbds = call(&mut session, "VM.get_VBDs", &[vm_snap]);
    let vdis: Vec<String> = vbds
        .as_array()
        .expect("vbds")
        .iter()
        .map(|b| text(&call(&mut session, "VBD.get_VDI", std::slice::from_ref(b))))
        .collect();
    let snap_disks: Vec<String> = vdis
        .into_iter()
        .filter(|v| v != "OpaqueRef:NULL" && call(&mut session, "VDI.get_type", &[s(v)]) != s("iso"))
        .collect();
    let snap_disk = uuid_of(&mut session, &snap_disks[0]);
    assert!(same(&disk, &snap_disk, 0));
}

#[test]
fn an_acknowledged_import_survives_kill_9() {
    let dir = std::env::temp_dir().join(format!("xapi-sim-raw-vdi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let state = dir.join("pool.json");
    let start = || {
        let ready = dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xapi-sim"))
            .args(["--time-scale", "0", "--state"])
            .arg(&state)
            .arg("--ready-file")
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("xapi-sim");
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let port: u16 =
                    text.lines().find_map(|l| l.strip_prefix("port=")).expect("port").parse().expect("a port");
                return (child, SocketAddr::from(([127, 0, 0, 1], port)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("xapi-sim did not start");
    };
    let login_at = |addr: SocketAddr| {
        let conn = Connection::new(&format!("http://{addr}"), Options::new(Tls::Insecure)).expect("connection");
        Session::login(conn, "root", "xenroot", "raw-vdi-tests").expect("login")
    };
    let (mut child, addr) = start();
    let mut session = login_at(addr);
    let sid = session.session_ref().to_string();
    let (vdi, _) = {
        let sr = sr_named(&mut session, "NFS virtual disk storage");
        let record = Value::Struct(vec![
            ("SR".into(), s(&sr)),
            ("virtual_size".into(), Value::Int(8 << 20)),
            ("type".into(), s("user")),
            ("sharable".into(), Value::Bool(false)),
            ("read_only".into(), Value::Bool(false)),
            ("other_config".into(), Value::Struct(Vec::new())),
        ]);
        (text(&call(&mut session, "VDI.create", &[record])), ())
    };
    let data = pattern(11, (5 * MIB) as usize);
    let t = task(&mut session, "VDI import");
    put(addr, &format!("/import_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}"), &data);
    assert_eq!(outcome(&mut session, &t).0, "success");
    let snap = text(&call(&mut session, "VDI.snapshot", &[s(&vdi), Value::Struct(Vec::new())]));
    child.kill().expect("kill -9");
    let _ = child.wait();

    let (mut child, addr) = start();
    let mut session = login_at(addr);
    let sid = session.session_ref().to_string();
    for disk in [&vdi, &snap] {
        let a = get(addr, &format!("/export_raw_vdi?session_id={sid}&vdi={disk}"));
        assert_eq!(&a.body[..data.len()], &data[..], "{disk} after a restart");
    }
    // Destroyed disks leave no block files behind.
    call(&mut session, "VDI.destroy", &[s(&snap)]);
    call(&mut session, "VDI.destroy", &[s(&vdi)]);
    let blocks = dir.join("pool.json.disks").join("blocks");
    let left = std::fs::read_dir(&blocks).expect("blocks").count();
    // The demo disks' payloads remain: one or two blocks each.
    assert!(left <= 8, "{left} block files left");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
