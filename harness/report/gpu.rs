//! GPU cells beside PyTorch: for every record measured on a CUDA device, its peak memory in both
//! views (the CUDA pool's live tensor bytes; NVML's device used), tokens/s and MFU, and the
//! PyTorch figures of the same configuration on the same GPU where suites/shared/reference-h200.yaml
//! has them, with the ratios (ftbench / PyTorch: below 1 is less memory; above 1, faster).

use crate::record::{Record, Status};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The reference figures (compiled in).
pub const REFERENCE: &str = include_str!("../../suites/shared/reference-h200.yaml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    #[allow(dead_code)]
    schema: u32,
    gpu: String,
    source: String,
    rows: Vec<RefRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefRow {
    model: String,
    method: String,
    precision: String,
    batch_size: u32,
    seq_len: u32,
    recompute: bool,
    peak_allocated_gb: f64,
    device_used_gb: f64,
    tokens_per_s: f64,
    what: String,
}

/// One GPU cell and its reference.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GpuRow {
    pub cell: String,
    pub label: String,
    pub model: String,
    pub method: String,
    pub precision: String,
    pub status: String,
    pub device: String,
    pub pool_peak_gb: Option<f64>,
    pub nvml_peak_gb: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub mfu: Option<f64>,
    pub torch_peak_allocated_gb: Option<f64>,
    pub torch_device_used_gb: Option<f64>,
    pub torch_tokens_per_s: Option<f64>,
    /// pool peak / PyTorch's peak allocated.
    pub pool_ratio: Option<f64>,
    /// NVML peak / PyTorch's device used.
    pub nvml_ratio: Option<f64>,
    /// tokens/s over PyTorch's.
    pub speed_ratio: Option<f64>,
    /// What the reference row ran, and where its figures come from.
    pub reference: Option<String>,
}

fn reference() -> Result<Reference> {
    serde_norway::from_str(REFERENCE).context("suites/shared/reference-h200.yaml (built in)")
}

/// A row per record measured on a GPU (records with a GPU memory view or a `cuda` device).
pub fn gpu_rows(records: &[Record]) -> Result<Vec<GpuRow>> {
    let reference = reference()?;
    let gb = |b: Option<u64>| b.map(|b| b as f64 / 1e9);
    let mut out = Vec::new();
    for r in records {
        let device = &r.conditions.device;
        if r.memory.gpu.is_none() && !device.starts_with("cuda") {
            continue;
        }
        let g = r.memory.gpu.clone().unwrap_or_default();
        let k = &r.cell.knobs;
        let same_gpu = g.gpu.as_deref().is_none_or(|n| n == reference.gpu);
        let refrow = reference.rows.iter().find(|x| {
            same_gpu
                && x.model == r.cell.model
                && x.method == r.cell.method.name()
                && x.precision == r.conditions.precision
                && x.batch_size == k.batch_size
                && x.seq_len == k.seq_len
                && x.recompute == r.conditions.recompute
        });
        let ok = r.status == Status::Ok;
        let (pool, nvml, tps) = (gb(g.pool_peak_bytes), gb(g.nvml_peak_bytes), r.timing.tokens_per_s.filter(|_| ok));
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
        out.push(GpuRow {
            cell: r.cell.id.clone(),
            label: r.cell.label.clone(),
            model: r.cell.model.clone(),
            method: r.cell.method.name().to_string(),
            precision: r.conditions.precision.clone(),
            status: r.status.as_str().to_string(),
            device: device.clone(),
            pool_peak_gb: pool,
            nvml_peak_gb: nvml,
            tokens_per_s: tps,
            mfu: r.timing.mfu.filter(|_| ok),
            torch_peak_allocated_gb: refrow.map(|x| x.peak_allocated_gb),
            torch_device_used_gb: refrow.map(|x| x.device_used_gb),
            torch_tokens_per_s: refrow.map(|x| x.tokens_per_s),
            pool_ratio: ratio(pool, refrow.map(|x| x.peak_allocated_gb)),
            nvml_ratio: ratio(nvml, refrow.map(|x| x.device_used_gb)),
            speed_ratio: ratio(tps, refrow.map(|x| x.tokens_per_s)),
            reference: refrow.map(|x| format!("{} — {}", x.what, reference.source)),
        });
    }
    Ok(out)
}

/// gpu.csv: one row per GPU cell.
pub fn write_csv(rows: &[GpuRow], path: &Path) -> Result<()> {
    crate::atomic::write_csv(path, rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reference_reads_and_covers_the_article_grid() {
        let r = super::reference().unwrap();
        let article: Vec<_> = r.rows.iter().filter(|x| x.model == "preset:llama2-7b").collect();
        assert_eq!(article.len(), 4);
        for x in &r.rows {
            crate::model::precision(&x.precision).unwrap();
            assert!(crate::method::METHODS.iter().any(|m| m.name() == x.method), "{}", x.method);
        }
    }
}
