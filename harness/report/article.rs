//! The article's table reproduced as "published | estimated | measured here", one block of rows
//! per model of the suite, pivoted with polars from a long (model, metric, column, value) frame.
//!
//! - published: the article's claims for a 7B model on GPUs;
//! - estimated: ftbench's estimator for Llama-2-7B with the article's settings (batch 4 × 512,
//!   gradient checkpointing, r16 on all linears, bf16 compute; GPU device view) and, for this
//!   model, the estimate each cell stored before it ran (CPU: tensor bytes + runtime);
//! - measured here: this suite's medians over the ok cells of the model and method.

use super::charts::GPU_CAPACITIES_GB;
use super::frame::{f64s, strs, u64s};
use crate::estimate::{article_input, estimate, load_profiles};
use crate::method::Method;
use crate::model::preset;
use anyhow::{Context, Result};
use polars::frame::PivotColumnNaming;
use polars::prelude::{col, cols, element, len, lit, Column, DataFrame, IntoLazy};
use std::sync::Arc;

pub const VIEWS: &[&str] = &["published", "estimated", "measured here"];

const METRICS: &[&str] = &[
    "Parameters updated",
    "Peak memory",
    "Accuracy loss vs full",
    "Tokens/s",
    "Hardware that fits",
    "Relative cost (vs full)",
];

/// The table's methods: every method the article makes a claim for, and every other trained
/// method these records ran, in registry order.
pub fn methods(record_methods: impl IntoIterator<Item = Method>) -> Vec<Method> {
    let ran: Vec<Method> = record_methods.into_iter().collect();
    Method::all()
        .filter(|m| m.trains() && (m.published().is_some() || ran.contains(m)))
        .collect()
}

/// The method the table compares with ("vs full"): the registry's first that trains every weight.
fn reference() -> Method {
    Method::all().find(|m| m.trains_base()).expect("full fine-tuning is registered")
}

/// The article's words for each metric and method (the method's `published` claim).
fn published(metric: &str, method: Method) -> String {
    let Some(p) = method.published() else {
        return "–\n(not in the article)".into();
    };
    match metric {
        "Parameters updated" => p.params_updated.into(),
        "Peak memory" => format!("{:.0}–{:.0} GB\n(7B, GPU VRAM)", p.vram_gb.0, p.vram_gb.1),
        "Accuracy loss vs full" => p.accuracy_loss.into(),
        "Hardware that fits" => p.hardware.into(),
        _ => "–\n(not in the article)".into(),
    }
}

/// Llama-2-7B with the article's settings: estimate, smallest and cheapest GPU that fits.
pub(super) struct SevenB {
    trainable_percent: f64,
    tensor_gb: f64,
    pub(super) device_gb: f64,
    smallest: Option<(String, f64)>,
    /// (profile, tokens/s at the assumed MFU, US$ per million tokens).
    cheapest: Option<(String, f64, f64)>,
    /// Full fine-tuning on smaller GPUs with ZeRO-3: (GPUs, profile, device GB per GPU), for the
    /// fewest GPUs (2, 4 or 8) where a smaller profile than `smallest` fits.
    sharded: Option<(u64, String, f64)>,
    mfu: f64,
}

pub(super) fn seven_b(method: Method) -> Option<SevenB> {
    let cfg = preset("llama2-7b")?;
    let x = article_input(method, "bf16-mixed", "adamw");
    let e = estimate(&cfg, &x).ok()?;
    let profiles = load_profiles(None).ok()?;
    let fits: Vec<_> = profiles
        .profiles
        .iter()
        .filter(|p| p.gpu && e.total_bytes as f64 <= p.memory_gb * 1e9)
        .collect();
    let smallest = fits
        .iter()
        .min_by(|a, b| a.memory_gb.total_cmp(&b.memory_gb))
        .map(|p| (p.name.clone(), p.memory_gb));
    let cheapest = fits
        .iter()
        .filter_map(|p| {
            let tps = p.bf16_tflops * 1e12 * profiles.assumed_mfu / e.flops_per_token;
            p.price_per_hour.map(|c| (p.name.clone(), tps, c / (tps * 3600.0) * 1e6))
        })
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let single_gb = smallest.as_ref().map_or(f64::INFINITY, |s| s.1);
    let sharded = if method.trains_base() {
        [2u64, 4, 8].into_iter().find_map(|n| {
            let z = crate::estimate::estimate_zero(&cfg, &x, n, 3).ok()?;
            profiles
                .profiles
                .iter()
                .filter(|p| p.gpu && p.memory_gb < single_gb && z.total_bytes as f64 <= p.memory_gb * 1e9)
                .min_by(|a, b| a.memory_gb.total_cmp(&b.memory_gb))
                .map(|p| (n, p.name.clone(), z.total_bytes as f64 / 1e9))
        })
    } else {
        None
    };
    Some(SevenB {
        sharded,
        trainable_percent: 100.0 * e.params_trainable as f64 / (e.params_base + e.params_adapters) as f64,
        tensor_gb: e.peak_tensor_bytes as f64 / 1e9,
        device_gb: e.total_bytes as f64 / 1e9,
        smallest,
        cheapest,
        mfu: profiles.assumed_mfu,
    })
}

