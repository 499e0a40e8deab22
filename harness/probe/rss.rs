//! Resident set size of this process, from procfs (Linux). A cell reports its own peak (VmHWM,
//! the high-water mark of its memory map, which starts at its exec); the runner's wait4 rusage
//! is the fallback for a cell that died before reporting — it survives the death, but Linux
//! carries the parent's RSS at the fork into it (exec keeps the old map's peak in the process's
//! maxrss), so it overstates a small cell by the runner's own size.

/// Current resident set size (VmRSS), in bytes; `None` where procfs is absent.
pub fn current_rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size so far (VmHWM, the high-water mark), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_grows_with_a_touched_allocation() {
        let before = super::current_rss_bytes().expect("procfs");
        // black_box: an optimised build may otherwise never write the allocation.
        let v = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = super::current_rss_bytes().unwrap();
        assert!(after >= before + (60 << 20), "{before} -> {after}");
        assert!(super::peak_rss_bytes().unwrap() >= after);
        drop(v);
    }
}
