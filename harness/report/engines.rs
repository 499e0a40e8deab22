//! The same configurations on two engines (`engine: ftbench | pytorch`), side by side: tokens/s,
//! peak memory and the score of each, and ftbench / PyTorch ratios paired by seed (geometric
//! mean, with a t-based 95% interval over the seeds' log ratios), the score's difference in
//! points likewise. Only cells that ended ok on both engines pair.

use super::rows::{differing_knobs, short_model, Row, NOT_SETTINGS};
use super::stats::{mean, mean_ci95, sample_sd};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One configuration on both engines.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EngineRow {
    pub model: String,
    pub method: String,
    /// The knobs these rows differ in (engine and seed left out).
    pub config: String,
    pub task: String,
    pub device: String,
    /// Seeds that ran ok on both engines.
    pub pairs: usize,
    /// Training tokens/s (None where nothing trained: `base`).
    pub ftbench_tokens_per_s: Option<f64>,
    pub pytorch_tokens_per_s: Option<f64>,
    /// ftbench / PyTorch tokens/s: above 1, ftbench is faster.
    pub speed_ratio: Option<f64>,
    pub speed_ratio_low: Option<f64>,
    pub speed_ratio_high: Option<f64>,
    /// The memory view compared (process peak RSS on the CPU).
    pub memory_view: String,
    pub ftbench_peak_gb: f64,
    pub pytorch_peak_gb: f64,
    /// ftbench / PyTorch peak: below 1, ftbench holds less.
    pub memory_ratio: f64,
    pub memory_ratio_low: Option<f64>,
    pub memory_ratio_high: Option<f64>,
    /// The same ratio of each process's peak above its own baseline (what the run itself cost;
    /// PyTorch's baseline holds torch and its CUDA libraries, ~0.8 GB).
    pub above_baseline_ratio: Option<f64>,
    pub above_baseline_ratio_low: Option<f64>,
    pub above_baseline_ratio_high: Option<f64>,
    /// The task's score (`acc`, `exact_match`), or the held-out loss on synthetic tasks.
    pub metric: String,
    pub ftbench_score: Option<f64>,
    pub pytorch_score: Option<f64>,
    /// ftbench − PyTorch, in the metric's units (points for scores), paired by seed.
    pub score_delta: Option<f64>,
    pub score_delta_low: Option<f64>,
    pub score_delta_high: Option<f64>,
}

/// Geometric mean of the ratios of pairs and its interval; None without a pair.
fn pair_ratio(v: &[(f64, f64)]) -> (Option<f64>, Option<(f64, f64)>) {
    if v.is_empty() {
        return (None, None);
    }
    let (r, ci) = ratio(&v.iter().map(|(a, b)| a / b).collect::<Vec<_>>());
    (Some(r), ci)
}

/// Geometric mean of ratios and its interval (over the log ratios).
fn ratio(xs: &[f64]) -> (f64, Option<(f64, f64)>) {
    let logs: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let m = mean(&logs);
    (
        m.exp(),
        mean_ci95(m, sample_sd(&logs), logs.len()).map(|(lo, hi)| (lo.exp(), hi.exp())),
    )
}

fn score_of(r: &Row) -> Option<f64> {
    r.eval_score.map(|s| 100.0 * s).or(r.eval_loss)
}

/// Every configuration that ran ok on both engines for at least one seed.
pub fn engine_rows(rows: &[Row]) -> Vec<EngineRow> {
    // (model, method, hardware, every knob but the engine) → engine → seed → row.
    let mut groups: BTreeMap<String, BTreeMap<String, BTreeMap<u64, &Row>>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in rows.iter().filter(|r| r.status == "ok") {
        let mut k = r.knobs.clone();
        let engine = k.remove("engine").unwrap_or_else(|| "ftbench".into());
        let key = format!("{}|{}|{}|{k:?}", r.model, r.method, r.hardware);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().entry(engine).or_default().insert(r.seed, r);
    }
    let mut pairs: Vec<Vec<(&Row, &Row)>> = Vec::new();
    for key in &order {
        let g = &groups[key];
        let (Some(a), Some(b)) = (g.get("ftbench"), g.get("pytorch")) else {
            continue;
        };
        let p: Vec<(&Row, &Row)> = a.iter().filter_map(|(s, x)| Some((*x, *b.get(s)?))).collect();
        if !p.is_empty() {
            pairs.push(p);
        }
    }
    let knobs: Vec<&BTreeMap<String, String>> = pairs.iter().map(|p| &p[0].0.knobs).collect();
    let shown: Vec<&str> = NOT_SETTINGS.iter().copied().chain(["engine"]).collect();
    let configs = differing_knobs(&knobs, &shown);
    pairs.iter().zip(configs).map(|(p, config)| row(p, config)).collect()
}

