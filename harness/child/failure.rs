//! How a cell's process reports its own failure as a typed event (`Event::Failed`) instead of
//! leaving the parent to read its stderr: an error returned by the cell (bad input or internal,
//! `Failure::of_error`), a panic (the panic hook), and an allocation that fails (the global
//! allocator, which writes the event with one `write(2)` — nothing may allocate then — before
//! Rust's handler aborts the process).

use crate::record::{Failure, FailureKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the cell's process only: other commands print no events.
static REPORTING: AtomicBool = AtomicBool::new(false);
/// One out-of-memory event per process.
static OOM_REPORTED: AtomicBool = AtomicBool::new(false);

/// The system allocator, reporting a failed allocation as an out-of-memory event when
/// [`report_failures`] is on. The binary installs it as its global allocator.
pub struct ReportingAlloc;

unsafe impl GlobalAlloc for ReportingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The out-of-memory event line for a failed allocation of `bytes`, written into `buf` without
/// allocating; returns its length. A leading newline ends any half-written line on stdout.
pub fn oom_line(bytes: usize, buf: &mut [u8; 160]) -> usize {
    let mut n = 0;
    let mut put = |s: &[u8], n: &mut usize| {
        buf[*n..*n + s.len()].copy_from_slice(s);
        *n += s.len();
    };
    put(
        b"\n{\"event\":\"failed\",\"kind\":\"out_of_memory\",\"message\":\"memory allocation of ",
        &mut n,
    );
    let mut digits = [0u8; 20];
    let (mut v, mut d) = (bytes, 0);
    loop {
        digits[19 - d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[20 - d..], &mut n);
    put(b" bytes failed\"}\n", &mut n);
    n
}

fn out_of_memory(bytes: usize) {
    if !REPORTING.load(Ordering::Relaxed) || OOM_REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut buf = [0u8; 160];
    let n = oom_line(bytes, &mut buf);
    // SAFETY: a plain write of an initialised buffer to stdout.
    unsafe { libc::write(1, buf.as_ptr().cast(), n) };
}

/// Turns on failure events for this process (the cell's child): allocation failures as above,
/// and panics through a hook that writes the event (with `write(2)`, so a panic on a thread
/// other than the one holding stdout's lock cannot deadlock) before the default message.
pub fn report_failures() {
    REPORTING.store(true, Ordering::Relaxed);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let f = Failure {
            kind: FailureKind::Internal,
            message: format!("panic: {info}"),
            file: None,
            key: None,
        };
        write_line(&super::events::Event::Failed(f).to_line());
        default(info);
    }));
}

/// Writes one event line straight to stdout (fd 1), bypassing its lock and buffer.
pub fn write_line(line: &str) {
    let text = format!("\n{line}\n");
    // SAFETY: a plain write of an initialised buffer to stdout.
    unsafe { libc::write(1, text.as_ptr().cast(), text.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_line_is_a_failed_event() {
        let mut buf = [0u8; 160];
        for bytes in [0, 7, 8_589_934_592, usize::MAX] {
            let n = oom_line(bytes, &mut buf);
            let line = std::str::from_utf8(&buf[..n]).unwrap().trim();
            let e: super::super::events::Event = serde_json::from_str(line).unwrap();
            assert_eq!(
                e,
                super::super::events::Event::Failed(Failure {
                    kind: FailureKind::OutOfMemory,
                    message: format!("memory allocation of {bytes} bytes failed"),
                    file: None,
                    key: None,
                })
            );
        }
    }
}
