//! Round-robin archives computed from the model, and the two documents
//! xcp-rrdd writes from them: `rrd_updates` (rrdtool's `xport`, in XML or
//! JSON) and the full dump of one RRD (`/host_rrd`, `/vm_rrd`, `/sr_rrd`).
//!
//! Archives have xapi's steps and lengths: 120 rows of 5 s, 120 of 1 min,
//! 168 of 1 h, 366 of 1 day. A host keeps AVERAGE, MIN and MAX for every
//! level but the first (AVERAGE only); VMs and SRs keep AVERAGE only unless
//! the pool's `other_config:create_min_max_in_new_VM_RRDs` is `true`. A
//! consolidated point is computed from the 5-second samples it covers (all
//! of them up to 12, else 12 spread evenly), so a minute's average is the
//! mean of its twelve 5-second points.

use super::{Source, STEP};
use std::fmt::Write;

/// A consolidation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    Average,
    Min,
    Max,
    Last,
}

impl Cf {
    pub fn name(self) -> &'static str {
        match self {
            Cf::Average => "AVERAGE",
            Cf::Min => "MIN",
            Cf::Max => "MAX",
            Cf::Last => "LAST",
        }
    }

    /// xcp-rrdd's reading of `cf=`: case-sensitive; anything else is no filter.
    pub fn parse(s: &str) -> Option<Cf> {
        match s {
            "AVERAGE" => Some(Cf::Average),
            "MIN" => Some(Cf::Min),
            "MAX" => Some(Cf::Max),
            "LAST" => Some(Cf::Last),
            _ => None,
        }
    }
}

/// One archive: its function, 5-second points per row, rows and xff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rra {
    pub cf: Cf,
    pub pdp: i64,
    pub rows: i64,
    pub xff: f64,
}

/// xapi's archive layout; `min_max` is the host's (and VMs' when the pool asks for it).
pub fn layout(min_max: bool) -> Vec<Rra> {
    let mut out = vec![Rra { cf: Cf::Average, pdp: 1, rows: 120, xff: 0.5 }];
    for (pdp, rows) in [(12, 120), (720, 168), (17_280, 366)] {
        if min_max {
            for cf in [Cf::Average, Cf::Min, Cf::Max] {
                out.push(Rra { cf, pdp, rows, xff: 1.0 });
            }
        } else {
            out.push(Rra { cf: Cf::Average, pdp, rows, xff: 0.5 });
        }
    }
    out
}

impl Rra {
    /// Seconds per row.
    pub fn step(&self) -> i64 {
        self.pdp * STEP
    }

    /// The consolidated point of `source` for the row ending at `end`.
    pub fn value(&self, source: &Source, end: i64) -> f64 {
        if self.pdp == 1 || self.cf == Cf::Last {
            return source.model.at(end);
        }
        let n = self.pdp.min(12);
        let mut sum = 0.0;
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for j in 0..n {
            let v = source.model.at(end - (j * self.pdp / n) * STEP);
            sum += v;
            lo = lo.min(v);
            hi = hi.max(v);
        }
        match self.cf {
            Cf::Min => lo,
            Cf::Max => hi,
            _ => sum / n as f64,
        }
    }
}

/// One object's RRD: its legend prefix (`vm:<uuid>:`), recorded sources and archives.
#[derive(Debug, Clone)]
pub struct Rrd {
    pub prefix: String,
    pub sources: Vec<Source>,
    pub rras: Vec<Rra>,
}

/// What `rrd_updates` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Xport {
    pub start: i64,
    pub step: i64,
    pub end: i64,
    pub legend: Vec<String>,
    pub rows: Vec<(i64, Vec<f64>)>,
}

/// Why there is nothing to export (xapi's `No_RRA_Available`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRra;

