//! `vm-install`: a new VM from a template, in xe's order of calls: find the
//! template, choose the SR (none for a snapshot), clone or copy it, describe
//! it, set its suspend SR, point its `disks` spec at the SR, apply the
//! template's has-vendor-device recommendation, provision the disks. Any
//! failure after the VM exists destroys it again.

use crate::commands::{CommandSpec, Run};
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use xenapi::{Value, NULL_REF};

pub const SPEC: CommandSpec = CommandSpec {
    name: "vm-install",
    help: "Create a VM from a template, provisioning its disks, and print its UUID.",
    run: Run::Fn(run),
};

const SNAPSHOT_WITH_SR: &str = "Do not use the sr-name-label or sr-uuid argument when installing from a snapshot. \
By default, it will install each new disk on the same SR as the corresponding snapshot disks.";

const NO_DEFAULT_SR: &str =
    "Failed to find a valid default SR for the Pool. Please provide an sr-name-label or sr-uuid parameter.";

/// The feature a LICENCE_RESTRICTION names when has-vendor-device is not licensed.
const VENDOR_DEVICE_FEATURE: &str = "PCI_device_for_auto_update";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn refs(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or(&[]).iter().filter_map(Value::as_str).map(str::to_string).collect()
}

/// An object by uuid, or the API error as it came.
fn by_uuid(ctx: &mut Context, class: &str, uuid: &str) -> Result<String, CallError> {
    Api::call(ctx, &format!("{class}.get_by_uuid"), vec![Value::str(uuid)]).map(|v| s(&v))
}

/// Finds the template: `template-uuid=` alone; otherwise
/// `template-name-label=` (or `template-name=`) by name, or `template=` as a
/// uuid and failing that as a name.
fn template(ctx: &mut Context) -> CmdResult<String> {
    if let Some(u) = ctx.params.get("template-uuid").map(str::to_string) {
        return match by_uuid(ctx, "VM", &u) {
            Ok(r) => Ok(r),
            Err(CallError::Api(..)) => Err(CliError::failure("Cannot find template")),
            Err(e) => Err(ctx.describe(e)),
        };
    }
    // xe reads every VM record before it looks at the parameters.
    let all = crate::records::fetch_all(ctx, "VM")?;
    let by_name = |name: &str| -> CmdResult<String> {
        let mut found = all.iter().filter(|(_, r)| {
            r.get("is_a_template").and_then(Value::as_bool) == Some(true)
                && r.get("is_control_domain").and_then(Value::as_bool) != Some(true)
                && r.get("name_label").and_then(Value::as_str) == Some(name)
        });
        match (found.next(), found.next()) {
            (Some((r, _)), None) => Ok(r.clone()),
            (None, _) => Err(CliError::failure("No templates matched")),
            (Some(_), Some(_)) => Err(CliError::failure("More than one matching template found")),
        }
    };
    let named = ctx.params.get("template-name-label").or_else(|| ctx.params.get("template-name"));
    if let Some(name) = named.map(str::to_string) {
        return by_name(&name);
    }
    if let Some(t) = ctx.params.get("template").map(str::to_string) {
        return match by_uuid(ctx, "VM", &t) {
            Ok(r) => Ok(r),
            Err(CallError::Api(..)) => by_name(&t),
            Err(e) => Err(ctx.describe(e)),
        };
    }
    Err(CliError::failure(
        "Template must be specified by parameter 'template-uuid', 'template-name', 'template-name-label' or 'template'",
    ))
}

