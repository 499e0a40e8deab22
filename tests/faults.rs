//! Runs that survive faults: several runners on one results folder, a runner killed or
//! interrupted mid-cell, a cell's process killed by someone else, a record that cannot be
//! written, a record cut in half, and shards. After each, a re-run ends with every cell
//! recorded exactly once and no record lost, corrupt or left half-written.

mod common;

use common::{json_files, text};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Six cells of the tiny preset; `steps` sets how long each runs.
fn suite(dir: &Path, name: &str, steps: u32) -> std::path::PathBuf {
    let text = format!(
        "schema: 1\nname: {name}\ndefaults: {{steps: {steps}, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4}}\n\
         grid:\n  models: [preset:tiny]\n  methods: [full, lora, qlora]\n  seeds: [0, 1]\n"
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ftbench"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    spawn(dir, args).wait_with_output().unwrap()
}

/// Every record of the folder, parsed (a corrupt one fails the test), and no temporary file.
fn records(results: &Path) -> Vec<Value> {
    let leftovers: Vec<_> = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    json_files(results)
        .iter()
        .map(|f| {
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap_or_else(|e| panic!("{}: corrupt record: {e}", f.display()))
        })
        .collect()
}

/// Every one of the six cells recorded once, ok.
fn all_recorded_once(results: &Path) {
    let recs = records(results);
    let mut ids: Vec<&str> = recs.iter().map(|r| r["cell"]["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((recs.len(), ids.len()), (6, 6), "six cells, one record each");
    for r in &recs {
        assert_eq!(r["status"], "ok", "{}: {}", r["cell"]["id"], r["reason"]);
    }
}

/// "N cells run" of a runner's summary line.
fn ran(o: &Output) -> usize {
    let t = text(o);
    let line = t
        .lines()
        .find(|l| l.contains(" cells run ("))
        .unwrap_or_else(|| panic!("no summary: {t}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// The pid of `parent`'s child (the running cell's process), waiting for it to exist.
fn child_of(parent: u32) -> u32 {
    let t = Instant::now();
    loop {
        let path = format!("/proc/{parent}/task/{parent}/children");
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.split_whitespace().next().map(|p| p.parse().unwrap()))
        {
            return pid;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no cell process appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: a plain kill(2).
    unsafe { libc::kill(pid as i32, sig) };
}

#[test]
fn two_and_three_runners_on_one_folder_run_every_cell_once() {
    for runners in [2, 3] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        suite(dir, "shared", 60);
        let children: Vec<Child> = (0..runners).map(|_| spawn(dir, &["run", "shared.yaml"])).collect();
        let outs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        for o in &outs {
            assert!(o.status.success(), "{}", text(o));
        }
        assert_eq!(outs.iter().map(ran).sum::<usize>(), 6, "each cell ran in exactly one runner");
        all_recorded_once(&dir.join("results/shared"));
        // Every runner wrote the report at the end: the page is whole, no temporary file left.
        let page = std::fs::read_to_string(dir.join("reports/shared/index.html")).unwrap();
        assert!(page.trim_end().ends_with("</html>"));
        let tmps = std::fs::read_dir(dir.join("reports/shared"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(tmps, 0);
    }
}

#[test]
fn a_runner_killed_mid_cell_leaves_no_lock_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "killed", 400);
    let runner = spawn(dir, &["run", "killed.yaml"]);
    let pid = runner.id();
    let cell = child_of(pid);
    signal(pid, libc::SIGKILL);
    let _ = runner.wait_with_output();
    // The orphaned cell's process dies on its closed stdout; the runner's lock died with it.
    let t = Instant::now();
    while Path::new(&format!("/proc/{cell}")).exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = run(dir, &["run", "killed.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(!text(&again).contains("busy"), "a dead runner's lock is free: {}", text(&again));
    all_recorded_once(&dir.join("results/killed"));
}

#[test]
fn sigint_records_the_interrupted_cell_says_what_is_left_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "int", 400);
    let runner = spawn(dir, &["run", "int.yaml"]);
    child_of(runner.id());
    signal(runner.id(), libc::SIGINT);
    let out = runner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        text(&out).contains("interrupted: 6 cell(s) of this run not finished"),
        "{}",
        text(&out)
    );
    let recs = records(&dir.join("results/int"));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "interrupted");
    let again = run(dir, &["run", "int.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(ran(&again), 6, "the interrupted cell runs again without --retry-failed");
    all_recorded_once(&dir.join("results/int"));
}

#[test]
fn a_cell_killed_by_someone_else_is_killed_not_oom() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "other", 400);
    let runner = spawn(dir, &["run", "other.yaml"]);
    signal(child_of(runner.id()), libc::SIGKILL);
    let out = runner.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let recs = records(&dir.join("results/other"));
    let killed: Vec<&Value> = recs.iter().filter(|r| r["status"] != "ok").collect();
    assert_eq!(killed.len(), 1, "{}", text(&out));
    // An OOM kill elsewhere on the machine meanwhile would make it `oom`, as it should.
    assert!(killed[0]["status"] == "killed" || killed[0]["reason"].as_str().unwrap().contains("oom_kill count rose"));
    let again = run(dir, &["run", "other.yaml", "--retry-failed"]);
    assert!(again.status.success(), "{}", text(&again));
    all_recorded_once(&dir.join("results/other"));
}

#[test]
fn an_unwritable_record_keeps_the_measurement_in_the_log_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "unwritable", 3);
    let plan = run(dir, &["plan", "unwritable.yaml"]);
    let first_id = text(&plan)
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .nth(1)
                .filter(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .unwrap()
        .to_string();
    // A directory where the record should go: the rename onto it fails (as on a full disk or
    // a read-only folder, which root's tests cannot make).
    let blocker = dir.join("results/unwritable").join(format!("{first_id}.json"));
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let out = run(dir, &["run", "unwritable.yaml"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("could not be written; here it is:") && t.contains("\"schema_version\""),
        "{t}"
    );
    assert!(t.contains("free space in (or fix the permissions of)"), "{t}");
    std::fs::remove_dir_all(&blocker).unwrap();
    let again = run(dir, &["run", "unwritable.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    all_recorded_once(&dir.join("results/unwritable"));
}

#[test]
fn a_record_cut_in_half_is_unreadable_in_plan_and_redone_by_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "cut", 3);
    assert!(run(dir, &["run", "cut.yaml"]).status.success());
    let files = json_files(&dir.join("results/cut"));
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).unwrap();
    let plan = run(dir, &["plan", "cut.yaml"]);
    assert!(text(&plan).contains("unreadable (not JSON"), "{}", text(&plan));
    let again = run(dir, &["run", "cut.yaml"]);
    assert!(text(&again).contains("unreadable"), "{}", text(&again));
    assert_eq!(ran(&again), 1);
    all_recorded_once(&dir.join("results/cut"));
}

#[test]
fn shards_partition_the_cells_and_together_record_each_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "sharded", 3);
    let mut seen: Vec<String> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let plan = run(dir, &["plan", "sharded.yaml", "--shard", &shard]);
        assert!(plan.status.success(), "{}", text(&plan));
        for l in text(&plan).lines() {
            if let Some(id) = l
                .split_whitespace()
                .nth(1)
                .filter(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
            {
                seen.push(id.to_string());
            }
        }
        let out = run(dir, &["run", "sharded.yaml", "--shard", &shard]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("in other shards"), "{}", text(&out));
    }
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((n, seen.len()), (6, 6), "the shards' plans are disjoint and cover every cell");
    all_recorded_once(&dir.join("results/sharded"));
    let bad = run(dir, &["run", "sharded.yaml", "--shard", "3/3"]);
    assert!(text(&bad).contains("expected 0 ≤ I < N"), "{}", text(&bad));
}

#[test]
fn shards_in_their_own_folders_merge_in_report_with_missing_and_conflicting_cells_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    suite(dir, "own", 3);
    for i in 0..2 {
        let out = run(
            dir,
            &["run", "own.yaml", "--shard", &format!("{i}/3"), "--results", &format!("shard{i}")],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    // Shard 2 never ran: the merged report names its cells.
    let rep = run(dir, &["report", "shard0/own", "shard1/own", "--out", "merged"]);
    let t = text(&rep);
    assert!(rep.status.success(), "{t}");
    assert!(t.contains("suite `own` (own.yaml): 2 of 6 cells have no record here"), "{t}");
    let page = std::fs::read_to_string(dir.join("merged/index.html")).unwrap();
    assert!(page.contains("id=\"missing\""), "the page lists the missing cells");
    let out = run(dir, &["run", "own.yaml", "--shard", "2/3", "--results", "shard2"]);
    assert!(out.status.success(), "{}", text(&out));
    // A copy of one record that disagrees (another status) is a conflict, named as such.
    let f = json_files(&dir.join("shard0/own"))[0].clone();
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    r["status"] = "error".into();
    r["reason"] = "a different run".into();
    r["started_at"] = "2000-01-01T00:00:00Z".into();
    std::fs::create_dir_all(dir.join("stale")).unwrap();
    std::fs::write(dir.join("stale").join(f.file_name().unwrap()), r.to_string()).unwrap();
    let rep = run(
        dir,
        &["report", "shard0/own", "shard1/own", "shard2/own", "stale", "--out", "merged"],
    );
    let t = text(&rep);
    assert!(!t.contains("have no record"), "all six cells are there: {t}");
    assert!(
        t.contains("conflicting records: cell") && t.contains("says error (a different run)"),
        "{t}"
    );
    let cells = std::fs::read_to_string(dir.join("merged/cells.csv")).unwrap();
    assert_eq!(cells.lines().count(), 7, "six cells, each once: {cells}");
}

#[test]
fn a_cell_that_shared_the_machine_with_another_runners_cell_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("two.yaml"),
        "schema: 1\nname: two\ndefaults: {steps: 400, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2}\n\
         grid:\n  models: [preset:tiny]\n  methods: [full]\n  seeds: [0, 1]\n",
    )
    .unwrap();
    let first = spawn(dir, &["run", "two.yaml"]);
    child_of(first.id());
    let second = run(dir, &["run", "two.yaml"]);
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success() && second.status.success(),
        "{}{}",
        text(&first),
        text(&second)
    );
    assert!(
        text(&second).contains("busy ["),
        "the second runner skipped the first one's cell: {}",
        text(&second)
    );
    let recs = records(&dir.join("results/two"));
    assert_eq!(recs.len(), 2);
    let shared: Vec<u64> = recs.iter().map(|r| r["conditions"]["concurrent_cells"].as_u64().unwrap()).collect();
    assert!(
        shared.iter().any(|&n| n >= 1),
        "the cells overlapped and their records say so: {shared:?}"
    );
    assert!(
        text(&second).contains("beside 1 other cell(s) of this folder on this host"),
        "{}",
        text(&second)
    );
}

