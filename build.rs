//! Stamps the binary with the commit it was built from and the candle version it links (read
//! from Cargo.lock, the one place that states it), for the records' environment.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=FTBENCH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=FTBENCH_CANDLE_VERSION={}", locked_version("candle-core"));
    println!("cargo:rerun-if-changed=Cargo.lock");
    // Re-stamp on every commit, checkout and staging: the files git changes then, found through
    // git itself (in a linked worktree `.git` is a file, and the refs live in the common dir; a
    // stamp that never changes would put a stale commit in every record).
    let git_path = |what: &str| {
        Command::new("git")
            .args(["rev-parse", "--path-format=absolute", what])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| std::path::PathBuf::from(s.trim()))
    };
    let (dir, common) = (git_path("--git-dir"), git_path("--git-common-dir"));
    let watched = dir
        .iter()
        .flat_map(|d| [d.join("HEAD"), d.join("index")])
        .chain(common.iter().flat_map(|c| [c.join("refs/heads"), c.join("packed-refs")]));
    for path in watched.filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// The version Cargo.lock pins for `package`, or "unknown" without a lock file (a build from a
/// packaged crate).
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "unknown".to_string()
}
