//! A Kubernetes Indexed Job: completions = parallelism = N shards, the pod's completion index
//! (annotation `batch.kubernetes.io/job-completion-index`, also `JOB_COMPLETION_INDEX`) as the
//! shard. The suite travels in a ConfigMap of the same manifest; results go to a
//! PersistentVolumeClaim every pod mounts (ReadWriteMany for parallel pods). Written as YAML by
//! a serializer, so no value needs hand quoting.

use super::plan::LaunchPlan;
use anyhow::{bail, Result};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct K8sOptions {
    /// The container image with ftbench (and the models the suite names) in it.
    pub image: String,
    /// The PersistentVolumeClaim for results, mounted at /results.
    pub pvc: String,
    /// The pods' working directory (suites name models relative to it).
    pub workdir: String,
    /// The suite file's text (goes into the ConfigMap).
    pub suite_text: String,
}

/// `s` as a DNS-1123 label (lowercase letters, digits, '-'; starts and ends alphanumeric).
pub fn dns_label(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    out.truncate(max);
    out.trim_matches('-').to_string()
}

/// The manifest (a ConfigMap and the Job, as one multi-document YAML).
pub fn k8s_manifest(plan: &LaunchPlan, o: &K8sOptions) -> Result<String> {
    let name = format!("ftbench-{}", dns_label(&plan.suite.name, 40));
    if name == "ftbench-" || name.ends_with('-') {
        bail!("suite name `{}` gives no valid Kubernetes name", plan.suite.name);
    }
    if o.image.trim().is_empty() || o.image.chars().any(char::is_whitespace) {
        bail!("--image `{}`: expected an image reference without whitespace", o.image);
    }
    if dns_label(&o.pvc, 253) != o.pvc {
        bail!(
            "--pvc `{}`: expected a PersistentVolumeClaim name (lowercase letters, digits, '-')",
            o.pvc
        );
    }
    let n = plan.shards.len();
    let mut limits = json!({ "memory": format!("{}Mi", plan.mem_mb) });
    if plan.gpus > 0 {
        limits["nvidia.com/gpu"] = json!(plan.gpus.to_string());
    }
    let mut requests = json!({ "memory": format!("{}Mi", plan.mem_mb) });
    if plan.threads > 0 {
        requests["cpu"] = json!(plan.threads.to_string());
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": format!("{name}-suite"), "labels": { "app.kubernetes.io/name": "ftbench" } },
        "data": { "suite.yaml": o.suite_text },
    });
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": "ftbench" } },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            "backoffLimit": n,
            "activeDeadlineSeconds": plan.time_limit_min * 60,
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "ftbench" } },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "ftbench",
                        "image": o.image,
                        "workingDir": o.workdir,
                        "command": ["ftbench"],
                        "args": ["run", "/suite/suite.yaml", "--results", "/results", "--shard", format!("$(SHARD)/{n}")],
                        "env": [{
                            "name": "SHARD",
                            "valueFrom": { "fieldRef": { "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']" } }
                        }],
                        "resources": { "requests": requests, "limits": limits },
                        "volumeMounts": [
                            { "name": "results", "mountPath": "/results" },
                            { "name": "suite", "mountPath": "/suite", "readOnly": true }
                        ]
                    }],
                    "volumes": [
                        { "name": "results", "persistentVolumeClaim": { "claimName": o.pvc } },
                        { "name": "suite", "configMap": { "name": format!("{name}-suite") } }
                    ]
                }
            }
        }
    });
    let mut out = format!(
        "# ftbench launch k8s: suite `{}` ({} cells) as an Indexed Job of {n} pods; each runs\n# `ftbench run SUITE --shard INDEX/{n}` into the claim `{}` (ReadWriteMany for parallel pods).\n",
        plan.suite.name, plan.cells, o.pvc
    );
    out += &serde_norway::to_string(&config)?;
    out += "---\n";
    out += &serde_norway::to_string(&job)?;
    Ok(out)
}
