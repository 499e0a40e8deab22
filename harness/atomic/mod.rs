//! The one way ftbench writes a file (records, reports and their CSVs and charts, adapters,
//! exported models, launch scripts): the bytes go to a temporary file beside the target under a
//! name no other writer uses (process, time, count), are synced, then renamed over the target. A
//! reader sees the old file or the whole new one, never a part; two runners writing the same
//! report at once each leave a whole file (the last rename wins); a full disk leaves nothing
//! behind. (Streams that are logs by nature — a cell's stderr — are appended as they come.)

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary name beside `path` that no other writer uses.
fn temporary(path: &Path) -> PathBuf {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    path.with_file_name(format!(
        ".{}.{}.{nanos}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// Writes what `fill` writes to `path`, atomically (see the module's doc). The folder is created.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let tmp = temporary(path);
    let write = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        fill(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {} (nothing was replaced)", path.display()));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot move {} into place (nothing was replaced)", path.display()));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path`, atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// Writes `value` as pretty JSON (and a newline), atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")
    })
}

/// Writes `rows` as CSV with a header from their fields (`#[derive(Serialize)]` structs),
/// atomically. No rows: an empty file.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).with_context(|| format!("{}: cannot write a row", path.display()))?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    write(path, &bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile_dir();
        let p = dir.join("sub/x.json");
        super::write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        super::write(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the file itself");
        // A write that fails (the target is a folder) replaces nothing and leaves nothing.
        std::fs::create_dir_all(dir.join("d")).unwrap();
        assert!(super::write(&dir.join("d"), b"x").is_err());
        assert!(std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ftbench-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
