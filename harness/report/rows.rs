//! Flat per-cell rows (the columns of cells.csv) and the configuration each cell belongs to.

use crate::record::{Record, Status};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub const GB: f64 = 1e9;
const MB: f64 = 1e6;

/// One cell, flattened. Memory views: `*_rss_*` are process RSS (the CPU's view), `estimate_*`
/// are the estimator's bytes (tensor bytes, and tensor bytes + runtime overhead).
#[derive(Debug, Clone)]
pub struct Row {
    pub suite: String,
    pub cell_id: String,
    pub label: String,
    pub model: String,
    pub method: String,
    pub hardware: String,
    /// The engine that trained and answered (`ftbench`, `pytorch`).
    pub engine: String,
    pub seed: u64,
    /// The knobs that vary among this method's cells, `name=value · ...` (seed left out).
    pub config: String,
    /// Every knob of the cell, as shown (`shown_knobs`).
    pub knobs: BTreeMap<String, String>,
    /// Hash of everything but the seed: the cells of one configuration share it.
    pub config_id: String,
    pub status: String,
    pub reason: String,
    pub device: String,
    pub compute_dtype: String,
    pub optimizer: String,
    pub optimizer_state_dtype: String,
    pub batch_size: u32,
    pub seq_len: u32,
    /// Real tasks: mean real tokens per trained sequence (sequences are padded per batch).
    pub mean_seq_tokens: Option<f64>,
    pub grad_accum: u32,
    pub tokens_per_step: u64,
    pub steps: u32,
    pub recompute: bool,
    /// Fused CPU kernels (false: candle's composed ops).
    pub fused_ops: bool,
    pub task: String,
    pub threads: Option<u64>,
    pub params_total: Option<u64>,
    pub params_trainable: Option<u64>,
    pub trainable_percent: Option<f64>,
    pub weights_dense_mb: Option<f64>,
    pub weights_nf4_mb: Option<f64>,
    pub quant_constants_mb: Option<f64>,
    pub adapters_mb: Option<f64>,
    pub grads_mb: Option<f64>,
    pub optimizer_state_mb: Option<f64>,
    pub peak_rss_gb: Option<f64>,
    pub baseline_rss_gb: Option<f64>,
    pub peak_rss_above_baseline_gb: Option<f64>,
    /// GPU cells: the CUDA pool's peak of live tensor bytes over training, GB.
    pub gpu_pool_peak_gb: Option<f64>,
    /// GPU cells: NVML's peak of device-used bytes, GB.
    pub gpu_nvml_peak_gb: Option<f64>,
    /// GPU cells: model FLOPs utilisation (fraction of the GPU's bf16 peak).
    pub mfu: Option<f64>,
    pub estimate_tensor_gb: Option<f64>,
    pub estimate_gb: Option<f64>,
    /// (estimate − measured) / measured, percent, ok cells only; like with like: on a GPU the
    /// estimated tensor bytes against the CUDA pool's peak, on the CPU the estimated total
    /// against the peak RSS above its baseline.
    pub estimate_error_percent: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub median_step_s: Option<f64>,
    pub mean_step_s: Option<f64>,
    pub stddev_step_s: Option<f64>,
    pub timed_steps: u64,
    pub final_train_loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub eval_token_accuracy: Option<f64>,
    pub eval_exact_match: Option<f64>,
    /// The task's own score on real tasks (multiple-choice acc or generative exact match).
    pub eval_score: Option<f64>,
    /// Its metric (`acc`, `exact_match`), empty on synthetic tasks.
    pub eval_metric: String,
    pub cpu_model: String,
    pub git_commit: String,
    pub started_at: String,
}

/// The stored estimate against what was measured, in percent of the measurement: tensor bytes
/// against the CUDA pool's peak on a GPU, tensors + runtime against the process's RSS above its
/// baseline on the CPU. Cells that did not end ok have no figure.
pub fn estimate_error_percent(r: &Record) -> Option<f64> {
    let e = r.estimate.as_ref().filter(|_| r.status == Status::Ok)?;
    match (
        r.memory.gpu.as_ref().and_then(|g| g.pool_peak_bytes),
        r.memory.peak_above_baseline_bytes,
    ) {
        (Some(pool), _) if pool > 0 => Some(100.0 * (e.peak_tensor_bytes as f64 - pool as f64) / pool as f64),
        (None, Some(m)) if m > 0 => Some(100.0 * (e.total_bytes as f64 - m as f64) / m as f64),
        _ => None,
    }
}

