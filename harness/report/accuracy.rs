//! The accuracy tables: for each model and evaluated task, the base model's score, each
//! trained configuration's score over seeds, and its differences from the base and from full
//! fine-tuning — each with a 95% interval and a verdict. Rows whose evaluated task differs from
//! the trained one (`also_eval`) measure forgetting.
//!
//! Uncertainty has two sources, and the intervals carry both:
//! - seeds (training randomness): the t-interval over the seeds' values;
//! - the evaluation sample (which items happened to be held out): each run's standard error
//!   √(p(1−p)/(n−1)), and for a difference the paired standard error over the same items.
//!
//! A difference's half-width is √((t₀.₉₇₅,ₖ₋₁ · sd_seeds/√k)² + (1.96 · se_items)²) over k
//! paired seeds. When every run scored the same n items (the usual case: the held-out items do
//! not depend on the seed), se_items is sd_i(d̄_i)/√n with d̄_i each item's difference averaged
//! over the seeds (`eval::stats::seed_averaged_paired_stderr`): the items are the same for every
//! seed, so the sample of items does not average out over seeds, but a run's own misses on items
//! the other seeds get right do. (The two terms count that run-specific part twice, once each:
//! a conservative interval.) Otherwise se_items is the mean over seeds of the per-run paired
//! standard errors sd(a_i − b_i)/√n, or √(se_a² + se_b²) for runs that scored different items.
//! With one seed only the item term remains. "within noise" means the interval contains 0.
//!
//! Power: each difference also states the smallest true difference the run would have detected
//! with 80% power at the 5% level (two-sided), from the same two variance terms:
//! √(((t₀.₉₇₅ + t₀.₈₀)ₙ₋₁ · sd_seeds/√n)² + ((z₀.₉₇₅ + z₀.₈₀) · se_items)²). "Within noise" then
//! reads "no difference larger than this".
//!
//! Pairing: a method's seed s is compared with the base model (which does not depend on the
//! seed for a model file) and with full fine-tuning's seed s of the same model, trained and
//! evaluated task; among several full configurations, the one sharing the most knob values.

use super::stats::t_quantile;
use crate::eval::stats::{paired_stderr, seed_averaged_paired_stderr};
use crate::eval::TaskScore;
use crate::record::{Record, Status};
use serde::Serialize;
use sha2::Digest;
use std::collections::BTreeMap;

/// A difference of means with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delta {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// Pairs of runs it rests on.
    pub pairs: usize,
    /// The smallest difference detectable with 80% power at the 5% level (module docs).
    pub mde: f64,
}

impl Delta {
    pub fn within_noise(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }

    pub fn verdict(&self) -> &'static str {
        if self.within_noise() {
            "within noise"
        } else if self.mean > 0.0 {
            "better"
        } else {
            "worse"
        }
    }
}

/// One configuration evaluated on one task.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    pub model: String,
    /// The task scored.
    pub eval_task: String,
    /// The task trained on ("" for base).
    pub trained_on: String,
    pub method: String,
    /// Knob values that tell this configuration apart (from the report's labels).
    pub config: String,
    pub metric: String,
    pub seeds: usize,
    pub items: usize,
    pub mean: f64,
    pub sd: Option<f64>,
    /// t-interval over seeds (two or more).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Mean of the runs' standard errors over the evaluation sample.
    pub run_stderr: Option<f64>,
    pub acc_norm: Option<f64>,
    pub base: Option<f64>,
    pub vs_base: Option<Delta>,
    pub vs_full: Option<Delta>,
    /// The configuration's knobs as shown (`name → value`), for tables that show only the
    /// knobs that differ between their rows.
    #[serde(skip)]
    pub knobs: BTreeMap<String, String>,
    /// The configuration (report::rows::config_id): joins the row to its cost figures.
    pub config_id: String,
}

impl AccuracyRow {
    /// Whether the row's method trains every weight (full fine-tuning: the reference).
    pub(super) fn method_trains_base(&self) -> bool {
        crate::method::Method::lookup(&self.method).is_ok_and(|m| m.trains_base())
    }
    /// Whether the row's method trains at all (not the untouched base model).
    pub(super) fn method_trains(&self) -> bool {
        crate::method::Method::lookup(&self.method).is_ok_and(|m| m.trains())
    }
}

/// One run's score of one task, with what it pairs on.
#[derive(Clone)]
struct Run<'a> {
    model: &'a str,
    trained_on: &'a str,
    method: crate::method::Method,
    config_id: String,
    config: &'a str,
    seed: u64,
    knobs: serde_json::Value,
    score: &'a TaskScore,
}

