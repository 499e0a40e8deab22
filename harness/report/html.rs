//! The HTML page: one self-contained file (inline CSS and SVG, no scripts, no network).

use super::article::VIEWS;
use super::charts::Chart;
use super::frame::{strs, GroupStats, Stat};
use super::results_view::{accuracy_views, artifact_views, quality_views, speed_views};
use super::rows::{conditions, Row};
use crate::method::Method;
use crate::record::{LoadProblem, Record};
use anyhow::{Context, Result};
use minijinja::value::{Serde, Value};
use minijinja::{context, Environment};
use polars::prelude::DataFrame;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

const TEMPLATE: &str = include_str!("index.html.j2");

/// Everything the page shows.
pub struct Inputs<'a> {
    pub records: &'a [Record],
    pub rows: &'a [Row],
    pub groups: &'a [GroupStats],
    pub article: &'a DataFrame,
    /// The article table's methods (its column groups), in order.
    pub article_methods: &'a [Method],
    pub charts: &'a [Chart],
    pub problems: &'a [LoadProblem],
    pub sources: &'a [PathBuf],
    pub duplicates: usize,
    /// Records of one cell that disagree, described.
    pub conflicts: &'a [String],
    /// Cells of the records' suites with no record in these folders.
    pub missing: &'a [String],
    pub accuracy: &'a [super::accuracy::AccuracyRow],
    /// GPU cells beside PyTorch's figures.
    pub gpu: &'a [super::gpu::GpuRow],
    /// Configurations run on both engines, side by side.
    pub engines: &'a [super::engines::EngineRow],
    /// Serving forms of trained cells (`deploy`).
    pub serving: &'a [super::serving::ServingRow],
    pub verdicts: &'a [super::verdict::Verdict],
    pub claims: &'a [super::claims::Claim],
    pub answers: &'a [super::answers::AnswerTable],
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// "median [min–max]" over seeds (just the median for one value).
fn range(s: &Stat, scale: f64, digits: usize) -> String {
    match (s.median, s.min, s.max) {
        (Some(m), Some(lo), Some(hi)) if hi > lo => {
            format!("{:.digits$} [{:.digits$}–{:.digits$}]", m * scale, lo * scale, hi * scale)
        }
        (Some(m), _, _) => format!("{:.digits$}", m * scale),
        _ => "–".into(),
    }
}

/// "mean ± sd (95% CI lo–hi)" over seeds.
fn mean_ci(s: &Stat, scale: f64, digits: usize) -> String {
    match (s.mean, s.sd, s.ci95) {
        (Some(m), Some(sd), Some((lo, hi))) => format!(
            "{:.digits$} ± {:.digits$} (95% CI {:.digits$}–{:.digits$})",
            m * scale,
            sd * scale,
            lo * scale,
            hi * scale
        ),
        (Some(m), _, _) => format!("{:.digits$}", m * scale),
        _ => "–".into(),
    }
}

#[derive(Serialize)]
struct GroupView {
    model: String,
    method: String,
    config: String,
    conditions: String,
    cells: String,
    all_ok: bool,
    tokens_per_s: String,
    step_s: String,
    peak_rss: String,
    above_baseline: String,
    estimate: String,
    eval_loss: String,
    eval_acc: String,
    eval_score: String,
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
    score: String,
}

#[derive(Serialize)]
struct ArticleView {
    model: String,
    rows: Vec<ArticleRowView>,
}

#[derive(Serialize)]
struct ArticleRowView {
    metric: String,
    cells: Vec<String>,
}

#[derive(Serialize)]
struct EnvView {
    commit: String,
    cpu: String,
    gpu: String,
    system: String,
    versions: String,
    cells: usize,
}

