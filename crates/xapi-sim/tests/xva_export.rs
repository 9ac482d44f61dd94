//! `/export` and `/export_metadata` over the wire, spoken to in raw HTTP:
//! the heads xapi sends, the XVA's tar layout read back byte by byte
//! (V7 headers, `ova.xml` first, `Ref:N/%08d` blocks each followed by its
//! XXH64, all-zero blocks left out except the first and last, a short last
//! block, two zero blocks at the end), compression, the 302 to a host that
//! sees the VM's storage, failures before the head, metadata-only exports,
//! and cancellation.

// Tests own the terminal and read the environment.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::wire::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use xenapi::client::Session;
use xenapi::Value;

const MIB: u64 = 1 << 20;

fn vm_named(session: &mut Session, name: &str) -> String {
    let vms = call(session, "VM.get_by_name_label", &[s(name)]);
    vms.as_array()
        .expect("a list")
        .iter()
        .map(text)
        .find(|vm| !call(session, "VM.get_is_a_template", &[s(vm)]).as_bool().unwrap_or(true))
        .expect("the VM")
}

/// A new disk of `size` bytes on `sr`, attached to `vm` as `device`.
fn attach_disk(session: &mut Session, vm: &str, sr: &str, size: u64, device: &str) -> String {
    let vdi = new_vdi_on(session, sr, "xva test disk", size);
    let vbd = Value::Struct(vec![
        ("VM".into(), s(vm)),
        ("VDI".into(), s(&vdi)),
        ("userdevice".into(), s(device)),
        ("bootable".into(), Value::Bool(false)),
        ("mode".into(), s("RW")),
        ("type".into(), s("Disk")),
        ("unpluggable".into(), Value::Bool(true)),
        ("empty".into(), Value::Bool(false)),
        ("other_config".into(), Value::Struct(Vec::new())),
        ("qos_algorithm_type".into(), s("")),
        ("qos_algorithm_params".into(), Value::Struct(Vec::new())),
    ]);
    call(session, "VBD.create", &[vbd]);
    vdi
}

/// A client task as xe's Pattern A makes one: progress -1 until a handler takes it.
fn task(session: &mut Session) -> String {
    let t = text(&call(session, "task.create", &[s("Export of VM"), s("")]));
    call(session, "task.set_progress", &[s(&t), Value::Float(-1.0)]);
    t
}

/// Waits for a task to end: (status, error_info, progress).
fn outcome(session: &mut Session, task: &str) -> (String, Vec<String>, f64) {
    let status = wait_task(session, task);
    let info = strings(&call(session, "task.get_error_info", &[s(task)]));
    let progress = call(session, "task.get_progress", &[s(task)]).as_float().unwrap_or(-2.0);
    (status, info, progress)
}

/// One tar member: the raw header, its name and its data.
struct Member {
    header: Vec<u8>,
    name: String,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let t = String::from_utf8_lossy(field);
    u64::from_str_radix(t.trim_matches(|c: char| c == '\0' || c == ' '), 8).expect("octal")
}

/// Reads a tar strictly: members, then exactly two zero blocks and nothing more.
fn untar(bytes: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let h = &bytes[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            assert_eq!(bytes.len(), pos + 1024, "the archive ends with exactly two zero blocks");
            assert!(bytes[pos..].iter().all(|&b| b == 0));
            return out;
        }
        let name = String::from_utf8_lossy(&h[..100]).trim_end_matches('\0').to_string();
        let size = octal(&h[124..136]) as usize;
        let data = bytes[pos + 512..pos + 512 + size].to_vec();
        out.push(Member { header: h.to_vec(), name, data });
        pos += 512 + size.div_ceil(512) * 512;
    }
}

fn xxh(data: &[u8]) -> String {
    format!("{:016X}", xxhash_rust::xxh64::xxh64(data, 0))
}

