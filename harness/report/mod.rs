//! Reports: records → a per-cell table and a per-configuration summary over seeds, written as
//! CSV and one self-contained HTML page.

mod html;
mod rows;

pub use rows::{group_rows, Group, Row};

use crate::record::load_dir;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The files a report wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    pub cells_csv: PathBuf,
    pub groups_csv: PathBuf,
    pub html: PathBuf,
    pub records: usize,
    pub problems: usize,
}

/// Reads the records of every folder in `dirs` and writes cells.csv, summary.csv and
/// index.html into `out`.
pub fn write_report(dirs: &[PathBuf], out: &Path) -> Result<ReportFiles> {
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for d in dirs {
        let (r, p) = load_dir(d)?;
        records.extend(r);
        problems.extend(p);
    }
    for p in &problems {
        eprintln!("warning: {}: skipped: {}", p.file.display(), p.message);
    }
    records.sort_by(|a, b| {
        (&a.suite.name, &a.cell.model, a.cell.method, &a.cell.label).cmp(&(&b.suite.name, &b.cell.model, b.cell.method, &b.cell.label))
    });
    let rows: Vec<Row> = records.iter().map(Row::from_record).collect();
    let groups = group_rows(&records);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create report folder {}", out.display()))?;
    let cells_csv = out.join("cells.csv");
    let groups_csv = out.join("summary.csv");
    write_csv(&cells_csv, &rows)?;
    write_csv(&groups_csv, &groups)?;
    let html = out.join("index.html");
    let page = html::render(&records, &rows, &groups, &problems)?;
    write_file(&html, page.as_bytes())?;
    Ok(ReportFiles {
        cells_csv,
        groups_csv,
        html,
        records: records.len(),
        problems: problems.len(),
    })
}

fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .with_context(|| format!("cannot serialize a row of {}", path.display()))?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    write_file(path, &bytes)
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