/// `Rrd.find_best_rras`: the archives of the first level, in stored order,
/// fine enough for `pdp_interval` that still hold `start`; else those of
/// the coarsest level.
fn best_rras(rras: &[Rra], pdp_interval: i64, cf: Option<Cf>, start: i64, last_update: i64) -> Result<Vec<Rra>, NoRra> {
    let rras: Vec<Rra> = rras.iter().copied().filter(|r| cf.is_none_or(|c| r.cf == c)).collect();
    if rras.is_empty() {
        return Err(NoRra);
    }
    let last_pdp = last_update.div_euclid(STEP) * STEP;
    let contains = |t: i64, r: &Rra| r.pdp >= pdp_interval && t > last_pdp.saturating_sub(STEP * r.rows * r.pdp);
    if let Some(first) = rras.iter().find(|r| contains(start, r)) {
        return Ok(rras.iter().copied().filter(|r| r.rows == first.rows && r.pdp == first.pdp).collect());
    }
    let coarsest = rras[rras.len() - 1];
    let start = 1 + last_pdp - STEP * coarsest.rows * coarsest.pdp;
    Ok(rras.iter().copied().filter(|r| contains(start, r)).collect())
}

/// `Rrd_updates.create_multi`: the rows since `start` (negative: relative
/// to the last update) of every RRD in `rrds`, newest first.
pub fn updates(rrds: &[Rrd], start: i64, interval: i64, cf: Option<Cf>, last_update: i64) -> Result<Xport, NoRra> {
    if rrds.is_empty() {
        return Err(NoRra);
    }
    let start = if start < 0 { start.saturating_add(last_update) } else { start };
    let pdp_interval = interval / STEP;
    let chosen: Vec<Vec<Rra>> =
        rrds.iter().map(|r| best_rras(&r.rras, pdp_interval, cf, start, last_update)).collect::<Result<_, _>>()?;
    let first = *chosen.iter().find_map(|c| c.first()).ok_or(NoRra)?;
    let chosen: Vec<Vec<Rra>> = chosen
        .into_iter()
        .map(|c| c.into_iter().filter(|r| r.rows == first.rows && r.pdp == first.pdp).collect())
        .collect();
    let mut legend = Vec::new();
    for (rrd, rras) in rrds.iter().zip(&chosen) {
        for rra in rras {
            for s in &rrd.sources {
                legend.push(format!("{}:{}{}", rra.cf.name(), rrd.prefix, s.name));
            }
        }
    }
    let step = first.step();
    let end = last_update.div_euclid(step) * step;
    let first_cdp = start.div_euclid(step).saturating_mul(step).saturating_add(step);
    let mut rows = Vec::new();
    let mut i = 0;
    loop {
        let time = end - i * step;
        if time < start || i >= first.rows {
            break;
        }
        let mut values = Vec::with_capacity(legend.len());
        for (rrd, rras) in rrds.iter().zip(&chosen) {
            for rra in rras {
                values.extend(rrd.sources.iter().map(|s| rra.value(s, time)));
            }
        }
        rows.push((time, values));
        i += 1;
    }
    Ok(Xport { start: first_cdp, step, end, legend, rows })
}

/// xcp-rrdd's numbers: `%0.15g`, `0.0` for zero, `NaN`, `Infinity`, `-Infinity`.
pub fn f_to_s(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return "0.0".into();
    }
    crate::values::c_g(x, 15)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Xport {
    /// Xmlm's compact XML, as xcp-rrdd writes it.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(64 + self.legend.len() * 64 + self.rows.len() * self.legend.len() * 24);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = write!(
            out,
            "<xport><meta><start>{}</start><step>{}</step><end>{}</end><rows>{}</rows><columns>{}</columns><legend>",
            self.start,
            self.step,
            self.end,
            self.rows.len(),
            self.legend.len()
        );
        for e in &self.legend {
            let _ = write!(out, "<entry>{}</entry>", escape(e));
        }
        out.push_str("</legend></meta><data>");
        for (t, values) in &self.rows {
            let _ = write!(out, "<row><t>{t}</t>");
            for v in values {
                let _ = write!(out, "<v>{}</v>", f_to_s(*v));
            }
            out.push_str("</row>");
        }
        out.push_str("</data></xport>");
        out
    }

    /// The JSON form: the same structure, every number a string.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.legend.len() * 64 + self.rows.len() * self.legend.len() * 24);
        let _ = write!(
            out,
            "{{\"meta\":{{\"start\":\"{}\",\"step\":\"{}\",\"end\":\"{}\",\"rows\":\"{}\",\"columns\":\"{}\",\"legend\":[",
            self.start,
            self.step,
            self.end,
            self.rows.len(),
            self.legend.len()
        );
        for (i, e) in self.legend.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_str(e));
        }
        out.push_str("]},\"data\":[");
        for (i, (t, values)) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"t\":\"{t}\",\"values\":[");
            for (j, v) in values.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{}\"", f_to_s(*v));
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }
}