/// The disk blocks of an archive: (directory, counter, data), each checked
/// against the checksum member that must follow it.
fn blocks(members: &[Member]) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut it = members.iter().skip(1);
    while let Some(m) = it.next() {
        let sum = it.next().expect("a checksum member follows each block");
        assert_eq!(sum.name, format!("{}.xxhash", m.name));
        assert_eq!(String::from_utf8_lossy(&sum.data), xxh(&m.data), "{}", m.name);
        let (dir, counter) = m.name.rsplit_once('/').expect("dir/counter");
        assert_eq!(counter.len(), 8);
        out.push((dir.to_string(), counter.parse().expect("a counter"), m.data.clone()));
    }
    out
}

fn export_path(sid: &str, task: &str, vm: &str, extra: &str) -> String {
    format!("/export?session_id={sid}&task_id={task}&ref={vm}{extra}")
}

#[test]
fn an_export_is_xapis_tar_with_ova_xml_first_and_sparse_checksummed_blocks() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "test-halted");
    // A second disk of 6 MiB: data in its second block only. (The short
    // last block of a size that is not a whole MiB is checked by the
    // unit tests: NFS rounds sizes up to 2 MiB.)
    let nfs = sr_named(&mut session, "NFS virtual disk storage");
    let extra = attach_disk(&mut session, &vm, &nfs, 6 * MIB, "7");
    let payload: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8 | 1).collect();
    let path = format!("/import_raw_vdi?session_id={sid}&vdi={extra}");
    let mut image = vec![0u8; MIB as usize];
    image.extend_from_slice(&payload);
    assert_eq!(put(sim.addr, &path, &image).status(), 200);
    std::thread::sleep(Duration::from_millis(200));

    let t = task(&mut session);
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let a = get(sim.addr, &export_path(&sid, &t, &vm, ""));
    assert_eq!(a.status_line, "HTTP/1.0 200 OK");
    assert_eq!(a.header("task-id"), Some(t.as_str()));
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("content-disposition"), Some("attachment; filename=\"export.xva\""));
    assert_eq!(a.header("connection"), Some("close"));
    assert!(a.header("server").is_some_and(|v| v.starts_with("xapi/")));
    assert_eq!(a.header("content-length"), None, "close-delimited");
    let (status, info, progress) = outcome(&mut session, &t);
    assert_eq!((status.as_str(), info.len(), progress), ("success", 0, 1.0));
    let ops = call(&mut session, "VM.get_current_operations", &[s(&vm)]);
    assert_eq!(ops, Value::Struct(Vec::new()), "the VM is unlocked");

    let members = untar(&a.body);
    let ova = &members[0];
    assert_eq!(ova.name, "ova.xml");
    assert_eq!(&ova.header[100..108], b"0000400\0", "mode 0400");
    assert_eq!(ova.header[156], 0, "V7 typeflag");
    assert_eq!(&ova.header[257..262], &[0u8; 5], "no ustar magic");
    assert!(octal(&ova.header[136..148]).abs_diff(started) < 60, "ova.xml carries the export time");
    let xml = String::from_utf8(ova.data.clone()).expect("utf-8");
    assert!(xml.starts_with("<value><struct><member><name>version</name><value><struct>"), "{}", &xml[..80]);
    assert!(xml.contains("<member><name>export_vsn</name><value>2</value></member>"));
    assert!(xml.contains("<member><name>class</name><value>VM</value></member>"));
    assert!(xml.contains("<member><name>power_state</name><value>Halted</value></member>"));
    assert_eq!(xml.matches("OpaqueRef:").count(), xml.matches("OpaqueRef:NULL").count(), "no internal refs");
    assert!(xml.contains("<value>Ref:"));
    for m in &members[1..] {
        assert_eq!(octal(&m.header[136..148]), 0, "blocks have mtime 0");
    }

    let blocks = blocks(&members);
    let mut dirs: Vec<String> = blocks.iter().map(|b| b.0.clone()).collect();
    dirs.dedup();
    assert_eq!(dirs.len(), 2, "two disks (the CD is not streamed): {dirs:?}");
    let mut sorted = dirs.clone();
    sorted.sort();
    assert_eq!(dirs, sorted, "disks stream in string order of their ids");
    for dir in &dirs {
        let counters: Vec<u64> = blocks.iter().filter(|b| &b.0 == dir).map(|b| b.1).collect();
        let data: Vec<&Vec<u8>> = blocks.iter().filter(|b| &b.0 == dir).map(|b| &b.2).collect();
        if counters.len() == 3 && counters == [0, 2, 16383] {
            // The demo system disk: boot sector, the partition's text, and the last block.
            assert!(String::from_utf8_lossy(&data[0][..512]).contains("XAPI-SIM DEMO DISK"));
            assert!(data.iter().all(|d| d.len() == MIB as usize));
            assert!(data[2].iter().all(|&b| b == 0), "the last block is sent though empty");
        } else {
            assert_eq!(counters, [0, 1, 5], "first, data and last blocks of the small disk");
            assert!(data[0].iter().all(|&b| b == 0), "the first block is sent though empty");
            assert_eq!(data[1].as_slice(), payload.as_slice());
            assert!(data[2].len() == MIB as usize && data[2].iter().all(|&b| b == 0), "the empty last block");
        }
    }
    assert!(xml.contains(&format!("<value>{}</value>", dirs[0])));
}