fn runs<'a>(records: &'a [Record], labels: &'a [String]) -> Vec<Run<'a>> {
    let mut out = Vec::new();
    for (r, label) in records.iter().zip(labels) {
        if r.status != Status::Ok {
            continue;
        }
        let base = !r.cell.method.trains();
        let trained_on = if base { "" } else { r.cell.knobs.task.as_str() };
        let knobs = serde_json::to_value(&r.cell.knobs).unwrap_or_default();
        let scores = r.eval.iter().filter_map(|e| e.score.as_ref()).chain(r.also_eval.iter());
        for score in scores {
            out.push(Run {
                model: &r.cell.model,
                trained_on,
                method: r.cell.method,
                config_id: super::rows::config_id(r),
                config: label,
                seed: r.cell.seed,
                knobs: knobs.clone(),
                score,
            });
        }
    }
    out
}

use super::stats::{mean, sample_sd as sd};

/// Standard error of a − b over the evaluation sample: paired when both scored the same items.
fn item_se(a: &TaskScore, b: &TaskScore) -> Option<f64> {
    if a.data.held_out_ids == b.data.held_out_ids {
        paired_stderr(&a.outcomes(), &b.outcomes())
    } else {
        Some((a.stderr?.powi(2) + b.stderr?.powi(2)).sqrt())
    }
}

/// Standard normal quantiles of 0.975 and 0.80.
const Z975: f64 = 1.959_963_984_540_054;
const Z80: f64 = 0.841_621_233_572_914_3;

/// The item term of a difference over paired runs (a_s, b_s): seed-averaged when every run
/// scored the same items, else each pair's own (module docs). One entry per pair.
fn item_ses(pairs: &[(&TaskScore, &TaskScore)]) -> Vec<Option<f64>> {
    let ids = &pairs[0].0.data.held_out_ids;
    let shared = pairs
        .iter()
        .all(|(a, b)| a.data.held_out_ids == *ids && b.data.held_out_ids == *ids);
    let averaged = shared
        .then(|| seed_averaged_paired_stderr(&pairs.iter().map(|(a, b)| (a.outcomes(), b.outcomes())).collect::<Vec<_>>()))
        .flatten();
    match averaged {
        Some(se) => vec![Some(se); pairs.len()],
        None => pairs.iter().map(|(a, b)| item_se(a, b)).collect(),
    }
}

/// The difference of paired runs (a_s, b_s) with the combined interval (module docs).
pub fn paired_delta(pairs: &[(f64, f64, Option<f64>)]) -> Option<Delta> {
    if pairs.is_empty() {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|(a, b, _)| a - b).collect();
    let ses: Vec<f64> = pairs.iter().filter_map(|p| p.2).collect();
    let se_items = if ses.is_empty() { 0.0 } else { mean(&ses) };
    let (se_seeds, df) = (sd(&d).map_or(0.0, |s| s / (d.len() as f64).sqrt()), (d.len().max(2) - 1) as f64);
    let half = ((t_quantile(0.975, df) * se_seeds).powi(2) + (Z975 * se_items).powi(2)).sqrt();
    let mde = (((t_quantile(0.975, df) + t_quantile(0.8, df)) * se_seeds).powi(2) + ((Z975 + Z80) * se_items).powi(2)).sqrt();
    let m = mean(&d);
    Some(Delta {
        mean: m,
        low: m - half,
        high: m + half,
        pairs: d.len(),
        mde,
    })
}

/// The difference of paired scorings, with its item term from their per-item outcomes.
fn scored_delta(pairs: &[(&TaskScore, &TaskScore)]) -> Option<Delta> {
    if pairs.is_empty() {
        return None;
    }
    let ses = item_ses(pairs);
    paired_delta(&pairs.iter().zip(ses).map(|((a, b), se)| (a.value, b.value, se)).collect::<Vec<_>>())
}

/// What makes two base scorings of a task the same: the items and how they were shown.
fn scoring_key(r: &Run) -> String {
    let d = &r.score.data;
    let items = sha2::Sha256::digest(d.held_out_ids.join("\n").as_bytes());
    let k = |name: &str| r.knobs.get(name).map(|v| v.to_string()).unwrap_or_default();
    format!(
        "base:{:x}:{}:{}:{}:{}",
        items,
        d.shots,
        d.prompt_format,
        k("max_new_tokens"),
        k("engine")
    )
}

