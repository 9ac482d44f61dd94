//! `xe top` (ours, not the real xe's): the pool's running VMs, and its
//! hosts with `--hosts`, with CPU, memory, disk and network rates, read from
//! one `rrd_updates` call per host (each host reached at its own address,
//! as xe reaches a pool member). VMs are chosen with xe's field filters
//! (`name-label=`, `uuid=`, `resident-on=`, ...; running ones unless
//! `power-state=` says otherwise), sorted by `--sort COLUMN` or
//! `sort=COLUMN` (biggest first;
//! `name` alphabetically). Without `--once` it is a live view refreshed
//! every `interval=` seconds on a terminal; `--once` prints one snapshot as
//! a plain table, or as JSON with `--json`, for scripts.

use crate::commands::{CommandSpec, ExtraSpec, Run};
use crate::context::{is_standard_key, Context};
use crate::error::{CliError, CmdResult};
use crate::output::screen::Screen;
use crate::records::{self, ClassView, Filters};
use std::collections::HashMap;
use xenapi::Value;

pub const SPEC: ExtraSpec = ExtraSpec {
    spec: CommandSpec {
        name: "top",
        help: "Show the running VMs (and hosts with --hosts) with their CPU, memory, disk and network use.",
        run: Run::Fn(top),
    },
    reqd: &[],
    optn: &["once", "hosts", "sort", "interval"],
};

/// Our own parameters: everything else is a VM filter.
const OWN: &[&str] = &["once", "hosts", "sort", "interval", "json"];

/// Columns `sort=` takes.
const COLUMNS: &[&str] = &["name", "cpu", "memory", "disk", "net"];

/// One row: a VM or a host.
#[derive(Debug, Clone, Default)]
struct Row {
    kind: &'static str,
    name: String,
    uuid: String,
    host: String,
    /// Percent of the object's vCPUs (or the host's CPUs), averaged.
    cpu: f64,
    /// Bytes in use.
    memory: f64,
    /// Bytes per second.
    disk_read: f64,
    disk_write: f64,
    net_rx: f64,
    net_tx: f64,
}

/// The columns of both views.
const HEADER: [&str; 9] = ["TYPE", "NAME", "HOST", "CPU%", "MEMORY", "DISK-R/s", "DISK-W/s", "NET-RX/s", "NET-TX/s"];

impl Row {
    /// The row's cells under [`HEADER`].
    fn cells(&self) -> [String; 9] {
        [
            self.kind.to_string(),
            self.name.clone(),
            self.host.clone(),
            format!("{:.1}", self.cpu),
            bytes(self.memory),
            bytes(self.disk_read),
            bytes(self.disk_write),
            bytes(self.net_rx),
            bytes(self.net_tx),
        ]
    }

    fn key(&self, column: &str) -> f64 {
        match column {
            "cpu" => self.cpu,
            "memory" => self.memory,
            "disk" => self.disk_read + self.disk_write,
            _ => self.net_rx + self.net_tx,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": self.kind, "name": self.name, "uuid": self.uuid, "host": self.host,
            "cpu_percent": round(self.cpu), "memory_bytes": whole(self.memory),
            "disk_read_bytes_per_s": whole(self.disk_read), "disk_write_bytes_per_s": whole(self.disk_write),
            "net_rx_bytes_per_s": whole(self.net_rx), "net_tx_bytes_per_s": whole(self.net_tx),
        })
    }
}

