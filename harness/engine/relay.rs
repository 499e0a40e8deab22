//! Running an engine program as the cell's child process and relaying what it reports
//! (engines/PROTOCOL.md "events") as the cell's own events: its start (with this machine's
//! environment), its load (with the model's tensor accounting), its steps and inference speed
//! as they are; its failure as the typed error it stands for. Lines that are not events go to
//! the cell's log.

use crate::child::{Emitter, Event, GpuPhase};
use crate::probe::PoolReading;
use crate::record::{Failure, FailureKind, ModelInfo, Ran};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[derive(Deserialize)]
struct Started {
    baseline_rss_bytes: Option<u64>,
    #[serde(default)]
    versions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Loaded {
    load_s: f64,
    rss_bytes: Option<u64>,
    params_total: u64,
    params_trainable: u64,
    ran: Ran,
    /// CUDA: PyTorch's caching allocator after load.
    #[serde(default)]
    cuda: Option<PoolReading>,
}

/// CUDA: PyTorch's caching allocator after training (peaks counted from after load).
#[derive(Deserialize)]
struct Trained {
    cuda: Option<PoolReading>,
}

/// What the engine reported at its end.
#[derive(Debug, Deserialize)]
pub struct Finished {
    pub peak_rss_bytes: Option<u64>,
    #[serde(default)]
    pub eval_s: f64,
}

/// Runs `cmd` (the engine on its job), relaying its events to `emit`; `model` is the tensor
/// accounting of the same model and method (its parameter counts must equal the engine's).
pub fn relay(mut cmd: Command, engine: &str, model: ModelInfo, emit: &mut Emitter<impl Write>) -> Result<Finished> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().with_context(|| format!("cannot start the {engine} engine ({cmd:?})"))?;
    let stdout = child.stdout.take().context("engine stdout")?;
    let (mut versions, mut finished, mut failed) = (BTreeMap::new(), None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the engine's events")?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            eprintln!("{line}");
            continue;
        };
        let at = |what: &str| format!("the {engine} engine's `{what}` event: {line}");
        let kind = v.get("event").and_then(|e| e.as_str()).unwrap_or("").to_string();
        match kind.as_str() {
            "engine_started" => {
                let s: Started = serde_json::from_value(v).with_context(|| at("engine_started"))?;
                versions = s.versions;
                crate::child::started(emit, s.baseline_rss_bytes)?;
            }
            "engine_loaded" => {
                let l: Loaded = serde_json::from_value(v).with_context(|| at("engine_loaded"))?;
                let pool = l.cuda;
                emit.send(loaded(l, engine, &versions, &model)?)?;
                if let Some(pool) = pool {
                    emit.send(Event::Gpu { at: GpuPhase::Load, pool })?;
                }
            }
            "engine_trained" => {
                let t: Trained = serde_json::from_value(v).with_context(|| at("engine_trained"))?;
                if let Some(pool) = t.cuda {
                    emit.send(Event::Gpu { at: GpuPhase::Train, pool })?;
                }
            }
            "engine_optimizer_state" => {
                let bytes = v
                    .get("bytes")
                    .and_then(|b| b.as_u64())
                    .with_context(|| at("engine_optimizer_state"))?;
                emit.send(Event::OptimizerState { bytes })?;
            }
            "step" | "inference" => emit.send(serde_json::from_value::<Event>(v).with_context(|| at(&kind))?)?,
            "engine_done" => finished = Some(serde_json::from_value::<Finished>(v).with_context(|| at("engine_done"))?),
            "failed" => failed = Some(serde_json::from_value::<Failure>(v).with_context(|| at("failed"))?),
            _ => eprintln!("{line}"),
        }
    }
    let status = child.wait().context("waiting for the engine")?;
    if let Some(f) = failed {
        return Err(as_error(f, engine));
    }
    match finished {
        Some(f) if status.success() => Ok(f),
        _ => bail!("the {engine} engine ended ({status}) without reporting its end; its output is in this cell's log"),
    }
}

/// The `loaded` event: the engine's load, what it says it ran, ftbench's tensor accounting
/// of the same shapes, and its own parameter counts (which must agree).
fn loaded(l: Loaded, engine: &str, versions: &BTreeMap<String, String>, model: &ModelInfo) -> Result<Event> {
    if (l.params_total, l.params_trainable) != (model.params_total, model.params_trainable) {
        bail!(
            "the {engine} engine built a different model: {} parameters, {} trainable; ftbench's build of the same cell has {} and {}",
            l.params_total,
            l.params_trainable,
            model.params_total,
            model.params_trainable
        );
    }
    let mut ran = l.ran;
    ran.engine = engine.to_string();
    ran.engine_versions = versions.clone();
    Ok(Event::Loaded {
        model: model.clone(),
        load_s: l.load_s,
        rss_bytes: l.rss_bytes,
        ran: Some(ran),
    })
}

/// The error a reported failure stands for (child/failure.rs turns it back into the record's).
fn as_error(f: Failure, engine: &str) -> anyhow::Error {
    let message = format!("{engine} engine: {}", f.message);
    match f.kind {
        FailureKind::Unsupported => crate::error::Unsupported::new(f.key.unwrap_or_default(), message),
        FailureKind::BadInput => crate::error::BadInput::new(f.file.unwrap_or_else(|| engine.to_string()), f.key, message),
        FailureKind::OutOfMemory => anyhow::Error::new(crate::error::OutOfMemory { message }),
        FailureKind::Internal => anyhow::anyhow!(message),
    }
}

/// The engine dies with the cell's process (a timeout kills the cell; the engine must not
/// outlive it holding memory).
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_failure_becomes_the_same_failure_in_the_record() {
        for (kind, file, key) in [
            (FailureKind::Unsupported, None, Some("optimizer")),
            (FailureKind::BadInput, Some("/m/config.json"), Some("model_dir")),
            (FailureKind::OutOfMemory, None, None),
            (FailureKind::Internal, None, None),
        ] {
            let reported = Failure {
                kind,
                message: "what the engine said".into(),
                file: file.map(String::from),
                key: key.map(String::from),
            };
            let back = Failure::of_error(&as_error(reported.clone(), "pytorch"));
            assert_eq!((back.kind, back.key.as_deref()), (kind, key), "{back:?}");
            assert_eq!(back.file.as_deref(), file);
            assert!(back.message.contains("pytorch engine: what the engine said"), "{}", back.message);
        }
    }
}
