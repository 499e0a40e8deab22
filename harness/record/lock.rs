//! One runner per cell: several `ftbench run` processes (shards of a job array, or a user's two
//! terminals) may share a results folder. A runner takes `.locks/ID.lock` with `flock(2)` before
//! it runs a cell and holds it until the record is in place; a runner that finds the lock held
//! skips the cell and says who holds it.
//!
//! Stale locks: the kernel drops an flock when its process dies (SIGKILL included), so a dead
//! runner's lock is free again at once — no timeout to wait out, no pid to guess. The file stays
//! (its content, who last held it, is only for messages). Shared filesystems: NFSv4 and Lustre
//! implement flock across nodes (Linux maps it onto their byte-range locks); a filesystem
//! mounted without locking (`nolock`) would let two runners in, so ftbench also writes records
//! under unique temporary names and renames them into place: a reader never sees a torn record.

use anyhow::{Context, Result};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held cell lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct CellLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// What taking a lock found.
#[derive(Debug)]
pub enum Lock {
    Taken(CellLock),
    /// Another live process holds it; the text says who (`pid 123 on host x since ...`).
    HeldBy(String),
}

/// The lock file of cell `id` under `results_dir`.
pub fn lock_path(results_dir: &Path, id: &str) -> PathBuf {
    results_dir.join(".locks").join(format!("{id}.lock"))
}

/// Tries to take the lock of cell `id` without waiting.
pub fn try_lock(results_dir: &Path, id: &str) -> Result<Lock> {
    let path = lock_path(results_dir, id);
    let dir = path.parent().expect("lock files sit in .locks");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock {}", path.display()))?;
    // std's file locking is flock(2) on Linux: released by the kernel when the process dies.
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Ok(Lock::HeldBy(if holder.is_empty() {
                "another runner".into()
            } else {
                holder.to_string()
            }));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
    let who = format!(
        "pid {} on host {} since {}",
        std::process::id(),
        hostname(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    );
    file.set_len(0).ok();
    file.rewind().ok();
    file.write_all(who.as_bytes()).ok();
    Ok(Lock::Taken(CellLock { _file: file, path }))
}

/// Other cells of `results_dir` running on this host now, by id: the locks the kernel lists in
/// /proc/locks as held (by a pid other than this one) on the folder's lock files. Read-only:
/// nothing is locked to find out. Runners on other hosts (a shared filesystem) are not seen;
/// they do not share this machine's cores either.
pub fn cells_running_here(results_dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    let held: Vec<u64> = locks
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"
            (f.len() >= 6 && f[1] == "FLOCK" && f[4] != me).then(|| f[5].rsplit(':').next()?.parse().ok())?
        })
        .collect();
    let Ok(entries) = std::fs::read_dir(results_dir.join(".locks")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let ino = e.metadata().ok()?.ino();
            let name = e.file_name().to_string_lossy().strip_suffix(".lock")?.to_string();
            held.contains(&ino).then_some(name)
        })
        .collect()
}

/// This machine's host name (for lock messages).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
