//! Reports: records of one or more result folders → a per-cell table and per-configuration
//! statistics over seeds (polars), the article's table as "published | estimated | measured
//! here", SVG charts (plotters), CSV, and one self-contained HTML page. `compare` diffs two
//! result sets.

mod accuracy;
mod answers;
mod article;
mod charts;
mod claims;
mod compare;
mod conditions;
mod engines;
mod frame;
mod gpu;
mod html;
mod results_view;
mod rows;
mod serving;
mod stats;
mod verdict;

pub use accuracy::{accuracy_rows, paired_delta, AccuracyRow, Delta};
pub use charts::{Chart, GPU_CAPACITIES_GB};
pub use compare::{compare, Change, Comparison, LOSS_NOISE, MEMORY_NOISE};
pub use frame::{GroupStats, Stat, METRICS, STATS};
pub use gpu::{gpu_rows, GpuRow};
pub use rows::Row;
pub use stats::{mean_ci95, t_quantile, welch_ci95, Difference};

use crate::record::{load_dir, LoadProblem, Record};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files a report wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub cells_csv: PathBuf,
    pub groups_csv: PathBuf,
    pub article_csv: PathBuf,
    /// One row per configuration and evaluated task: score, base, deltas with intervals.
    pub accuracy_csv: PathBuf,
    pub charts: Vec<PathBuf>,
    pub html: PathBuf,
    pub records: usize,
    pub problems: usize,
    /// Records left out because a newer record of the same cell was in another folder.
    pub duplicates: usize,
}

/// What merging several result folders found.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Sorted by model, method, configuration, seed.
    pub records: Vec<Record>,
    /// Files that could not be read as records.
    pub problems: Vec<LoadProblem>,
    /// Records left out because a newer record of the same cell was in another folder.
    pub duplicates: usize,
    /// Duplicates that disagree (status, or the losses of a deterministic run), described.
    pub conflicts: Vec<String>,
}

/// Whether two records of one cell say different things: another status, or (both ok)
/// another training or held-out loss (a cell's run is deterministic given its seed; timings
/// and memory vary and do not count).
fn disagree(a: &Record, b: &Record) -> bool {
    let loss = |r: &Record| (r.final_train_loss, r.eval.as_ref().map(|e| e.loss));
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    };
    a.status != b.status || !(close(loss(a).0, loss(b).0) && close(loss(a).1, loss(b).1))
}

fn said(r: &Record) -> String {
    match (&r.status, r.eval.as_ref()) {
        (crate::record::Status::Ok, Some(e)) => format!("ok, held-out loss {:.6}", e.loss),
        (s, _) => format!("{} ({})", s.as_str(), r.reason.as_deref().unwrap_or("no reason")),
    }
}

/// Reads every folder's records; a cell recorded in several folders keeps its newest record,
/// and records that disagree are listed.
pub fn load_records(dirs: &[PathBuf]) -> Result<Loaded> {
    let mut by_id: BTreeMap<String, (Record, PathBuf)> = BTreeMap::new();
    let mut out = Loaded::default();
    for d in dirs {
        let (records, p) = load_dir(d)?;
        out.problems.extend(p);
        for r in records {
            match by_id.get(&r.cell.id) {
                Some((old, old_dir)) => {
                    out.duplicates += 1;
                    let newer = r.started_at > old.started_at;
                    if disagree(old, &r) {
                        let kept = if newer { d } else { old_dir };
                        out.conflicts.push(format!(
                            "cell {} ({}): {} says {}; {} says {}; kept {} (newer)",
                            r.cell.id,
                            r.cell.label,
                            old_dir.display(),
                            said(old),
                            d.display(),
                            said(&r),
                            kept.display()
                        ));
                    }
                    if newer {
                        by_id.insert(r.cell.id.clone(), (r, d.clone()));
                    }
                }
                None => {
                    by_id.insert(r.cell.id.clone(), (r, d.clone()));
                }
            }
        }
    }
    let mut records: Vec<Record> = by_id.into_values().map(|(r, _)| r).collect();
    records.sort_by(|a, b| {
        (&a.cell.model, a.cell.method, &a.cell.hardware, &a.cell.label, a.cell.seed).cmp(&(
            &b.cell.model,
            b.cell.method,
            &b.cell.hardware,
            &b.cell.label,
            b.cell.seed,
        ))
    });
    out.records = records;
    Ok(out)
}

/// For each suite the records come from whose file can be read here: its cells that have no
/// record in these folders (what a shard that never ran, or a cell still running, leaves out).
pub fn missing_cells(records: &[Record]) -> Vec<String> {
    let mut suites: Vec<(&str, &str)> = records.iter().map(|r| (r.suite.name.as_str(), r.suite.file.as_str())).collect();
    suites.sort();
    suites.dedup();
    let mut out = Vec::new();
    for (name, file) in suites {
        let Ok((s, cells)) = crate::suite::load(Path::new(file)) else {
            continue;
        };
        if s.name != name {
            continue;
        }
        let missing: Vec<&crate::suite::Cell> = cells.iter().filter(|c| !records.iter().any(|r| r.cell.id == c.id)).collect();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(|c| format!("{} ({})", c.id, c.label)).collect();
            out.push(format!(
                "suite `{name}` ({file}): {} of {} cells have no record here: {}{}",
                missing.len(),
                cells.len(),
                shown.join("; "),
                if missing.len() > 10 { "; …" } else { "" }
            ));
        }
    }
    out
}

