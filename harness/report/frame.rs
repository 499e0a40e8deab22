//! Aggregation with polars: per-cell rows → a DataFrame; one row per configuration (model ×
//! method × hardware × every knob but the seed) with statistics over its ok cells; CSV.

use super::rows::Row;
use super::stats::mean_ci95;
use anyhow::{Context, Result};
use polars::prelude::{col, len, lit, when, Column, DataFrame, DataType, Expr, IntoLazy, SortOptions, NULL};
use polars_io::csv::write::CsvWriter;
use polars_io::SerWriter;
use std::path::Path;

/// The measured columns aggregated over seeds (ok cells only), with what they are.
pub const METRICS: &[(&str, &str)] = &[
    ("tokens_per_s", "tokens per update / median steady step time"),
    ("median_step_s", "median steady step time, s"),
    ("peak_rss_gb", "peak process RSS, GB"),
    ("peak_rss_above_baseline_gb", "peak process RSS above the pre-load baseline, GB"),
    ("eval_loss", "held-out loss"),
    ("eval_token_accuracy", "held-out token accuracy (fraction)"),
    ("eval_exact_match", "held-out exact match, teacher-forced (fraction)"),
    (
        "eval_score",
        "held-out task score: multiple-choice acc or generative exact match (fraction; real tasks)",
    ),
    ("final_train_loss", "last training loss"),
];

/// Statistic suffixes of each metric in the aggregate frame.
pub const STATS: &[&str] = &["median", "mean", "min", "max", "sd", "ci95_low", "ci95_high"];

/// Columns constant within a configuration, carried into the aggregate frame.
const KEYS: &[&str] = &[
    "model",
    "method",
    "hardware",
    "engine",
    "config",
    "device",
    "compute_dtype",
    "optimizer",
    "optimizer_state_dtype",
    "batch_size",
    "seq_len",
    "grad_accum",
    "tokens_per_step",
    "steps",
    "recompute",
    "fused_ops",
    "task",
];

/// Deterministic per-configuration numbers (the same for every seed): first value.
const FIXED: &[&str] = &[
    "params_total",
    "params_trainable",
    "trainable_percent",
    "estimate_tensor_gb",
    "estimate_gb",
];

/// The per-cell DataFrame: the columns of cells.csv, in order.
pub fn cells_frame(rows: &[Row]) -> Result<DataFrame> {
    macro_rules! col {
        ($name:literal, $f:expr) => {
            Column::new($name.into(), rows.iter().map($f).collect::<Vec<_>>())
        };
    }
    let columns = vec![
        col!("suite", |r| r.suite.clone()),
        col!("cell_id", |r| r.cell_id.clone()),
        col!("label", |r| r.label.clone()),
        col!("model", |r| r.model.clone()),
        col!("method", |r| r.method.clone()),
        col!("hardware", |r| r.hardware.clone()),
        col!("engine", |r| r.engine.clone()),
        col!("seed", |r| r.seed),
        col!("config", |r| r.config.clone()),
        col!("config_id", |r| r.config_id.clone()),
        col!("status", |r| r.status.clone()),
        col!("reason", |r| r.reason.clone()),
        col!("device", |r| r.device.clone()),
        col!("compute_dtype", |r| r.compute_dtype.clone()),
        col!("optimizer", |r| r.optimizer.clone()),
        col!("optimizer_state_dtype", |r| r.optimizer_state_dtype.clone()),
        col!("batch_size", |r| r.batch_size),
        col!("seq_len", |r| r.seq_len),
        col!("mean_seq_tokens", |r| r.mean_seq_tokens),
        col!("grad_accum", |r| r.grad_accum),
        col!("tokens_per_step", |r| r.tokens_per_step),
        col!("steps", |r| r.steps),
        col!("recompute", |r| r.recompute),
        col!("fused_ops", |r| r.fused_ops),
        col!("task", |r| r.task.clone()),
        col!("threads", |r| r.threads),
        col!("params_total", |r| r.params_total),
        col!("params_trainable", |r| r.params_trainable),
        col!("trainable_percent", |r| r.trainable_percent),
        col!("weights_dense_mb", |r| r.weights_dense_mb),
        col!("weights_nf4_mb", |r| r.weights_nf4_mb),
        col!("quant_constants_mb", |r| r.quant_constants_mb),
        col!("adapters_mb", |r| r.adapters_mb),
        col!("grads_mb", |r| r.grads_mb),
        col!("optimizer_state_mb", |r| r.optimizer_state_mb),
        col!("peak_rss_gb", |r| r.peak_rss_gb),
        col!("baseline_rss_gb", |r| r.baseline_rss_gb),
        col!("peak_rss_above_baseline_gb", |r| r.peak_rss_above_baseline_gb),
        col!("gpu_pool_peak_gb", |r| r.gpu_pool_peak_gb),
        col!("gpu_nvml_peak_gb", |r| r.gpu_nvml_peak_gb),
        col!("mfu", |r| r.mfu),
        col!("estimate_tensor_gb", |r| r.estimate_tensor_gb),
        col!("estimate_gb", |r| r.estimate_gb),
        col!("estimate_error_percent", |r| r.estimate_error_percent),
        col!("tokens_per_s", |r| r.tokens_per_s),
        col!("median_step_s", |r| r.median_step_s),
        col!("mean_step_s", |r| r.mean_step_s),
        col!("stddev_step_s", |r| r.stddev_step_s),
        col!("timed_steps", |r| r.timed_steps),
        col!("final_train_loss", |r| r.final_train_loss),
        col!("eval_loss", |r| r.eval_loss),
        col!("eval_token_accuracy", |r| r.eval_token_accuracy),
        col!("eval_exact_match", |r| r.eval_exact_match),
        col!("eval_score", |r| r.eval_score),
        col!("eval_metric", |r| r.eval_metric.clone()),
        col!("cpu_model", |r| r.cpu_model.clone()),
        col!("git_commit", |r| r.git_commit.clone()),
        col!("started_at", |r| r.started_at.clone()),
    ];
    DataFrame::new(rows.len(), columns).context("building the per-cell table")
}