/// The SR the user chose: `Some(NULL_REF)` for a snapshot (its disks stay
/// where the snapshot's are), `None` when nothing was chosen.
fn chosen_sr(ctx: &mut Context, snapshot: bool) -> CmdResult<Option<String>> {
    let mut sr = None;
    if snapshot {
        if ctx.params.has("sr-name-label") || ctx.params.has("sr-uuid") {
            return Err(CliError::failure(SNAPSHOT_WITH_SR));
        }
        sr = Some(NULL_REF.to_string());
    } else if let Some(u) = ctx.params.get("sr-uuid").map(str::to_string) {
        sr = Some(ctx.lookup_uuid("SR", &u)?);
    }
    let Some(label) = ctx.params.get("sr-name-label").map(str::to_string) else { return Ok(sr) };
    let named = refs(&ctx.call("SR.get_by_name_label", vec![Value::String(label)])?);
    match (sr, named.as_slice()) {
        (_, []) => Err(CliError::failure("No SR with that name-label found")),
        (Some(by_uuid), _) if named.contains(&by_uuid) => Ok(Some(by_uuid)),
        (Some(_), _) => {
            Err(CliError::failure("SR specified via sr-uuid doesn't have the name specified via sr-name-label"))
        }
        (None, [one]) => Ok(Some(one.clone())),
        (None, _) => Err(CliError::failure("Multiple SRs with that name-label found")),
    }
}

/// The first pool, as xe takes it (`List.hd`, an internal error when there is none).
fn first_pool(ctx: &mut Context, none: &str) -> CmdResult<Value> {
    let pools = ctx.call("pool.get_all", vec![])?;
    match pools.as_array().and_then(|a| a.first()) {
        Some(p) => Ok(p.clone()),
        None => Err(ctx.api_error("INTERNAL_ERROR", vec![none.to_string()])),
    }
}

/// The uuid of the pool's default SR; `None` when it is unset or gone.
fn default_sr_uuid(ctx: &mut Context) -> CmdResult<Option<String>> {
    let pool = first_pool(ctx, "Failure: hd")?;
    let sr = ctx.call("pool.get_default_SR", vec![pool])?;
    match Api::call(ctx, "SR.get_uuid", vec![sr]) {
        Ok(u) => Ok(Some(s(&u))),
        Err(CallError::Api(..)) => Ok(None),
        Err(e) => Err(ctx.describe(e)),
    }
}

fn run(ctx: &mut Context) -> CmdResult {
    let tpl = template(ctx)?;
    let tv = Value::str(tpl.as_str());
    if ctx.call("VM.get_is_a_template", vec![tv.clone()])?.as_bool() != Some(true) {
        return Err(CliError::failure("Can only install from templates"));
    }
    let name = ctx.params.required("new-name-label")?.to_string();
    let snapshot = ctx.call("VM.get_is_a_snapshot", vec![tv.clone()])?.as_bool() == Some(true);
    let sr = chosen_sr(ctx, snapshot)?;
    // The suspend SR: the chosen SR if it exists, else the template's own.
    let suspend_sr = match &sr {
        Some(r) => match Api::call(ctx, "SR.get_uuid", vec![Value::str(r.as_str())]) {
            Ok(_) => Value::str(r.as_str()),
            Err(CallError::Api(..)) => ctx.call("VM.get_suspend_SR", vec![tv.clone()])?,
            Err(e) => return Err(ctx.describe(e)),
        },
        None => ctx.call("VM.get_suspend_SR", vec![tv.clone()])?,
    };
    let target = sr.filter(|r| r != NULL_REF);
    // Where the template's disk spec will point.
    let sr_uuid = match &target {
        Some(r) => s(&ctx.call("SR.get_uuid", vec![Value::str(r.as_str())])?),
        None => match default_sr_uuid(ctx)? {
            Some(u) => u,
            None => {
                let other = ctx.call("VM.get_other_config", vec![tv.clone()])?;
                if other.get("disks").is_some() {
                    return Err(CliError::failure(NO_DEFAULT_SR));
                }
                String::new()
            }
        },
    };
    let new = match &target {
        Some(r) => ctx.call("VM.copy", vec![tv.clone(), Value::str(name.as_str()), Value::str(r.as_str())])?,
        None => ctx.call("VM.clone", vec![tv.clone(), Value::str(name.as_str())])?,
    };
    match finish(ctx, &tv, &new, suspend_sr, &sr_uuid) {
        Ok(uuid) => {
            ctx.printer.list(&[uuid]);
            Ok(())
        }
        Err(e) => {
            let _ = Api::call(ctx, "VM.destroy", vec![new]);
            Err(e)
        }
    }
}

