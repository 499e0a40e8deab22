//! The page's conditions, stated once at its top: each condition with the distinct values its
//! cells ran with (from what ran, as the records say), so that no row has to repeat them.

use super::rows::Row;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub name: String,
    pub value: String,
}

fn distinct<T: ToString>(values: impl Iterator<Item = T>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for v in values.map(|v| v.to_string()).filter(|v| !v.is_empty()) {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    if seen.is_empty() {
        "–".into()
    } else {
        seen.join(" · ")
    }
}

/// The conditions of the cells that trained (the untrained base only evaluates).
pub fn page_conditions(rows: &[Row]) -> Vec<Condition> {
    let trained: Vec<&Row> = rows.iter().filter(|r| r.ok() && r.method != "base").collect();
    let all: Vec<&Row> = rows.iter().filter(|r| r.ok()).collect();
    let c = |name: &str, value: String| Condition { name: name.into(), value };
    let mut seeds: Vec<u64> = trained.iter().map(|r| r.seed).collect();
    seeds.sort();
    seeds.dedup();
    vec![
        c("device", distinct(all.iter().map(|r| r.device.as_str()))),
        c("compute dtype", distinct(trained.iter().map(|r| r.compute_dtype.as_str()))),
        c(
            "batch",
            distinct(trained.iter().map(|r| {
                let accum = if r.grad_accum > 1 {
                    format!(" × {} accum", r.grad_accum)
                } else {
                    String::new()
                };
                format!("{} × ≤{} tokens{accum}", r.batch_size, r.seq_len)
            })),
        ),
        c("steps", distinct(trained.iter().map(|r| r.steps))),
        c("seeds", distinct(seeds.iter())),
        c(
            "optimizer",
            distinct(
                trained
                    .iter()
                    .map(|r| format!("{} ({} state)", r.optimizer, r.optimizer_state_dtype)),
            ),
        ),
        c(
            "recompute",
            distinct(trained.iter().map(|r| if r.recompute { "on" } else { "off" })),
        ),
        c(
            "ops",
            distinct(trained.iter().map(|r| if r.fused_ops { "fused" } else { "composed" })),
        ),
        c(
            "threads",
            distinct(all.iter().map(|r| r.threads.map_or("?".into(), |t| t.to_string()))),
        ),
        c("tasks", distinct(all.iter().map(|r| r.task.as_str()))),
        c("machine", distinct(all.iter().map(|r| r.cpu_model.as_str()))),
        c("commit", distinct(all.iter().map(|r| r.git_commit.as_str()))),
    ]
}
