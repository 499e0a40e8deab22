//! `ftbench compare BASE NEW`: what changed between two result sets, cell by cell (cells match
//! by id, i.e. by configuration and seed), as criterion compares against a baseline.
//!
//! - Step time: Welch's 95% interval of mean(new steps) − mean(base steps) over the steady
//!   per-step times, relative to the base mean; "within noise" when it contains 0.
//! - Peak memory (process RSS): relative change; within noise below `MEMORY_NOISE`.
//! - Held-out loss: relative change; within noise below `LOSS_NOISE` (a seeded cell should
//!   reproduce it, so any larger change means the numerics changed).

use super::load_records;
use super::stats::welch_ci95;
use crate::record::{Record, Status};
use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Relative change of peak RSS taken as noise.
pub const MEMORY_NOISE: f64 = 0.02;
/// Relative change of held-out loss taken as noise.
pub const LOSS_NOISE: f64 = 0.001;

/// One metric of one cell, base against new.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub cell_id: String,
    pub cell: String,
    pub metric: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// (new − base) / base.
    pub change: Option<f64>,
    /// 95% interval of the relative change, where one applies.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub verdict: String,
}

#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub base: Vec<PathBuf>,
    pub new: Vec<PathBuf>,
    pub changes: Vec<Change>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
    pub notes: Vec<String>,
}

fn describe(r: &Record) -> String {
    let model = r.cell.model.strip_prefix("preset:").unwrap_or(&r.cell.model);
    let mut s = format!("{model} · {} · seed {}", r.cell.method, r.cell.seed);
    let extra: Vec<&str> = r
        .cell
        .label
        .split(" · ")
        .filter(|p| p.contains('=') && !p.starts_with("seed="))
        .collect();
    if !extra.is_empty() {
        s += &format!(" · {}", extra.join(" · "));
    }
    s
}

fn rel(base: f64, new: f64) -> Option<f64> {
    (base != 0.0).then(|| (new - base) / base)
}

fn threshold_change(cell: &Record, metric: &str, base: Option<f64>, new: Option<f64>, noise: f64, up: &str, down: &str) -> Change {
    let change = base.zip(new).and_then(|(b, n)| rel(b, n));
    let verdict = match change {
        None => "–".to_string(),
        Some(c) if c.abs() <= noise => format!("within noise (±{:.1}%)", 100.0 * noise),
        Some(c) if c > 0.0 => up.to_string(),
        Some(_) => down.to_string(),
    };
    Change {
        cell_id: cell.cell.id.clone(),
        cell: describe(cell),
        metric: metric.into(),
        base,
        new,
        change,
        ci_low: None,
        ci_high: None,
        verdict,
    }
}

fn step_change(b: &Record, n: &Record) -> Change {
    let (bs, ns) = (&b.timing.steady_step_s, &n.timing.steady_step_s);
    let mut c = Change {
        cell_id: b.cell.id.clone(),
        cell: describe(b),
        metric: "step time (s)".into(),
        base: b.timing.mean_step_s,
        new: n.timing.mean_step_s,
        change: None,
        ci_low: None,
        ci_high: None,
        verdict: "–".into(),
    };
    match welch_ci95(bs, ns) {
        Some(d) if d.base_mean > 0.0 => {
            c.base = Some(d.base_mean);
            c.new = Some(d.new_mean);
            c.change = Some(d.diff() / d.base_mean);
            c.ci_low = Some(d.low / d.base_mean);
            c.ci_high = Some(d.high / d.base_mean);
            c.verdict = if d.within_noise() {
                "within noise".into()
            } else if d.diff() > 0.0 {
                "slower".into()
            } else {
                "faster".into()
            };
        }
        _ => {
            c.change = c.base.zip(c.new).and_then(|(x, y)| rel(x, y));
            c.verdict = "no interval (fewer than 2 steady steps)".into();
        }
    }
    c
}

fn env_line(records: &[Record]) -> String {
    let mut commits: Vec<String> = records
        .iter()
        .filter_map(|r| r.environment.as_ref())
        .map(|e| format!("{} on {} ({} threads)", e.git_commit, e.cpu_model, e.threads))
        .collect();
    commits.sort();
    commits.dedup();
    if commits.is_empty() {
        "no environment recorded".into()
    } else {
        commits.join("; ")
    }
}