fn row(p: &[(&Row, &Row)], config: String) -> EngineRow {
    let first = p[0].0;
    let col = |f: &dyn Fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> { p.iter().filter_map(|(a, b)| Some((f(a)?, f(b)?))).collect() };
    let speed = col(&|r| r.tokens_per_s);
    let mem = col(&|r| r.peak_rss_gb);
    let above = col(&|r| r.peak_rss_above_baseline_gb);
    let score = col(&score_of);
    let (sr, sci) = pair_ratio(&speed);
    let (mr, mci) = ratio(&mem.iter().map(|(a, b)| a / b).collect::<Vec<_>>());
    let (ar, aci) = pair_ratio(&above);
    let diffs: Vec<f64> = score.iter().map(|(a, b)| a - b).collect();
    let dci = mean_ci95(mean(&diffs), sample_sd(&diffs), diffs.len());
    let side = |v: &[(f64, f64)], i: usize| mean(&v.iter().map(|x| if i == 0 { x.0 } else { x.1 }).collect::<Vec<_>>());
    EngineRow {
        model: short_model(&first.model),
        method: first.method.clone(),
        config,
        task: first.task.clone(),
        device: first.device.clone(),
        pairs: p.len(),
        ftbench_tokens_per_s: (!speed.is_empty()).then(|| side(&speed, 0)),
        pytorch_tokens_per_s: (!speed.is_empty()).then(|| side(&speed, 1)),
        speed_ratio: sr,
        speed_ratio_low: sci.map(|c| c.0),
        speed_ratio_high: sci.map(|c| c.1),
        memory_view: if first.device == "cpu" { "peak RSS" } else { "peak RSS (host)" }.into(),
        ftbench_peak_gb: side(&mem, 0),
        pytorch_peak_gb: side(&mem, 1),
        memory_ratio: mr,
        memory_ratio_low: mci.map(|c| c.0),
        memory_ratio_high: mci.map(|c| c.1),
        above_baseline_ratio: ar,
        above_baseline_ratio_low: aci.map(|c| c.0),
        above_baseline_ratio_high: aci.map(|c| c.1),
        metric: if first.eval_score.is_some() {
            first.eval_metric.clone()
        } else {
            "held-out loss".into()
        },
        ftbench_score: (!score.is_empty()).then(|| side(&score, 0)),
        pytorch_score: (!score.is_empty()).then(|| side(&score, 1)),
        score_delta: (!diffs.is_empty()).then(|| mean(&diffs)),
        score_delta_low: dci.map(|c| c.0),
        score_delta_high: dci.map(|c| c.1),
    }
}

pub fn write_csv(rows: &[EngineRow], path: &Path) -> anyhow::Result<()> {
    crate::atomic::write_csv(path, rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ratios_are_geometric_means_with_intervals_over_seeds() {
        let (r, ci) = super::ratio(&[2.0, 0.5]);
        assert!((r - 1.0).abs() < 1e-12);
        let (lo, hi) = ci.unwrap();
        assert!(lo < 0.5 && hi > 2.0, "{lo} {hi}");
        assert_eq!(super::ratio(&[1.25]), (1.25, None));
    }
}

/// A row as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineView {
    pub what: String,
    pub config: String,
    pub pairs: usize,
    pub ftbench_speed: String,
    pub pytorch_speed: String,
    pub speed_ratio: String,
    pub ftbench_peak: String,
    pub pytorch_peak: String,
    pub memory_ratio: String,
    pub above_baseline_ratio: String,
    pub metric: String,
    pub ftbench_score: String,
    pub pytorch_score: String,
    pub score_delta: String,
}

fn times(r: f64, ci: (Option<f64>, Option<f64>)) -> String {
    match ci {
        (Some(lo), Some(hi)) => format!("{r:.2}× [{lo:.2}, {hi:.2}]"),
        _ => format!("{r:.2}×"),
    }
}

pub fn views(rows: &[EngineRow]) -> Vec<EngineView> {
    let opt = |x: Option<f64>, d: usize| x.map_or("–".into(), |v| format!("{v:.d$}"));
    rows.iter()
        .map(|r| {
            let d = if r.metric == "held-out loss" { 3 } else { 1 };
            EngineView {
                what: format!("{} · {} · {}", r.model, r.method, r.task),
                config: r.config.clone(),
                pairs: r.pairs,
                ftbench_speed: opt(r.ftbench_tokens_per_s, 0),
                pytorch_speed: opt(r.pytorch_tokens_per_s, 0),
                speed_ratio: r
                    .speed_ratio
                    .map_or("–".into(), |x| times(x, (r.speed_ratio_low, r.speed_ratio_high))),
                ftbench_peak: format!("{:.2}", r.ftbench_peak_gb),
                pytorch_peak: format!("{:.2}", r.pytorch_peak_gb),
                memory_ratio: times(r.memory_ratio, (r.memory_ratio_low, r.memory_ratio_high)),
                above_baseline_ratio: r.above_baseline_ratio.map_or("–".into(), |x| {
                    times(x, (r.above_baseline_ratio_low, r.above_baseline_ratio_high))
                }),
                metric: r.metric.clone(),
                ftbench_score: opt(r.ftbench_score, d),
                pytorch_score: opt(r.pytorch_score, d),
                score_delta: match (r.score_delta, r.score_delta_low, r.score_delta_high) {
                    (Some(m), Some(lo), Some(hi)) => format!("{m:+.d$} [{lo:+.d$}, {hi:+.d$}]"),
                    (Some(m), _, _) => format!("{m:+.d$}"),
                    _ => "–".into(),
                },
            }
        })
        .collect()
}