/// Per (model, method) medians over ok cells, computed with polars.
struct Measured {
    n: u64,
    trainable_percent: Option<f64>,
    peak_rss_gb: Option<f64>,
    above_baseline_gb: Option<f64>,
    gpu_pool_gb: Option<f64>,
    gpu_nvml_gb: Option<f64>,
    estimate_gb: Option<f64>,
    tokens_per_s: Option<f64>,
    eval_loss: Option<f64>,
    eval_token_accuracy: Option<f64>,
}

/// One block of the table's rows: a model, and its engine where the records ran several
/// (`engine: pytorch` beside ftbench's own).
#[derive(Debug, Clone, PartialEq)]
struct Block {
    model: String,
    engine: Option<String>,
}

impl Block {
    /// The blocks of `models[i]` on `engines[i]`: per model and engine when the records ran
    /// `several` engines, else per model.
    fn of(models: Vec<String>, engines: &[String], several: bool) -> Vec<Block> {
        models
            .into_iter()
            .zip(engines)
            .map(|(model, e)| Block {
                model,
                engine: several.then(|| e.clone()),
            })
            .collect()
    }

    /// The table's `model` column.
    fn label(&self) -> String {
        match &self.engine {
            Some(e) => format!("{} · {e} engine", self.model),
            None => self.model.clone(),
        }
    }
}

/// Medians per block and method (a block per engine when the records ran `several`).
fn measured(cells: &DataFrame, several: bool) -> Result<Vec<(Block, String, Measured)>> {
    let df = cells
        .clone()
        .lazy()
        .filter(col("status").eq(lit("ok")))
        .group_by_stable([col("model"), col("engine"), col("method")])
        .agg([
            len().alias("n"),
            col("trainable_percent").median(),
            col("peak_rss_gb").median(),
            col("peak_rss_above_baseline_gb").median(),
            col("gpu_pool_peak_gb").median(),
            col("gpu_nvml_peak_gb").median(),
            col("estimate_gb").median(),
            col("tokens_per_s").median(),
            col("eval_loss").median(),
            col("eval_token_accuracy").median(),
        ])
        .collect()
        .context("medians per model and method")?;
    let (methods, n) = (strs(&df, "method")?, u64s(&df, "n")?);
    let blocks = Block::of(strs(&df, "model")?, &strs(&df, "engine")?, several);
    let f = |c: &str| f64s(&df, c);
    let (pool, nvml) = (f("gpu_pool_peak_gb")?, f("gpu_nvml_peak_gb")?);
    let (tp, rss, above, est, tps, loss, acc) = (
        f("trainable_percent")?,
        f("peak_rss_gb")?,
        f("peak_rss_above_baseline_gb")?,
        f("estimate_gb")?,
        f("tokens_per_s")?,
        f("eval_loss")?,
        f("eval_token_accuracy")?,
    );
    Ok((0..df.height())
        .map(|i| {
            (
                blocks[i].clone(),
                methods[i].clone(),
                Measured {
                    n: n[i].unwrap_or(0),
                    trainable_percent: tp[i],
                    peak_rss_gb: rss[i],
                    above_baseline_gb: above[i],
                    gpu_pool_gb: pool[i],
                    gpu_nvml_gb: nvml[i],
                    estimate_gb: est[i],
                    tokens_per_s: tps[i],
                    eval_loss: loss[i],
                    eval_token_accuracy: acc[i],
                },
            )
        })
        .collect())
}

fn gb(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.2} GB")
    } else {
        format!("{:.0} MB", v * 1000.0)
    }
}

