//! scripts/gpu-check.sh's dry run, on a machine without a GPU (CI): the GPU session returns at
//! most 8 files no more than two folders deep, so the script must pack what every stage wrote
//! into a few top-level files and say what passed and failed, even when every GPU step fails.
//! This runs it with the CPU build's `ftbench` as the only binary: the op tests and benches are
//! missing (named as such), the article-7b cells are recorded as errors (no CUDA in this
//! build), and the summary and archives must still come out whole.

use std::path::Path;
use std::process::Command;

fn files_under(dir: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push((p, depth + 1));
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), depth));
            }
        }
    }
    out.sort();
    out
}

fn listing(archive: &Path) -> String {
    let o = Command::new("tar").arg("-tzf").arg(archive).output().unwrap();
    assert!(o.status.success(), "{} is not a gzip tar", archive.display());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_dry_run_packs_every_stage_into_a_few_top_level_files_and_names_what_failed() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let (bin, out) = (tmp.path().join("bin"), tmp.path().join("out"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ftbench"), bin.join("ftbench")).unwrap();
    let o = Command::new("bash")
        .arg(repo.join("scripts/gpu-check.sh"))
        .args(["--dry-run", "all"])
        .env("FTBENCH_GPU_BIN", &bin)
        .env("OUT", &out)
        .env("TMPDIR", tmp.path())
        .env_remove("CUDA_HOME")
        .current_dir(repo)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a run with failed checks exits 1:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // What comes back from a GPU session: at most 8 files, none deeper than two folders.
    let files = files_under(&out);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["bench.tar.gz", "machine.txt", "ops.tar.gz", "suite.tar.gz", "summary.txt"],
        "{files:?}"
    );
    assert!(files.iter().all(|(_, d)| *d == 0));

    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("libraries: all resolved"), "{summary}");
    assert!(summary.contains("FAIL ops: no cuda_ops binary"), "{summary}");
    assert!(summary.contains("FAIL bench: no cuda_bench binary"), "{summary}");
    // Each of the four cells, in the order the suite lists them (cheapest first), with its status.
    let cells: Vec<&str> = summary.lines().filter(|l| l.trim_start().starts_with("error ")).collect();
    assert_eq!(cells.len(), 4, "{summary}");
    assert!(cells[0].contains("qlora") && cells[3].contains("full"), "{cells:?}");
    assert!(summary.contains("reason:") && summary.contains("cuda"), "{summary}");
    assert!(summary.contains("some checks FAILED"), "{summary}");

    // The suite's archive holds the records, the runner's output and the report, under the
    // repository's own paths; ops/bench logs are in their own archives, not repeated.
    let suite = listing(&out.join("suite.tar.gz"));
    assert_eq!(
        suite
            .lines()
            .filter(|l| l.starts_with("results/article-7b/") && l.ends_with(".json"))
            .count(),
        4,
        "{suite}"
    );
    assert!(suite.contains("results/article-7b.txt"), "{suite}");
    assert!(suite.contains("reports/article-7b/index.html"), "{suite}");
    assert!(!suite.contains("bench.txt"), "{suite}");
    assert!(listing(&out.join("ops.tar.gz")).contains("reports/article-7b/ops"));
    // Nothing left behind in the temporary folder but the binaries and the output.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
