//! Serving forms (`deploy`), per configuration and form: the score on the held-out items, its
//! difference from the model as trained (paired by item; over several seeds each item's
//! difference is averaged over the seeds first, `seed_averaged_paired_stderr`, normal 95%
//! interval), the held-out loss's difference, prefill and decode tokens/s (batch 1, KV cache;
//! mean over seeds) with decode's ratio to as-trained's (geometric mean over seeds), and the
//! size. The verdict per configuration names the best form: the smallest whose score is not
//! below as-trained's beyond noise and whose decode is not slower, if any.

use super::rows::{short_model, Row};
use super::stats::mean;
use crate::eval::stats::seed_averaged_paired_stderr;
use crate::record::{Record, ServedForm};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One form of one configuration, over its seeds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServingRow {
    /// The configuration (report/rows.rs: every knob but the seed).
    pub config_id: String,
    pub model: String,
    pub method: String,
    /// The knobs these configurations differ in.
    pub config: String,
    pub task: String,
    pub device: String,
    pub form: String,
    pub compute_dtype: String,
    pub seeds: usize,
    /// `acc` or `exact_match`; `held-out loss` on tasks without a per-item score.
    pub metric: String,
    /// The metric in points (held-out loss on synthetic tasks), mean over seeds.
    pub score: f64,
    /// Form − as trained, points, paired by item (and averaged over seeds).
    pub delta: Option<f64>,
    pub delta_low: Option<f64>,
    pub delta_high: Option<f64>,
    /// Items (× seeds) the form answers differently from as trained.
    pub items_changed: usize,
    pub items: usize,
    pub delta_loss: Option<f64>,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Decode tokens/s over as-trained's, geometric mean over seeds (above 1: faster).
    pub decode_ratio: Option<f64>,
    pub size_mb: f64,
    /// `file` or `tensors` (see `ServedForm::bytes_of`).
    pub size_of: String,
}

/// Every form of every configuration whose cells ended ok with serving forms, in the order
/// the records come (model, method, configuration) and the forms were asked.
pub fn serving_rows(records: &[Record], rows: &[Row]) -> Vec<ServingRow> {
    let mut groups: BTreeMap<&str, Vec<(&Record, &Row)>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (r, row) in records
        .iter()
        .zip(rows)
        .filter(|(r, row)| row.status == "ok" && !r.deploy.is_empty())
    {
        let key = row.config_id.as_str();
        if !groups.contains_key(key) {
            order.push(key);
        }
        groups.entry(key).or_default().push((r, row));
    }
    let mut out = Vec::new();
    for key in order {
        let cells = &groups[key];
        let mut forms: Vec<&str> = Vec::new();
        for (r, _) in cells {
            for f in &r.deploy {
                if !forms.contains(&f.form.as_str()) {
                    forms.push(&f.form);
                }
            }
        }
        for form in forms {
            out.extend(form_row(cells, form));
        }
    }
    out
}

fn form_row(cells: &[(&Record, &Row)], form: &str) -> Option<ServingRow> {
    // (this form, the cell's own evaluation) per seed that made the form.
    let runs: Vec<(&ServedForm, &Record)> = cells
        .iter()
        .filter_map(|(r, _)| Some((r.deploy.iter().find(|f| f.form == form)?, *r)))
        .collect();
    let (first, row) = (runs.first()?.0, cells[0].1);
    let scored = first.eval.score.is_some();
    let value = |f: &ServedForm| match &f.eval.score {
        Some(s) => 100.0 * s.value,
        None => f.eval.loss,
    };
    let pairs: Vec<(Vec<bool>, Vec<bool>)> = runs
        .iter()
        .filter_map(|(f, r)| Some((f.eval.score.as_ref()?.outcomes(), r.eval.as_ref()?.score.as_ref()?.outcomes())))
        .collect();
    let deltas: Vec<f64> = runs.iter().filter_map(|(f, _)| f.delta.as_ref().map(|d| 100.0 * d.delta)).collect();
    let delta = (!deltas.is_empty()).then(|| mean(&deltas));
    let se = seed_averaged_paired_stderr(&pairs).map(|s| 100.0 * s);
    let trained_decode = |r: &Record| {
        r.deploy
            .iter()
            .find(|f| f.form == crate::deploy::AS_TRAINED)
            .map(|f| f.decode_tokens_per_s)
    };
    let logs: Vec<f64> = runs
        .iter()
        .filter_map(|(f, r)| Some((f.decode_tokens_per_s / trained_decode(r)?).ln()))
        .collect();
    let col = |g: &dyn Fn(&ServedForm) -> f64| mean(&runs.iter().map(|(f, _)| g(f)).collect::<Vec<_>>());
    Some(ServingRow {
        config_id: row.config_id.clone(),
        model: short_model(&row.model),
        method: row.method.clone(),
        config: row.config.clone(),
        task: row.task.clone(),
        device: row.device.clone(),
        form: form.to_string(),
        compute_dtype: first.compute_dtype.clone(),
        seeds: runs.len(),
        metric: if scored {
            first.eval.score.as_ref().map_or("score".into(), |s| s.metric.clone())
        } else {
            "held-out loss".into()
        },
        score: col(&value),
        delta,
        delta_low: delta.zip(se).map(|(d, s)| d - 1.96 * s),
        delta_high: delta.zip(se).map(|(d, s)| d + 1.96 * s),
        items_changed: runs.iter().filter_map(|(f, _)| f.delta.as_ref()).map(|d| d.items_changed).sum(),
        items: runs.iter().filter_map(|(f, _)| f.delta.as_ref()).map(|d| d.n).sum(),
        delta_loss: (runs.iter().all(|(f, _)| f.delta_loss.is_some())).then(|| col(&|f| f.delta_loss.unwrap_or(0.0))),
        prefill_tokens_per_s: col(&|f| f.prefill_tokens_per_s),
        decode_tokens_per_s: col(&|f| f.decode_tokens_per_s),
        decode_ratio: (!logs.is_empty()).then(|| mean(&logs).exp()),
        size_mb: col(&|f| f.bytes as f64 / 1e6),
        size_of: first.bytes_of.clone(),
    })
}