/// The "estimated" cell of a metric for a method.
fn estimated(metric: &str, method: Method, seven: Option<&SevenB>, full7: Option<&SevenB>, here: Option<&Measured>) -> String {
    let Some(s) = seven else { return "–".into() };
    match metric {
        "Parameters updated" => format!("{:.2}%\n(7B, r16 all linear)", s.trainable_percent),
        "Peak memory" => {
            let mut t = format!("7B: {:.1} GB device\n({:.1} GB tensors, GPU)", s.device_gb, s.tensor_gb);
            if let Some(e) = here.and_then(|m| m.estimate_gb) {
                t += &format!("\nthis model: {}\n(tensors + runtime, CPU)", gb(e));
            }
            t
        }
        "Tokens/s" => s.cheapest.as_ref().map_or("–".into(), |(p, tps, _)| {
            format!("7B on {p}: {tps:.0}\n(at MFU {:.0}%)", 100.0 * s.mfu)
        }),
        "Hardware that fits" => {
            let mut t = s.smallest.as_ref().map_or("no single listed GPU".into(), |(p, gb)| {
                format!("smallest: {p}\n({gb:.0} GB ≥ {:.1} GB)", s.device_gb)
            });
            if let Some((n, p, per)) = &s.sharded {
                t += &format!("\nor {n}× {p} with ZeRO-3\n({per:.1} GB per GPU)");
            }
            t
        }
        "Relative cost (vs full)" => match (&s.cheapest, full7.and_then(|f| f.cheapest.as_ref())) {
            (Some((p, _, usd)), Some((_, _, full_usd))) => {
                let rel = if method == reference() {
                    "1.00× (baseline)".to_string()
                } else {
                    format!("{:.2}× full", usd / full_usd)
                };
                format!("{rel}\n7B: ${usd:.2}/M tokens on {p}")
            }
            _ => "–".into(),
        },
        _ => "–".into(),
    }
}

/// The measured accuracy of a method on one model from its real-task rows (tasks as trained):
/// full fine-tuning's score per task, every other method's difference from it, in points with
/// the 95% interval (paired by seed and item). None when the model scored no real task.
fn accuracy_cell(metric: &str, block: &Block, method: Method, rows: &[super::accuracy::AccuracyRow]) -> Option<String> {
    if metric != "Accuracy loss vs full" {
        return None;
    }
    let (model, engine) = (block.model.as_str(), block.engine.as_deref());
    let on_engine =
        |r: &super::accuracy::AccuracyRow| engine.is_none_or(|e| r.knobs.get("engine").map(String::as_str).unwrap_or("ftbench") == e);
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.model == model && r.method == method.as_str() && r.trained_on == r.eval_task && on_engine(r))
        .collect();
    if mine.is_empty() {
        return rows.iter().any(|r| r.model == model).then(|| "not run".to_string());
    }
    let lines: Vec<String> = mine
        .iter()
        .map(|r| {
            let base = r.base.map_or(String::new(), |b| format!(", base {:.1}%", 100.0 * b));
            match (&r.vs_full, method == reference()) {
                (_, true) => format!(
                    "{}: {} {:.1}%{base} (baseline, {} seeds)",
                    r.eval_task,
                    r.metric,
                    100.0 * r.mean,
                    r.seeds
                ),
                (Some(d), false) => format!(
                    "{}: {:+.1} pts {} [{:+.1}, {:+.1}] ({}; {:.1}%{base})",
                    r.eval_task,
                    100.0 * d.mean,
                    r.metric,
                    100.0 * d.low,
                    100.0 * d.high,
                    d.verdict(),
                    100.0 * r.mean
                ),
                (None, false) => format!("{}: {} {:.1}% (no full run to compare)", r.eval_task, r.metric, 100.0 * r.mean),
            }
        })
        .collect();
    Some(lines.join("\n"))
}

