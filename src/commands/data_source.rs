//! `host-`, `vm-` and `sr-data-source-list`, `-query`, `-record` and
//! `-forget`: one call on the one selected object (`<class>.get_data_sources`,
//! `query_data_source`, `record_data_source`, `forget_data_source_archives`),
//! as xe's `*_data_source_*` do. The selector must match exactly one object
//! (a control domain may be selected); the list prints one record per
//! data source, query its value as `%f`.

use crate::commands::args::s;
use crate::commands::select::{self, Selector, Target};
use crate::commands::{CommandSpec, Run};
use crate::context::Context;
use crate::error::{CliError, CmdResult};
use crate::output::record::{Field, Record};
use crate::render::ocaml_float;
use xenapi::Value;

macro_rules! specs {
    ($($name:literal, $help:literal, $f:expr;)*) => {
        /// The family's commands, for `commands::COMMANDS`.
        pub const COMMANDS: &[CommandSpec] = &[$(CommandSpec { name: $name, help: $help, run: Run::Fn($f) },)*];
    };
}

specs! {
    "host-data-source-list", "List the data sources that can be recorded for a host.", |c| list(c, HOST);
    "host-data-source-query", "Print the latest value of a host data source.", |c| query(c, HOST);
    "host-data-source-record", "Start recording a host data source.", |c| record(c, HOST);
    "host-data-source-forget", "Discard the recorded history of a host data source.", |c| forget(c, HOST);
    "vm-data-source-list", "List the data sources that can be recorded for a VM.", |c| list(c, VM);
    "vm-data-source-query", "Print the latest value of a VM data source.", |c| query(c, VM);
    "vm-data-source-record", "Start recording a VM data source.", |c| record(c, VM);
    "vm-data-source-forget", "Discard the recorded history of a VM data source.", |c| forget(c, VM);
    "sr-data-source-list", "List the data sources that can be recorded for an SR.", |c| list(c, SR);
    "sr-data-source-query", "Print the latest value of an SR data source.", |c| query(c, SR);
    "sr-data-source-record", "Start recording an SR data source.", |c| record(c, SR);
    "sr-data-source-forget", "Discard the recorded history of an SR data source.", |c| forget(c, SR);
}

const HOST: Selector = Selector { class: "host", templates: false, dom0: false, single: true };
const VM: Selector = Selector { class: "vm", templates: false, dom0: true, single: true };
const SR: Selector = Selector { class: "sr", templates: false, dom0: false, single: true };

/// The API class of a selector.
fn class(sel: Selector) -> &'static str {
    match sel.class {
        "vm" => "VM",
        "sr" => "SR",
        _ => "host",
    }
}

/// One record of the list, as xe's `data_source_to_kvs` writes it.
fn ds_record(ds: &Value) -> Record {
    let text = |k: &str| ds.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let flag = |k: &str| ds.get(k).and_then(Value::as_bool).unwrap_or(false).to_string();
    let float = |k: &str| ocaml_float(ds.get(k).and_then(Value::as_float).unwrap_or(0.0));
    Record {
        fields: vec![
            Field::plain("name_label", text("name_label")),
            Field::plain("name_description", text("name_description")),
            Field::plain("enabled", flag("enabled")),
            Field::plain("standard", flag("standard")),
            Field::plain("min", float("min")),
            Field::plain("max", float("max")),
            Field::plain("units", text("units")),
        ],
    }
}

/// OCaml's `%f`.
fn printf_f(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:.6}")
    }
}

fn one(ctx: &mut Context, sel: Selector) -> CmdResult<Target> {
    select::select(ctx, sel)?.into_iter().next().ok_or_else(|| CliError::Internal("empty selection".into()))
}

/// Runs `method` of the class on the selected object, with the `data-source=` argument if asked.
fn run(ctx: &mut Context, sel: Selector, method: &str, with_name: bool) -> CmdResult<Value> {
    let name = if with_name { Some(ctx.params.required("data-source")?.to_string()) } else { None };
    let target = one(ctx, sel)?;
    let mut args = vec![s(&target.r)];
    args.extend(name.iter().map(|n| s(n)));
    ctx.call(&format!("{}.{method}", class(sel)), args)
}

fn list(ctx: &mut Context, sel: Selector) -> CmdResult {
    let answer = run(ctx, sel, "get_data_sources", false)?;
    let records: Vec<Record> = answer.as_array().unwrap_or(&[]).iter().map(ds_record).collect();
    ctx.printer.records(&records);
    Ok(())
}

fn query(ctx: &mut Context, sel: Selector) -> CmdResult {
    let answer = run(ctx, sel, "query_data_source", true)?;
    let v = answer.as_float().or_else(|| answer.as_str().and_then(|t| t.parse().ok())).unwrap_or(f64::NAN);
    ctx.printer.list(&[printf_f(v)]);
    Ok(())
}

fn record(ctx: &mut Context, sel: Selector) -> CmdResult {
    run(ctx, sel, "record_data_source", true).map(|_| ())
}

fn forget(ctx: &mut Context, sel: Selector) -> CmdResult {
    run(ctx, sel, "forget_data_source_archives", true).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_ocaml_printf_f() {
        assert_eq!(printf_f(0.25), "0.250000");
        assert_eq!(printf_f(2_147_483_648.0), "2147483648.000000");
        assert_eq!(printf_f(f64::NAN), "nan");
        assert_eq!(printf_f(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn list_records_follow_xe() {
        let v = Value::Struct(vec![
            ("name_label".into(), Value::str("cpu0")),
            ("enabled".into(), Value::Bool(true)),
            ("max".into(), Value::Float(f64::INFINITY)),
        ]);
        let rec = ds_record(&v);
        let texts: Vec<&str> = rec.fields.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(texts, ["cpu0", "", "true", "false", "0.", "inf", ""]);
    }
}