pub fn write_csv(rows: &[ServingRow], path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_csv(path, rows)
}

/// Whether a form's score is below as-trained's beyond noise (its interval lies under zero).
pub fn worse(r: &ServingRow) -> bool {
    r.delta_high.is_some_and(|h| h < 0.0)
}

/// Per configuration (label, config id), the form to serve: the smallest that keeps
/// as-trained's score (not worse beyond noise) and decodes at least as fast; None when no form
/// does both.
pub fn best_forms(rows: &[ServingRow]) -> Vec<(String, Option<String>)> {
    groups(rows).into_iter().map(|g| (group_label(g[0]), best_of(&g))).collect()
}

/// [`best_forms`] by config id.
pub fn best_form_by_config(rows: &[ServingRow]) -> BTreeMap<String, Option<String>> {
    groups(rows).into_iter().map(|g| (g[0].config_id.clone(), best_of(&g))).collect()
}

fn best_of(group: &[&ServingRow]) -> Option<String> {
    group
        .iter()
        .filter(|r| !worse(r) && r.decode_ratio.is_some_and(|x| x >= 1.0))
        .min_by(|a, b| a.size_mb.total_cmp(&b.size_mb))
        .map(|r| r.form.clone())
}

/// The rows of each configuration, in order (rows come grouped by configuration).
fn groups(rows: &[ServingRow]) -> Vec<Vec<&ServingRow>> {
    let mut out: Vec<Vec<&ServingRow>> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(g) if g[0].config_id == r.config_id => g.push(r),
            _ => out.push(vec![r]),
        }
    }
    out
}

/// "model · method · task (config)".
pub fn group_label(r: &ServingRow) -> String {
    let config = if r.config.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.config)
    };
    format!("{} · {} · {}{config}", r.model, r.method, r.task)
}

/// A row as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServingView {
    /// The configuration, on its first form's row only (the table's group header).
    pub group: Option<String>,
    pub form: String,
    pub dtype: String,
    pub seeds: usize,
    pub score: String,
    pub delta: String,
    pub changed: String,
    pub delta_loss: String,
    pub prefill: String,
    pub decode: String,
    pub decode_ratio: String,
    pub size: String,
    pub worse: bool,
}

pub fn views(rows: &[ServingRow]) -> Vec<ServingView> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let d = if r.metric == "held-out loss" { 3 } else { 1 };
            let what = group_label(r);
            ServingView {
                group: (i == 0 || group_label(&rows[i - 1]) != what).then(|| format!("{what} — {}", r.metric)),
                form: r.form.clone(),
                dtype: r.compute_dtype.clone(),
                seeds: r.seeds,
                score: format!("{:.d$}", r.score),
                delta: match (r.delta, r.delta_low, r.delta_high) {
                    (Some(m), Some(lo), Some(hi)) => format!("{m:+.1} [{lo:+.1}, {hi:+.1}]"),
                    (Some(m), _, _) => format!("{m:+.1}"),
                    _ => "–".into(),
                },
                changed: format!("{} / {}", r.items_changed, r.items),
                delta_loss: r.delta_loss.map_or("–".into(), |x| format!("{x:+.3}")),
                prefill: format!("{:.0}", r.prefill_tokens_per_s),
                decode: format!("{:.1}", r.decode_tokens_per_s),
                decode_ratio: r.decode_ratio.map_or("–".into(), |x| format!("{x:.2}×")),
                size: format!("{:.0} MB ({})", r.size_mb, r.size_of),
                worse: worse(r),
            }
        })
        .collect()
}
