//! Flat rows of the report: one per cell, and one per configuration over its seeds.

use crate::probe::summarize;
use crate::record::{Record, Status};
use serde::Serialize;
use std::collections::BTreeMap;

const GB: f64 = 1e9;
const MB: f64 = 1e6;

/// One cell, flattened: the columns of cells.csv.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub suite: String,
    pub cell_id: String,
    pub label: String,
    pub model: String,
    pub method: String,
    pub hardware: String,
    pub seed: u64,
    pub status: String,
    pub reason: String,
    pub device: String,
    pub compute_dtype: String,
    pub optimizer_state_dtype: String,
    pub batch_size: u32,
    pub seq_len: u32,
    pub grad_accum: u32,
    pub steps: u32,
    pub recompute: bool,
    pub task: String,
    pub threads: Option<usize>,
    pub params_total: Option<u64>,
    pub params_trainable: Option<u64>,
    pub trainable_percent: Option<f64>,
    /// Tensor bytes, MB (1e6 bytes): weights by kind, gradients, optimizer state.
    pub weights_dense_mb: Option<f64>,
    pub weights_nf4_mb: Option<f64>,
    pub quant_constants_mb: Option<f64>,
    pub adapters_mb: Option<f64>,
    pub grads_mb: Option<f64>,
    pub optimizer_state_mb: Option<f64>,
    /// Peak process RSS, GB (1e9 bytes).
    pub peak_rss_gb: Option<f64>,
    pub peak_rss_above_baseline_gb: Option<f64>,
    /// The estimate made before the run (tensor bytes + threads/allocator, GB) and its error
    /// against the measured peak RSS above baseline, percent.
    pub estimate_gb: Option<f64>,
    pub estimate_error_percent: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub median_step_s: Option<f64>,
    pub stddev_step_s: Option<f64>,
    pub timed_steps: usize,
    pub final_train_loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub eval_token_accuracy: Option<f64>,
    pub eval_exact_match: Option<f64>,
    pub cpu_model: String,
    pub git_commit: String,
    pub started_at: String,
}

impl Row {
    pub fn from_record(r: &Record) -> Row {
        let c = &r.conditions;
        let env = r.environment.as_ref();
        Row {
            suite: r.suite.name.clone(),
            cell_id: r.cell.id.clone(),
            label: r.cell.label.clone(),
            model: r.cell.model.clone(),
            method: r.cell.method.to_string(),
            hardware: r.cell.hardware.clone(),
            seed: r.cell.seed,
            status: r.status.as_str().to_string(),
            reason: r.reason.clone().unwrap_or_default(),
            device: c.device.clone(),
            compute_dtype: c.compute_dtype.clone(),
            optimizer_state_dtype: c.optimizer_state_dtype.clone(),
            batch_size: c.batch_size,
            seq_len: c.seq_len,
            grad_accum: c.grad_accum,
            steps: c.steps,
            recompute: c.recompute,
            task: c.task.clone(),
            threads: env.map(|e| e.threads),
            params_total: r.model.as_ref().map(|m| m.params_total),
            params_trainable: r.model.as_ref().map(|m| m.params_trainable),
            trainable_percent: r.model.as_ref().map(|m| m.trainable_percent),
            weights_dense_mb: r.model.as_ref().map(|m| m.weight_bytes.dense as f64 / MB),
            weights_nf4_mb: r.model.as_ref().map(|m| m.weight_bytes.nf4_packed as f64 / MB),
            quant_constants_mb: r.model.as_ref().map(|m| m.weight_bytes.quant_constants as f64 / MB),
            adapters_mb: r.model.as_ref().map(|m| m.weight_bytes.adapters as f64 / MB),
            grads_mb: r.model.as_ref().map(|m| m.grad_bytes as f64 / MB),
            optimizer_state_mb: r.model.as_ref().map(|m| m.optimizer_state_bytes as f64 / MB),
            peak_rss_gb: r.memory.peak_rss_bytes.map(|b| b as f64 / GB),
            peak_rss_above_baseline_gb: r.memory.peak_above_baseline_bytes.map(|b| b as f64 / GB),
            estimate_gb: r.estimate.as_ref().map(|e| e.total_bytes as f64 / GB),
            estimate_error_percent: match (&r.estimate, r.memory.peak_above_baseline_bytes) {
                (Some(e), Some(m)) if m > 0 && r.status == Status::Ok => Some(100.0 * (e.total_bytes as f64 - m as f64) / m as f64),
                _ => None,
            },
            tokens_per_s: r.timing.tokens_per_s,
            median_step_s: r.timing.median_step_s,
            stddev_step_s: r.timing.stddev_step_s,
            timed_steps: r.timing.steady_step_s.len(),
            final_train_loss: r.final_train_loss,
            eval_loss: r.eval.as_ref().map(|e| e.loss),
            eval_token_accuracy: r.eval.as_ref().map(|e| e.token_accuracy),
            eval_exact_match: r.eval.as_ref().map(|e| e.exact_match),
            cpu_model: env.map(|e| e.cpu_model.clone()).unwrap_or_default(),
            git_commit: env.map(|e| e.git_commit.clone()).unwrap_or_default(),
            started_at: r.started_at.clone(),
        }
    }
}

