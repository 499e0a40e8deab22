//! The allocator settings a cell trains under (stored in every record's environment).
//!
//! glibc malloc serves every block above its mmap threshold (128 KiB, adapting up to 32 MiB)
//! with a fresh `mmap` and hands it back with `munmap` on free. A training step allocates and
//! frees the same large buffers every step (activations, gradients, the 113 MB gradient of
//! SmolLM2's embedding), so every step paid for fresh pages: page faults, zeroing, and TLB
//! shootdowns between the compute threads — perf put about a quarter of a full fine-tuning
//! step in the kernel. Keeping freed blocks in the heap for reuse (mmap threshold 1 GiB, trim
//! threshold 2 GiB) took the step from 2.9 s to 2.1-2.2 s (criterion `train_step`, full,
//! fused, two alternating runs each). The cost: memory freed after the peak stays with the
//! process; the peak itself is what the records report, and it is measured with this setting.

/// Applies the setting to this process; returns what was set ("" where it does not apply).
pub fn keep_freed_memory() -> String {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 1 << 30;
        const TRIM_THRESHOLD: libc::c_int = libc::c_int::MAX;
        // SAFETY: mallopt only changes glibc's thresholds; it is called before the compute starts.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        if ok {
            return "glibc malloc: mmap_threshold=1GiB trim_threshold=2GiB".into();
        }
    }
    String::new()
}
