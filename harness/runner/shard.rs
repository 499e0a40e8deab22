//! Splitting a suite's cells among N workers (`--shard I/N`, I from 0): a deterministic
//! partition, balanced by each cell's estimated cost, that every worker computes alike from the
//! suite alone, so the shards of a job array (SLURM's array index, a Kubernetes Indexed Job's
//! completion index) cover every cell exactly once without talking to each other.
//!
//! Cost: the estimator's training FLOPs per token (forward + backward, recompute, adapters) ×
//! the tokens of every update, plus a forward pass over the held-out items. Greedy
//! longest-first: cells by cost, largest first (ties by id), each to the least loaded shard
//! (ties to the lowest index). A model whose config cannot be read makes sharding an error
//! rather than a silent guess: shards that guessed differently would skip or repeat cells.

use crate::suite::Cell;
use anyhow::{bail, Context, Result};

/// `I/N` with 0 ≤ I < N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected I/N, e.g. 0/4 (I from 0 to N-1)"))?;
        let index: usize = i.trim().parse().map_err(|_| format!("`{s}`: I must be a whole number"))?;
        let count: usize = n.trim().parse().map_err(|_| format!("`{s}`: N must be a whole number"))?;
        if count == 0 || index >= count {
            return Err(format!("`{s}`: expected 0 ≤ I < N (shards are numbered from 0)"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The estimated compute of one cell, in FLOPs, given its model's config.
pub fn cell_cost(cell: &Cell, cfg: &crate::model::DecoderConfig) -> f64 {
    let k = &cell.knobs;
    let n = cfg.num_parameters() as f64;
    let eval = 2.0 * n * k.eval_examples as f64 * k.seq_len as f64;
    if !cell.method.trains() {
        return eval;
    }
    let per_token = super::cell_estimate::cell_estimate(cell, cfg).map_or(6.0 * n, |e| e.flops_per_token);
    let tokens = k.steps as f64 * k.grad_accum as f64 * k.batch_size as f64 * k.seq_len as f64;
    per_token * tokens + eval
}

/// Which shard each cell goes to, every cell's cost, and each shard's share of the total.
#[derive(Debug, Clone)]
pub struct Partition {
    pub owner: Vec<usize>,
    pub costs: Vec<f64>,
    pub shares: Vec<f64>,
}

/// The partition of `cells` into `count` shards (each model's config read once).
pub fn partition(cells: &[Cell], count: usize) -> Result<Partition> {
    let mut configs: std::collections::HashMap<&str, crate::model::DecoderConfig> = std::collections::HashMap::new();
    let mut costs = Vec::with_capacity(cells.len());
    for c in cells {
        if !configs.contains_key(c.model.as_str()) {
            let cfg = crate::estimate::model_config(&c.model)
                .with_context(|| format!("cell {}: reading {}'s config to balance the shards", c.id, c.model))?;
            configs.insert(&c.model, cfg);
        }
        let cost = cell_cost(c, &configs[c.model.as_str()]);
        if !cost.is_finite() {
            bail!("cell {}: its estimated cost is not a finite number", c.id);
        }
        costs.push(cost);
    }
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then_with(|| cells[a].id.cmp(&cells[b].id)));
    let mut load = vec![0.0f64; count];
    let mut owner = vec![0usize; cells.len()];
    for i in order {
        let s = (0..count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("at least one shard");
        load[s] += costs[i];
        owner[i] = s;
    }
    let total: f64 = load.iter().sum();
    let shares = load.iter().map(|l| if total > 0.0 { l / total } else { 0.0 }).collect();
    Ok(Partition { owner, costs, shares })
}

/// The cells of `shard`, in the suite's order, and each shard's share of the total cost.
pub fn shard_cells(cells: &[Cell], shard: Shard) -> Result<(Vec<&Cell>, Vec<f64>)> {
    let p = partition(cells, shard.count)?;
    let mine = cells
        .iter()
        .zip(&p.owner)
        .filter(|(_, &o)| o == shard.index)
        .map(|(c, _)| c)
        .collect();
    Ok((mine, p.shares))
}