fn shared_knobs(a: &serde_json::Value, b: &serde_json::Value) -> usize {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a.iter().filter(|(k, v)| b.get(*k) == Some(v)).count(),
        _ => 0,
    }
}

/// Every accuracy row of the records (ok cells with a task score), grouped by model,
/// evaluated task, trained task and configuration, in first-appearance order.
pub fn accuracy_rows(records: &[Record], labels: &[String]) -> Vec<AccuracyRow> {
    let runs = runs(records, labels);
    // (model, eval task, trained on, config id) → runs, in order of appearance.
    let mut order: Vec<(String, String, String, String)> = Vec::new();
    let mut groups: BTreeMap<(String, String, String, String), Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        // Base cells of several suites' tasks score a task alike when they score the same items
        // the same way: one base row per such scoring, whichever cell it came from.
        let group = if !r.method.trains() { scoring_key(r) } else { r.config_id.clone() };
        let key = (r.model.to_string(), r.score.task.clone(), r.trained_on.to_string(), group);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(r);
    }
    order.iter().map(|key| row(key, &groups[key], &runs)).collect()
}

/// The row of one configuration's runs `g` (one per seed) of `key`.
fn row(key: &(String, String, String, String), g: &[&Run], runs: &[Run]) -> AccuracyRow {
    let first = g[0];
    let values: Vec<f64> = g.iter().map(|r| r.score.value).collect();
    let m = mean(&values);
    let s = sd(&values);
    let ci = s.filter(|_| values.len() >= 2).map(|s| {
        let half = t_quantile(0.975, (values.len() - 1) as f64) * s / (values.len() as f64).sqrt();
        (m - half, m + half)
    });
    let ses: Vec<f64> = g.iter().filter_map(|r| r.score.stderr).collect();
    let norms: Vec<f64> = g.iter().filter_map(|r| r.score.acc_norm).collect();
    let base = base_of(runs, first);
    let vs_base = match base {
        Some(b) if first.method.trains() => scored_delta(&g.iter().map(|r| (r.score, b.score)).collect::<Vec<_>>()),
        _ => None,
    };
    AccuracyRow {
        model: key.0.clone(),
        eval_task: key.1.clone(),
        trained_on: key.2.clone(),
        method: first.method.to_string(),
        config: first.config.to_string(),
        metric: first.score.metric.clone(),
        seeds: g.len(),
        items: first.score.n,
        mean: m,
        sd: s,
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
        run_stderr: (!ses.is_empty()).then(|| mean(&ses)),
        acc_norm: (!norms.is_empty()).then(|| mean(&norms)),
        base: base.map(|b| b.score.value),
        vs_base,
        vs_full: vs_full(g, runs),
        knobs: super::rows::shown_knobs(&first.knobs),
        config_id: first.config_id.clone(),
    }
}

/// The base run of the same model and task scoring the same items on the same engine where
/// there is one, else the closest there is (same items, then any engine).
fn base_of<'a>(runs: &'a [Run], like: &Run) -> Option<&'a Run<'a>> {
    let bases = || {
        runs.iter()
            .filter(|r| !r.method.trains() && r.model == like.model && r.score.task == like.score.task)
    };
    let items = |r: &&Run| r.score.data.held_out_ids == like.score.data.held_out_ids;
    let engine = |r: &&Run| r.knobs.get("engine") == like.knobs.get("engine");
    bases()
        .find(|r| items(r) && engine(r))
        .or_else(|| bases().find(items))
        .or_else(|| bases().next())
}

/// The difference from full fine-tuning of the same model, trained and evaluated task (the full
/// configuration closest in knobs), paired by seed and by item.
fn vs_full(g: &[&Run], runs: &[Run]) -> Option<Delta> {
    let first = g[0];
    if first.method.trains_base() || !first.method.trains() {
        return None;
    }
    let fulls: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            r.method.trains_base() && r.model == first.model && r.trained_on == first.trained_on && r.score.task == first.score.task
        })
        .collect();
    let id = fulls
        .iter()
        .max_by_key(|r| shared_knobs(&r.knobs, &first.knobs))
        .map(|r| r.config_id.clone())?;
    let pairs: Vec<(&TaskScore, &TaskScore)> = g
        .iter()
        .filter_map(|r| {
            let f = fulls.iter().find(|f| f.config_id == id && f.seed == r.seed)?;
            Some((r.score, f.score))
        })
        .collect();
    scored_delta(&pairs)
}