fn finish(ctx: &mut Context, tpl: &Value, new: &Value, suspend_sr: Value, sr_uuid: &str) -> CmdResult<String> {
    ctx.call("VM.set_name_description", vec![new.clone(), Value::str("Installed via xe CLI")])?;
    ctx.call("VM.set_suspend_SR", vec![new.clone(), suspend_sr])?;
    let other = ctx.call("VM.get_other_config", vec![new.clone()])?;
    if let Some(spec) = other.get("disks").and_then(Value::as_str) {
        let rewritten = match retarget_disks(spec, sr_uuid) {
            Ok(x) => x,
            Err(e) => return Err(ctx.api_error("INTERNAL_ERROR", vec![format!("XML error: {e}")])),
        };
        ctx.call("VM.remove_from_other_config", vec![new.clone(), Value::str("disks")])?;
        ctx.call("VM.add_to_other_config", vec![new.clone(), Value::str("disks"), Value::String(rewritten)])?;
    }
    vendor_device(ctx, tpl, new)?;
    // The clone is still a template; provisioning creates its disks and makes it a VM.
    ctx.call("VM.provision", vec![new.clone()])?;
    if let Some(host) = ctx.params.get("copy-bios-strings-from").map(str::to_string) {
        let h = ctx.lookup_uuid("host", &host)?;
        ctx.call("VM.copy_bios_strings", vec![new.clone(), Value::String(h)])?;
    }
    let uuid = ctx.call("VM.get_uuid", vec![new.clone()])?;
    Ok(s(&uuid))
}

/// Whether the error says the server has no such call.
fn unknown_call(e: &CallError) -> bool {
    matches!(e, CallError::Api(code, _) if code == "MESSAGE_METHOD_UNKNOWN" || code == "NOT_IMPLEMENTED")
}

/// Sets has-vendor-device as the template recommends, unless the pool's
/// policy forbids it. A missing licence only earns a note on stderr.
fn vendor_device(ctx: &mut Context, tpl: &Value, new: &Value) -> CmdResult {
    // Servers without these calls (they predate the vendor device) give no
    // recommendation: the step then sets false, or nothing if it cannot.
    let recommended = match Api::call(ctx, "VM.get_recommendations", vec![tpl.clone()]) {
        Ok(x) => is_recommended(x.as_str().unwrap_or(""), "has-vendor-device"),
        Err(e) if unknown_call(&e) => false,
        Err(e) => return Err(ctx.describe(e)),
    };
    let pool = first_pool(ctx, "Remote host does not belong to a pool.")?;
    let allowed = match Api::call(ctx, "pool.get_policy_no_vendor_device", vec![pool]) {
        Ok(no) => no.as_bool() != Some(true),
        Err(e) if unknown_call(&e) => false,
        Err(e) => return Err(ctx.describe(e)),
    };
    let want = recommended && allowed;
    match Api::call(ctx, "VM.set_has_vendor_device", vec![new.clone(), want.into()]) {
        Ok(_) => Ok(()),
        Err(CallError::Api(code, params)) if code == "LICENCE_RESTRICTION" && params == [VENDOR_DEVICE_FEATURE] => {
            let name = ctx.call("VM.get_name_label", vec![new.clone()])?;
            ctx.printer.warn(&format!(
                "Note: the VM template recommends setting has-vendor-device=true (to provide the option of \
                 obtaining PV drivers through Windows Update), but a suitable licence has not been deployed for \
                 this host. Ignoring this recommendation and continuing with installation of VM {}...\n\n",
                crate::commands::select::ocaml_string(&s(&name))
            ));
            Ok(())
        }
        Err(e) if !want && unknown_call(&e) => Ok(()),
        Err(e) => Err(ctx.describe(e)),
    }
}

