//! What a job needs to know of a suite before it is submitted: the shards, each one's cells and
//! estimated time, and the resources the largest cell asks for.
//!
//! Time: each cell's estimated FLOPs (runner::cell_cost) at an assumed effective CPU rate of
//! [`CPU_FLOPS`], plus [`CELL_OVERHEAD_S`] for start-up and evaluation, never more than its
//! `timeout_s` (the runner kills it there); a shard's limit is 1.5 × its sum, at least 10
//! minutes, rounded up to whole minutes. An assumption, stated in the script it goes into.

use crate::runner::{estimate_cell, partition};
use crate::suite::{Cell, Suite};
use anyhow::Result;

/// The effective training throughput assumed for a CPU cell (FLOP/s): about what the 2-core
/// reference VM sustains on the SmolLM2 shape (README "CPU speed").
pub const CPU_FLOPS: f64 = 2.0e10;
/// Seconds per cell on top of its FLOPs: process start, model load, evaluation.
pub const CELL_OVERHEAD_S: f64 = 60.0;

#[derive(Debug, Clone)]
pub struct ShardPlan {
    pub cells: usize,
    /// Estimated seconds (each cell at most its timeout).
    pub estimate_s: f64,
}

#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub suite: Suite,
    pub cells: usize,
    pub shards: Vec<ShardPlan>,
    /// The job's time limit per task, minutes.
    pub time_limit_min: u64,
    /// Threads a cell asks for (the largest `threads`; 0 = every core of the node).
    pub threads: u32,
    /// Memory for one task: the largest cell estimate × 1.5 + 1 GB, MB.
    pub mem_mb: u64,
    /// GPUs per task (cells on `cuda:N` hardware; none for `cpu`).
    pub gpus: u32,
}

/// The plan of `suite`'s `cells` in `shards` shards.
pub fn launch_plan(suite: &Suite, cells: &[Cell], shards: usize) -> Result<LaunchPlan> {
    anyhow::ensure!(shards >= 1, "--shards: expected at least 1");
    let part = partition(cells, shards)?;
    let mut plans = vec![ShardPlan { cells: 0, estimate_s: 0.0 }; shards];
    for ((c, &o), &cost) in cells.iter().zip(&part.owner).zip(&part.costs) {
        plans[o].cells += 1;
        plans[o].estimate_s += (cost / CPU_FLOPS + CELL_OVERHEAD_S).min(c.knobs.timeout_s as f64);
    }
    let longest = plans.iter().map(|p| p.estimate_s).fold(0.0, f64::max);
    let time_limit_min = ((1.5 * longest / 60.0).ceil() as u64).max(10);
    let largest_bytes = cells
        .iter()
        .filter_map(|c| estimate_cell(c).map(|e| e.total_bytes))
        .max()
        .unwrap_or(0);
    Ok(LaunchPlan {
        suite: suite.clone(),
        cells: cells.len(),
        shards: plans,
        time_limit_min,
        threads: cells.iter().map(|c| c.knobs.threads).max().unwrap_or(0),
        mem_mb: (largest_bytes as f64 * 1.5 / 1e6) as u64 + 1000,
        gpus: cells.iter().map(|c| gpus_of(&c.hardware)).max().unwrap_or(0),
    })
}

/// GPUs a cell's hardware names (`cuda:N` → 1; `cpu` → 0).
fn gpus_of(hardware: &str) -> u32 {
    u32::from(hardware.starts_with("cuda"))
}