fn group_view(g: &GroupStats) -> GroupView {
    GroupView {
        model: g.model.clone(),
        method: g.method.clone(),
        config: g.config.clone(),
        conditions: g.conditions.clone(),
        cells: format!("{}/{} ok (seeds {})", g.ok, g.cells, g.seeds),
        all_ok: g.ok == g.cells,
        tokens_per_s: range(&g.tokens_per_s, 1.0, 1),
        step_s: range(&g.step_s, 1.0, 3),
        peak_rss: range(&g.peak_rss_gb, 1.0, 3),
        above_baseline: range(&g.above_baseline_gb, 1.0, 3),
        estimate: num(g.estimate_gb, 3),
        eval_loss: mean_ci(&g.eval_loss, 1.0, 4),
        eval_acc: mean_ci(&g.eval_token_accuracy, 100.0, 1),
        eval_score: mean_ci(&g.eval_score, 100.0, 1),
        final_loss: mean_ci(&g.final_train_loss, 1.0, 4),
    }
}

fn row_view(r: &Row) -> RowView {
    RowView {
        id: r.cell_id.clone(),
        label: r.label.clone(),
        status: r.status.clone(),
        reason: r.reason.clone(),
        conditions: conditions(
            &r.device,
            r.batch_size,
            r.seq_len,
            r.grad_accum,
            &r.compute_dtype,
            r.recompute,
            r.fused_ops,
            r.steps,
            &r.task,
        ) + &r.mean_seq_tokens.map_or(String::new(), |m| {
            format!(" (≤ {} tokens, mean {m:.0}: padded per batch)", r.seq_len)
        }) + &format!(
            ", optimizer {} (state {}), seed {}, {} threads",
            r.optimizer,
            r.optimizer_state_dtype,
            r.seed,
            r.threads.map_or("?".into(), |t| t.to_string())
        ),
        params: match (r.params_trainable, r.params_total) {
            (Some(t), Some(n)) if n > 0 => format!(
                "{:.2}M / {:.2}M ({:.2}%)",
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
                format!("weights {w}; grads {g:.1}; optimizer {o:.1}")
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
        score: match r.eval_score {
            Some(v) => format!("{} {:.1}", r.eval_metric, 100.0 * v),
            None => "–".into(),
        },
    }
}

/// The pivoted article frame, one block per model.
fn article_views(df: &DataFrame, methods: &[Method]) -> Result<Vec<ArticleView>> {
    let models = strs(df, "model")?;
    let metrics = strs(df, "metric")?;
    let columns: Vec<Vec<String>> = methods
        .iter()
        .flat_map(|m| VIEWS.iter().map(move |v| format!("{m} · {v}")))
        .map(|c| strs(df, &c))
        .collect::<Result<_>>()?;
    let mut out: Vec<ArticleView> = Vec::new();
    for i in 0..df.height() {
        let row = ArticleRowView {
            metric: metrics[i].clone(),
            cells: columns.iter().map(|c| c[i].clone()).collect(),
        };
        match out.last_mut() {
            Some(v) if v.model == models[i] => v.rows.push(row),
            _ => out.push(ArticleView {
                model: models[i].clone(),
                rows: vec![row],
            }),
        }
    }
    Ok(out)
}

fn env_views(records: &[Record]) -> Vec<EnvView> {
    let mut out: Vec<EnvView> = Vec::new();
    for r in records {
        let Some(e) = r.environment.as_ref() else { continue };
        let v = EnvView {
            commit: e.git_commit.clone(),
            cpu: format!("{} · {} logical CPUs, {} threads used", e.cpu_model, e.logical_cpus, e.threads),
            gpu: if r.conditions.device == "cpu" {
                "none used (CPU cells; no GPU or driver recorded)".into()
            } else {
                format!("device {} (no GPU name or driver in record schema v1)", r.conditions.device)
            },
            system: format!(
                "{} {} · {:.1} GB RAM",
                e.os,
                e.kernel,
                e.total_memory_bytes.unwrap_or(0) as f64 / 1e9
            ),
            versions: format!("ftbench {} · candle {}", e.ftbench_version, e.candle_version),
            cells: 1,
        };
        match out
            .iter_mut()
            .find(|o| o.commit == v.commit && o.cpu == v.cpu && o.gpu == v.gpu && o.system == v.system && o.versions == v.versions)
        {
            Some(o) => o.cells += 1,
            None => out.push(v),
        }
    }
    out
}

pub fn render(x: &Inputs) -> Result<String> {
    let groups: Vec<GroupView> = x.groups.iter().map(group_view).collect();
    let rows: Vec<RowView> = x.rows.iter().map(row_view).collect();
    let failed: Vec<&RowView> = rows.iter().filter(|r| r.status != "ok").collect();
    let suites: BTreeSet<String> = x.records.iter().map(|r| r.suite.name.clone()).collect();
    let suite_files: BTreeSet<String> = x.records.iter().map(|r| format!("{} ({})", r.suite.name, r.suite.file)).collect();
    let problems: Vec<String> = x.problems.iter().map(|p| format!("{}: {}", p.file.display(), p.message)).collect();
    let sources: Vec<String> = x.sources.iter().map(|p| p.display().to_string()).collect();
    let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let title = if suites.is_empty() {
        "no records".to_string()
    } else {
        suites.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    let article = article_views(x.article, x.article_methods)?;
    let methods = x.article_methods;
    let (forests, charts): (Vec<&Chart>, Vec<&Chart>) = x.charts.iter().partition(|c| c.file.starts_with("forest-"));
    // Serving charts are shown in their own section, beside their table.
    let (serving_charts, charts): (Vec<&Chart>, Vec<&Chart>) = charts.into_iter().partition(|c| c.file.starts_with("serving-"));
    let colors: std::collections::BTreeMap<&str, String> = crate::method::Method::all()
        .map(|m| {
            let (r, g, b) = m.color();
            (m.as_str(), format!("#{r:02x}{g:02x}{b:02x}"))
        })
        .collect();
    let mut env = Environment::new();
    env.add_template("index.html", TEMPLATE).context("report template")?;
    let page = env
        .get_template("index.html")
        .and_then(|t| {
            t.render(context! {
                title => title,
                suites => suite_files,
                sources => sources,
                generated => generated,
                problems => problems,
                duplicates => x.duplicates,
                conflicts => x.conflicts.to_vec(),
                missing => x.missing.to_vec(),
                methods => methods.iter().map(|m| context! { name => m.as_str(), label => m.label() }).collect::<Vec<_>>(),
                views => VIEWS.to_vec(),
                article => Value::from(Serde(&article)),
                charts => Value::from(Serde(&charts)),
                forests => Value::from(Serde(&forests)),
                colors => Value::from(Serde(&colors)),
                conditions => Value::from(Serde(&super::conditions::page_conditions(x.rows))),
                verdicts => Value::from(Serde(x.verdicts)),
                claims => Value::from(Serde(x.claims)),
                answers => Value::from(Serde(x.answers)),
                groups => Value::from(Serde(&groups)),
                rows => Value::from(Serde(&rows)),
                failed => Value::from(Serde(&failed)),
                envs => Value::from(Serde(&env_views(x.records))),
                accuracy => Value::from(Serde(&accuracy_views(x.accuracy))),
                accuracy_models => x.accuracy.iter().map(|a| a.model.as_str()).collect::<BTreeSet<_>>().len(),
                gpu => Value::from(Serde(x.gpu)),
                engines => Value::from(Serde(&super::engines::views(x.engines))),
                serving => Value::from(Serde(&super::serving::views(x.serving))),
                serving_best => Value::from(Serde(&super::serving::best_forms(x.serving))),
                serving_charts => Value::from(Serde(&serving_charts)),
                speeds => Value::from(Serde(&speed_views(x.records))),
                artifacts => Value::from(Serde(&artifact_views(x.records))),
                quality => Value::from(Serde(&quality_views(x.records))),
            })
        })
        .context("rendering the report")?;
    Ok(page)
}
