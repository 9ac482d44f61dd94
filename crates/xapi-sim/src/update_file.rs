//! The simulator's update files (a leaf): what `pool_update.introduce` reads
//! from the first bytes of an uploaded VDI, in place of the ISO whose
//! `update.xml` xapi reads.
//!
//! A simulated update file starts with one `<update>` element, with the
//! attributes and the `<name-description>` child of xapi's `update.xml`;
//! whatever follows the closing `</update>` is payload and ignored:
//!
//! ```xml
//! <update uuid="…" name-label="XS83E001" version="1.0"
//!         installation-size="10485760" after-apply-guidance="restartHost"
//!         key="RPM-GPG-KEY-XS" enforce-homogeneity="false">
//!   <name-description>Security fixes</name-description>
//!   <!-- the simulated precheck, all optional: -->
//!   <requires product-version="8.3.0"/>   <!-- WRONG_SERVER_VERSION otherwise -->
//!   <prerequisite uuid="…"/>              <!-- PREREQUISITE_MISSING until applied -->
//!   <conflict uuid="…"/>                  <!-- CONFLICT_PRESENT once that one is -->
//!   <precheck-failure info="…"/>          <!-- UNKNOWN_ERROR, always -->
//!   <livepatch status="complete"/>        <!-- or "incomplete": the precheck's answer -->
//! </update>
//! ```
//!
//! Errors are xapi's: a file that does not start with `<update` is
//! INVALID_UPDATE "missing update document (update.xml) in the package.",
//! a missing `uuid`, `name-label`, `version` or `<name-description>` the
//! INVALID_UPDATE of each; an unknown guidance drops them all, as xapi's
//! parser does.

use quick_xml::events::{BytesStart, Event};

/// How much of the VDI `pool_update.introduce` reads.
pub const HEAD: usize = 64 * 1024;

/// What an update file declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateInfo {
    pub uuid: String,
    pub name_label: String,
    pub name_description: String,
    pub version: String,
    pub key: String,
    pub installation_size: i64,
    /// `update_after_apply_guidance` values.
    pub after_apply_guidance: Vec<String>,
    pub enforce_homogeneity: bool,
    /// The host `product_version` it requires, if any.
    pub requires_version: Option<String>,
    pub prerequisites: Vec<String>,
    pub conflicts: Vec<String>,
    /// A precheck that always fails, with this `info`.
    pub precheck_failure: Option<String>,
    /// `complete`, `incomplete` or none (no live patch).
    pub livepatch: Option<String>,
}

const GUIDANCES: &[&str] = &["restartHVM", "restartPV", "restartHost", "restartXAPI"];

fn attrs(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .map(|a| {
            let v = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            (String::from_utf8_lossy(a.key.as_ref()).into_owned(), v)
        })
        .collect()
}

fn get<'a>(attrs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Parses the head of an update file; `Err` is INVALID_UPDATE's `info`.
pub fn parse(head: &[u8]) -> Result<UpdateInfo, String> {
    let missing_doc = || "missing update document (update.xml) in the package.".to_string();
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, r)| r).trim_start(),
        None => text,
    };
    if !text.starts_with("<update") {
        return Err(missing_doc());
    }
    let end = text.find("</update>").map(|i| i + "</update>".len());
    let doc = match end {
        Some(e) => &text[..e],
        None => text.split('\0').next().unwrap_or(""),
    };
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut root: Option<Vec<(String, String)>> = None;
    let mut info = UpdateInfo::default();
    let mut description: Option<String> = None;
    let mut in_description = false;
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.name().as_ref().to_vec();
                if depth == 0 && name == b"update" {
                    root = Some(attrs(&e));
                } else if depth == 1 {
                    child(&mut info, &name, &attrs(&e));
                    in_description = name == b"name-description";
                    if in_description && description.is_none() {
                        description = Some(String::new());
                    }
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                let name = e.name().as_ref().to_vec();
                if depth == 0 && name == b"update" {
                    root = Some(attrs(&e));
                } else if depth == 1 {
                    child(&mut info, &name, &attrs(&e));
                }
            }
            Ok(Event::Text(t)) if in_description => {
                let s = t.decode().map(|s| s.into_owned()).unwrap_or_default();
                if let Some(d) = description.as_mut() {
                    d.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) if in_description => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let c = match name.as_str() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    n => n
                        .strip_prefix("#x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32),
                };
                if let (Some(d), Some(c)) = (description.as_mut(), c) {
                    d.push(c);
                }
            }
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                in_description = false;
                if depth == 0 {
                    break;
                }
            }
            Ok(Event::Eof) => break,
            Err(_) => return Err(missing_doc()),
            _ => {}
        }
    }
    let root = root.ok_or_else(|| "missing <update> in update.xml".to_string())?;
    let need = |k: &str| get(&root, k).map(str::to_string).ok_or_else(|| format!("missing <{k}> in update.xml"));
    info.uuid = need("uuid")?;
    info.name_label = need("name-label")?;
    info.version = need("version")?;
    info.key = match get(&root, "key") {
        Some(k) if !k.is_empty() => k.rsplit('/').next().unwrap_or(k).to_string(),
        _ => String::new(),
    };
    info.installation_size = get(&root, "installation-size").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    info.after_apply_guidance = match get(&root, "after-apply-guidance") {
        None | Some("") => Vec::new(),
        Some(s) => {
            let all: Vec<String> = s.split(',').map(str::to_string).collect();
            if all.iter().all(|g| GUIDANCES.contains(&g.as_str())) {
                all
            } else {
                Vec::new()
            }
        }
    };
    info.enforce_homogeneity =
        get(&root, "enforce-homogeneity").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"));
    // xapi takes the element's one text child: an empty one is missing too.
    info.name_description =
        description.filter(|d| !d.is_empty()).ok_or_else(|| "missing <name-description> in update.xml".to_string())?;
    Ok(info)
}