/// The "measured here" cell of a metric for a method on one model.
fn measured_cell(metric: &str, method: Method, m: Option<&Measured>, full: Option<&Measured>) -> String {
    let Some(m) = m else { return "not run\n(or no ok cell)".into() };
    let seeds = format!("median of {} ok cell{}", m.n, if m.n == 1 { "" } else { "s" });
    match metric {
        "Parameters updated" => m.trainable_percent.map_or("–".into(), |p| format!("{p:.2}%\n(counted)")),
        "Peak memory" if m.gpu_pool_gb.is_some() || m.gpu_nvml_gb.is_some() => format!(
            "{} allocated (CUDA pool),\n{} device used (NVML;\nGPU, {seeds})",
            m.gpu_pool_gb.map_or("–".into(), gb),
            m.gpu_nvml_gb.map_or("–".into(), gb)
        ),
        "Peak memory" => match (m.peak_rss_gb, m.above_baseline_gb) {
            (Some(p), Some(a)) => format!("{} peak RSS\n({} above baseline;\nCPU process, {seeds})", gb(p), gb(a)),
            (Some(p), None) => format!("{} peak RSS\n(CPU process, {seeds})", gb(p)),
            _ => "–".into(),
        },
        "Accuracy loss vs full" => {
            let (Some(acc), Some(loss)) = (m.eval_token_accuracy, m.eval_loss) else {
                return "–".into();
            };
            if method == reference() {
                return format!("baseline:\ntoken acc {:.1}%, loss {loss:.3}", 100.0 * acc);
            }
            match full.and_then(|f| f.eval_token_accuracy.zip(f.eval_loss)) {
                Some((fa, fl)) => format!(
                    "{:+.1} pp token acc\n({:.1}% vs {:.1}%);\nloss {:+.1}%",
                    100.0 * (acc - fa),
                    100.0 * acc,
                    100.0 * fa,
                    100.0 * (loss - fl) / fl
                ),
                None => format!("token acc {:.1}%, loss {loss:.3}\n(no full run to compare)", 100.0 * acc),
            }
        }
        "Tokens/s" => {
            let on = if m.gpu_nvml_gb.is_some() || m.gpu_pool_gb.is_some() {
                "GPU"
            } else {
                "CPU"
            };
            m.tokens_per_s.map_or("–".into(), |t| format!("{t:.0}\n({on}, {seeds})"))
        }
        "Hardware that fits" if m.gpu_nvml_gb.is_some() => match m
            .gpu_nvml_gb
            .and_then(|p| GPU_CAPACITIES_GB.iter().find(|c| **c >= p).map(|c| (p, *c)))
        {
            Some((p, c)) => format!("{c:.0} GB class\n(device used {} ≤ {c:.0} GB)", gb(p)),
            None => "none listed\n(device used > 141 GB)".into(),
        },
        "Hardware that fits" => match m.peak_rss_gb {
            Some(p) => match GPU_CAPACITIES_GB.iter().find(|c| **c >= p) {
                Some(c) => format!("{c:.0} GB class\n(peak RSS {} ≤ {c:.0} GB)", gb(p)),
                None => format!("none listed\n(peak RSS {} > 141 GB)", gb(p)),
            },
            None => "–".into(),
        },
        "Relative cost (vs full)" => match (m.tokens_per_s, full.and_then(|f| f.tokens_per_s)) {
            (Some(_), _) if method == reference() => "1.00× (baseline)".into(),
            (Some(t), Some(ft)) => format!("{:.2}× full\n(time per token, same machine)", ft / t),
            _ => "–".into(),
        },
        _ => "–".into(),
    }
}

/// The pivoted table: columns model, metric, then `METHOD · VIEW` for every method and view.
/// The article's table. Where cells scored real tasks, the measured accuracy row gives each
/// task's difference from full fine-tuning with its interval (from `accuracy`); otherwise
/// held-out token accuracy and loss.
pub fn table(cells: &DataFrame, accuracy: &[super::accuracy::AccuracyRow], methods: &[Method]) -> Result<DataFrame> {
    let engines = strs(cells, "engine")?;
    let several = engines.iter().collect::<std::collections::BTreeSet<_>>().len() > 1;
    let measured = measured(cells, several)?;
    let mut blocks: Vec<Block> = Vec::new();
    // Models with no ok cell still get their rows (all "not run").
    for b in measured
        .iter()
        .map(|(b, _, _)| b.clone())
        .chain(Block::of(strs(cells, "model")?, &engines, several))
    {
        if !blocks.contains(&b) {
            blocks.push(b);
        }
    }
    let sevens: Vec<Option<SevenB>> = methods.iter().map(|m| seven_b(*m)).collect();
    let full7 = seven_b(reference());
    let (mut l_model, mut l_metric, mut l_column, mut l_value) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for block in &blocks {
        let get = |method: Method| measured.iter().find(|(b, me, _)| b == block && me == method.as_str()).map(|x| &x.2);
        for metric in METRICS {
            for (k, &method) in methods.iter().enumerate() {
                let values = [
                    published(metric, method),
                    estimated(metric, method, sevens[k].as_ref(), full7.as_ref(), get(method)),
                    match accuracy_cell(metric, block, method, accuracy) {
                        Some(text) => text,
                        None => measured_cell(metric, method, get(method), get(reference())),
                    },
                ];
                for (view, value) in VIEWS.iter().zip(values) {
                    l_model.push(block.label());
                    l_metric.push(metric.to_string());
                    l_column.push(format!("{method} · {view}"));
                    l_value.push(value);
                }
            }
        }
    }
    let long = DataFrame::new(
        l_model.len(),
        vec![
            Column::new("model".into(), l_model),
            Column::new("metric".into(), l_metric),
            Column::new("column".into(), l_column),
            Column::new("value".into(), l_value),
        ],
    )?;
    let names: Vec<String> = methods
        .iter()
        .flat_map(|m| VIEWS.iter().map(move |v| format!("{m} · {v}")))
        .collect();
    let on_columns = DataFrame::new(names.len(), vec![Column::new("column".into(), names)])?;
    long.lazy()
        .pivot(
            cols(["column"]),
            Arc::new(on_columns),
            cols(["model", "metric"]),
            cols(["value"]),
            element().first(),
            true,
            "_".into(),
            PivotColumnNaming::Auto,
        )
        .collect()
        .context("pivoting the article table")
}
