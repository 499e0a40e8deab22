//! Running a whole suite: every cell not yet recorded, one child process at a time, with a
//! progress bar over cells and steps, then the report.

use super::cell::CellJob;
use super::child::run_child;
use super::events::Event;
use super::record_of::record_of;
use crate::record::{cells_running_here, load_dir, read_record, record_path, try_lock, write_atomic, Lock, Record, Status, SuiteRef};
use crate::suite;
use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Records go to `results_root/<suite name>/`.
    pub results_root: PathBuf,
    /// The report goes to `reports_root/<suite name>/`.
    pub reports_root: PathBuf,
    /// Re-run cells that already have a record.
    pub force: bool,
    /// Re-run cells whose record is not `ok`.
    pub retry_failed: bool,
    /// The `ftbench` binary to spawn for each cell (normally this one).
    pub exe: PathBuf,
    /// Show progress bars (when stderr is a terminal).
    pub progress: bool,
    /// Run only this shard's cells (`--shard I/N`).
    pub shard: Option<super::Shard>,
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub ran: usize,
    pub skipped: usize,
    pub ok: usize,
    pub failed: usize,
    /// Cells another live runner held the lock of (skipped).
    pub busy: usize,
    /// Cells of other shards (not run here).
    pub other_shards: usize,
    /// The run was interrupted (SIGINT/SIGTERM); `left` cells of this run were not finished.
    pub interrupted: bool,
    pub left: usize,
    pub results_dir: PathBuf,
    pub report_dir: PathBuf,
}

pub fn run_suite(path: &Path, opts: &RunOptions) -> Result<RunSummary> {
    let (suite, cells) = suite::load(path)?;
    let results_dir = opts.results_root.join(&suite.name);
    let report_dir = opts.reports_root.join(&suite.name);
    std::fs::create_dir_all(&results_dir).with_context(|| format!("cannot create {}", results_dir.display()))?;
    let (existing, problems) = load_dir(&results_dir)?;
    let mut summary = RunSummary {
        results_dir: results_dir.clone(),
        report_dir: report_dir.clone(),
        ..Default::default()
    };
    let mine: Vec<&suite::Cell> = match opts.shard {
        Some(s) => super::shard_cells(&cells, s)?.0,
        None => cells.iter().collect(),
    };
    summary.other_shards = cells.len() - mine.len();
    // Whether a cell still needs running, given its record as last read (if any).
    let needs_run = |r: Option<&Record>| match r {
        _ if opts.force => true,
        None => true,
        Some(r) => opts.retry_failed && r.status != Status::Ok || r.status == Status::Interrupted,
    };
    let todo: Vec<_> = mine
        .iter()
        .copied()
        .filter(|c| needs_run(existing.iter().find(|r| r.cell.id == c.id)))
        .collect();
    summary.skipped = mine.len() - todo.len();

    let mp = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let cells_bar = mp.add(ProgressBar::new(todo.len() as u64));
    cells_bar.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} cells  {elapsed_precise}")
            .expect("template")
            .progress_chars("=> "),
    );
    cells_bar.set_prefix(suite.name.clone());
    let steps_bar = mp.add(ProgressBar::new(0));
    steps_bar.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} steps  {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    steps_bar.set_prefix("cell");
    let say = |line: String| {
        if opts.progress {
            mp.println(line).ok();
        } else {
            eprintln!("{line}");
        }
    };
    for p in &problems {
        say(format!("{}: unreadable ({}): its cell runs again", p.file.display(), p.message));
    }
    if let Some(s) = opts.shard {
        say(format!(
            "{}: shard {s}: {} of {} cells (balanced by estimated cost)",
            suite.name,
            mine.len(),
            cells.len()
        ));
    }
    if summary.skipped > 0 {
        say(format!(
            "{}: {} of {} cells already recorded in {} (--force re-runs them)",
            suite.name,
            summary.skipped,
            cells.len(),
            results_dir.display()
        ));
    }

    let total = todo.len();
    for (done, cell) in todo.into_iter().enumerate() {
        if super::interrupted() {
            summary.interrupted = true;
            summary.left = total - done;
            break;
        }
        // One runner per cell: take its lock, then look again (another runner may have
        // recorded it since this one read the folder).
        let _lock = match try_lock(&results_dir, &cell.id)? {
            Lock::Taken(l) => l,
            Lock::HeldBy(who) => {
                say(format!(
                    "busy [{}] {}: running in another runner ({who}); skipped",
                    cell.id, cell.label
                ));
                summary.busy += 1;
                cells_bar.inc(1);
                continue;
            }
        };
        let file = record_path(&results_dir, &cell.id);
        if file.exists() && !needs_run(read_record(&file).ok().as_ref()) {
            say(format!("done [{}] {}: recorded meanwhile by another runner", cell.id, cell.label));
            summary.skipped += 1;
            cells_bar.inc(1);
            continue;
        }
        steps_bar.set_length(cell.knobs.steps as u64);
        steps_bar.set_position(0);
        steps_bar.set_message(cell.label.clone());
        let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let log_rel = format!("logs/{}.stderr.log", cell.id);
        let adapter_rel = format!("adapters/{}", cell.id);
        // Made before the run, so the prediction cannot lean on the measurement.
        let estimate = super::cell_estimate::estimate_cell(cell);
        let others_at_start = cells_running_here(&results_dir).len();
        let job = CellJob {
            cell: cell.clone(),
            adapter_dir: Some(results_dir.join(&adapter_rel)),
        };
        let outcome = run_child(&opts.exe, &job, Some(&results_dir.join(&log_rel)), |e| {
            if let Event::Step { step, loss, .. } = e {
                steps_bar.set_position(*step as u64);
                steps_bar.set_message(format!("{}  loss {loss:.4}", cell.label));
            }
        })?;
        let mut record = record_of(
            SuiteRef {
                name: suite.name.clone(),
                file: path.display().to_string(),
            },
            cell,
            started_at,
            &outcome,
            Some(log_rel),
            Some(adapter_rel),
        );
        record.estimate = estimate;
        let concurrent = others_at_start.max(cells_running_here(&results_dir).len());
        record.conditions.concurrent_cells = Some(concurrent as u32);
        if let Err(e) = write_atomic(&file, &record) {
            // The measurement is not lost: it goes to the runner's own output, whole.
            say(one_line(&record));
            eprintln!(
                "the record of cell {} could not be written; here it is:\n{}",
                cell.id,
                serde_json::to_string(&record).unwrap_or_default()
            );
            return Err(e.context(format!(
                "free space in (or fix the permissions of) {} and run the suite again: cells already recorded are kept, this one runs again",
                results_dir.display()
            )));
        }
        say(one_line(&record));
        if record.status == Status::Interrupted {
            summary.interrupted = true;
            summary.left = total - done;
            break;
        }
        summary.ran += 1;
        if record.status == Status::Ok {
            summary.ok += 1;
        } else {
            summary.failed += 1;
        }
        cells_bar.inc(1);
    }
    steps_bar.finish_and_clear();
    cells_bar.finish_and_clear();
    crate::report::write_report(&[results_dir], &report_dir)?;
    Ok(summary)
}