impl Row {
    pub fn from_record(r: &Record, config: String) -> Row {
        let c = &r.conditions;
        let env = r.environment.as_ref();
        let m = r.model.as_ref();
        let mb = |f: &dyn Fn(&crate::record::ModelInfo) -> u64| m.map(|m| f(m) as f64 / MB);
        let gb = |b: Option<u64>| b.map(|b| b as f64 / GB);
        Row {
            suite: r.suite.name.clone(),
            cell_id: r.cell.id.clone(),
            label: r.cell.label.clone(),
            model: r.cell.model.clone(),
            method: r.cell.method.to_string(),
            hardware: r.cell.hardware.clone(),
            engine: r.conditions.engine.clone(),
            seed: r.cell.seed,
            config,
            knobs: shown_knobs(&serde_json::to_value(&r.cell.knobs).unwrap_or_default()),
            config_id: config_id(r),
            status: r.status.as_str().to_string(),
            reason: r.reason.clone().unwrap_or_default(),
            device: c.device.clone(),
            compute_dtype: c.compute_dtype.clone(),
            optimizer: c.optimizer.clone(),
            optimizer_state_dtype: c.optimizer_state_dtype.clone(),
            batch_size: c.batch_size,
            seq_len: c.seq_len,
            mean_seq_tokens: c.mean_seq_tokens.filter(|_| c.prompt_format.is_some()),
            grad_accum: c.grad_accum,
            tokens_per_step: c.tokens_per_step,
            steps: c.steps,
            recompute: c.recompute,
            fused_ops: c.fused_ops,
            task: c.task.clone(),
            threads: env.map(|e| e.threads as u64),
            params_total: m.map(|m| m.params_total),
            params_trainable: m.map(|m| m.params_trainable),
            trainable_percent: m.map(|m| m.trainable_percent),
            weights_dense_mb: mb(&|m| m.weight_bytes.dense),
            weights_nf4_mb: mb(&|m| m.weight_bytes.nf4_packed),
            quant_constants_mb: mb(&|m| m.weight_bytes.quant_constants),
            adapters_mb: mb(&|m| m.weight_bytes.adapters),
            grads_mb: mb(&|m| m.grad_bytes),
            optimizer_state_mb: mb(&|m| m.optimizer_state_bytes),
            peak_rss_gb: gb(r.memory.peak_rss_bytes),
            baseline_rss_gb: gb(r.memory.baseline_rss_bytes),
            peak_rss_above_baseline_gb: gb(r.memory.peak_above_baseline_bytes),
            estimate_tensor_gb: gb(r.estimate.as_ref().map(|e| e.peak_tensor_bytes)),
            estimate_gb: gb(r.estimate.as_ref().map(|e| e.total_bytes)),
            gpu_pool_peak_gb: gb(r.memory.gpu.as_ref().and_then(|g| g.pool_peak_bytes)),
            gpu_nvml_peak_gb: gb(r.memory.gpu.as_ref().and_then(|g| g.nvml_peak_bytes)),
            mfu: r.timing.mfu,
            estimate_error_percent: estimate_error_percent(r),
            tokens_per_s: r.timing.tokens_per_s,
            median_step_s: r.timing.median_step_s,
            mean_step_s: r.timing.mean_step_s,
            stddev_step_s: r.timing.stddev_step_s,
            timed_steps: r.timing.steady_step_s.len() as u64,
            final_train_loss: r.final_train_loss,
            eval_loss: r.eval.as_ref().map(|e| e.loss),
            eval_token_accuracy: r.eval.as_ref().map(|e| e.token_accuracy),
            eval_exact_match: r.eval.as_ref().map(|e| e.exact_match),
            eval_score: r.eval.as_ref().and_then(|e| e.score.as_ref()).map(|s| s.value),
            eval_metric: r
                .eval
                .as_ref()
                .and_then(|e| e.score.as_ref())
                .map(|s| s.metric.clone())
                .unwrap_or_default(),
            cpu_model: env.map(|e| e.cpu_model.clone()).unwrap_or_default(),
            git_commit: env.map(|e| e.git_commit.clone()).unwrap_or_default(),
            started_at: r.started_at.clone(),
        }
    }

    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A short hash of a cell's configuration without its seed (model, method, hardware, knobs),
/// with the knobs hashed as cell ids hash them (`IdKnobs`: a knob added later is left out at
/// its old behaviour), so a configuration keeps its id when ftbench gains a knob.
pub fn config_id(r: &Record) -> String {
    let key = serde_json::json!({
        "model": r.cell.model, "method": r.cell.method, "hardware": r.cell.hardware,
        "knobs": serde_json::to_value(crate::suite::IdKnobs(&r.cell.knobs)).unwrap_or_default(),
    });
    let digest = Sha256::digest(key.to_string().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Knobs a table's "settings" never show: its own columns (task, seed), or what only says how
/// it was scored (the evaluation's size and extras).
pub const NOT_SETTINGS: &[&str] = &["task", "also_eval", "eval_examples", "inference_speed", "deploy", "seed"];

/// A model's file or preset name, without its folder and its `preset:`/`gguf:`/`hf:` prefix.
pub fn short_model(model: &str) -> String {
    let m = model.rsplit('/').next().unwrap_or(model);
    m.strip_prefix("preset:")
        .or_else(|| m.strip_prefix("gguf:"))
        .or_else(|| m.strip_prefix("hf:"))
        .unwrap_or(m)
        .to_string()
}

/// A size in bytes as "1.07 GB" or "19.6 MB".
pub fn size_label(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// A difference in points with its sign, and a true minus sign: "+2.8", "−0.5".
pub fn signed_points(x: f64) -> String {
    format!("{x:+.1}").replace('-', "−")
}

/// A cell's knobs (its serialized `Knobs`) as `name → shown value`.
pub fn shown_knobs(knobs: &serde_json::Value) -> BTreeMap<String, String> {
    knobs
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), show(v))).collect())
        .unwrap_or_default()
}