/// Whether the first `<restriction field="FIELD" .../>` of a recommendations
/// document has `value="true"`. Unreadable XML recommends nothing (but a
/// match before the fault counts, as xe reads the document as a stream).
pub fn is_recommended(xml: &str, field: &str) -> bool {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.name().as_ref() == b"restriction" => {
                let attrs: Vec<(Vec<u8>, String)> = e
                    .attributes()
                    .filter_map(Result::ok)
                    .filter_map(|a| Some((a.key.as_ref().to_vec(), a.unescape_value().ok()?.into_owned())))
                    .collect();
                let has = |k: &[u8], v: &str| attrs.iter().any(|(ak, av)| ak == k && av == v);
                if has(b"field", field) {
                    return has(b"value", "true");
                }
            }
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// A parsed XML element, the way xe's XML library holds one: comments,
/// declarations and whitespace-only text dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Element(String, Vec<(String, String)>, Vec<Node>),
    Text(String),
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<Node, String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let value = a.unescape_value().map_err(|x| x.to_string())?.into_owned();
        attrs.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value));
    }
    Ok(Node::Element(name, attrs, Vec::new()))
}

/// Parses a document with exactly one root element.
fn parse_xml(text: &str) -> Result<Node, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    // Open elements, innermost last; the root once closed.
    let mut open: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut text_run = String::new();
    let at = |r: &quick_xml::Reader<&[u8]>| r.buffer_position();
    loop {
        let ev = reader.read_event().map_err(|e| format!("{e} at byte {}", at(&reader)))?;
        let piece = match &ev {
            Event::Text(t) => Some(t.decode().map_err(|e| e.to_string())?.into_owned()),
            Event::CData(t) => Some(t.decode().map_err(|e| e.to_string())?.into_owned()),
            Event::GeneralRef(r) => Some(xenapi::wire::xmlrpc::resolve_entity(r)?.to_string()),
            _ => None,
        };
        if let Some(p) = piece {
            text_run.push_str(&p);
            continue;
        }
        if !text_run.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
            match open.last_mut() {
                Some(Node::Element(_, _, children)) => children.push(Node::Text(std::mem::take(&mut text_run))),
                _ => return Err(format!("text outside the root element at byte {}", at(&reader))),
            }
        }
        text_run.clear();
        let done = match ev {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(format!("a second root element at byte {}", at(&reader)));
                }
                open.push(element(&e)?);
                None
            }
            Event::Empty(e) => {
                if root.is_some() {
                    return Err(format!("a second root element at byte {}", at(&reader)));
                }
                Some(element(&e)?)
            }
            Event::End(_) => open.pop(),
            Event::Eof => {
                if !open.is_empty() {
                    return Err("unexpected end of document: an element is not closed".to_string());
                }
                return root.ok_or_else(|| "no root element".to_string());
            }
            _ => None,
        };
        if let Some(node) = done {
            match open.last_mut() {
                Some(Node::Element(_, _, children)) => children.push(node),
                _ => root = Some(node),
            }
        }
    }
}

/// Escapes text and attribute values as xe's XML printer does.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '>' => out.push_str("&gt;"),
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#x0A;"),
            '\r' => out.push_str("&#x0D;"),
            c => out.push(c),
        }
    }
}