/// One row per configuration, in the order the configurations first appear: cells, ok cells,
/// seeds, the fixed numbers, and for every metric its median, mean, min, max, sample standard
/// deviation and t-based 95% interval of the mean over the ok cells (none below two cells).
pub fn aggregate(cells: &DataFrame) -> Result<DataFrame> {
    let ok = col("status").eq(lit("ok"));
    let mut aggs: Vec<Expr> = vec![col("suite").unique_stable().alias("suites")];
    aggs.extend(KEYS.iter().map(|k| col(*k).first()));
    aggs.push(len().alias("cells"));
    aggs.push(ok.clone().cast(DataType::UInt32).sum().alias("ok"));
    aggs.push(col("seed").sort(SortOptions::default()).alias("seeds"));
    aggs.extend(FIXED.iter().map(|k| col(*k).first()));
    for (m, _) in METRICS {
        let v = when(ok.clone()).then(col(*m)).otherwise(lit(NULL)).cast(DataType::Float64);
        aggs.push(v.clone().count().alias(format!("{m}_n")));
        aggs.push(v.clone().median().alias(format!("{m}_median")));
        aggs.push(v.clone().mean().alias(format!("{m}_mean")));
        aggs.push(v.clone().min().alias(format!("{m}_min")));
        aggs.push(v.clone().max().alias(format!("{m}_max")));
        aggs.push(v.std(1).alias(format!("{m}_sd")));
    }
    let mut df = cells
        .clone()
        .lazy()
        .group_by_stable([col("config_id")])
        .agg(aggs)
        .collect()
        .context("aggregating cells over seeds")?;
    for name in ["suites", "seeds"] {
        let joined = join_lists(&df, name)?;
        df.with_column(Column::new(name.into(), joined))?;
    }
    for (m, _) in METRICS {
        let n = u64s(&df, &format!("{m}_n"))?;
        let mean = f64s(&df, &format!("{m}_mean"))?;
        let sd = f64s(&df, &format!("{m}_sd"))?;
        let ci: Vec<Option<(f64, f64)>> = (0..df.height())
            .map(|i| mean[i].and_then(|mu| mean_ci95(mu, sd[i], n[i].unwrap_or(0) as usize)))
            .collect();
        df.with_column(Column::new(
            format!("{m}_ci95_low").into(),
            ci.iter().map(|c| c.map(|c| c.0)).collect::<Vec<_>>(),
        ))?;
        df.with_column(Column::new(
            format!("{m}_ci95_high").into(),
            ci.iter().map(|c| c.map(|c| c.1)).collect::<Vec<_>>(),
        ))?;
    }
    // Column order: keys, counts, fixed numbers, then each metric's statistics together.
    let mut order: Vec<String> = vec!["config_id".into(), "suites".into()];
    order.extend(KEYS.iter().map(|k| k.to_string()));
    order.extend(["cells", "ok", "seeds"].map(String::from));
    order.extend(FIXED.iter().map(|k| k.to_string()));
    for (m, _) in METRICS {
        order.extend(STATS.iter().map(|s| format!("{m}_{s}")));
    }
    df.select(order).context("ordering the summary columns")
}

