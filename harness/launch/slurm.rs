//! A SLURM job array: one task per shard, `SLURM_ARRAY_TASK_ID` as the shard index.

use super::plan::{LaunchPlan, CELL_OVERHEAD_S, CPU_FLOPS};
use super::quote::shell_quote;
use anyhow::{bail, Result};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The suite file as the job will read it (relative to `workdir`, or absolute).
    pub suite: String,
    /// The results root the job writes into (results/<suite name>/ below it).
    pub results: String,
    /// Where each task starts (the repository root: suites name models relative to it).
    pub workdir: String,
    /// The ftbench binary on the cluster's nodes.
    pub ftbench: String,
    pub partition: Option<String>,
}

/// An `#SBATCH` value: sbatch splits its directives on whitespace and reads them unquoted, so a
/// value that would not survive that is refused rather than written.
fn directive(what: &str, v: &str) -> Result<String> {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'`$\\#".contains(c)) {
        bail!("{what} `{v}` cannot go into an #SBATCH directive (whitespace, quotes, $, ` or #); choose another");
    }
    Ok(v.to_string())
}

/// The sbatch script for `plan`.
pub fn sbatch_script(plan: &LaunchPlan, o: &SlurmOptions) -> Result<String> {
    let name = &plan.suite.name;
    let n = plan.shards.len();
    let logs = Path::new(&o.results).join(name).join("logs");
    let logs = if logs.is_absolute() {
        logs
    } else {
        Path::new(&o.workdir).join(logs)
    };
    let logs = directive("the results folder", &logs.display().to_string())?;
    let (h, m) = (plan.time_limit_min / 60, plan.time_limit_min % 60);
    let mut s = String::new();
    s += "#!/bin/bash\n";
    s += &format!(
        "# ftbench launch slurm: suite `{name}` ({} cells) in {n} shards, one array task per shard.\n",
        plan.cells
    );
    s += "# Each task runs `ftbench run SUITE --shard $SLURM_ARRAY_TASK_ID/N` into one shared results\n";
    s += "# folder (cells are locked one by one; a re-submitted task skips what is recorded).\n";
    for (i, p) in plan.shards.iter().enumerate() {
        s += &format!("#   shard {i}: {} cells, ~{:.0} min estimated\n", p.cells, p.estimate_s / 60.0);
    }
    s += &format!(
        "# Time limit: 1.5 x the longest shard, at least 10 min; estimated at {:.0} GFLOP/s per cell + {CELL_OVERHEAD_S:.0} s start-up\n",
        CPU_FLOPS / 1e9
    );
    s += "# and evaluation, each cell at most its timeout_s (an assumption; edit --time for your nodes).\n";
    s += &format!("#SBATCH --job-name={}\n", directive("the job name", &format!("ftbench-{name}"))?);
    s += &format!("#SBATCH --array=0-{}\n", n - 1);
    s += &format!("#SBATCH --time={h:02}:{m:02}:00\n");
    s += &format!("#SBATCH --mem={}M\n", plan.mem_mb);
    if plan.threads > 0 {
        s += &format!("#SBATCH --cpus-per-task={}\n", plan.threads);
    } else {
        // threads: 0 uses every core: the node to itself, so no other job skews the timings.
        s += "#SBATCH --exclusive\n";
    }
    if plan.gpus > 0 {
        s += &format!("#SBATCH --gres=gpu:{}\n", plan.gpus);
    }
    if let Some(p) = &o.partition {
        s += &format!("#SBATCH --partition={}\n", directive("the partition", p)?);
    }
    s += &format!("#SBATCH --output={logs}/slurm-%A_%a.out\n");
    s += "set -euo pipefail\n";
    s += &format!("cd {}\n", shell_quote(&o.workdir));
    s += &format!(
        "exec {} run {} --results {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{n}\"\n",
        shell_quote(&o.ftbench),
        shell_quote(&o.suite),
        shell_quote(&o.results)
    );
    Ok(s)
}