/// A source's last raw value as `last_ds` shows it: whole numbers as integers.
fn last_ds(s: &Source, t: i64) -> String {
    let v = s.model.at(t);
    if s.model.whole && v.is_finite() {
        format!("{}", v as i64)
    } else {
        f_to_s(v)
    }
}

/// The rows of `rra` for `s`, oldest first.
fn column(rra: &Rra, s: &Source, last_update: i64) -> impl Iterator<Item = f64> {
    let step = rra.step();
    let end = last_update.div_euclid(step) * step;
    let rows = rra.rows;
    let s = s.clone();
    let rra = *rra;
    (0..rows).map(move |i| rra.value(&s, end - (rows - 1 - i) * step))
}

/// The full dump of one RRD in rrdtool's XML, as `Rrd.xml_to_output` writes it.
pub fn dump_xml(sources: &[Source], rras: &[Rra], last_update: i64) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = write!(out, "<rrd><version>0003</version><step>{STEP}</step><lastupdate>{last_update}</lastupdate>");
    for s in sources {
        let _ = write!(
            out,
            "<ds><name>{}</name><type>{}</type><minimal_heartbeat>300</minimal_heartbeat><min>{}</min><max>{}</max>\
             <last_ds>{}</last_ds><value>0.0</value><unknown_sec>0</unknown_sec></ds>",
            escape(&s.name),
            s.ty,
            f_to_s(s.min),
            f_to_s(s.max),
            last_ds(s, last_update)
        );
    }
    for rra in rras {
        let _ = write!(
            out,
            "<rra><cf>{}</cf><pdp_per_row>{}</pdp_per_row><params><xff>{}</xff></params><cdp_prep>",
            rra.cf.name(),
            rra.pdp,
            f_to_s(rra.xff)
        );
        for _ in sources {
            out.push_str(
                "<ds><primary_value>0.0</primary_value><secondary_value>0.0</secondary_value><value>0.0</value>\
                 <unknown_datapoints>0</unknown_datapoints></ds>",
            );
        }
        out.push_str("</cdp_prep><database>");
        let columns: Vec<Vec<f64>> = sources.iter().map(|s| column(rra, s, last_update).collect()).collect();
        for row in 0..rra.rows as usize {
            out.push_str("<row>");
            for c in &columns {
                let _ = write!(out, "<v>{}</v>", f_to_s(c[row]));
            }
            out.push_str("</row>");
        }
        out.push_str("</database></rra>");
    }
    out.push_str("</rrd>");
    out
}