/// Compares the records of `base` with those of `new`.
pub fn compare(base: &[PathBuf], new: &[PathBuf]) -> Result<Comparison> {
    let (b, bp) = {
        let l = load_records(base)?;
        (l.records, l.problems)
    };
    let (n, np) = {
        let l = load_records(new)?;
        (l.records, l.problems)
    };
    // Matched by the configuration as this ftbench reads it (Cell::configuration_id), not by the
    // stored id, so records of different ftbench versions of one configuration meet.
    let bmap: BTreeMap<String, &Record> = b.iter().map(|r| (r.cell.configuration_id(), r)).collect();
    let nmap: BTreeMap<String, &Record> = n.iter().map(|r| (r.cell.configuration_id(), r)).collect();
    let mut out = Comparison {
        base: base.to_vec(),
        new: new.to_vec(),
        ..Default::default()
    };
    out.notes.push(format!("base: {}", env_line(&b)));
    out.notes.push(format!("new:  {}", env_line(&n)));
    for p in bp.iter().chain(&np) {
        out.notes.push(format!("skipped {}: {}", p.file.display(), p.message));
    }
    for r in &b {
        let Some(nr) = nmap.get(&r.cell.configuration_id()) else {
            out.only_in_base.push(describe(r));
            continue;
        };
        if r.status != Status::Ok || nr.status != Status::Ok {
            out.changes.push(Change {
                cell_id: r.cell.id.clone(),
                cell: describe(r),
                metric: "status".into(),
                base: None,
                new: None,
                change: None,
                ci_low: None,
                ci_high: None,
                verdict: format!("{} → {}", r.status.as_str(), nr.status.as_str()),
            });
            continue;
        }
        out.changes.push(step_change(r, nr));
        let gb = |x: &Record| x.memory.peak_rss_bytes.map(|v| v as f64 / 1e9);
        out.changes.push(threshold_change(
            r,
            "peak RSS (GB)",
            gb(r),
            gb(nr),
            MEMORY_NOISE,
            "more memory",
            "less memory",
        ));
        let loss = |x: &Record| x.eval.as_ref().map(|e| e.loss);
        out.changes.push(threshold_change(
            r,
            "held-out loss",
            loss(r),
            loss(nr),
            LOSS_NOISE,
            "worse",
            "better",
        ));
    }
    for r in &n {
        if !bmap.contains_key(&r.cell.configuration_id()) {
            out.only_in_new.push(describe(r));
        }
    }
    Ok(out)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{:+.1}%", 100.0 * v))
}

fn val(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.4}"),
    }
}

impl Comparison {
    /// Counts of verdicts per metric, e.g. "step time (s): 2 slower, 4 within noise".
    pub fn summary(&self) -> Vec<String> {
        let mut counts: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for c in &self.changes {
            *counts.entry(c.metric.as_str()).or_default().entry(c.verdict.as_str()).or_default() += 1;
        }
        counts
            .iter()
            .map(|(m, v)| format!("{m}: {}", v.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")))
            .collect()
    }

    /// The comparison as text: a table of every change, then a summary.
    pub fn to_text(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(["cell", "metric", "base", "new", "change", "95% interval", "verdict"]);
        for c in &self.changes {
            let ci = match (c.ci_low, c.ci_high) {
                (Some(l), Some(h)) => format!("[{}, {}]", pct(Some(l)), pct(Some(h))),
                _ => "–".into(),
            };
            t.add_row([
                c.cell.clone(),
                c.metric.clone(),
                val(c.base),
                val(c.new),
                pct(c.change),
                ci,
                c.verdict.clone(),
            ]);
        }
        let mut s = format!(
            "base: {}\nnew:  {}\n",
            self.base.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
            self.new.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
        );
        for n in &self.notes {
            s += &format!("{n}\n");
        }
        if self.changes.is_empty() {
            s += "no cell is in both sets\n";
        } else {
            s += &format!("{t}\n");
        }
        for line in self.summary() {
            s += &format!("{line}\n");
        }
        if !self.only_in_base.is_empty() {
            s += &format!("only in base ({}): {}\n", self.only_in_base.len(), self.only_in_base.join("; "));
        }
        if !self.only_in_new.is_empty() {
            s += &format!("only in new ({}): {}\n", self.only_in_new.len(), self.only_in_new.join("; "));
        }
        s += &format!(
            "Step time: Welch's 95% interval of the change in mean steady step time; peak RSS within ±{:.0}% and held-out loss within ±{:.1}% count as noise.\n",
            100.0 * MEMORY_NOISE,
            100.0 * LOSS_NOISE
        );
        s
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        crate::atomic::write_csv(path, &self.changes)
    }
}
