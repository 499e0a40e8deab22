//! Reports: records of one or more result folders → a per-cell table and per-configuration
//! statistics over seeds (polars), the article's table as "published | estimated | measured
//! here", SVG charts (plotters), CSV, and one self-contained HTML page. `compare` diffs two
//! result sets.

mod accuracy;
mod article;
mod charts;
mod compare;
mod frame;
mod html;
mod results_view;
mod rows;
mod stats;

pub use accuracy::{accuracy_rows, paired_delta, AccuracyRow, Delta};
pub use charts::{Chart, GPU_CAPACITIES_GB};
pub use compare::{compare, Change, Comparison, LOSS_NOISE, MEMORY_NOISE};
pub use frame::{GroupStats, Stat, METRICS, STATS};
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

/// Reads every folder's records; a cell recorded in several folders keeps its newest record.
/// Returns the records (sorted by model, method, configuration, seed), the files that could not
/// be read as records, and how many duplicates were dropped.
pub fn load_records(dirs: &[PathBuf]) -> Result<(Vec<Record>, Vec<LoadProblem>, usize)> {
    let mut by_id: BTreeMap<String, Record> = BTreeMap::new();
    let (mut problems, mut duplicates) = (Vec::new(), 0);
    for d in dirs {
        let (records, p) = load_dir(d)?;
        problems.extend(p);
        for r in records {
            match by_id.get(&r.cell.id) {
                Some(old) => {
                    duplicates += 1;
                    if r.started_at > old.started_at {
                        by_id.insert(r.cell.id.clone(), r);
                    }
                }
                None => {
                    by_id.insert(r.cell.id.clone(), r);
                }
            }
        }
    }
    let mut records: Vec<Record> = by_id.into_values().collect();
    records.sort_by(|a, b| {
        (&a.cell.model, a.cell.method, &a.cell.hardware, &a.cell.label, a.cell.seed).cmp(&(
            &b.cell.model,
            b.cell.method,
            &b.cell.hardware,
            &b.cell.label,
            b.cell.seed,
        ))
    });
    Ok((records, problems, duplicates))
}

/// Reads the records of every folder in `dirs` and writes into `out`: cells.csv (one row per
/// cell), summary.csv (one row per configuration, statistics over seeds), article.csv (the
/// article's table), one SVG per chart, and index.html (self-contained: inline CSS and SVG).
pub fn write_report(dirs: &[PathBuf], out: &Path) -> Result<ReportFiles> {
    let (records, problems, duplicates) = load_records(dirs)?;
    for p in &problems {
        eprintln!("warning: {}: skipped: {}", p.file.display(), p.message);
    }
    if duplicates > 0 {
        eprintln!("note: {duplicates} cells were recorded in more than one folder: the newest record of each is used");
    }
    let configs = rows::config_labels(&records);
    let accuracy_rows = accuracy::accuracy_rows(&records, &configs);
    let rows: Vec<Row> = records.iter().zip(configs).map(|(r, c)| Row::from_record(r, c)).collect();
    let mut cells = frame::cells_frame(&rows)?;
    let mut summary = frame::aggregate(&cells)?;
    let article_methods = article::methods(records.iter().map(|r| r.cell.method));
    let mut article = article::table(&cells, &accuracy_rows, &article_methods)?;
    let groups = frame::group_stats(&summary)?;
    let charts = charts::all(&groups, &records, &rows)?;

    std::fs::create_dir_all(out).with_context(|| format!("cannot create report folder {}", out.display()))?;
    let cells_csv = out.join("cells.csv");
    let groups_csv = out.join("summary.csv");
    let article_csv = out.join("article.csv");
    frame::write_csv(&mut cells, &cells_csv)?;
    frame::write_csv(&mut summary, &groups_csv)?;
    frame::write_csv(&mut article, &article_csv)?;
    let accuracy_csv = out.join("accuracy.csv");
    accuracy::write_csv(&accuracy_rows, &accuracy_csv)?;
    let mut chart_files = Vec::new();
    for c in &charts {
        let path = out.join(&c.file);
        write_file(&path, c.svg.as_bytes())?;
        chart_files.push(path);
    }
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
        accuracy: &accuracy_rows,
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

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
