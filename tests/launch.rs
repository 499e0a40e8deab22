//! `ftbench launch`: a SLURM job array submitted to a real (single-node) SLURM cluster, whose
//! three shards record every cell exactly once into one folder; the Kubernetes Indexed Job
//! checked against the API's schema (field names and types, required fields); and nothing
//! from a suite or a path reaching a shell unquoted.
//!
//! The cluster comes from `scripts/slurm-single-node.sh` (Debian's slurm-wlm and munge), the
//! schema from the official `kubernetes` Python client; .ci/run sets up both. Locally, without
//! them, these tests say so and skip; with `CI` set they fail instead.

mod common;

use common::{json_files, text};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn ftbench(dir: &Path, args: &[&str]) -> std::process::Output {
    common::ftbench(dir, args)
}

fn have(cmd: &str, args: &[&str], what: &str) -> bool {
    let ok = Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and {what} is missing (.ci/run sets it up)"
        );
        let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("SKIPPED: {what} is missing\n"));
    }
    ok
}

const SUITE: &str = "schema: 1\nname: launched\ndefaults: {steps: 20, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4}\n\
                     grid:\n  models: [preset:tiny]\n  methods: [full, lora, qlora]\n  seeds: [0, 1]\n";

#[test]
fn a_slurm_job_array_of_three_shards_records_every_cell_once() {
    if !have("sinfo", &["-h"], "a running SLURM cluster (scripts/slurm-single-node.sh)") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("s.yaml"), SUITE).unwrap();
    let w = ftbench(dir, &["launch", "slurm", "s.yaml", "--shards", "3", "--out", "job.sh"]);
    assert!(w.status.success(), "{}", text(&w));
    let script = std::fs::read_to_string(dir.join("job.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-2") && script.contains("--shard \"${SLURM_ARRAY_TASK_ID}/3\""),
        "{script}"
    );
    let sub = Command::new("sbatch")
        .arg("--parsable")
        .arg("job.sh")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(sub.status.success(), "sbatch: {}", text(&sub));
    let job = String::from_utf8_lossy(&sub.stdout).trim().split(';').next().unwrap().to_string();
    let t = Instant::now();
    loop {
        let q = Command::new("squeue").args(["-h", "-j", &job]).output().unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "job {job} still queued or running after 10 min"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs: Vec<_> = std::fs::read_dir(dir.join("results/launched/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("slurm-"))
        .collect();
    assert_eq!(logs.len(), 3, "one log per array task: {logs:?}");
    let recs: Vec<serde_json::Value> = json_files(&dir.join("results/launched"))
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    let mut ids: Vec<&str> = recs.iter().map(|r| r["cell"]["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((recs.len(), ids.len()), (6, 6), "every cell recorded exactly once");
    assert!(recs.iter().all(|r| r["status"] == "ok"));
    let rep = ftbench(dir, &["report", "results/launched"]);
    assert!(
        rep.status.success() && !text(&rep).contains("more than one folder"),
        "{}",
        text(&rep)
    );
}

#[test]
fn the_kubernetes_manifest_matches_the_batch_v1_job_schema() {
    if !have(
        "python3",
        &["-c", "import kubernetes"],
        "the `kubernetes` Python client (pip install kubernetes)",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("s.yaml"), SUITE.replace("lora_rank: 4}", "lora_rank: 4, threads: 2}")).unwrap();
    let m = ftbench(
        dir,
        &[
            "launch",
            "k8s",
            "s.yaml",
            "--shards",
            "3",
            "--image",
            "registry.example/ftbench:1",
            "--pvc",
            "ftbench-results",
        ],
    );
    assert!(m.status.success(), "{}", text(&m));
    let manifest = String::from_utf8_lossy(&m.stdout).to_string();
    assert!(
        manifest.contains("completionMode: Indexed") && manifest.contains("$(SHARD)/3"),
        "{manifest}"
    );
    let check = |yaml: &str| {
        let mut c = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/k8s_schema.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(c.stdin.as_mut().unwrap(), yaml.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let ok = check(&manifest);
    assert!(ok.status.success(), "{}", text(&ok));
    // The checker itself sees a wrong type, an unknown field and a missing required one.
    let broken = manifest.replace("completions: 3", "completions: '3'").replace("claimName", "claim");
    let bad = check(&broken);
    let t = text(&bad);
    assert!(!bad.status.success(), "{t}");
    assert!(t.contains("Job.spec.completions: expected an integer"), "{t}");
    assert!(
        t.contains("claim: no such field") && t.contains("missing required field `claimName`"),
        "{t}"
    );
}

#[test]
fn nothing_reaches_the_shell_unquoted() {
    if !have("bash", &["-c", "true"], "bash") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A suite file whose name a shell would split and expand.
    let name = "it's $(touch PWNED) a suite.yaml";
    std::fs::write(dir.join(name), SUITE.replace("steps: 20", "steps: 2")).unwrap();
    let w = ftbench(dir, &["launch", "slurm", name, "--shards", "2", "--out", "job.sh"]);
    assert!(w.status.success(), "{}", text(&w));
    // The script as a node would run it, task 0 (the #SBATCH lines are comments to bash).
    let run = Command::new("bash")
        .arg("job.sh")
        .env("SLURM_ARRAY_TASK_ID", "0")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("shard 0/2"), "{}", text(&run));
    assert!(!dir.join("PWNED").exists(), "a command in a file name ran");
    // Values sbatch reads unquoted are refused, not written.
    let w = ftbench(dir, &["launch", "slurm", name, "--shards", "2", "--partition", "a b"]);
    assert!(
        !w.status.success() && text(&w).contains("cannot go into an #SBATCH directive"),
        "{}",
        text(&w)
    );
    let k = ftbench(dir, &["launch", "k8s", name, "--shards", "2", "--image", "x y", "--pvc", "p"]);
    assert!(!k.status.success() && text(&k).contains("--image"), "{}", text(&k));
}
