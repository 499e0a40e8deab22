//! The page's views of what a cell measured beyond cost: accuracy against the base model and
//! full fine-tuning, forgetting, time to quality, inference speed and the
//! size of what each method produces.

use super::accuracy::{AccuracyRow, Delta};
use super::stats::median;
use crate::record::{Record, Status};
use serde::Serialize;
use std::collections::BTreeMap;

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn delta(d: &Option<Delta>) -> (String, String) {
    match d {
        Some(d) => (
            format!("{:+.1} [{:+.1}, {:+.1}]", 100.0 * d.mean, 100.0 * d.low, 100.0 * d.high),
            d.verdict().to_string(),
        ),
        None => ("–".into(), String::new()),
    }
}

#[derive(Serialize)]
pub struct AccuracyView {
    model: String,
    /// The model's file or preset name without its folder.
    model_short: String,
    /// The knobs that differ between the table's rows.
    settings: String,
    /// The smallest difference from full fine-tuning the run could have detected.
    mde: String,
    task: String,
    trained_on: String,
    method: String,
    config: String,
    metric: String,
    runs: String,
    score: String,
    /// The t-based 95% interval of the mean over seeds, where there are two or more.
    score_ci: String,
    run_se: String,
    acc_norm: String,
    base: String,
    vs_base: String,
    vs_base_verdict: String,
    vs_full: String,
    vs_full_verdict: String,
}