/// A results folder on a full filesystem (a small tmpfs, mounted for the test: needs the
/// privilege to mount, which this machine kind's root has; skipped, saying so, without it).
#[test]
fn a_full_disk_keeps_the_measurement_leaves_no_temp_file_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mnt = dir.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root's mount privilege)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).output();
        }
    }
    let _guard = Unmount(&mnt);
    suite(dir, "full", 3);
    let results = mnt.join("r");
    std::fs::create_dir_all(results.join("full/.locks")).unwrap();
    std::fs::create_dir_all(results.join("full/logs")).unwrap();
    // Fill the filesystem, then give back a little: room for a lock and a log, not a record.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(8192)).unwrap();
    }
    let results_arg = results.display().to_string();
    let out = run(dir, &["run", "full.yaml", "--results", &results_arg]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("No space left on device") && t.contains("could not be written; here it is:"),
        "{t}"
    );
    assert!(t.contains("free space in (or fix the permissions of)"), "{t}");
    let leftovers: Vec<String> = std::fs::read_dir(results.join("full"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
    std::fs::remove_file(&filler).unwrap();
    let again = run(dir, &["run", "full.yaml", "--results", &results_arg]);
    assert!(again.status.success(), "{}", text(&again));
    all_recorded_once(&results.join("full"));
}