/// A list column's values joined by spaces, one string per row.
fn join_lists(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let lists = df.column(name)?.list()?;
    (0..lists.len())
        .map(|i| -> Result<String> {
            let Some(s) = lists.get_as_series(i) else {
                return Ok(String::new());
            };
            let s = s.cast(&DataType::String)?;
            Ok(s.str()?.iter().flatten().collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// A column as optional f64s (cast as needed).
pub fn f64s(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df
        .column(name)
        .with_context(|| format!("no column {name}"))?
        .cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

/// A column as optional u64s (cast as needed).
pub fn u64s(df: &DataFrame, name: &str) -> Result<Vec<Option<u64>>> {
    let c = df
        .column(name)
        .with_context(|| format!("no column {name}"))?
        .cast(&DataType::UInt64)?;
    Ok(c.u64()?.iter().collect())
}

/// A column as strings (cast as needed; null → "").
pub fn strs(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let c = df
        .column(name)
        .with_context(|| format!("no column {name}"))?
        .cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|s| s.unwrap_or("").to_string()).collect())
}

/// Writes a frame as CSV (header, comma-separated, RFC 4180 quoting) through a temporary file.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf)
        .finish(df)
        .with_context(|| format!("cannot format {}", path.display()))?;
    super::write_file(path, &buf)
}

/// Statistics of one metric over a configuration's ok cells.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stat {
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub sd: Option<f64>,
    pub ci95: Option<(f64, f64)>,
}

/// One configuration of the aggregate frame, for the charts and the page.
#[derive(Debug, Clone)]
pub struct GroupStats {
    pub config_id: String,
    pub suites: String,
    pub model: String,
    pub method: String,
    pub hardware: String,
    pub config: String,
    pub conditions: String,
    pub cells: u64,
    pub ok: u64,
    pub seeds: String,
    pub trainable_percent: Option<f64>,
    pub estimate_gb: Option<f64>,
    pub tokens_per_s: Stat,
    pub step_s: Stat,
    pub peak_rss_gb: Stat,
    pub above_baseline_gb: Stat,
    pub eval_loss: Stat,
    pub eval_token_accuracy: Stat,
    pub eval_exact_match: Stat,
    pub eval_score: Stat,
    pub final_train_loss: Stat,
}

/// The statistics columns of metric `m` (`m_median`, `m_mean`, ...) as one `Stat` per row.
fn stats(agg: &DataFrame, m: &str) -> Result<Vec<Stat>> {
    let g = |st: &str| f64s(agg, &format!("{m}_{st}"));
    let (med, mean, min, max, sd, lo, hi) = (
        g("median")?,
        g("mean")?,
        g("min")?,
        g("max")?,
        g("sd")?,
        g("ci95_low")?,
        g("ci95_high")?,
    );
    Ok((0..agg.height())
        .map(|i| Stat {
            median: med[i],
            mean: mean[i],
            min: min[i],
            max: max[i],
            sd: sd[i],
            ci95: lo[i].zip(hi[i]),
        })
        .collect())
}

/// The aggregate frame as structs.
pub fn group_stats(agg: &DataFrame) -> Result<Vec<GroupStats>> {
    let s = |name: &str| strs(agg, name);
    let (ids, suites, models, methods, hardware, configs, seeds) = (
        s("config_id")?,
        s("suites")?,
        s("model")?,
        s("method")?,
        s("hardware")?,
        s("config")?,
        s("seeds")?,
    );
    let (devices, dtypes, tasks) = (s("device")?, s("compute_dtype")?, s("task")?);
    let (batch, seq, accum, steps) = (
        u64s(agg, "batch_size")?,
        u64s(agg, "seq_len")?,
        u64s(agg, "grad_accum")?,
        u64s(agg, "steps")?,
    );
    let recompute = strs(agg, "recompute")?;
    let fused = strs(agg, "fused_ops")?;
    let (cells, ok) = (u64s(agg, "cells")?, u64s(agg, "ok")?);
    let (trainable, estimate) = (f64s(agg, "trainable_percent")?, f64s(agg, "estimate_gb")?);
    let stat = |m: &str| stats(agg, m);
    let (tps, step, rss, above) = (
        stat("tokens_per_s")?,
        stat("median_step_s")?,
        stat("peak_rss_gb")?,
        stat("peak_rss_above_baseline_gb")?,
    );
    let (el, acc, em, fl) = (
        stat("eval_loss")?,
        stat("eval_token_accuracy")?,
        stat("eval_exact_match")?,
        stat("final_train_loss")?,
    );
    let score = stat("eval_score")?;
    Ok((0..agg.height())
        .map(|i| GroupStats {
            config_id: ids[i].clone(),
            suites: suites[i].clone(),
            model: models[i].clone(),
            method: methods[i].clone(),
            hardware: hardware[i].clone(),
            config: configs[i].clone(),
            conditions: super::rows::conditions(
                &devices[i],
                batch[i].unwrap_or(0) as u32,
                seq[i].unwrap_or(0) as u32,
                accum[i].unwrap_or(1) as u32,
                &dtypes[i],
                recompute[i] == "true",
                fused[i] == "true",
                steps[i].unwrap_or(0) as u32,
                &tasks[i],
            ),
            cells: cells[i].unwrap_or(0),
            ok: ok[i].unwrap_or(0),
            seeds: seeds[i].clone(),
            trainable_percent: trainable[i],
            estimate_gb: estimate[i],
            tokens_per_s: tps[i],
            step_s: step[i],
            peak_rss_gb: rss[i],
            above_baseline_gb: above[i],
            eval_loss: el[i],
            eval_token_accuracy: acc[i],
            eval_exact_match: em[i],
            eval_score: score[i],
            final_train_loss: fl[i],
        })
        .collect())
}
