//! The verdict: for each (model, task) the page opens with the answer a reader comes for —
//! which method to use, what it costs and what it loses — from the measurements alone: each
//! method's score and difference from full fine-tuning with its 95% interval and the smallest
//! difference the run could have detected, its peak memory (share of full's) and the smallest
//! GPU class of suites/shared/hardware.yaml it fits, its tokens/s relative to full, and what it
//! produces. Synthetic tasks (no task score) give the cost columns and the held-out token
//! accuracy only.

use super::accuracy::AccuracyRow;
use super::accuracy::Delta;
use super::frame::GroupStats;
use super::rows::{differing_knobs, short_model, signed_points, size_label, Row, NOT_SETTINGS};
use super::stats::median;
use crate::estimate::HardwareProfile;
use crate::method::Method;
use crate::record::{Record, Status};
use serde::Serialize;
use std::collections::BTreeMap;

/// One method's line of a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictRow {
    /// The method's report label ("LoRA").
    pub method: String,
    /// The method's registry name (the page's colour class).
    pub method_name: String,
    /// Knobs that differ between this block's rows (method and task left out).
    pub settings: String,
    pub score: String,
    pub vs_full: String,
    /// `better`, `worse`, `within noise` or empty.
    pub vs_full_verdict: String,
    /// "within noise" read as "no difference larger than X" (80% power, 5% level).
    pub power: String,
    pub memory: String,
    pub fits: String,
    pub speed: String,
    pub produces: String,
    /// The serving form to deploy (`deploy` cells; report/serving.rs), `none keeps score and
    /// speed`, or empty where no serving form was measured.
    pub serve: String,
}

/// The verdict of one (model, task).
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub model: String,
    /// The model's file or preset name, without its folder.
    pub model_short: String,
    pub task: String,
    /// How the score column is measured, with its sample ("acc on 250 held-out items, 3 seeds").
    pub scored: String,
    /// The memory view the memory column shows.
    pub memory_view: String,
    /// The answer in a sentence or two.
    pub headline: String,
    pub rows: Vec<VerdictRow>,
}

/// A configuration's cost figures: medians over its ok cells.
#[derive(Debug, Clone, Default)]
struct Cost {
    memory_gb: Option<f64>,
    /// Which memory `memory_gb` is.
    view: &'static str,
    tokens_per_s: Option<f64>,
    produces: Option<(String, f64)>,
    /// The configuration's serving verdict: None, no forms measured; Some(None), no form keeps
    /// score and speed.
    serve: Option<Option<String>>,
}

/// Each configuration's cost, by config id. On a GPU the device's view (NVML, else the pool's
/// peak); on the CPU the process's peak RSS. `rows` are the `records`' rows, in their order.
fn costs(groups: &[GroupStats], rows: &[Row], records: &[Record]) -> BTreeMap<String, Cost> {
    let mut out = BTreeMap::new();
    for g in groups {
        let mine: Vec<(&Row, &Record)> = rows
            .iter()
            .zip(records)
            .filter(|(r, rec)| r.config_id == g.config_id && rec.status == Status::Ok)
            .collect();
        let nvml = median(mine.iter().filter_map(|(r, _)| r.gpu_nvml_peak_gb).collect());
        let pool = median(mine.iter().filter_map(|(r, _)| r.gpu_pool_peak_gb).collect());
        let (memory_gb, view) = match (nvml, pool) {
            (Some(v), _) => (Some(v), "GPU device used (NVML)"),
            (None, Some(v)) => (Some(v), "GPU pool peak"),
            _ => (g.peak_rss_gb.median, "process RSS"),
        };
        let artifacts: Vec<&crate::record::Artifact> = mine.iter().filter_map(|(_, rec)| rec.artifact.as_ref()).collect();
        let produces = artifacts.first().map(|a| {
            (
                a.kind.clone(),
                median(artifacts.iter().map(|x| x.bytes as f64).collect()).unwrap_or(0.0),
            )
        });
        out.insert(
            g.config_id.clone(),
            Cost {
                memory_gb,
                view,
                tokens_per_s: g.tokens_per_s.median,
                produces,
                serve: None,
            },
        );
    }
    out
}

