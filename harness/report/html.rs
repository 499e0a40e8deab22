//! The HTML page: one self-contained file (inline CSS, no scripts, no network).

use super::rows::{Group, Row};
use crate::record::{LoadProblem, Record};
use anyhow::{Context, Result};
use minijinja::value::{Serde, Value};
use minijinja::{context, Environment};
use serde::Serialize;
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("index.html.j2");

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn range(med: Option<f64>, min: Option<f64>, max: Option<f64>, digits: usize, n: usize) -> String {
    match (med, min, max) {
        (Some(m), Some(lo), Some(hi)) if n > 1 => format!("{m:.digits$} [{lo:.digits$}–{hi:.digits$}]"),
        (Some(m), _, _) => format!("{m:.digits$}"),
        _ => "–".into(),
    }
}

#[derive(Serialize)]
struct GroupView {
    model: String,
    method: String,
    hardware: String,
    config: String,
    conditions: String,
    cells: String,
    tokens_per_s: String,
    peak_rss: String,
    eval_loss: String,
    eval_acc: String,
    final_loss: String,
}

#[derive(Serialize)]
struct RowView {
    id: String,
    label: String,
    status: String,
    reason: String,
    conditions: String,
    params: String,
    tensors: String,
    tokens_per_s: String,
    step_s: String,
    peak_rss: String,
    above_baseline: String,
    estimate: String,
    final_loss: String,
    eval_loss: String,
    eval_acc: String,
    exact: String,
}

fn conditions(batch: u32, seq: u32, accum: u32, dtype: &str, recompute: bool, steps: u32, device: &str, task: &str) -> String {
    format!(
        "{device}, batch {batch} × {seq} tok{}, {dtype}, recompute {}, {steps} steps, task {task}",
        if accum > 1 { format!(" × {accum} accum") } else { String::new() },
        if recompute { "on" } else { "off" }
    )
}

pub fn render(records: &[Record], rows: &[Row], groups: &[Group], problems: &[LoadProblem]) -> Result<String> {
    let groups_v: Vec<GroupView> = groups
        .iter()
        .map(|g| GroupView {
            model: g.model.clone(),
            method: g.method.clone(),
            hardware: g.hardware.clone(),
            config: g.config.clone(),
            conditions: conditions(
                g.batch_size,
                g.seq_len,
                g.grad_accum,
                &g.compute_dtype,
                g.recompute,
                g.steps,
                &g.hardware,
                &g.task,
            ),
            cells: format!("{}/{} ok (seeds {})", g.ok, g.cells, g.seeds),
            tokens_per_s: range(g.tokens_per_s_median, g.tokens_per_s_min, g.tokens_per_s_max, 1, g.ok),
            peak_rss: range(g.peak_rss_gb_median, g.peak_rss_gb_min, g.peak_rss_gb_max, 3, g.ok),
            eval_loss: match (g.eval_loss_mean, g.eval_loss_stddev) {
                (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
                (m, _) => num(m, 4),
            },
            eval_acc: num(g.eval_token_accuracy_mean.map(|a| 100.0 * a), 1),
            final_loss: num(g.final_train_loss_mean, 4),
        })
        .collect();
    let rows_v: Vec<RowView> = rows
        .iter()
        .map(|r| RowView {
            id: r.cell_id.clone(),
            label: r.label.clone(),
            status: r.status.clone(),
            reason: r.reason.clone(),
            conditions: conditions(
                r.batch_size,
                r.seq_len,
                r.grad_accum,
                &r.compute_dtype,
                r.recompute,
                r.steps,
                &r.device,
                &r.task,
            ) + &format!(", seed {}, {} threads", r.seed, r.threads.map_or("?".into(), |t| t.to_string())),
            params: match (r.params_trainable, r.params_total) {
                (Some(t), Some(n)) => format!(
                    "{:.2}M / {:.2}M ({:.1}%)",
                    t as f64 / 1e6,
                    n as f64 / 1e6,
                    100.0 * t as f64 / n as f64
                ),
                _ => "–".into(),
            },
            tensors: match (
                r.weights_dense_mb,
                r.weights_nf4_mb,
                r.quant_constants_mb,
                r.adapters_mb,
                r.grads_mb,
                r.optimizer_state_mb,
            ) {
                (Some(d), Some(n), Some(q), Some(a), Some(g), Some(o)) => {
                    let mut w = format!("dense {d:.1}");
                    if n > 0.0 {
                        w += &format!(" + NF4 {n:.1} + consts {q:.1}");
                    }
                    if a > 0.0 {
                        w += &format!(" + adapters {a:.1}");
                    }
                    format!("weights {w}; grads {g:.1}; AdamW {o:.1}")
                }
                _ => "–".into(),
            },
            tokens_per_s: num(r.tokens_per_s, 1),
            step_s: match (r.median_step_s, r.stddev_step_s) {
                (Some(m), Some(s)) => format!("{m:.3} ± {s:.3} (n={})", r.timed_steps),
                (m, _) => num(m, 3),
            },
            peak_rss: num(r.peak_rss_gb, 3),
            above_baseline: num(r.peak_rss_above_baseline_gb, 3),
            estimate: match (r.estimate_gb, r.estimate_error_percent) {
                (Some(e), Some(p)) => format!("{e:.3} ({p:+.1}%)"),
                (e, _) => num(e, 3),
            },
            final_loss: num(r.final_train_loss, 4),
            eval_loss: num(r.eval_loss, 4),
            eval_acc: num(r.eval_token_accuracy.map(|a| 100.0 * a), 1),
            exact: num(r.eval_exact_match.map(|a| 100.0 * a), 1),
        })
        .collect();
    let failed: Vec<&RowView> = rows_v.iter().filter(|r| r.status != "ok").collect();
    let suites: BTreeSet<String> = records.iter().map(|r| format!("{} ({})", r.suite.name, r.suite.file)).collect();
    let envs: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.environment.as_ref())
        .map(|e| {
            format!(
                "{} · {} logical CPUs, {} threads · {} {} · {:.1} GB RAM · ftbench {} ({}) · candle {}",
                e.cpu_model,
                e.logical_cpus,
                e.threads,
                e.os,
                e.kernel,
                e.total_memory_bytes.unwrap_or(0) as f64 / 1e9,
                e.ftbench_version,
                e.git_commit,
                e.candle_version
            )
        })
        .collect();
    let problems: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.file.display(), p.message)).collect();
    let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut env = Environment::new();
    env.add_template("index.html", TEMPLATE).context("report template")?;
    let page = env
        .get_template("index.html")
        .and_then(|t| {
            t.render(context! {
                suites => suites, envs => envs, generated => generated, problems => problems,
                groups => Value::from(Serde(&groups_v)),
                rows => Value::from(Serde(&rows_v)),
                failed => Value::from(Serde(&failed)),
            })
        })
        .context("rendering the report")?;
    Ok(page)
}