/// A byte figure as a whole number (data sources are never negative).
fn whole(v: f64) -> u64 {
    v.max(0.0).round() as u64
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The sort column: `sort=COLUMN`, or `--sort COLUMN` (the flag, then the
/// column as a bare word, which is then no filter).
fn sort_column(ctx: &Context) -> (String, Option<String>) {
    let items: Vec<(String, String)> = ctx.params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match items.iter().position(|(k, v)| k == "sort" && v == "true") {
        Some(i) => match items.get(i + 1).filter(|(_, v)| v.is_empty()) {
            Some((word, _)) => (word.to_ascii_lowercase(), Some(word.clone())),
            None => ("true".into(), None),
        },
        None => (ctx.params.get("sort").unwrap_or("cpu").to_ascii_lowercase(), None),
    }
}

fn top(ctx: &mut Context) -> CmdResult {
    let (sort, bare) = sort_column(ctx);
    if !COLUMNS.contains(&sort.as_str()) {
        return Err(CliError::failure(format!("xe top: sort= takes one of {}; got '{sort}'", COLUMNS.join(", "))));
    }
    let interval = match ctx.params.get("interval") {
        None => 5,
        Some(t) => t.parse::<i64>().ok().filter(|n| (1..=3600).contains(n)).ok_or_else(|| {
            CliError::failure(format!("xe top: interval= takes a number of seconds from 1 to 3600; got '{t}'"))
        })?,
    };
    let with_hosts = ctx.params.flag("hosts");
    let skip: Vec<String> = bare.into_iter().collect();
    if !ctx.params.flag("once") {
        if !ctx.printer.stdout_is_terminal() {
            return Err(CliError::failure(
                "xe top: the live view needs a terminal; --once prints one snapshot (with --json, as JSON)",
            ));
        }
        return live(ctx, interval, sort, with_hosts, &skip);
    }
    let mut rows = snapshot(ctx, interval, with_hosts, &skip)?;
    sort_rows(&mut rows, &sort);
    if ctx.params.flag("json") {
        let list: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
        ctx.printer.raw(&format!("{text}\n"));
    } else {
        ctx.printer.raw(&table(&rows));
    }
    Ok(())
}

/// Biggest first by `column`; `name` alphabetically.
fn sort_rows(rows: &mut [Row], column: &str) {
    if column == "name" {
        rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
    } else {
        rows.sort_by(|a, b| b.key(column).total_cmp(&a.key(column)).then(a.name.cmp(&b.name)));
    }
}

/// One reading of the pool: the chosen VMs, and the hosts if asked.
fn snapshot(ctx: &mut Context, interval: i64, with_hosts: bool, skip: &[String]) -> CmdResult<Vec<Row>> {
    let vms = chosen_vms(ctx, skip)?;
    let hosts = records::fetch_all(ctx, "host")?;
    let host_names: HashMap<String, String> = hosts
        .iter()
        .map(|(r, rec)| (r.clone(), rec.get("name_label").and_then(Value::as_str).unwrap_or("").to_string()))
        .collect();
    // Latest values by legend entry (`vm:<uuid>:cpu0`), from every live host.
    let mut latest: HashMap<String, f64> = HashMap::new();
    let (conn, session) = ctx.data_link()?;
    for (_, rec) in &hosts {
        let address = rec.get("address").and_then(Value::as_str).unwrap_or("");
        if address.is_empty() || !host_is_live(ctx, rec) {
            continue;
        }
        let path = format!(
            "/rrd_updates?session_id={session}&start=-{}&interval={interval}&cf=AVERAGE&host=true&json=true",
            interval * 3
        );
        let body = conn
            .to_host(address)
            .and_then(|c| c.transfer_get(&path))
            .map_err(|e| CliError::failure(format!("xe top: reading the metrics of host {address}: {e}")))
            .and_then(|mut t| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut t, &mut text)
                    .map_err(|e| CliError::failure(format!("xe top: reading the metrics of host {address}: {e}")))?;
                Ok((t.status, text))
            })?;
        if body.0 != 200 {
            return Err(CliError::failure(format!("xe top: host {address} answered HTTP {} to rrd_updates", body.0)));
        }
        merge_updates(&body.1, &mut latest)
            .map_err(|why| CliError::failure(format!("xe top: unreadable metrics from host {address}: {why}")))?;
    }
    let mut rows: Vec<Row> = vms
        .iter()
        .map(|(_, rec)| {
            let uuid = rec.get("uuid").and_then(Value::as_str).unwrap_or("").to_string();
            let host = rec.get("resident_on").and_then(Value::as_str).unwrap_or("");
            let mut row = sums(&latest, &format!("vm:{uuid}:"));
            row.kind = "vm";
            row.name = rec.get("name_label").and_then(Value::as_str).unwrap_or("").to_string();
            row.host = host_names.get(host).cloned().unwrap_or_default();
            row.uuid = uuid;
            row
        })
        .collect();
    if with_hosts {
        for (r, rec) in &hosts {
            let uuid = rec.get("uuid").and_then(Value::as_str).unwrap_or("").to_string();
            let mut row = sums(&latest, &format!("host:{uuid}:"));
            let prefix = format!("host:{uuid}:");
            row.cpu = latest.get(&format!("{prefix}cpu_avg")).copied().unwrap_or(0.0) * 100.0;
            let total = latest.get(&format!("{prefix}memory_total_kib")).copied().unwrap_or(0.0);
            let free = latest.get(&format!("{prefix}memory_free_kib")).copied().unwrap_or(0.0);
            row.memory = (total - free).max(0.0) * 1024.0;
            row.kind = "host";
            row.name = host_names.get(r).cloned().unwrap_or_default();
            row.host = row.name.clone();
            row.uuid = uuid;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// CPU readings kept per object for the sparkline: 60 refreshes.
const HISTORY: usize = 60;

/// The live view: refreshed every `interval` seconds (or at once with
/// `r`); `c`, `m`, `d`, `n` sort by CPU, memory, disk, network, `a` by
/// name; arrows move the selection, whose CPU history shows as a
/// sparkline; `q`, Esc or Ctrl-C quit. The screen is restored on every
/// way out ([`Screen`]'s drop).
fn live(ctx: &mut Context, interval: i64, mut sort: String, with_hosts: bool, skip: &[String]) -> CmdResult {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use std::time::{Duration, Instant};
    let io = |e: std::io::Error| CliError::failure(format!("xe top: the terminal: {e}"));
    let mut screen = Screen::enter().map_err(io)?;
    let mut rows: Vec<Row> = Vec::new();
    let mut history: HashMap<String, std::collections::VecDeque<u64>> = HashMap::new();
    let mut selected = 0usize;
    let mut status = String::from("reading...");
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            match snapshot(ctx, interval, with_hosts, skip) {
                Ok(r) => {
                    for row in &r {
                        let h = history.entry(row.uuid.clone()).or_default();
                        if h.len() == HISTORY {
                            h.pop_front();
                        }
                        h.push_back(row.cpu.round().max(0.0) as u64);
                    }
                    rows = r;
                    status.clear();
                }
                Err(e) => status = e.to_string(),
            }
            sort_rows(&mut rows, &sort);
            next = Instant::now() + Duration::from_secs(interval.unsigned_abs());
        }
        selected = selected.min(rows.len().saturating_sub(1));
        screen.draw(|f| draw(f, &rows, selected, &sort, &history, &status, interval)).map_err(io)?;
        if !event::poll(Duration::from_millis(200)).map_err(io)? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(io)? else { continue };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => break,
            KeyCode::Char('q') | KeyCode::Esc => break,
            KeyCode::Char(c @ ('c' | 'm' | 'd' | 'n' | 'a')) => {
                sort = match c {
                    'c' => "cpu",
                    'm' => "memory",
                    'd' => "disk",
                    'n' => "net",
                    _ => "name",
                }
                .to_string();
                sort_rows(&mut rows, &sort);
            }
            KeyCode::Char('r') => next = Instant::now(),
            KeyCode::Up => selected = selected.saturating_sub(1),
            KeyCode::Down => selected += 1,
            _ => {}
        }
    }
    drop(screen);
    Ok(())
}