/// The costs with each configuration's serving verdict.
fn with_serving(mut costs: BTreeMap<String, Cost>, serve: &BTreeMap<String, Option<String>>) -> BTreeMap<String, Cost> {
    for (id, form) in serve {
        if let Some(c) = costs.get_mut(id) {
            c.serve = Some(form.clone());
        }
    }
    costs
}

/// The smallest GPU class of the hardware profiles that holds `gb`.
fn smallest_gpu(profiles: &[HardwareProfile], gb: f64) -> String {
    profiles
        .iter()
        .filter(|p| p.gpu && gb <= p.memory_gb)
        .min_by(|a, b| a.memory_gb.total_cmp(&b.memory_gb).then(a.name.cmp(&b.name)))
        .map_or_else(|| "none listed".into(), |p| p.name.clone())
}

/// A difference (a fraction) in signed points.
fn pts(x: f64) -> String {
    signed_points(100.0 * x)
}

fn label(method: &str) -> String {
    Method::lookup(method).map_or(method.to_string(), |m| m.label().to_string())
}

/// What a verdict row shows of its configuration's score and difference from full.
struct Scored<'a> {
    method: &'a str,
    score: String,
    vs_full: Option<Delta>,
}

/// One row per configuration of a block; `full` is the reference's cost.
fn row(x: Scored, settings: String, cost: &Cost, full: Option<&Cost>, profiles: &[HardwareProfile]) -> VerdictRow {
    let trains_base = Method::lookup(x.method).is_ok_and(|m| m.trains_base());
    let share = match (cost.memory_gb, full.and_then(|f| f.memory_gb)) {
        (Some(m), Some(f)) if f > 0.0 && !trains_base => Some(m / f),
        _ => None,
    };
    VerdictRow {
        method: label(x.method),
        method_name: x.method.to_string(),
        settings,
        score: x.score,
        vs_full: x
            .vs_full
            .map_or(String::new(), |d| format!("{} [{}, {}]", pts(d.mean), pts(d.low), pts(d.high))),
        vs_full_verdict: x.vs_full.map_or(String::new(), |d| d.verdict().to_string()),
        power: x.vs_full.map_or(String::new(), |d| format!("{:.1}", 100.0 * d.mde)),
        memory: match (cost.memory_gb, share) {
            (Some(m), Some(s)) => format!("{m:.2} GB ({:.0}%)", 100.0 * s),
            (Some(m), None) => format!("{m:.2} GB"),
            _ => "–".into(),
        },
        fits: cost.memory_gb.map_or("–".into(), |gb| smallest_gpu(profiles, gb)),
        speed: match (cost.tokens_per_s, full.and_then(|f| f.tokens_per_s)) {
            (Some(t), Some(f)) if f > 0.0 && !trains_base => format!("{t:.0} ({:.2}×)", t / f),
            (Some(t), _) => format!("{t:.0}"),
            _ => "–".into(),
        },
        produces: cost
            .produces
            .as_ref()
            .map_or("–".into(), |(kind, b)| format!("{kind} {}", size_label(*b))),
        serve: match &cost.serve {
            None => String::new(),
            Some(Some(form)) => form.clone(),
            Some(None) => "none keeps score and speed".into(),
        },
    }
}