/// Prints a tree compactly: no added whitespace, `<a/>` for an element without children.
fn print_xml(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => escape(t, out),
        Node::Element(name, attrs, children) => {
            out.push('<');
            out.push_str(name);
            for (k, v) in attrs {
                out.push(' ');
                out.push_str(k);
                out.push_str("=\"");
                escape(v, out);
                out.push('"');
            }
            if children.is_empty() {
                out.push_str("/>");
                return;
            }
            out.push('>');
            for c in children {
                print_xml(c, out);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

/// Points a template's disk spec at `sr_uuid`: in a `<provision>` root
/// without attributes, every `<disk>` without children gets its `sr`
/// attribute replaced; nothing else changes. The document is printed back
/// compactly whatever it holds; unparsable XML is an error.
pub fn retarget_disks(spec: &str, sr_uuid: &str) -> Result<String, String> {
    let mut root = parse_xml(spec)?;
    if let Node::Element(name, attrs, disks) = &mut root {
        if name == "provision" && attrs.is_empty() {
            for d in disks.iter_mut() {
                if let Node::Element(tag, attrs, children) = d {
                    if tag == "disk" && children.is_empty() {
                        for (_, v) in attrs.iter_mut().filter(|(k, _)| k == "sr") {
                            *v = sr_uuid.to_string();
                        }
                    }
                }
            }
        }
    }
    let mut out = String::with_capacity(spec.len() + sr_uuid.len());
    print_xml(&root, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_spec_points_at_the_sr() {
        let spec =
            r#"<provision><disk device="0" size="1" sr="" bootable="true"/><disk device="1" sr="old"/></provision>"#;
        assert_eq!(
            retarget_disks(spec, "abc").unwrap(),
            r#"<provision><disk device="0" size="1" sr="abc" bootable="true"/><disk device="1" sr="abc"/></provision>"#
        );
    }

    #[test]
    fn only_sr_attributes_of_childless_disks_under_a_plain_provision_change() {
        let spec = r#"<provision><disk xsr="k" sr="a"><x/></disk><other sr="b"/><disk xsr="k"/></provision>"#;
        assert_eq!(retarget_disks(spec, "n").unwrap(), spec);
        let attributed = r#"<provision v="1"><disk sr="a"/></provision>"#;
        assert_eq!(retarget_disks(attributed, "n").unwrap(), attributed);
        assert_eq!(retarget_disks(r#"<p><disk sr="a"/></p>"#, "n").unwrap(), r#"<p><disk sr="a"/></p>"#);
    }

    #[test]
    fn the_spec_is_printed_back_compactly() {
        let spec = "<?xml version=\"1.0\"?>\n<!-- c -->\n<provision>\n  <disk sr='' size=\"1\"></disk>\n</provision>\n";
        assert_eq!(retarget_disks(spec, "u").unwrap(), r#"<provision><disk sr="u" size="1"/></provision>"#);
        assert_eq!(retarget_disks(r#"<a t="x&amp;&lt;"/>"#, "u").unwrap(), r#"<a t="x&amp;&lt;"/>"#);
        assert_eq!(retarget_disks("<a>b &amp; c</a>", "u").unwrap(), "<a>b &amp; c</a>");
    }

    #[test]
    fn broken_specs_are_errors() {
        for bad in ["", "<provision>", "<provision></disk>", "<a/><b/>", "text", "<a x=1/>", "<a>&bogus;</a>"] {
            assert!(retarget_disks(bad, "u").is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn recommendations_are_read_from_the_first_matching_restriction() {
        let yes = r#"<restrictions><restriction field="has-vendor-device" value="true"/></restrictions>"#;
        assert!(is_recommended(yes, "has-vendor-device"));
        let no = r#"<restrictions><restriction field="has-vendor-device" value="false"/></restrictions>"#;
        assert!(!is_recommended(no, "has-vendor-device"));
        let first = r#"<r><restriction field="f" value="false"/><restriction field="f" value="true"/></r>"#;
        assert!(!is_recommended(first, "f"));
        assert!(!is_recommended("<r><restriction", "f"));
        assert!(!is_recommended("", "f"));
        assert!(is_recommended(r#"<r><restriction value="true" field="f"/><broken"#, "f"));
    }
}
