//! Scale-out without a scheduler of ftbench's own: `ftbench launch slurm|k8s SUITE --shards N`
//! writes a job for an existing engine in which task I runs `ftbench run SUITE --shard I/N`
//! into one shared results folder (cells are locked per cell, records written atomically:
//! record/lock.rs). Nothing from a suite reaches a shell unquoted (quote.rs); names are checked
//! against what the engine accepts.

mod k8s;
mod plan;
mod quote;
mod slurm;

pub use k8s::{k8s_manifest, K8sOptions};
pub use plan::{launch_plan, LaunchPlan, ShardPlan};
pub use quote::shell_quote;
pub use slurm::{sbatch_script, SlurmOptions};