/// The sentence that answers the block: the cheapest method in memory whose difference from
/// full fine-tuning is within noise (or better), what it costs and the smallest difference the
/// run could have seen; and every method that is worse.
fn headline(block: &[&AccuracyRow], costs: &BTreeMap<String, Cost>) -> String {
    let full = block.iter().find(|a| a.method_trains_base());
    let mem = |a: &AccuracyRow| costs.get(&a.config_id).and_then(|c| c.memory_gb);
    let label = |a: &AccuracyRow| label(&a.method);
    let Some(full) = full else {
        let best = block.iter().filter(|a| a.method_trains()).max_by(|a, b| a.mean.total_cmp(&b.mean));
        return match best {
            Some(b) => format!(
                "No full fine-tuning run of this model and task to compare with; the best score is {}'s {:.1}%.",
                label(b),
                100.0 * b.mean
            ),
            None => "Only the untrained model was scored here.".into(),
        };
    };
    let mut out = Vec::new();
    let fine: Vec<&&AccuracyRow> = block.iter().filter(|a| a.vs_full.is_some_and(|d| d.verdict() != "worse")).collect();
    match fine
        .iter()
        .min_by(|a, b| mem(a).unwrap_or(f64::MAX).total_cmp(&mem(b).unwrap_or(f64::MAX)))
    {
        Some(a) => {
            let d = a.vs_full.expect("filtered");
            let share = match (mem(a), mem(full)) {
                (Some(m), Some(f)) if f > 0.0 => format!(" at {:.0}% of its peak memory ({m:.2} vs {f:.2} GB)", 100.0 * m / f),
                _ => String::new(),
            };
            let what = if d.within_noise() {
                format!(
                    "scores within noise of full fine-tuning{share}: {} points [{}, {}]; this run could not have seen a difference smaller than {:.1} points",
                    pts(d.mean),
                    pts(d.low),
                    pts(d.high),
                    100.0 * d.mde
                )
            } else {
                format!(
                    "scores above full fine-tuning{share}: {} points [{}, {}]",
                    pts(d.mean),
                    pts(d.low),
                    pts(d.high)
                )
            };
            out.push(format!("{} {what}.", label(a)));
        }
        None => out.push("No method scores within noise of full fine-tuning.".into()),
    }
    for a in block.iter().filter(|a| a.vs_full.is_some_and(|d| d.verdict() == "worse")) {
        let d = a.vs_full.expect("filtered");
        out.push(format!(
            "{} loses {:.1} points [{:.1}, {:.1}] against full fine-tuning.",
            label(a),
            -100.0 * d.mean,
            -100.0 * d.high,
            -100.0 * d.low
        ));
    }
    if let Some(b) = full.vs_base {
        out.push(format!(
            "Full fine-tuning itself: {} points over the untrained model [{}, {}]{}.",
            pts(b.mean),
            pts(b.low),
            pts(b.high),
            if b.within_noise() { ", within noise" } else { "" }
        ));
    }
    out.join(" ")
}

