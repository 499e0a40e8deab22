//! Spawning a cell's process and watching it: events as they arrive, a wall-clock limit,
//! and the exit status and peak RSS from wait4 (which a crashed or killed child still has).

use crate::child::{CellJob, Event};
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How the child process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
    /// Killed by the runner at the cell's `timeout_s`.
    TimedOut,
    /// The runner was interrupted (SIGINT or SIGTERM) and stopped the child.
    Interrupted,
}

/// Set by the runner's SIGINT/SIGTERM handler ([`stop_on_interrupt`]).
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM stop the running cell (recorded as interrupted) and the suite,
/// instead of killing the runner with the cell's work unrecorded.
pub fn stop_on_interrupt() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
}

/// Whether the runner has been asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// The kernel's count of OOM kills so far (`oom_kill` in /proc/vmstat, Linux ≥ 4.13).
pub fn oom_kills() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/vmstat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

#[derive(Debug, Clone)]
pub struct ChildOutcome {
    pub events: Vec<Event>,
    pub exit: ChildExit,
    /// Peak RSS of the child (ru_maxrss), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The last lines the child wrote to stderr.
    pub stderr_tail: Vec<String>,
    /// stdout lines that were not events (kept for the reason of a failure).
    pub stray_stdout: Vec<String>,
    pub wall_s: f64,
    /// OOM kills the kernel counted while the cell ran (None: its count is not readable).
    pub oom_kills: Option<u64>,
    /// NVML's view of the cell's GPU while it ran (cells on `cuda:N` only).
    pub nvml: Option<crate::probe::NvmlTrace>,
}

const TAIL_LINES: usize = 40;

pub use crate::probe::{PARK_AT_ONCE, THREAD_COUNT_VARS};

/// Runs `exe cell` for `cell`, calling `on_event` for each event as it arrives. The child's
/// whole stderr is copied to `log` when given.
pub fn run_child(exe: &Path, job: &CellJob, log: Option<&Path>, mut on_event: impl FnMut(&Event)) -> Result<ChildOutcome> {
    // A cell whose plan cannot be made still runs: its process reports why, as a failure.
    let plan = job.cell.plan().ok();
    let threads = plan.as_ref().map_or(0, |p| p.threads);
    let timeout_s = plan.as_ref().map_or(job.cell.knobs.timeout_s, |p| p.timeout_s);
    let kills_before = oom_kills();
    // The device's view of a GPU cell, sampled from here: this process never touches CUDA.
    let mut nvml = match plan.as_ref().map(|p| p.device) {
        Some(crate::model::DeviceSpec::Cuda(n)) => Some(crate::probe::NvmlSampler::start(n)),
        _ => None,
    };
    let start = Instant::now();
    let mut child = command(exe, threads)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let pid = child.id() as libc::pid_t;
    {
        let mut stdin = child.stdin.take().expect("piped");
        // A child that dies at once closes its stdin: that shows up in its exit status below.
        let _ = stdin.write_all(serde_json::to_string(job)?.as_bytes());
    }
    let (rx, out_thread) = read_events(child.stdout.take().expect("piped"));
    let err_thread = read_stderr(child.stderr.take().expect("piped"), log)?;
    let deadline = start + Duration::from_secs(timeout_s as u64);
    let (mut events, mut stray) = (Vec::new(), Vec::new());
    let mut handle = |msg: Result<Event, String>, events: &mut Vec<Event>, stray: &mut Vec<String>| match msg {
        Ok(e) => {
            if let Some(s) = nvml.as_mut() {
                match &e {
                    Event::Loaded { .. } => s.mark("load"),
                    Event::Step { step: 1, .. } => s.mark("first_step"),
                    _ => {}
                }
            }
            on_event(&e);
            events.push(e);
        }
        Err(line) => stray.push(line),
    };
    let (mut timed_out, mut stopped) = (false, false);
    let (status, rusage) = loop {
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(50)) {
            handle(msg, &mut events, &mut stray);
        }
        if let Some(done) = wait4(pid, false)? {
            break done;
        }
        (timed_out, stopped) = (Instant::now() >= deadline, interrupted());
        if timed_out || stopped {
            // SAFETY: plain syscall on the child's pid, which is not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break wait4(pid, true)?.expect("blocking wait4 returns the child");
        }
    };
    let _ = out_thread.join();
    for msg in rx.try_iter() {
        handle(msg, &mut events, &mut stray);
    }
    let stderr_tail = err_thread.join().unwrap_or_default();
    // A terminal's Ctrl-C reaches the child too (one process group): interrupted either way.
    let exit = if stopped || interrupted() {
        ChildExit::Interrupted
    } else if timed_out {
        ChildExit::TimedOut
    } else if libc::WIFSIGNALED(status) {
        ChildExit::Signal(libc::WTERMSIG(status))
    } else {
        ChildExit::Code(libc::WEXITSTATUS(status))
    };
    Ok(ChildOutcome {
        events,
        exit,
        peak_rss_bytes: (rusage.ru_maxrss > 0).then(|| rusage.ru_maxrss as u64 * 1024),
        stderr_tail,
        stray_stdout: stray,
        wall_s: start.elapsed().as_secs_f64(),
        oom_kills: oom_kills().zip(kills_before).map(|(a, b)| a.saturating_sub(b)),
        nvml: nvml.map(crate::probe::NvmlSampler::finish),
    })
}

/// `exe cell`, piped, with the thread settings of the cell.
fn command(exe: &Path, threads: u32) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("cell").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (var, value) in PARK_AT_ONCE {
        if std::env::var_os(var).is_none() {
            cmd.env(var, value);
        }
    }
    if threads > 0 {
        // One thread count for every pool, so they don't oversubscribe the cores.
        for var in THREAD_COUNT_VARS {
            cmd.env(var, threads.to_string());
        }
    }
    cmd
}

type Lines = mpsc::Receiver<Result<Event, String>>;

/// The child's stdout, line by line: its events, or the line itself when it is not one.
fn read_events(stdout: std::process::ChildStdout) -> (Lines, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Result<Event, String>>();
    let t = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<Event>(&line).map_err(|_| line);
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    (rx, t)
}

/// The child's stderr: copied whole to `log` (a log, appended as it comes), its last lines kept.
fn read_stderr(stderr: std::process::ChildStderr, log: Option<&Path>) -> Result<std::thread::JoinHandle<Vec<String>>> {
    let mut log_file = match log {
        Some(p) => {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            }
            Some(std::fs::File::create(p).with_context(|| format!("cannot create log {}", p.display()))?)
        }
        None => None,
    };
    Ok(std::thread::spawn(move || {
        let mut tail = VecDeque::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = log_file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        Vec::from(tail)
    }))
}

/// wait4 on one pid: `Some((status, rusage))` once it has exited.
fn wait4(pid: libc::pid_t, block: bool) -> Result<Option<(i32, libc::rusage)>> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut rusage) };
        if r == pid {
            return Ok(Some((status, rusage)));
        }
        if r == 0 {
            return Ok(None);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("waiting for the cell's process");
        }
    }
}