/// Tells on stderr which files were skipped, which cells were recorded twice (and disagree), and
/// which cells of the records' suites have no record.
fn say_what_was_left_out(problems: &[LoadProblem], duplicates: usize, conflicts: &[String], missing: &[String]) {
    for p in problems {
        eprintln!("warning: {}: skipped: {}", p.file.display(), p.message);
    }
    if duplicates > 0 {
        eprintln!("note: {duplicates} cells were recorded in more than one folder: the newest record of each is used");
    }
    for c in conflicts {
        eprintln!("warning: conflicting records: {c}");
    }
    for m in missing {
        eprintln!("note: {m}");
    }
}

/// Reads the records of every folder in `dirs` and writes into `out`: cells.csv (one row per
/// cell), summary.csv (one row per configuration, statistics over seeds), article.csv (the
/// article's table), one SVG per chart, and index.html (self-contained: inline CSS and SVG).
pub fn write_report(dirs: &[PathBuf], out: &Path) -> Result<ReportFiles> {
    let Loaded {
        records,
        problems,
        duplicates,
        conflicts,
    } = load_records(dirs)?;
    let missing = missing_cells(&records);
    say_what_was_left_out(&problems, duplicates, &conflicts, &missing);
    let configs = rows::config_labels(&records);
    let accuracy_rows = accuracy::accuracy_rows(&records, &configs);
    let answers = answers::answer_tables(&records, &configs);
    let rows: Vec<Row> = records.iter().zip(configs).map(|(r, c)| Row::from_record(r, c)).collect();
    let mut cells = frame::cells_frame(&rows)?;
    let mut summary = frame::aggregate(&cells)?;
    let article_methods = article::methods(records.iter().map(|r| r.cell.method));
    let mut article = article::table(&cells, &accuracy_rows, &article_methods)?;
    let groups = frame::group_stats(&summary)?;
    let serving_rows = serving::serving_rows(&records, &rows);
    let charts = charts::all(&groups, &records, &rows, &accuracy_rows, &serving_rows)?;
    let verdicts = verdict::verdicts(
        &accuracy_rows,
        &groups,
        &rows,
        &records,
        &serving::best_form_by_config(&serving_rows),
    );
    let claims = claims::claims(&accuracy_rows, &groups, &rows);

    std::fs::create_dir_all(out).with_context(|| format!("cannot create report folder {}", out.display()))?;
    let cells_csv = out.join("cells.csv");
    let groups_csv = out.join("summary.csv");
    let article_csv = out.join("article.csv");
    frame::write_csv(&mut cells, &cells_csv)?;
    frame::write_csv(&mut summary, &groups_csv)?;
    frame::write_csv(&mut article, &article_csv)?;
    let accuracy_csv = out.join("accuracy.csv");
    accuracy::write_csv(&accuracy_rows, &accuracy_csv)?;
    let gpu_rows = gpu::gpu_rows(&records)?;
    let engine_rows = engines::engine_rows(&rows);
    write_section_csvs(out, &gpu_rows, &engine_rows, &serving_rows)?;
    let chart_files = write_charts(out, &charts)?;
    let html = out.join("index.html");
    let page = html::render(&html::Inputs {
        records: &records,
        rows: &rows,
        groups: &groups,
        article: &article,
        article_methods: &article_methods,
        charts: &charts,
        problems: &problems,
        sources: dirs,
        duplicates,
        conflicts: &conflicts,
        missing: &missing,
        accuracy: &accuracy_rows,
        gpu: &gpu_rows,
        engines: &engine_rows,
        serving: &serving_rows,
        verdicts: &verdicts,
        claims: &claims,
        answers: &answers,
    })?;
    write_file(&html, page.as_bytes())?;
    Ok(ReportFiles {
        cells_csv,
        groups_csv,
        article_csv,
        accuracy_csv,
        charts: chart_files,
        html,
        records: records.len(),
        problems: problems.len(),
        duplicates,
    })
}

/// The CSVs of the sections a report has only when its records call for them: GPU cells,
/// configurations on both engines, serving forms.
fn write_section_csvs(
    out: &Path,
    gpu_rows: &[gpu::GpuRow],
    engine_rows: &[engines::EngineRow],
    serving_rows: &[serving::ServingRow],
) -> Result<()> {
    if !gpu_rows.is_empty() {
        gpu::write_csv(gpu_rows, &out.join("gpu.csv"))?;
    }
    if !engine_rows.is_empty() {
        engines::write_csv(engine_rows, &out.join("engines.csv"))?;
    }
    if !serving_rows.is_empty() {
        serving::write_csv(serving_rows, &out.join("serving.csv"))?;
    }
    Ok(())
}

/// Every chart as its SVG file, and no stale chart beside them.
fn write_charts(out: &Path, charts: &[Chart]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for c in charts {
        let path = out.join(&c.file);
        write_file(&path, c.svg.as_bytes())?;
        files.push(path);
    }
    remove_stale_charts(out, &files)?;
    Ok(files)
}

/// Removes the numbered charts an earlier report left in `out` that this one did not write (a
/// report over fewer tasks or models, or of an older layout: `pareto.svg`), so that the folder
/// holds one report, not two mixed.
fn remove_stale_charts(out: &Path, written: &[PathBuf]) -> Result<()> {
    let ours = |name: &str| {
        let stem = name.strip_suffix(".svg").unwrap_or("");
        let (kind, n) = stem.split_once('-').unwrap_or((stem, "1"));
        name.ends_with(".svg") && ["forest", "pareto", "loss", "eval", "serving"].contains(&kind) && n.chars().all(|c| c.is_ascii_digit())
    };
    for e in std::fs::read_dir(out).with_context(|| format!("cannot read report folder {}", out.display()))? {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if ours(name) && !written.contains(&path) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove the stale chart {}", path.display()))?;
        }
    }
    Ok(())
}

/// Report files go through the one atomic write (`crate::atomic`): runners sharing a results
/// folder may write the same report at once, each file whole.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, bytes)
}