/// The verdicts of every (model, task) whose task was trained and scored (forgetting rows are
/// left to the accuracy table), then of every (model, synthetic task) without a task score.
/// `serve`: each configuration's serving form to deploy, by config id (report/serving.rs).
pub fn verdicts(
    accuracy: &[AccuracyRow],
    groups: &[GroupStats],
    rows: &[Row],
    records: &[Record],
    serve: &BTreeMap<String, Option<String>>,
) -> Vec<Verdict> {
    let costs = with_serving(costs(groups, rows, records), serve);
    let profiles = crate::estimate::load_profiles(None).map(|p| p.profiles).unwrap_or_default();
    let mut keys: Vec<(String, String)> = Vec::new();
    for a in accuracy.iter().filter(|a| a.trained_on == a.eval_task) {
        let k = (a.model.clone(), a.eval_task.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = Vec::new();
    for (model, task) in &keys {
        let trained = |a: &&AccuracyRow| a.model == *model && a.eval_task == *task && a.trained_on == *task;
        let base = accuracy
            .iter()
            .find(|a| a.model == *model && a.eval_task == *task && !a.method_trains());
        let block: Vec<&AccuracyRow> = base.into_iter().chain(accuracy.iter().filter(trained)).collect();
        let full_cost = block.iter().find(|a| a.method_trains_base()).and_then(|a| costs.get(&a.config_id));
        // The base model trains nothing: its training knobs are not settings.
        let trained_knobs: Vec<&BTreeMap<String, String>> = block.iter().filter(|a| a.method_trains()).map(|a| &a.knobs).collect();
        let mut differing = differing_knobs(&trained_knobs, NOT_SETTINGS).into_iter();
        let settings: Vec<String> = block
            .iter()
            .map(|a| {
                if a.method_trains() {
                    differing.next().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .collect();
        let first = block[0];
        let seeds = block.iter().map(|a| a.seeds).max().unwrap_or(1);
        out.push(Verdict {
            model: model.clone(),
            model_short: short_model(model),
            task: task.clone(),
            scored: format!(
                "{} on {} held-out items, {seeds} seed{}",
                first.metric,
                first.items,
                if seeds == 1 { "" } else { "s" }
            ),
            memory_view: block
                .iter()
                .find_map(|a| costs.get(&a.config_id))
                .map_or("peak memory", |c| c.view)
                .to_string(),
            headline: headline(&block, &costs),
            rows: block
                .iter()
                .zip(settings)
                .map(|(a, s)| {
                    let score = match a.sd {
                        Some(sd) => format!("{:.1} ± {:.1}", 100.0 * a.mean, 100.0 * sd),
                        None => format!("{:.1}", 100.0 * a.mean),
                    };
                    let x = Scored {
                        method: &a.method,
                        score,
                        vs_full: a.vs_full,
                    };
                    row(x, s, costs.get(&a.config_id).unwrap_or(&Cost::default()), full_cost, &profiles)
                })
                .collect(),
        });
    }
    out.extend(synthetic(accuracy, groups, rows, &costs, &profiles));
    out
}

/// Blocks of the configurations no accuracy row covers (synthetic tasks): cost columns and the
/// held-out token accuracy (teacher-forced, not a task score).
fn synthetic(
    accuracy: &[AccuracyRow],
    groups: &[GroupStats],
    rows: &[Row],
    costs: &BTreeMap<String, Cost>,
    profiles: &[HardwareProfile],
) -> Vec<Verdict> {
    let scored: std::collections::BTreeSet<&str> = accuracy.iter().map(|a| a.config_id.as_str()).collect();
    let mut blocks: Vec<((String, String), Vec<(&GroupStats, &Row)>)> = Vec::new();
    for g in groups.iter().filter(|g| g.ok > 0 && !scored.contains(g.config_id.as_str())) {
        let Some(r) = rows.iter().find(|r| r.config_id == g.config_id) else {
            continue;
        };
        let key = (g.model.clone(), r.task.clone());
        match blocks.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((g, r)),
            None => blocks.push((key, vec![(g, r)])),
        }
    }
    blocks
        .into_iter()
        .map(|((model, task), members)| {
            let knobs: Vec<&BTreeMap<String, String>> = members.iter().map(|(_, r)| &r.knobs).collect();
            let settings = differing_knobs(&knobs, &["task", "seed", "method"]);
            let full = members
                .iter()
                .find(|(g, _)| Method::lookup(&g.method).is_ok_and(|m| m.trains_base()))
                .and_then(|(g, _)| costs.get(&g.config_id));
            let rows: Vec<VerdictRow> = members
                .iter()
                .zip(settings)
                .map(|((g, _), s)| {
                    let acc = g.eval_token_accuracy;
                    let score = match (acc.mean, acc.sd) {
                        (Some(m), Some(sd)) => format!("{:.1} ± {:.1}", 100.0 * m, 100.0 * sd),
                        (Some(m), None) => format!("{:.1}", 100.0 * m),
                        _ => "–".into(),
                    };
                    let x = Scored {
                        method: &g.method,
                        score,
                        vs_full: None,
                    };
                    row(x, s, costs.get(&g.config_id).unwrap_or(&Cost::default()), full, profiles)
                })
                .collect();
            let seeds = members.iter().map(|(g, _)| g.ok).max().unwrap_or(1);
            Verdict {
                model_short: short_model(&model),
                model,
                task: task.clone(),
                scored: format!(
                    "held-out token accuracy (teacher-forced: a synthetic task has no task score), {seeds} seed{}",
                    if seeds == 1 { "" } else { "s" }
                ),
                memory_view: members
                    .first()
                    .and_then(|(g, _)| costs.get(&g.config_id))
                    .map_or("peak memory", |c| c.view)
                    .to_string(),
                headline: "A synthetic task: the cost columns are the measurement; its token accuracy says whether training moved the model, not how well it does a task."
                    .into(),
                rows,
            }
        })
        .collect()
}