#[test]
fn compression_wraps_the_same_archive() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "test-halted");
    let mut names = Vec::new();
    for (value, magic) in
        [("gzip", &[0x1f, 0x8b][..]), ("true", &[0x1f, 0x8b][..]), ("zstd", &[0x28, 0xb5, 0x2f, 0xfd][..])]
    {
        let t = task(&mut session);
        let a = get(sim.addr, &export_path(&sid, &t, &vm, &format!("&use_compression={value}")));
        assert_eq!(a.status(), 200);
        assert_eq!(a.header("content-encoding"), None);
        assert!(a.body.starts_with(magic), "{value}");
        assert_eq!(outcome(&mut session, &t).0, "success");
        let mut plain = Vec::new();
        if value == "zstd" {
            zstd::stream::read::Decoder::new(&a.body[..]).unwrap().read_to_end(&mut plain).unwrap();
        } else {
            flate2::read::GzDecoder::new(&a.body[..]).read_to_end(&mut plain).unwrap();
        }
        let members = untar(&plain);
        blocks(&members);
        names.push(members.iter().skip(1).map(|m| m.name.split_once('/').unwrap().1.to_string()).collect::<Vec<_>>());
    }
    // Anything else is no compression.
    let t = task(&mut session);
    let a = get(sim.addr, &export_path(&sid, &t, &vm, "&use_compression=false"));
    let members = untar(&a.body);
    assert_eq!(members[0].name, "ova.xml");
    assert!(names.iter().all(|n| *n == names[0]));
}

#[test]
fn failures_before_the_head_are_500s_and_fail_the_task() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let running = vm_named(&mut session, "web01");
    let t = task(&mut session);
    let a = get(sim.addr, &export_path(&sid, &t, &running, ""));
    assert_eq!(a.status(), 500);
    assert_eq!(a.header("content-type"), Some("text/html"));
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!(status, "failure");
    assert_eq!(
        info,
        vec!["VM_BAD_POWER_STATE".to_string(), running.clone(), "halted, suspended".into(), "running".into()]
    );

    let halted = vm_named(&mut session, "test-halted");
    let t = task(&mut session);
    let a = get(sim.addr, &export_path(&sid, &t, &halted, "&preserve_power_state=yes"));
    assert_eq!(a.status(), 500);
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!(
        (status.as_str(), info),
        ("failure", vec!["INTERNAL_ERROR".into(), "Invalid argument: bool_of_string".into()])
    );

    // No credentials: 401 with the action as realm.
    let a = get(sim.addr, &format!("/export?ref={halted}"));
    assert_eq!(a.status(), 401);
    assert_eq!(a.header("www-authenticate"), Some("Basic realm=\"VM.export\""));
    // An unknown VM: 500, and the caller's task is left as it was.
    let t = task(&mut session);
    let a = get(sim.addr, &format!("/export?session_id={sid}&task_id={t}&uuid=no-such-vm"));
    assert_eq!(a.status(), 500);
    assert_eq!(text(&call(&mut session, "task.get_status", &[s(&t)])), "pending");
    assert_eq!(call(&mut session, "task.get_progress", &[s(&t)]).as_float(), Some(-1.0));
}

