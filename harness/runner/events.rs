//! The line protocol from a cell's process to the runner: one JSON object per stdout line.

use crate::eval::EvalResult;
use crate::probe::Environment;
use crate::record::ModelInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The process is up; RSS before anything was built.
    Started {
        environment: Environment,
        baseline_rss_bytes: Option<u64>,
    },
    /// Model, method and optimizer are set up.
    Loaded {
        model: ModelInfo,
        load_s: f64,
        rss_bytes: Option<u64>,
    },
    /// One optimizer update finished.
    Step {
        step: u32,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        secs: f64,
        tokens: u64,
        rss_bytes: Option<u64>,
    },
    /// Held-out evaluation finished.
    Eval { result: EvalResult, secs: f64 },
    /// The trained adapter was written (PEFT layout).
    AdapterSaved { dir: String },
    /// Everything finished.
    Done { peak_rss_bytes: Option<u64> },
}

impl Event {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }
}