/// One row of accuracy.csv: a configuration and an evaluated task (numbers with 6 decimals,
/// empty where there is none).
#[derive(serde::Serialize)]
struct CsvRow<'a> {
    model: &'a str,
    eval_task: &'a str,
    trained_on: &'a str,
    method: &'a str,
    config: &'a str,
    metric: &'a str,
    seeds: usize,
    items: usize,
    mean: String,
    sd: String,
    ci95_low: String,
    ci95_high: String,
    run_stderr: String,
    acc_norm: String,
    base: String,
    vs_base: String,
    vs_base_low: String,
    vs_base_high: String,
    vs_base_verdict: String,
    vs_base_mde: String,
    vs_full: String,
    vs_full_low: String,
    vs_full_high: String,
    vs_full_verdict: String,
    vs_full_mde: String,
}

/// accuracy.csv: one row per configuration and evaluated task.
pub fn write_csv(rows: &[AccuracyRow], path: &std::path::Path) -> anyhow::Result<()> {
    let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
    let d = |x: &Option<Delta>| -> [String; 5] {
        match x {
            Some(d) => [
                f(Some(d.mean)),
                f(Some(d.low)),
                f(Some(d.high)),
                d.verdict().to_string(),
                f(Some(d.mde)),
            ],
            None => Default::default(),
        }
    };
    let out: Vec<CsvRow> = rows
        .iter()
        .map(|r| {
            let [vs_base, vs_base_low, vs_base_high, vs_base_verdict, vs_base_mde] = d(&r.vs_base);
            let [vs_full, vs_full_low, vs_full_high, vs_full_verdict, vs_full_mde] = d(&r.vs_full);
            CsvRow {
                model: &r.model,
                eval_task: &r.eval_task,
                trained_on: &r.trained_on,
                method: &r.method,
                config: &r.config,
                metric: &r.metric,
                seeds: r.seeds,
                items: r.items,
                mean: f(Some(r.mean)),
                sd: f(r.sd),
                ci95_low: f(r.ci_low),
                ci95_high: f(r.ci_high),
                run_stderr: f(r.run_stderr),
                acc_norm: f(r.acc_norm),
                base: f(r.base),
                vs_base,
                vs_base_low,
                vs_base_high,
                vs_base_verdict,
                vs_base_mde,
                vs_full,
                vs_full_low,
                vs_full_high,
                vs_full_verdict,
                vs_full_mde,
            }
        })
        .collect();
    crate::atomic::write_csv(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_keeps_only_the_item_term() {
        let d = paired_delta(&[(0.7, 0.5, Some(0.05))]).unwrap();
        assert!((d.mean - 0.2).abs() < 1e-12);
        assert!((d.high - d.mean - 1.96 * 0.05).abs() < 1e-5);
        // 80% power at the 5% level: (1.96 + 0.84) standard errors.
        assert!((d.mde - 2.8016 * 0.05).abs() < 1e-5, "{d:?}");
        assert!(!d.within_noise());
        assert_eq!(d.verdict(), "better");
    }

    #[test]
    fn seeds_and_items_add_in_quadrature() {
        // d = 0.1, 0.2, 0.3: sd 0.1, t(0.975, 2) = 4.3027
        let d = paired_delta(&[(0.6, 0.5, Some(0.02)), (0.7, 0.5, Some(0.02)), (0.8, 0.5, Some(0.02))]).unwrap();
        let seeds = 4.302_652_729_911_275 * 0.1 / 3f64.sqrt();
        let half = (seeds * seeds + (1.96f64 * 0.02).powi(2)).sqrt();
        assert!((d.high - 0.2 - half).abs() < 1e-5, "{d:?}");
        // t(0.8, 2) = 1.0607: the seeds' term grows by (4.3027 + 1.0607) / 4.3027.
        let mde = ((seeds * (4.302_653 + 1.060_660) / 4.302_653).powi(2) + (2.8016f64 * 0.02).powi(2)).sqrt();
        assert!((d.mde - mde).abs() < 1e-4, "{d:?} vs {mde}");
        assert!(d.within_noise() == (0.2 - half <= 0.0));
    }

    #[test]
    fn a_difference_inside_its_noise_says_so() {
        let d = paired_delta(&[(0.52, 0.50, Some(0.03))]).unwrap();
        assert!(d.within_noise());
        assert_eq!(d.verdict(), "within noise");
        let w = paired_delta(&[(0.30, 0.50, Some(0.03))]).unwrap();
        assert_eq!(w.verdict(), "worse");
    }
}