/// One frame: the table, the selection's CPU sparkline, and a key line.
fn draw(
    f: &mut ratatui::Frame,
    rows: &[Row],
    selected: usize,
    sort: &str,
    history: &HashMap<String, std::collections::VecDeque<u64>>,
    status: &str,
    interval: i64,
) {
    use ratatui::layout::{Constraint, Layout};
    use ratatui::style::{Modifier, Style};
    use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Sparkline, Table};
    let [top, spark, keys] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(5), Constraint::Length(1)]).areas(f.area());
    let header = TableRow::new(HEADER.map(Cell::from)).style(Style::default().add_modifier(Modifier::BOLD));
    let body = rows.iter().enumerate().map(|(i, r)| {
        let row = TableRow::new(r.cells().map(Cell::from));
        if i == selected {
            row.style(Style::default().add_modifier(Modifier::REVERSED))
        } else {
            row
        }
    });
    let widths = [
        Constraint::Length(4),
        Constraint::Min(12),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    let title = format!(" xe top: {} objects, sorted by {sort}, every {interval} s ", rows.len());
    f.render_widget(
        Table::new(body, widths).header(header).block(Block::default().borders(Borders::ALL).title(title)),
        top,
    );
    let (name, points): (String, Vec<u64>) = rows
        .get(selected)
        .map(|r| (r.name.clone(), history.get(&r.uuid).map(|h| h.iter().copied().collect()).unwrap_or_default()))
        .unwrap_or_default();
    let spark_block = Block::default().borders(Borders::ALL).title(format!(" CPU% of {name} "));
    f.render_widget(Sparkline::default().block(spark_block).data(&points).max(100), spark);
    let line = if status.is_empty() {
        "q quit  c/m/d/n/a sort by cpu/memory/disk/net/name  up/down select  r refresh".to_string()
    } else {
        status.to_string()
    };
    f.render_widget(Paragraph::new(line), keys);
}

/// A host whose metrics say it is live (one that is down has nothing to say).
fn host_is_live(ctx: &mut Context, rec: &Value) -> bool {
    let Some(metrics) = rec.get("metrics").and_then(Value::as_str) else { return false };
    !matches!(ctx.call("host_metrics.get_live", vec![Value::str(metrics)]), Ok(Value::Bool(false)))
}

