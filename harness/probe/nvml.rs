//! The device's view of GPU memory: NVML's "used" bytes for a whole GPU (every process, the CUDA
//! context, cuBLAS workspaces and the pool's reserve), sampled by the runner (the parent, which
//! never touches CUDA itself) while a cell's child runs on that GPU. nvml-wrapper dlopens
//! libnvidia-ml.so.1 at run time: on a machine without a GPU the sampler reports why it has no
//! numbers instead of failing the cell.

use nvml_wrapper::Nvml;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the sampler reads NVML (the peak is the max over these readings).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);
/// Spacing of the kept time series (the record keeps one point per interval, its max).
pub const SERIES_EVERY: Duration = Duration::from_millis(250);

/// What the sampler saw over one cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NvmlTrace {
    /// The GPU (NVML's name), when NVML answered.
    pub gpu: Option<String>,
    /// Device used before the child started (other processes, the driver).
    pub before_bytes: Option<u64>,
    /// The largest reading while the child ran.
    pub peak_bytes: Option<u64>,
    /// Readings at the child's events, by label (`load`, `first_step`).
    pub at: Vec<(String, u64)>,
    /// (seconds since the child started, largest reading in that interval).
    pub series: Vec<(f64, u64)>,
    pub samples: u64,
    /// Why there are no numbers (no NVML library, no such GPU).
    pub error: Option<String>,
}

struct Shared {
    stop: AtomicBool,
    now: AtomicU64,
    peak: AtomicU64,
    samples: AtomicU64,
    series: Mutex<Vec<(f64, u64)>>,
}

/// A thread sampling one GPU's used memory until [`Sampler::finish`].
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    trace: NvmlTrace,
}

impl Sampler {
    /// Starts sampling GPU `index`; with no NVML or no such GPU the trace says so.
    pub fn start(index: usize) -> Sampler {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            now: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            series: Mutex::new(Vec::new()),
        });
        let mut trace = NvmlTrace::default();
        // One reading here, synchronously: the baseline, the GPU's name, or the reason.
        match read_once(index) {
            Ok((name, used)) => {
                trace.gpu = Some(name);
                trace.before_bytes = Some(used);
            }
            Err(e) => {
                trace.error = Some(e);
                return Sampler {
                    shared,
                    thread: None,
                    trace,
                };
            }
        }
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("nvml-sampler".into())
            .spawn(move || sample_loop(index, &s))
            .ok();
        Sampler { shared, thread, trace }
    }

    /// Notes the current reading under `label` (the runner calls it at the child's events).
    pub fn mark(&mut self, label: &str) {
        if self.trace.error.is_none() && self.shared.samples.load(Ordering::Relaxed) > 0 {
            self.trace.at.push((label.to_string(), self.shared.now.load(Ordering::Relaxed)));
        }
    }

    /// Stops the thread and returns what it saw.
    pub fn finish(mut self) -> NvmlTrace {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let samples = self.shared.samples.load(Ordering::Relaxed);
        self.trace.samples = samples;
        if samples > 0 {
            self.trace.peak_bytes = Some(self.shared.peak.load(Ordering::Relaxed));
        }
        self.trace.series = std::mem::take(&mut *self.shared.series.lock().unwrap_or_else(|e| e.into_inner()));
        self.trace
    }
}

fn read_once(index: usize) -> Result<(String, u64), String> {
    let nvml = Nvml::init().map_err(|e| format!("NVML unavailable ({e})"))?;
    let d = nvml
        .device_by_index(index as u32)
        .map_err(|e| format!("NVML has no GPU {index} ({e})"))?;
    let name = d.name().unwrap_or_else(|_| format!("GPU {index}"));
    let used = d.memory_info().map_err(|e| format!("NVML memory_info ({e})"))?.used;
    Ok((name, used))
}

fn sample_loop(index: usize, s: &Shared) {
    // The device handle borrows the Nvml handle: both live in this thread.
    let Ok(nvml) = Nvml::init() else { return };
    let Ok(d) = nvml.device_by_index(index as u32) else { return };
    let start = Instant::now();
    let (mut bucket_end, mut bucket_max) = (SERIES_EVERY, 0u64);
    while !s.stop.load(Ordering::Relaxed) {
        if let Ok(m) = d.memory_info() {
            s.now.store(m.used, Ordering::Relaxed);
            s.peak.fetch_max(m.used, Ordering::Relaxed);
            s.samples.fetch_add(1, Ordering::Relaxed);
            bucket_max = bucket_max.max(m.used);
        }
        let t = start.elapsed();
        if t >= bucket_end {
            if let Ok(mut v) = s.series.lock() {
                v.push((bucket_end.as_secs_f64(), bucket_max));
            }
            bucket_end += SERIES_EVERY;
            bucket_max = 0;
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// NVML's name of GPU `index` (None without NVML or that GPU).
pub fn gpu_name(index: usize) -> Option<String> {
    read_once(index).ok().map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_gpu_the_trace_says_why_and_holds_no_numbers() {
        if gpu_name(0).is_some() {
            return; // this machine has a GPU: the error path is not reachable here
        }
        let mut s = Sampler::start(0);
        s.mark("load");
        let t = s.finish();
        assert!(t.error.as_deref().is_some_and(|e| e.contains("NVML")), "{t:?}");
        assert_eq!((t.peak_bytes, t.samples, t.at.len()), (None, 0, 0));
    }
}