#[test]
fn a_suspended_vm_keeps_its_suspend_image_only_when_asked() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "build-suspended");
    let mut dirs_of = |extra: &str| {
        let t = task(&mut session);
        let a = get(sim.addr, &export_path(&sid, &t, &vm, extra));
        assert_eq!(a.status(), 200);
        assert_eq!(outcome(&mut session, &t).0, "success");
        let members = untar(&a.body);
        let xml = String::from_utf8(members[0].data.clone()).unwrap();
        let mut dirs: Vec<String> = blocks(&members).into_iter().map(|b| b.0).collect();
        dirs.dedup();
        (dirs.len(), xml.contains("<member><name>power_state</name><value>Suspended</value></member>"))
    };
    assert_eq!(dirs_of(""), (1, false));
    assert_eq!(dirs_of("&preserve_power_state=true"), (2, true));
}

#[test]
fn a_vm_on_storage_this_host_cannot_see_is_redirected() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let pool = call(&mut session, "pool.get_all", &[]);
    let master = text(&call(&mut session, "pool.get_master", &[pool.as_array().unwrap()[0].clone()]));
    let hosts = call(&mut session, "host.get_all", &[]);
    let other = hosts.as_array().unwrap().iter().map(text).find(|h| *h != master).expect("a member");
    let address = text(&call(&mut session, "host.get_address", &[s(&other)]));
    let pbds = call(&mut session, "host.get_PBDs", &[s(&other)]);
    let srs: Vec<String> = pbds
        .as_array()
        .unwrap()
        .iter()
        .map(|p| text(&call(&mut session, "PBD.get_SR", std::slice::from_ref(p))))
        .collect();
    let local = srs
        .into_iter()
        .find(|sr| text(&call(&mut session, "SR.get_name_label", &[s(sr)])) == "Local storage")
        .expect("its local SR");
    let vm = vm_named(&mut session, "test-halted");
    attach_disk(&mut session, &vm, &local, 4 * MIB, "8");
    let t = task(&mut session);
    let path = export_path(&sid, &t, &vm, "");
    let a = get(sim.addr, &path);
    assert_eq!(a.status(), 302);
    assert_eq!(a.header("location"), Some(format!("https://{address}{path}").as_str()));
    assert_eq!(text(&call(&mut session, "task.get_status", &[s(&t)])), "pending", "the task is left for that host");
    let a = request(sim.addr, &format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"), b"");
    assert_eq!(a.status(), 200);
    assert_eq!(untar(&a.body)[0].name, "ova.xml");
    assert_eq!(outcome(&mut session, &t).0, "success");
}

#[test]
fn metadata_exports_hold_only_ova_xml_with_a_length() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "web01");
    let ova = |session: &mut Session, extra: &str| {
        let t = task(session);
        let a = get(sim.addr, &format!("/export_metadata?session_id={sid}&task_id={t}&ref={vm}{extra}"));
        (a, t)
    };
    let (a, t) = ova(&mut session, "");
    assert_eq!(a.status_line, "HTTP/1.0 200 OK", "any power state");
    assert_eq!(a.header("content-length"), Some(a.body.len().to_string().as_str()));
    assert_eq!(a.header("task-id"), Some(t.as_str()));
    let members = untar(&a.body);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, "ova.xml");
    let xml = String::from_utf8(members[0].data.clone()).unwrap();
    assert!(xml.contains("<member><name>power_state</name><value>Running</value></member>"), "power state kept");
    assert!(xml.contains("<value>VIF</value>") && xml.contains("<value>VBD</value>"));
    assert_eq!(outcome(&mut session, &t).0, "success");

    let (a, t) = ova(&mut session, "&excluded_device_types=VIF,vbd");
    let xml = String::from_utf8(untar(&a.body)[0].data.clone()).unwrap();
    assert!(!xml.contains("<value>VIF</value>") && !xml.contains("<value>VBD</value>"));
    assert!(!xml.contains("<value>network</value>") && !xml.contains("<value>VDI</value>"));
    assert_eq!(outcome(&mut session, &t).0, "success");

    let (a, t) = ova(&mut session, "&excluded_device_types=vif,pci");
    assert_eq!(a.status(), 500);
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!(status, "failure");
    assert_eq!(
        info,
        vec![
            "INTERNAL_ERROR".to_string(),
            "Failure(\"Importexport.Devicetype.of_string: Type 'pci' not one of [vif; vbd; vgpu; vtpm]\")".into()
        ]
    );
    let (a, t) = ova(&mut session, "&export_snapshots=maybe");
    assert_eq!(a.status(), 500);
    assert_eq!(outcome(&mut session, &t).1[1], "Invalid argument: bool_of_string");

    // all=true: every VM but the default templates (and dom0s unless asked).
    let t = task(&mut session);
    let a = get(sim.addr, &format!("/export_metadata?session_id={sid}&task_id={t}&all=true&include_dom0=false"));
    let xml = String::from_utf8(untar(&a.body)[0].data.clone()).unwrap();
    assert!(xml.contains("<value>web01</value>") && xml.contains("<value>test-halted</value>"));
    assert!(!xml.contains("<member><name>is_control_domain</name><value><boolean>1</boolean>"));
    assert_eq!(outcome(&mut session, &t).0, "success");
}