pub fn accuracy_views(rows: &[AccuracyRow]) -> Vec<AccuracyView> {
    // The base model trains nothing: its training knobs are not settings.
    let trains = |r: &AccuracyRow| !r.trained_on.is_empty();
    let knobs: Vec<&BTreeMap<String, String>> = rows.iter().filter(|r| trains(r)).map(|r| &r.knobs).collect();
    let mut differing = super::rows::differing_knobs(&knobs, super::rows::NOT_SETTINGS).into_iter();
    let settings: Vec<String> = rows
        .iter()
        .map(|r| {
            if trains(r) {
                differing.next().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .collect();
    rows.iter()
        .zip(settings)
        .map(|(r, settings)| {
            let (vb, vbv) = delta(&r.vs_base);
            let (vf, vfv) = delta(&r.vs_full);
            AccuracyView {
                model: r.model.clone(),
                model_short: super::rows::short_model(&r.model),
                settings,
                mde: r.vs_full.map_or("–".into(), |d| format!("{:.1}", 100.0 * d.mde)),
                task: r.eval_task.clone(),
                trained_on: if r.trained_on.is_empty() {
                    "— (untrained)".into()
                } else {
                    r.trained_on.clone()
                },
                method: r.method.clone(),
                config: r.config.clone(),
                metric: r.metric.clone(),
                runs: format!("{} × {}", r.seeds, r.items),
                score: match (r.sd, r.ci_low, r.ci_high) {
                    (Some(sd), Some(_), Some(_)) => format!("{} ± {}", pct(r.mean), pct(sd)),
                    _ => pct(r.mean),
                },
                score_ci: match (r.ci_low, r.ci_high) {
                    (Some(lo), Some(hi)) => format!("[{}, {}]", pct(lo), pct(hi)),
                    _ => String::new(),
                },
                run_se: r.run_stderr.map_or("–".into(), |s| format!("± {}", pct(s))),
                acc_norm: r.acc_norm.map_or("–".into(), pct),
                base: r.base.map_or("–".into(), pct),
                vs_base: vb,
                vs_base_verdict: vbv,
                vs_full: vf,
                vs_full_verdict: vfv,
            }
        })
        .collect()
}

/// Records grouped by configuration (seeds together), in first-appearance order.
fn by_config(records: &[Record]) -> Vec<Vec<&Record>> {
    let mut order = Vec::new();
    let mut groups: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == Status::Ok) {
        let id = super::rows::config_id(r);
        if !groups.contains_key(&id) {
            order.push(id.clone());
        }
        groups.entry(id).or_default().push(r);
    }
    order.into_iter().map(|id| groups.remove(&id).expect("grouped")).collect()
}

#[derive(Serialize)]
pub struct SpeedView {
    config: String,
    runs: usize,
    conditions: String,
    prefill: String,
    decode: String,
    merged_prefill: String,
    merged_decode: String,
}

pub fn speed_views(records: &[Record]) -> Vec<SpeedView> {
    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
    by_config(records)
        .into_iter()
        .filter_map(|g| {
            let s: Vec<_> = g.iter().filter_map(|r| r.inference.as_ref()).collect();
            let first = s.first()?;
            let r = g[0];
            Some(SpeedView {
                config: format!("{} · {}", r.cell.model, r.cell.label),
                runs: s.len(),
                conditions: format!(
                    "{}, {}, batch 1, {}-token prompt then {} greedy tokens with the KV cache, median of {} repeats per run",
                    r.conditions.device, r.conditions.compute_dtype, first.prompt_tokens, first.new_tokens, first.repeats
                ),
                prefill: f(median(s.iter().map(|x| x.prefill_tokens_per_s).collect())),
                decode: f(median(s.iter().map(|x| x.decode_tokens_per_s).collect())),
                merged_prefill: f(median(s.iter().filter_map(|x| x.merged_prefill_tokens_per_s).collect())),
                merged_decode: f(median(s.iter().filter_map(|x| x.merged_decode_tokens_per_s).collect())),
            })
        })
        .collect()
}

#[derive(Serialize)]
pub struct ArtifactView {
    config: String,
    kind: String,
    size: String,
    how: String,
}

/// What each method produces here, and (for the article's claim) the same for a 7B model.
pub fn artifact_views(records: &[Record]) -> Vec<ArtifactView> {
    let mut out: Vec<ArtifactView> = by_config(records)
        .into_iter()
        .filter_map(|g| {
            let a: Vec<_> = g.iter().filter_map(|r| r.artifact.as_ref()).collect();
            let first = a.first()?;
            Some(ArtifactView {
                config: format!("{} · {}", g[0].cell.model, g[0].cell.label),
                kind: first.kind.clone(),
                size: super::rows::size_label(median(a.iter().map(|x| x.bytes as f64).collect()).unwrap_or(0.0)),
                how: format!("{} ({} tensors, f32)", first.how, first.tensors),
            })
        })
        .collect();
    if let Some(cfg) = crate::model::preset("llama2-7b") {
        // One row per adapter size among the adapter methods of these records (LoRA, QLoRA and
        // LoRA+ share one; DoRA adds its magnitudes), r16 on all linears.
        let mut sizes: Vec<(u64, Vec<&'static str>)> = Vec::new();
        let mut methods: Vec<crate::method::Method> = records.iter().map(|r| r.cell.method).filter(|m| m.has_adapters()).collect();
        methods.sort();
        methods.dedup();
        for m in methods {
            let n = crate::estimate::adapter_params(&cfg, m, 16, &["all-linear".to_string()]);
            match sizes.iter_mut().find(|(k, _)| *k == n) {
                Some((_, labels)) => labels.push(m.label()),
                None => sizes.push((n, vec![m.label()])),
            }
        }
        for (adapters, labels) in sizes {
            out.push(ArtifactView {
                config: format!("preset:llama2-7b · {} r16 all linear (estimate)", labels.join("/")),
                kind: "adapter".into(),
                size: format!(
                    "{} bf16 / {} f32",
                    super::rows::size_label(adapters as f64 * 2.0),
                    super::rows::size_label(adapters as f64 * 4.0)
                ),
                how: format!("computed: {:.1}M adapter parameters", adapters as f64 / 1e6),
            });
        }
        let full = cfg.num_parameters() as f64;
        out.push(ArtifactView {
            config: "preset:llama2-7b · full fine-tuning (estimate)".into(),
            kind: "checkpoint".into(),
            size: format!(
                "{} bf16 / {} f32",
                super::rows::size_label(full * 2.0),
                super::rows::size_label(full * 4.0)
            ),
            how: format!("computed: {:.2}B parameters", full / 1e9),
        });
    }
    out
}

#[derive(Serialize)]
pub struct QualityView {
    config: String,
    target: String,
    reached: String,
    step: String,
    tokens: String,
    train_s: String,
    curve: String,
}

pub fn quality_views(records: &[Record]) -> Vec<QualityView> {
    let f0 = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.0}"));
    by_config(records)
        .into_iter()
        .filter(|g| !g[0].curve.is_empty())
        .map(|g| {
            let hit: Vec<_> = g.iter().filter_map(|r| r.target_reached.as_ref()).collect();
            let r = g[0];
            QualityView {
                config: format!("{} · {}", r.cell.model, r.cell.label),
                target: if r.cell.knobs.target.is_empty() {
                    "–".into()
                } else {
                    r.cell.knobs.target.clone()
                },
                reached: format!("{} of {} runs", hit.len(), g.len()),
                step: f0(median(hit.iter().map(|h| h.step as f64).collect())),
                tokens: f0(median(hit.iter().map(|h| h.tokens as f64).collect())),
                train_s: median(hit.iter().map(|h| h.train_s).collect()).map_or("–".into(), |v| format!("{v:.1}")),
                curve: r
                    .curve
                    .iter()
                    .map(|p| match (p.metric, &p.metric_name) {
                        (Some(m), Some(n)) => format!("step {}: loss {:.3}, {n} {:.1}%", p.step, p.loss, 100.0 * m),
                        _ => format!("step {}: loss {:.3}", p.step, p.loss),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
        .collect()
}