/// The knobs among `rows` whose values differ, `name=value · ...` for each row (in order),
/// leaving out the knobs named in `shown_elsewhere` (a table's own columns). A table of rows
/// that differ in one knob shows that knob, not each row's whole configuration.
pub fn differing_knobs(rows: &[&BTreeMap<String, String>], shown_elsewhere: &[&str]) -> Vec<String> {
    let names: BTreeSet<&String> = rows.iter().flat_map(|k| k.keys()).collect();
    let differing: Vec<&String> = names
        .into_iter()
        .filter(|n| !shown_elsewhere.contains(&n.as_str()))
        .filter(|n| rows.iter().map(|k| k.get(*n)).collect::<BTreeSet<_>>().len() > 1)
        .collect();
    rows.iter()
        .map(|k| {
            differing
                .iter()
                .filter_map(|n| k.get(*n).map(|v| format!("{n}={v}")))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .collect()
}

/// For each record, the knobs whose values differ among the records of its method, as
/// `name=value · ...`. Knobs a method ignores are reset to their defaults before a cell id is
/// computed, so comparing within a method keeps `lora_rank` out of full fine-tuning's label.
pub fn config_labels(records: &[Record]) -> Vec<String> {
    let knobs: Vec<BTreeMap<String, serde_json::Value>> = records
        .iter()
        .map(|r| match serde_json::to_value(&r.cell.knobs) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        })
        .collect();
    let mut varying: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let methods: BTreeSet<String> = records.iter().map(|r| r.cell.method.to_string()).collect();
    for method in &methods {
        let mine: Vec<&BTreeMap<String, serde_json::Value>> = records
            .iter()
            .zip(&knobs)
            .filter(|(r, _)| r.cell.method.as_str() == method)
            .map(|(_, k)| k)
            .collect();
        let names: BTreeSet<&String> = mine.iter().flat_map(|k| k.keys()).collect();
        let set = varying.entry(method.clone()).or_default();
        for name in names {
            let values: BTreeSet<String> = mine.iter().map(|k| k.get(name).map(show).unwrap_or_default()).collect();
            if values.len() > 1 {
                set.insert(name.clone());
            }
        }
    }
    records
        .iter()
        .zip(&knobs)
        .map(|(r, k)| {
            let names = varying.get(r.cell.method.as_str()).cloned().unwrap_or_default();
            names
                .iter()
                .map(|n| format!("{n}={}", k.get(n).map(show).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .collect()
}

/// The conditions of a number, in words.
#[allow(clippy::too_many_arguments)]
pub fn conditions(
    device: &str,
    batch: u32,
    seq: u32,
    accum: u32,
    dtype: &str,
    recompute: bool,
    fused: bool,
    steps: u32,
    task: &str,
) -> String {
    format!(
        "{device}, batch {batch} × {seq} tok{}, {dtype}, recompute {}, {} ops, {steps} steps, task {task}",
        if accum > 1 { format!(" × {accum} accum") } else { String::new() },
        if recompute { "on" } else { "off" },
        if fused { "fused" } else { "composed" }
    )
}

#[cfg(test)]
mod tests {
    use super::differing_knobs;
    use std::collections::BTreeMap;

    fn knobs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_table_shows_only_the_knobs_its_rows_differ_in() {
        let a = knobs(&[("lr", "0.001"), ("steps", "20"), ("task", "sciq"), ("lora_rank", "16")]);
        let b = knobs(&[("lr", "0.00002"), ("steps", "20"), ("task", "arc"), ("lora_rank", "16")]);
        let c = knobs(&[("lr", "0.001"), ("steps", "20"), ("task", "sciq"), ("lora_rank", "8")]);
        // `task` is a column of the table: left out though it differs.
        assert_eq!(
            differing_knobs(&[&a, &b, &c], &["task"]),
            vec!["lora_rank=16 · lr=0.001", "lora_rank=16 · lr=0.00002", "lora_rank=8 · lr=0.001"]
        );
        assert_eq!(differing_knobs(&[&a, &a], &[]), vec!["", ""], "identical rows show nothing");
    }
}