#[test]
fn a_cancelled_export_stops_and_says_so() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "test-halted");
    let nfs = sr_named(&mut session, "NFS virtual disk storage");
    let size = 64 * MIB;
    let disk = attach_disk(&mut session, &vm, &nfs, size, "9");
    let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8 | 1).collect();
    assert_eq!(put(sim.addr, &format!("/import_raw_vdi?session_id={sid}&vdi={disk}"), &data).status(), 200);
    std::thread::sleep(Duration::from_millis(300));
    let t = task(&mut session);
    let mut tcp = TcpStream::connect(sim.addr).expect("connect");
    tcp.write_all(format!("GET {} HTTP/1.0\r\n\r\n", export_path(&sid, &t, &vm, "")).as_bytes()).expect("request");
    let mut first = [0u8; 4096];
    tcp.read_exact(&mut first).expect("the export starts");
    call(&mut session, "task.cancel", &[s(&t)]);
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!((rest.len() as u64) < size, "the export stopped");
    let (status, info, _) = outcome(&mut session, &t);
    assert_eq!((status.as_str(), info), ("cancelled", vec!["TASK_CANCELLED".to_string(), t.clone()]));
    let ops = call(&mut session, "VM.get_current_operations", &[s(&vm)]);
    assert_eq!(ops, Value::Struct(Vec::new()), "the VM is unlocked");
}

#[test]
fn a_raw_vdi_export_as_tar_is_xva_blocks_without_ova_xml() {
    let sim = sim();
    let mut session = login(&sim, "xva-export-tests");
    let sid = session.session_ref().to_string();
    let vm = vm_named(&mut session, "test-halted");
    let vbds = call(&mut session, "VM.get_VBDs", &[s(&vm)]);
    let vdi = vbds
        .as_array()
        .unwrap()
        .iter()
        .find(|b| text(&call(&mut session, "VBD.get_type", std::slice::from_ref(b))) == "Disk")
        .map(|b| text(&call(&mut session, "VBD.get_VDI", std::slice::from_ref(b))))
        .expect("the system disk");
    let t = text(&call(&mut session, "task.create", &[s("VDI export"), s("")]));
    let a = get(sim.addr, &format!("/export_raw_vdi?session_id={sid}&task_id={t}&vdi={vdi}&format=tar"));
    assert_eq!(a.status(), 200);
    assert_eq!(a.header("content-type"), Some("application/x-tar"));
    assert!(a.header("content-disposition").is_some_and(|d| d.ends_with(".tar\"")));
    assert_eq!(outcome(&mut session, &t).0, "success");
    // The same reader as for an XVA, with a dummy first member in place of ova.xml.
    let mut members = vec![Member { header: Vec::new(), name: "ova.xml".into(), data: Vec::new() }];
    members.extend(untar(&a.body));
    let blocks = blocks(&members);
    let names: Vec<(&str, u64)> = blocks.iter().map(|b| (b.0.as_str(), b.1)).collect();
    assert_eq!(names, [("vdi", 0), ("vdi", 2), ("vdi", 16383)]);
    assert!(String::from_utf8_lossy(&blocks[0].2[..512]).contains("XAPI-SIM DEMO DISK"));
}