/// One configuration (everything but the seed) over its seeds: the columns of summary.csv.
/// Statistics are over the cells that ended ok.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub suite: String,
    pub model: String,
    pub method: String,
    pub hardware: String,
    pub batch_size: u32,
    pub seq_len: u32,
    pub grad_accum: u32,
    pub steps: u32,
    pub compute_dtype: String,
    pub recompute: bool,
    pub task: String,
    /// The varying knobs of this configuration, as in the cell labels (seed left out).
    pub config: String,
    pub cells: usize,
    pub ok: usize,
    pub seeds: String,
    pub tokens_per_s_median: Option<f64>,
    pub tokens_per_s_min: Option<f64>,
    pub tokens_per_s_max: Option<f64>,
    pub peak_rss_gb_median: Option<f64>,
    pub peak_rss_gb_min: Option<f64>,
    pub peak_rss_gb_max: Option<f64>,
    pub eval_loss_mean: Option<f64>,
    pub eval_loss_stddev: Option<f64>,
    pub eval_token_accuracy_mean: Option<f64>,
    pub final_train_loss_mean: Option<f64>,
}

pub fn group_rows(records: &[Record]) -> Vec<Group> {
    let mut groups: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in records {
        let mut key_cell = r.cell.clone();
        key_cell.seed = 0;
        key_cell.id.clear();
        key_cell.label.clear();
        let key = format!("{}\u{1}{}", r.suite.name, serde_json::to_string(&key_cell).unwrap_or_default());
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_values()
        .map(|rs| {
            let first = rs[0];
            let ok: Vec<&Record> = rs.iter().copied().filter(|r| r.status == Status::Ok).collect();
            let stat = |f: &dyn Fn(&Record) -> Option<f64>| summarize(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
            let tps = stat(&|r| r.timing.tokens_per_s);
            let rss = stat(&|r| r.memory.peak_rss_bytes.map(|b| b as f64 / GB));
            let eval = stat(&|r| r.eval.as_ref().map(|e| e.loss));
            let acc = stat(&|r| r.eval.as_ref().map(|e| e.token_accuracy));
            let fin = stat(&|r| r.final_train_loss);
            let c = &first.conditions;
            let config = first
                .cell
                .label
                .split(" · ")
                .filter(|p| !p.starts_with("seed="))
                .collect::<Vec<_>>()
                .join(" · ");
            let mut seeds: Vec<u64> = rs.iter().map(|r| r.cell.seed).collect();
            seeds.sort();
            Group {
                suite: first.suite.name.clone(),
                model: first.cell.model.clone(),
                method: first.cell.method.to_string(),
                hardware: first.cell.hardware.clone(),
                batch_size: c.batch_size,
                seq_len: c.seq_len,
                grad_accum: c.grad_accum,
                steps: c.steps,
                compute_dtype: c.compute_dtype.clone(),
                recompute: c.recompute,
                task: c.task.clone(),
                config,
                cells: rs.len(),
                ok: ok.len(),
                seeds: seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
                tokens_per_s_median: tps.map(|s| s.median),
                tokens_per_s_min: tps.map(|s| s.min),
                tokens_per_s_max: tps.map(|s| s.max),
                peak_rss_gb_median: rss.map(|s| s.median),
                peak_rss_gb_min: rss.map(|s| s.min),
                peak_rss_gb_max: rss.map(|s| s.max),
                eval_loss_mean: eval.map(|s| s.mean),
                eval_loss_stddev: eval.and_then(|s| s.stddev),
                eval_token_accuracy_mean: acc.map(|s| s.mean),
                final_train_loss_mean: fin.map(|s| s.mean),
            }
        })
        .collect()
}