fn child(info: &mut UpdateInfo, name: &[u8], a: &[(String, String)]) {
    let val = |k: &str| get(a, k).map(str::to_string);
    match name {
        b"requires" => info.requires_version = val("product-version"),
        b"prerequisite" => info.prerequisites.extend(val("uuid")),
        b"conflict" => info.conflicts.extend(val("uuid")),
        b"precheck-failure" => info.precheck_failure = Some(val("info").unwrap_or_default()),
        b"livepatch" => info.livepatch = val("status"),
        _ => {}
    }
}

/// Writes an update file's head for `info` (tests, examples).
pub fn render(info: &UpdateInfo) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
    let mut out = format!(
        "<update uuid=\"{}\" name-label=\"{}\" version=\"{}\" installation-size=\"{}\" after-apply-guidance=\"{}\" key=\"{}\" enforce-homogeneity=\"{}\">\n",
        esc(&info.uuid),
        esc(&info.name_label),
        esc(&info.version),
        info.installation_size,
        info.after_apply_guidance.join(","),
        esc(&info.key),
        info.enforce_homogeneity,
    );
    out.push_str(&format!("  <name-description>{}</name-description>\n", esc(&info.name_description)));
    if let Some(v) = &info.requires_version {
        out.push_str(&format!("  <requires product-version=\"{}\"/>\n", esc(v)));
    }
    for p in &info.prerequisites {
        out.push_str(&format!("  <prerequisite uuid=\"{}\"/>\n", esc(p)));
    }
    for c in &info.conflicts {
        out.push_str(&format!("  <conflict uuid=\"{}\"/>\n", esc(c)));
    }
    if let Some(i) = &info.precheck_failure {
        out.push_str(&format!("  <precheck-failure info=\"{}\"/>\n", esc(i)));
    }
    if let Some(l) = &info.livepatch {
        out.push_str(&format!("  <livepatch status=\"{}\"/>\n", esc(l)));
    }
    out.push_str("</update>\n");
    out
}

/// The uuid of the legacy `pool_patch` of an update: bytes 4 to 7 zeroed,
/// as xapi derives it.
pub fn patch_uuid(update_uuid: &str) -> String {
    let mut parts: Vec<String> = update_uuid.split('-').map(str::to_string).collect();
    if parts.len() == 5 {
        parts[1] = "0000".into();
        parts[2] = "0000".into();
    }
    parts.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UpdateInfo {
        UpdateInfo {
            uuid: "11111111-2222-3333-4444-555555555555".into(),
            name_label: "XS83E001".into(),
            name_description: "Fixes & more".into(),
            version: "1.0".into(),
            key: "RPM-GPG-KEY".into(),
            installation_size: 1024,
            after_apply_guidance: vec!["restartHost".into()],
            enforce_homogeneity: false,
            requires_version: Some("8.3.0".into()),
            prerequisites: vec!["aaaa".into()],
            conflicts: vec!["bbbb".into()],
            precheck_failure: None,
            livepatch: Some("complete".into()),
        }
    }

    #[test]
    fn a_rendered_file_parses_back_with_its_payload_ignored() {
        let mut file = render(&sample()).into_bytes();
        file.extend_from_slice(b"\0\0payload <update>");
        assert_eq!(parse(&file), Ok(sample()));
    }

    #[test]
    fn xapis_errors_for_a_bad_document() {
        assert_eq!(parse(b"ISO9660").unwrap_err(), "missing update document (update.xml) in the package.");
        assert_eq!(parse(b"<update name-label=\"a\" version=\"1\"/>").unwrap_err(), "missing <uuid> in update.xml");
        assert_eq!(
            parse(b"<update uuid=\"u\" name-label=\"a\" version=\"1\"><name-description/></update>").unwrap_err(),
            "missing <name-description> in update.xml"
        );
        let odd = b"<update uuid=\"u\" name-label=\"a\" version=\"1\" after-apply-guidance=\"restartHost,dance\"><name-description>d</name-description></update>";
        assert_eq!(parse(odd).map(|i| i.after_apply_guidance), Ok(vec![]));
    }

    #[test]
    fn a_patch_uuid_zeroes_bytes_four_to_seven() {
        assert_eq!(patch_uuid("11111111-2222-3333-4444-555555555555"), "11111111-0000-0000-4444-555555555555");
    }
}