/// The VMs the filters choose: running, not templates or control domains,
/// unless the command line says otherwise for those fields.
fn chosen_vms(ctx: &mut Context, skip: &[String]) -> CmdResult<Vec<(String, Value)>> {
    let view = ClassView::new("vm").ok_or_else(|| CliError::Internal("no class vm".into()))?;
    let given: Vec<(String, String)> = ctx
        .params
        .iter()
        .filter(|(k, _)| !is_standard_key(k) && !OWN.contains(k) && !skip.iter().any(|s| s == k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in [("is-a-template", "false"), ("is-control-domain", "false"), ("power-state", "running")] {
        if !given.iter().any(|(g, _)| g == k) {
            pairs.push((k.into(), v.into()));
        }
    }
    pairs.extend(given);
    let filters = Filters::parse(&view, pairs);
    let objects = records::fetch_all(ctx, "VM")?;
    records::select(ctx, &view, &filters, objects)
}

/// Adds the newest row of an `rrd_updates` answer (JSON, as xcp-rrdd
/// writes it: values as strings) to `latest`, by legend without its
/// consolidation function.
fn merge_updates(text: &str, latest: &mut HashMap<String, f64>) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let legend = doc["meta"]["legend"].as_array().ok_or("no legend")?;
    let rows = doc["data"].as_array().ok_or("no data")?;
    let time = |r: &serde_json::Value| r["t"].as_str().and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN);
    let Some(newest) = rows.iter().max_by_key(|r| time(r)) else { return Ok(()) };
    let values = newest["values"].as_array().ok_or("a row without values")?;
    for (name, v) in legend.iter().zip(values) {
        let name = name.as_str().unwrap_or("");
        let key = name.split_once(':').map_or(name, |(_, rest)| rest);
        let value = v.as_str().and_then(|s| s.parse::<f64>().ok()).or_else(|| v.as_f64());
        if let Some(value) = value.filter(|x| x.is_finite()) {
            latest.insert(key.to_string(), value);
        }
    }
    Ok(())
}

/// An object's figures from its data sources: CPU as the mean of `cpuN`,
/// `memory`, and the sums of its disks' and network devices' rates.
fn sums(latest: &HashMap<String, f64>, prefix: &str) -> Row {
    let mut row = Row::default();
    let mut cpus = Vec::new();
    for (key, v) in latest.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k, *v))) {
        let is_cpu = key.strip_prefix("cpu").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_cpu {
            cpus.push(v);
        } else if key == "memory" {
            row.memory = v;
        } else if key.starts_with("vbd_") && key.ends_with("_read") {
            row.disk_read += v;
        } else if key.starts_with("vbd_") && key.ends_with("_write") {
            row.disk_write += v;
        } else if (key.starts_with("vif_") || key.starts_with("pif_")) && key.ends_with("_rx") && !key.contains("aggr")
        {
            row.net_rx += v;
        } else if (key.starts_with("vif_") || key.starts_with("pif_")) && key.ends_with("_tx") && !key.contains("aggr")
        {
            row.net_tx += v;
        }
    }
    if !cpus.is_empty() {
        row.cpu = cpus.iter().sum::<f64>() / cpus.len() as f64 * 100.0;
    }
    row
}

/// Bytes in KiB, MiB or GiB, one decimal.
fn bytes(v: f64) -> String {
    const KIB: f64 = 1024.0;
    if v >= KIB * KIB * KIB {
        format!("{:.1}G", v / (KIB * KIB * KIB))
    } else if v >= KIB * KIB {
        format!("{:.1}M", v / (KIB * KIB))
    } else {
        format!("{:.1}K", v / KIB)
    }
}

/// The snapshot as a plain table, no escape codes.
fn table(rows: &[Row]) -> String {
    let header = HEADER;
    let cells: Vec<[String; 9]> = rows.iter().map(Row::cells).collect();
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, text) in width.iter_mut().zip(c.iter()) {
            *w = (*w).max(text.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, (text, w)) in c.iter().zip(width.iter()).enumerate() {
            // Names left-aligned, figures right-aligned.
            let piece = if i < 3 { format!("{text:<w$}") } else { format!("{text:>w$}") };
            s.push_str(&piece);
            s.push_str(if i + 1 < c.len() { "  " } else { "\n" });
        }
        s
    };
    let mut out = line(&header.map(String::from));
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_row_of_each_host_is_kept_and_summed_per_object() {
        let text = r#"{"meta":{"start":"0","step":"5","end":"10","rows":"2","columns":"4",
            "legend":["AVERAGE:vm:u1:cpu0","AVERAGE:vm:u1:cpu1","AVERAGE:vm:u1:vif_0_rx","AVERAGE:vm:u1:memory"]},
            "data":[{"t":"10","values":["0.5","0.1","2048","1073741824"]},{"t":"5","values":["0.9","0.9","0","0"]}]}"#;
        let mut latest = HashMap::new();
        merge_updates(text, &mut latest).unwrap();
        let row = sums(&latest, "vm:u1:");
        assert!((row.cpu - 30.0).abs() < 1e-9);
        assert_eq!(row.net_rx, 2048.0);
        assert_eq!(bytes(row.memory), "1.0G");
        assert!(merge_updates("{}", &mut latest).is_err());
    }
}
