//! Performance alarms, as xapi's perfmon daemon raises them: a VM or host
//! whose `other_config:perfmon` holds
//! `<config><variable><name value="cpu_usage"/><alarm_trigger_level value="0.5"/></variable></config>`
//! gets an `ALARM` message when the variable has been past its level for
//! `alarm_trigger_period` seconds (default 60), at most once per
//! `alarm_auto_inhibit_period` (default 3600). Values come from the
//! metrics model at perfmon's 60-second steps: `cpu_usage` (the mean of the
//! `cpuN` sources), `network_usage` (VIFs' or PIFs' rx and tx), `disk_usage`
//! (VBDs' reads and writes), `memory_internal_free` and `memory_free_kib`
//! (low is bad), or any sources named by `rrd_regex` (summed). The body is
//! perfmon's: `value: %f`, then the variable's configuration.
//! Checks run every `--perfmon-interval` seconds (xapi's perfmon: 300).

use crate::core::Core;
use crate::db::Db;
use crate::metrics::{self, Source};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// perfmon's step between the values it checks, seconds.
const STEP: i64 = 60;

/// One `<variable>` of a perfmon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    /// The child elements as given, `(tag, value)`, for the message body.
    pub tags: Vec<(String, String)>,
    pub level: f64,
    pub period: i64,
    pub inhibit: i64,
    pub high: bool,
    pub priority: i64,
    pub regex: Option<String>,
}