/// One line per finished cell, with the conditions of its numbers.
pub fn one_line(r: &Record) -> String {
    let c = &r.conditions;
    let head = format!("{} [{}] {}", r.status.as_str(), r.cell.id, r.cell.label);
    if r.status != Status::Ok {
        return format!("{head}: {}", r.reason.as_deref().unwrap_or("no reason given"));
    }
    let gb = |b: Option<u64>| match b {
        Some(b) if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        Some(b) => format!("{:.0} MB", b as f64 / 1e6),
        None => "?".into(),
    };
    let estimate = match (&r.estimate, r.memory.peak_above_baseline_bytes) {
        (Some(e), Some(m)) if m > 0 => format!(
            " [estimate {}, {:+.1}%]",
            gb(Some(e.total_bytes)),
            100.0 * (e.total_bytes as f64 - m as f64) / m as f64
        ),
        _ => String::new(),
    };
    let tokens_per_s = r
        .timing
        .tokens_per_s
        .map_or("no training,".to_string(), |t| format!("{t:.1} tokens/s,"));
    let shared = match c.concurrent_cells {
        Some(n) if n > 0 => format!(", beside {n} other cell(s) of this folder on this host"),
        _ => String::new(),
    };
    format!(
        "{head}: {tokens_per_s} peak RSS {}{estimate} (batch {} x {} tokens, {}, {} steps, seed {}{shared}), eval loss {}",
        gb(r.memory.peak_rss_bytes),
        c.batch_size,
        c.seq_len,
        c.compute_dtype,
        c.steps,
        c.seed,
        r.eval.as_ref().map_or("?".into(), |e| format!("{:.4}", e.loss)),
    ) + &r
        .eval
        .iter()
        .filter_map(|e| e.score.as_ref())
        .chain(&r.also_eval)
        .map(|s| {
            format!(
                ", {} {} {:.1}% ± {:.1} (n={})",
                s.task,
                s.metric,
                100.0 * s.value,
                100.0 * s.stderr.unwrap_or(f64::NAN),
                s.n
            )
        })
        .collect::<String>()
}
