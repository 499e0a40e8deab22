//! Running a whole suite: every cell not yet recorded, one child process at a time, with a
//! progress bar over cells and steps, then the report.

use super::record_of::record_of;
use super::spawn::run_child;
use crate::child::{CellJob, Event};
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
    let mine: Vec<&suite::Cell> = match opts.shard {
        Some(s) => super::shard_cells(&cells, s)?.0,
        None => cells.iter().collect(),
    };
    let todo: Vec<&suite::Cell> = mine
        .iter()
        .copied()
        .filter(|c| needs_run(opts, existing.iter().find(|r| r.cell.id == c.id)))
        .collect();
    let mut run = Run {
        suite_ref: SuiteRef {
            name: suite.name.clone(),
            file: path.display().to_string(),
        },
        results_dir: results_dir.clone(),
        opts,
        bars: Bars::new(opts.progress, &suite.name, todo.len()),
        summary: RunSummary {
            results_dir: results_dir.clone(),
            report_dir: report_dir.clone(),
            other_shards: cells.len() - mine.len(),
            skipped: mine.len() - todo.len(),
            ..Default::default()
        },
    };
    for p in &problems {
        run.say(format!("{}: unreadable ({}): its cell runs again", p.file.display(), p.message));
    }
    if let Some(s) = opts.shard {
        run.say(format!(
            "{}: shard {s}: {} of {} cells (balanced by estimated cost)",
            suite.name,
            mine.len(),
            cells.len()
        ));
    }
    if run.summary.skipped > 0 {
        run.say(format!(
            "{}: {} of {} cells already recorded in {} (--force re-runs them)",
            suite.name,
            run.summary.skipped,
            cells.len(),
            results_dir.display()
        ));
    }
    let total = todo.len();
    for (done, cell) in todo.into_iter().enumerate() {
        if super::interrupted() || run.cell(cell)? == Some(Status::Interrupted) {
            run.summary.interrupted = true;
            run.summary.left = total - done;
            break;
        }
    }
    run.bars.steps.finish_and_clear();
    run.bars.cells.finish_and_clear();
    crate::report::write_report(&[results_dir], &report_dir)?;
    Ok(run.summary)
}

/// Whether a cell still needs running, given its record as last read (if any).
fn needs_run(opts: &RunOptions, r: Option<&Record>) -> bool {
    match r {
        _ if opts.force => true,
        None => true,
        Some(r) => opts.retry_failed && r.status != Status::Ok || r.status == Status::Interrupted,
    }
}

/// The progress bars: cells of the run, steps of the running cell (hidden off a terminal).
struct Bars {
    mp: MultiProgress,
    cells: ProgressBar,
    steps: ProgressBar,
    shown: bool,
}

impl Bars {
    fn new(shown: bool, suite: &str, cells: usize) -> Bars {
        let mp = MultiProgress::with_draw_target(if shown {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let style = |t: &str| ProgressStyle::with_template(t).expect("template").progress_chars("=> ");
        let cells = mp.add(ProgressBar::new(cells as u64));
        cells.set_style(style("{prefix:>6} [{bar:30}] {pos}/{len} cells  {elapsed_precise}"));
        cells.set_prefix(suite.to_string());
        let steps = mp.add(ProgressBar::new(0));
        steps.set_style(style("{prefix:>6} [{bar:30}] {pos}/{len} steps  {msg}"));
        steps.set_prefix("cell");
        Bars { mp, cells, steps, shown }
    }
}

/// A suite's run in progress.
struct Run<'a> {
    suite_ref: SuiteRef,
    results_dir: PathBuf,
    opts: &'a RunOptions,
    bars: Bars,
    summary: RunSummary,
}

impl Run<'_> {
    fn say(&self, line: String) {
        if self.bars.shown {
            self.bars.mp.println(line).ok();
        } else {
            eprintln!("{line}");
        }
    }

    /// Runs one cell unless another runner holds it or has recorded it meanwhile; its status.
    fn cell(&mut self, cell: &suite::Cell) -> Result<Option<Status>> {
        // One runner per cell: take its lock, then look again (another runner may have
        // recorded it since this one read the folder).
        let _lock = match try_lock(&self.results_dir, &cell.id)? {
            Lock::Taken(l) => l,
            Lock::HeldBy(who) => {
                self.say(format!(
                    "busy [{}] {}: running in another runner ({who}); skipped",
                    cell.id, cell.label
                ));
                self.summary.busy += 1;
                self.bars.cells.inc(1);
                return Ok(None);
            }
        };
        let file = record_path(&self.results_dir, &cell.id);
        if file.exists() && !needs_run(self.opts, read_record(&file).ok().as_ref()) {
            self.say(format!("done [{}] {}: recorded meanwhile by another runner", cell.id, cell.label));
            self.summary.skipped += 1;
            self.bars.cells.inc(1);
            return Ok(None);
        }
        let record = self.measure(cell)?;
        if let Err(e) = write_atomic(&file, &record) {
            // The measurement is not lost: it goes to the runner's own output, whole.
            self.say(one_line(&record));
            eprintln!(
                "the record of cell {} could not be written; here it is:\n{}",
                cell.id,
                serde_json::to_string(&record).unwrap_or_default()
            );
            return Err(e.context(format!(
                "free space in (or fix the permissions of) {} and run the suite again: cells already recorded are kept, this one runs again",
                self.results_dir.display()
            )));
        }
        self.say(one_line(&record));
        if record.status != Status::Interrupted {
            self.summary.ran += 1;
            if record.status == Status::Ok {
                self.summary.ok += 1;
            } else {
                self.summary.failed += 1;
            }
            self.bars.cells.inc(1);
        }
        Ok(Some(record.status))
    }

    /// The cell's process, watched, and its record.
    fn measure(&self, cell: &suite::Cell) -> Result<Record> {
        let steps = &self.bars.steps;
        steps.set_length(cell.knobs.steps as u64);
        steps.set_position(0);
        steps.set_message(cell.label.clone());
        let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let log_rel = format!("logs/{}.stderr.log", cell.id);
        let adapter_rel = format!("adapters/{}", cell.id);
        let checkpoint_rel = format!("checkpoints/{}", cell.id);
        // Made before the run, so the prediction cannot lean on the measurement.
        let estimate = super::cell_estimate::estimate_cell(cell);
        let others_at_start = cells_running_here(&self.results_dir).len();
        let job = CellJob {
            cell: cell.clone(),
            adapter_dir: Some(self.results_dir.join(&adapter_rel)),
            checkpoint_dir: Some(self.results_dir.join(&checkpoint_rel)),
            models_dir: Some(self.results_dir.join("engine-models")),
        };
        let outcome = run_child(&self.opts.exe, &job, Some(&self.results_dir.join(&log_rel)), |e| {
            if let Event::Step { step, loss, .. } = e {
                steps.set_position(*step as u64);
                steps.set_message(format!("{}  loss {loss:.4}", cell.label));
            }
        })?;
        let saved = super::record_of::Saved {
            adapter: adapter_rel,
            checkpoint: checkpoint_rel,
        };
        let mut record = record_of(self.suite_ref.clone(), cell, started_at, &outcome, Some(log_rel), Some(saved));
        // The cell's own estimate (at the batches it trains on) when it made one; the runner's
        // (at the most a batch can hold) for a cell that failed before.
        record.estimate = record.estimate.take().or(estimate);
        let concurrent = others_at_start.max(cells_running_here(&self.results_dir).len());
        record.conditions.concurrent_cells = Some(concurrent as u32);
        Ok(record)
    }
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