/// The full dump of one RRD in xcp-rrdd's JSON: the XML's names, every value a string.
pub fn dump_json(sources: &[Source], rras: &[Rra], last_update: i64) -> String {
    use serde_json::{json, Value};
    let s = |x: f64| Value::String(f_to_s(x));
    let ds: Vec<Value> = sources
        .iter()
        .map(|d| {
            json!({
                "name": d.name, "type": d.ty, "minimal_heartbeat": s(300.0), "min": s(d.min), "max": s(d.max),
                "last_ds": last_ds(d, last_update), "value": s(0.0), "unknown_sec": s(0.0),
                "last_updated": s(last_update as f64),
            })
        })
        .collect();
    let rra: Vec<Value> = rras
        .iter()
        .map(|r| {
            let columns: Vec<Vec<f64>> = sources.iter().map(|d| column(r, d, last_update).collect()).collect();
            let database: Vec<Value> =
                (0..r.rows as usize).map(|row| Value::Array(columns.iter().map(|c| s(c[row])).collect())).collect();
            let cdp =
                json!({"primary_value": s(0.0), "secondary_value": s(0.0), "value": s(0.0), "unknown_datapoints": "0"});
            json!({
                "cf": r.cf.name(), "pdp_per_row": r.pdp.to_string(), "params": {"xff": s(r.xff)},
                "cdp_prep": {"ds": vec![cdp; sources.len()]}, "database": database,
            })
        })
        .collect();
    json!({
        "version": "0003", "step": STEP.to_string(), "lastupdate": s(last_update as f64), "ds": ds, "rra": rra,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::Model;
    use super::*;

    fn src(name: &str, v: f64) -> Source {
        Source {
            name: name.into(),
            description: String::new(),
            units: "B",
            ty: "GAUGE",
            min: 0.0,
            max: f64::INFINITY,
            default: true,
            model: Model::constant(v),
        }
    }

    #[test]
    fn numbers_are_written_as_printf_g15() {
        assert_eq!(f_to_s(0.0), "0.0");
        assert_eq!(f_to_s(1.0), "1");
        assert_eq!(f_to_s(0.0282), "0.0282");
        assert_eq!(f_to_s(209_715_200.0), "209715200");
        assert_eq!(f_to_s(1.0 / 3.0), "0.333333333333333");
        assert_eq!(f_to_s(1e20), "1e+20");
        assert_eq!(f_to_s(0.00001234), "1.234e-05");
        assert_eq!(f_to_s(f64::INFINITY), "Infinity");
        assert_eq!(f_to_s(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f_to_s(f64::NAN), "NaN");
    }

    #[test]
    fn the_archive_follows_start_and_interval() {
        let rrds = vec![Rrd { prefix: "vm:u:".into(), sources: vec![src("memory", 5.0)], rras: layout(false) }];
        let now = 1_000_000;
        let x = updates(&rrds, now - 60, 0, None, now).unwrap();
        assert_eq!((x.step, x.end, x.start), (5, now, now - 55));
        assert_eq!(x.rows.len(), 13);
        assert_eq!(x.rows[0].0, now);
        assert_eq!(x.legend, ["AVERAGE:vm:u:memory"]);
        let x = updates(&rrds, now - 3600, 0, None, now).unwrap();
        assert_eq!(x.step, 60);
        let x = updates(&rrds, now - 60, 3600, None, now).unwrap();
        assert_eq!(x.step, 3600);
        // The last hour's row ended before `start`: none.
        assert_eq!((x.end, x.rows.len()), (997_200, 0));
        let x = updates(&rrds, 0, 0, None, now).unwrap();
        assert_eq!((x.step, x.rows.len()), (86_400, 12), "the days since the epoch");
        assert_eq!(updates(&rrds, now - 60, 0, Some(Cf::Max), now), Err(NoRra));
        assert_eq!(updates(&[], 0, 0, None, now), Err(NoRra));
        // Extreme parameters answer (no rows, or no archive), never overflow.
        for (start, interval) in [(i64::MAX, 0), (i64::MIN, 0), (0, i64::MAX), (0, i64::MIN), (-1, -5)] {
            if let Ok(x) = updates(&rrds, start, interval, None, now) {
                assert!(x.rows.len() <= 366);
            }
        }
    }

    #[test]
    fn hosts_keep_min_and_max_after_the_first_level() {
        let rrds =
            vec![Rrd { prefix: "host:h:".into(), sources: vec![src("a", 1.0), src("b", 2.0)], rras: layout(true) }];
        let x = updates(&rrds, -600, 60, None, 1_000_000).unwrap();
        assert_eq!(
            x.legend,
            ["AVERAGE:host:h:a", "AVERAGE:host:h:b", "MIN:host:h:a", "MIN:host:h:b", "MAX:host:h:a", "MAX:host:h:b"]
        );
        assert_eq!(x.rows[0].1, [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
        let xml = x.to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><xport><meta><start>"), "{xml}");
        let json: serde_json::Value = serde_json::from_str(&x.to_json()).unwrap();
        assert_eq!(json["meta"]["step"], "60");
        assert_eq!(json["data"][0]["values"][0], "1");
    }

    #[test]
    fn dumps_have_every_archive() {
        let xml = dump_xml(&[src("memory", 5.0)], &layout(false), 1_000_000);
        assert_eq!(xml.matches("<rra>").count(), 4);
        assert_eq!(xml.matches("<cdp_prep>").count(), xml.matches("</cdp_prep>").count());
        assert_eq!(xml.matches("<row>").count(), 120 + 120 + 168 + 366);
        let json: serde_json::Value =
            serde_json::from_str(&dump_json(&[src("memory", 5.0)], &layout(true), 1_000_000)).unwrap();
        assert_eq!(json["rra"].as_array().unwrap().len(), 10);
        assert_eq!(json["rra"][0]["database"][119][0], "5");
    }
}
