//! Writing records atomically and reading a results folder back.

use super::schema::{Record, RECORD_SCHEMA_VERSION};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The record file of cell `id` in `dir`.
pub fn record_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Writes `record` to `path` so that a reader sees the old file or the whole new one, never a
/// part (`crate::atomic`).
pub fn write_atomic(path: &Path, record: &Record) -> Result<()> {
    crate::atomic::write_json(path, record).with_context(|| format!("record {}", path.display()))
}

/// A file in a results folder that could not be used as a record.
#[derive(Debug, Clone)]
pub struct LoadProblem {
    pub file: PathBuf,
    pub message: String,
}

/// Reads every `*.json` record in `dir` (sorted by file name). Files that are not records of a
/// schema this ftbench reads are returned as problems, not silently dropped.
pub fn load_dir(dir: &Path) -> Result<(Vec<Record>, Vec<LoadProblem>)> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read results folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    for file in files {
        match read_one(&file) {
            Ok(r) => records.push(r),
            Err(message) => problems.push(LoadProblem { file, message }),
        }
    }
    Ok((records, problems))
}

/// Reads one record file; the error says why it is not a usable record (missing, truncated,
/// another schema).
pub fn read_record(file: &Path) -> Result<Record, String> {
    read_one(file)
}

fn read_one(file: &Path) -> Result<Record, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == RECORD_SCHEMA_VERSION as u64 => {}
        Some(v) => return Err(format!("record schema v{v}; this ftbench reads v{RECORD_SCHEMA_VERSION}")),
        None => return Err("no `schema_version`: not an ftbench record".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("not a valid v{RECORD_SCHEMA_VERSION} record: {e}"))
}
