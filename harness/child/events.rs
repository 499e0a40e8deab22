//! The line protocol from a cell's process to the runner: one JSON object per stdout line.
//! Written by the child (this module), read by the parent (runner/record_of.rs).

use crate::eval::{EvalResult, TaskScore};
use crate::probe::Environment;
use crate::record::{Artifact, CurvePoint, Failure, InferenceSpeed, ModelInfo, Ran, RecordEstimate, ServedForm};
use serde::{Deserialize, Serialize};

/// Where in a run the CUDA pool was read.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GpuPhase {
    /// After the model, method and optimizer were set up (with the peak of loading).
    Load,
    /// After the first update.
    FirstStep,
    /// Over training, counted from after load.
    Train,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The process is up; RSS before anything was built.
    Started {
        environment: Environment,
        baseline_rss_bytes: Option<u64>,
    },
    /// The memory estimate at the shapes the cell will train on (its task prepared, its batches
    /// known), made before the model is built.
    Estimated { estimate: RecordEstimate },
    /// Model, method and optimizer are set up; `ran` says what will actually run.
    Loaded {
        model: ModelInfo,
        load_s: f64,
        rss_bytes: Option<u64>,
        #[serde(default)]
        ran: Option<Ran>,
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
    /// Another engine's optimizer state as it allocated it (PyTorch's is lazy: it exists after
    /// the first update), replacing ftbench's accounting in the record's `model`.
    OptimizerState { bytes: u64 },
    /// An evaluation during training (`eval_every`).
    Curve { point: CurvePoint },
    /// Held-out evaluation finished.
    Eval { result: EvalResult, secs: f64 },
    /// Another task scored after training (`also_eval`).
    AlsoEval { score: TaskScore },
    /// Inference speed of the trained model (`inference_speed`).
    Inference { speed: InferenceSpeed },
    /// A serving form was made, scored and timed (`deploy`).
    Served { form: ServedForm },
    /// What the method produced: the adapter file, or the full checkpoint's size.
    Artifact { artifact: Artifact },
    /// The trained adapter was written (PEFT layout).
    AdapterSaved { dir: String },
    /// A full fine-tune's checkpoint was written (a Hugging Face directory).
    CheckpointSaved { dir: String },
    /// The CUDA memory pool at a point of the run. CUDA cells only.
    Gpu { at: GpuPhase, pool: crate::probe::PoolReading },
    /// Everything finished.
    Done { peak_rss_bytes: Option<u64> },
    /// The cell failed: what kind of failure, in the child's words, and for bad input the file
    /// and key at fault. The last event a failing child writes (an allocation failure and a
    /// panic included: the child's allocator and panic hook write it, runner/failure.rs).
    Failed(Failure),
}

impl Event {
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }
}