/// Parses a perfmon configuration; variables that perfmon would refuse
/// (no level and no default, numbers that do not parse) are left out.
pub fn parse(xml: &str) -> Vec<Variable> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().as_ref() == b"variable" => current = Some(Vec::new()),
            Ok(Event::End(e)) if e.name().as_ref() == b"variable" => {
                if let Some(v) = current.take().and_then(variable) {
                    out.push(v);
                }
            }
            Ok(Event::Empty(e)) => {
                if let Some(tags) = current.as_mut() {
                    let value = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == b"value")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                    tags.push((String::from_utf8_lossy(e.name().as_ref()).into_owned(), value));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn variable(tags: Vec<(String, String)>) -> Option<Variable> {
    let get = |t: &str| tags.iter().find(|(k, _)| k == t).map(|(_, v)| v.clone());
    let name = get("name")?;
    let level = match get("alarm_trigger_level") {
        Some(l) => l.parse().ok()?,
        None => match name.as_str() {
            "fs_usage" | "log_fs_usage" => 0.9,
            "mem_usage" => 0.95,
            _ => return None,
        },
    };
    let int = |t: &str, default: i64| get(t).map_or(Some(default), |v| v.parse().ok());
    let sense = get("alarm_trigger_sense").unwrap_or_else(|| {
        if matches!(name.as_str(), "memory_internal_free" | "memory_free_kib") { "low" } else { "high" }.to_string()
    });
    Some(Variable {
        level,
        period: int("alarm_trigger_period", 60)?,
        inhibit: int("alarm_auto_inhibit_period", 3600)?,
        high: sense == "high",
        priority: int("alarm_priority", 3)?,
        regex: get("rrd_regex"),
        name,
        tags,
    })
}

/// The message body: perfmon's `value: %f\nconfig:\n` and the variable as
/// Python's `toprettyxml` writes it (tab-indented children).
pub fn body(v: &Variable, value: f64) -> String {
    let mut s = format!("value: {value:.6}\nconfig:\n<variable>\n");
    for (tag, val) in &v.tags {
        s.push_str(&format!("\t<{tag} value=\"{}\"/>\n", val.replace('&', "&amp;").replace('"', "&quot;")));
    }
    s.push_str("</variable>\n");
    s
}

/// Whether a data source feeds a variable, and how its values combine.
fn feeds(v: &Variable, vm: bool, source: &str) -> bool {
    if let Some(re) = &v.regex {
        return simple_match(re, source);
    }
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match v.name.as_str() {
        "cpu_usage" if vm => source.strip_prefix("cpu").is_some_and(num),
        "cpu_usage" => source == "cpu_avg",
        "network_usage" if vm => source.starts_with("vif_") && (source.ends_with("_rx") || source.ends_with("_tx")),
        "network_usage" => {
            source.starts_with("pif_")
                && !source.contains("aggr")
                && (source.ends_with("_rx") || source.ends_with("_tx"))
        }
        "disk_usage" => source.starts_with("vbd_") && (source.ends_with("_read") || source.ends_with("_write")),
        other => source == other,
    }
}

/// `rrd_regex` limited to what configurations use: literal names and
/// alternatives (`a|b`), matched whole; anything fancier matches nothing.
fn simple_match(re: &str, source: &str) -> bool {
    if re.chars().any(|c| "[]()*+?.\\^$".contains(c)) {
        return false;
    }
    re.split('|').any(|alt| alt == source)
}

/// The variable's value at time `t`: the mean for `cpu_usage`, else the sum.
fn value(v: &Variable, vm: bool, sources: &[Source], t: i64) -> Option<f64> {
    let fed: Vec<f64> = sources.iter().filter(|s| feeds(v, vm, &s.name)).map(|s| s.model.at(t)).collect();
    if fed.is_empty() {
        return None;
    }
    let sum: f64 = fed.iter().sum();
    Some(if v.name == "cpu_usage" { sum / fed.len() as f64 } else { sum })
}

/// When each (object, variable) last raised an alarm.
pub type LastAlarms = HashMap<(String, String), i64>;

/// One perfmon pass at time `now`: files an ALARM for every configured
/// variable that has been past its level at each 60-second step of its
/// trigger period and has not alarmed within its inhibit period.
pub fn check(db: &mut Db, now: i64, last: &mut LastAlarms) {
    let mut alarms = Vec::new();
    for class in ["VM", "host"] {
        let c = db.cls(class);
        let objects: Vec<String> = db.iter(c).map(|(r, _)| r.clone()).collect();
        for r in objects {
            let Some(config) = db.map_get(&r, "other_config", "perfmon") else { continue };
            let Some(sources) = metrics::sources(db, &r, now) else { continue };
            let uuid = db.string(&r, "uuid");
            let vm = class == "VM";
            for v in parse(&config) {
                let steps = (v.period / STEP).max(1);
                let end = now.div_euclid(STEP) * STEP;
                let values: Option<Vec<f64>> = (0..steps).map(|i| value(&v, vm, &sources, end - i * STEP)).collect();
                let Some(values) = values else { continue };
                let bad = |x: &f64| if v.high { *x > v.level } else { *x < v.level };
                if !values.iter().all(bad) {
                    continue;
                }
                let key = (uuid.clone(), v.name.clone());
                if last.get(&key).is_some_and(|t| now - t < v.inhibit) {
                    continue;
                }
                last.insert(key, now);
                alarms.push((class, uuid.clone(), v.priority, body(&v, values[0])));
            }
        }
    }
    for (class, uuid, priority, text) in alarms {
        crate::rules::pool::file_message(db, "ALARM", priority, class, &uuid, text);
    }
}

/// Runs perfmon passes every `every` until the simulator stops.
pub async fn run(core: Arc<Core>, every: Duration) {
    let mut last = LastAlarms::new();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = core.metrics.now();
        let _ = core.write(|db| {
            check(db, now, &mut last);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_parse_with_perfmons_defaults() {
        let vars = parse(
            r#"<config><variable><name value="cpu_usage"/><alarm_trigger_level value="0.5"/></variable>
               <variable><name value="memory_internal_free"/><alarm_trigger_level value="1024"/></variable>
               <variable><name value="disk_usage"/></variable></config>"#,
        );
        assert_eq!(vars.len(), 2, "disk_usage has no default level");
        assert_eq!((vars[0].period, vars[0].inhibit, vars[0].priority, vars[0].high), (60, 3600, 3, true));
        assert!(!vars[1].high, "low free memory is bad");
        assert_eq!(
            body(&vars[0], 0.8),
            "value: 0.800000\nconfig:\n<variable>\n\t<name value=\"cpu_usage\"/>\n\t<alarm_trigger_level value=\"0.5\"/>\n</variable>\n"
        );
        assert!(feeds(&vars[0], true, "cpu3") && !feeds(&vars[0], true, "cpu_avg"));
        assert!(simple_match("memory|memory_target", "memory_target") && !simple_match("cpu[0-9]+", "cpu0"));
    }
}
