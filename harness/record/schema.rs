//! Record schema v1.

use crate::eval::EvalResult;
pub use crate::method::WeightBytes;
use crate::probe::Environment;
use crate::suite::Cell;
use serde::{Deserialize, Serialize};

pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Out of memory: an allocation failed, or the kernel's OOM killer killed it (its OOM count
    /// rose during the cell).
    Oom,
    /// Ran past its `timeout_s` and was killed.
    Timeout,
    /// Killed by a signal from outside ftbench (SIGKILL with no OOM kill counted: a user, a
    /// scheduler's preemption).
    Killed,
    /// The runner was interrupted (SIGINT, SIGTERM) while the cell ran; a re-run redoes it.
    Interrupted,
    /// Anything else; `reason` says what.
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Oom => "oom",
            Status::Timeout => "timeout",
            Status::Killed => "killed",
            Status::Interrupted => "interrupted",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteRef {
    pub name: String,
    /// The suite file as given on the command line.
    pub file: String,
}

/// The conditions every number of the record was measured under.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conditions {
    pub device: String,
    /// Other cells of the same results folder running on this host when this one started or
    /// finished (several runners share the folder): its times and memory shared the machine
    /// with them. 0 when it ran alone; absent in records before it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_cells: Option<u32>,
    /// Dtype of activations and matmuls.
    pub compute_dtype: String,
    /// The `precision` that ran (records before the knob: `f32`).
    #[serde(default = "f32_name")]
    pub precision: String,
    /// Dtype of trainable weights and their gradients (the optimizer's master copy).
    #[serde(default = "f32_name")]
    pub master_dtype: String,
    /// The optimizer that ran (`none` for `base`); records before the `optimizer` knob ran `adamw`.
    #[serde(default = "adamw")]
    pub optimizer: String,
    /// Dtype of the optimizer's moments, as allocated.
    pub optimizer_state_dtype: String,
    pub batch_size: u32,
    pub seq_len: u32,
    pub grad_accum: u32,
    /// Tokens processed per optimizer update (batch_size · seq_len · grad_accum).
    pub tokens_per_step: u64,
    pub steps: u32,
    pub seed: u64,
    /// Activation recompute (gradient checkpointing).
    pub recompute: bool,
    /// ftbench's fused CPU kernels (false: candle's composed ops; records written before the
    /// kernels existed read as false, which is what they ran).
    #[serde(default)]
    pub fused_ops: bool,
    pub task: String,
    /// Compute threads requested (0 = all cores); the environment has the count used.
    pub threads_requested: u32,
    /// Mean real (not padding) tokens per sequence actually trained on; real tasks have
    /// sequences of different lengths up to `seq_len`, padded per batch.
    #[serde(default)]
    pub mean_seq_tokens: Option<f64>,
    /// Real tasks: k-shot and the prompt format.
    #[serde(default)]
    pub shots: u32,
    #[serde(default)]
    pub prompt_format: Option<String>,
    /// The engine that trained and answered (`engine`): records before engines existed ran
    /// `ftbench`.
    #[serde(default = "ftbench_engine")]
    pub engine: String,
    /// Its libraries' versions, as it reported them (empty for ftbench's own engine).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub engine_versions: std::collections::BTreeMap<String, String>,
}

fn adamw() -> String {
    "adamw".into()
}

/// What the cell's process actually ran (the record's conditions come from here, not from the
/// knobs, where it reported it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ran {
    pub device: String,
    pub compute_dtype: String,
    /// The `precision` setting that ran; records before the knob ran `f32`.
    #[serde(default = "f32_name")]
    pub precision: String,
    /// Trainable weights (and their gradients) as kept between steps: the optimizer's "master" copy.
    #[serde(default = "f32_name")]
    pub master_dtype: String,
    /// Frozen dense weights as stored.
    #[serde(default = "f32_name")]
    pub frozen_dtype: String,
    /// The optimizer (`none` for `base`); records before the knob ran `adamw`.
    #[serde(default = "adamw")]
    pub optimizer: String,
    pub optimizer_state_dtype: String,
    /// Fused kernels actually in use (on the CPU in f32/f64, on a CUDA GPU in f32/bf16).
    pub fused_ops: bool,
    pub recompute: bool,
    /// The engine that trained and answered (records before engines existed: `ftbench`).
    #[serde(default = "ftbench_engine")]
    pub engine: String,
    /// The engine's libraries and their versions (the pytorch engine: python, torch,
    /// transformers, peft, bitsandbytes); empty for ftbench's own engine, whose version is the
    /// environment's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub engine_versions: std::collections::BTreeMap<String, String>,
}

fn ftbench_engine() -> String {
    "ftbench".into()
}

fn f32_name() -> String {
    "f32".into()
}

/// One evaluation during training (`eval_every`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    pub step: u32,
    /// Real tokens trained on so far.
    pub tokens: u64,
    /// Training seconds so far (step times only; evaluation excluded).
    pub train_s: f64,
    /// Held-out loss on the curve items.
    pub loss: f64,
    /// The task's score on the curve items (real tasks).
    pub metric: Option<f64>,
    pub metric_name: Option<String>,
    /// Curve items scored.
    pub items: usize,
}

/// Time to quality: when the `target` was first met.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetReached {
    pub target: String,
    pub step: u32,
    pub tokens: u64,
    pub train_s: f64,
}

/// Prefill and decode speed of the trained model, greedy with the KV cache, batch 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InferenceSpeed {
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub repeats: usize,
    /// As trained (LoRA adapters unmerged; QLoRA's NF4 base dequantized per matmul).
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// LoRA with the adapters merged into the weights (None where the method has none to
    /// merge, or its base is NF4).
    pub merged_prefill_tokens_per_s: Option<f64>,
    pub merged_decode_tokens_per_s: Option<f64>,
}

/// A serving form of the trained model (`deploy`): made from it without training again, scored
/// on the same held-out items, timed like it (batch 1, KV cache), and sized.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServedForm {
    /// The form's name (`merged`, `gguf:Q4_K_M`; crate::deploy).
    pub form: String,
    /// The dtype its activations and matmuls ran in.
    pub compute_dtype: String,
    /// The held-out evaluation of the form (the cell's own items; for `as-trained` the cell's
    /// evaluation itself).
    pub eval: crate::eval::EvalResult,
    /// The task's metric minus as-trained's, paired by item (None on tasks without a per-item
    /// score, or when as-trained was not among the forms).
    pub delta: Option<PairedDelta>,
    /// Held-out loss minus as-trained's (nats per target token).
    pub delta_loss: Option<f64>,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// What storing the form takes.
    pub bytes: u64,
    /// `file` (the size of the file written) or `tensors` (the bytes of its tensors as stored:
    /// what a safetensors file of them holds, less its header).
    pub bytes_of: String,
    /// Seconds to make the form from the trained model (merge, cast, quantize, write, read back).
    pub make_s: f64,
    pub eval_s: f64,
}

/// A difference of per-item 0/1 scores on the same items: mean, its standard error
/// (sd of the differences / √n) and the normal 95% interval, in the metric's units (fraction).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairedDelta {
    pub metric: String,
    pub n: usize,
    pub delta: f64,
    pub stderr: f64,
    pub ci95: (f64, f64),
    /// Items the two score differently.
    pub items_changed: usize,
}

/// What a method produces for a user to keep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// `adapter` (PEFT adapter_model.safetensors) or `checkpoint` (every weight).
    pub kind: String,
    pub bytes: u64,
    /// `written` (the file's size on disk) or `computed` (safetensors' size for these tensors,
    /// not written: header + every trainable tensor in the training dtype).
    pub how: String,
    pub tensors: usize,
}

/// What the model and method hold. Bytes are tensor bytes (what the tensors themselves take).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Base parameters + adapter parameters (as PEFT's `print_trainable_parameters` counts).
    pub params_total: u64,
    pub params_trainable: u64,
    /// 100 · trainable / total.
    pub trainable_percent: f64,
    pub params_base: u64,
    pub params_adapters: u64,
    pub layers: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// Weights by kind: dense, NF4 codes, quantization constants, adapters.
    pub weight_bytes: WeightBytes,
    /// One full set of gradients of the trainable parameters.
    pub grad_bytes: u64,
    /// Optimizer state as allocated (both moments of every trainable parameter, block constants
    /// included).
    pub optimizer_state_bytes: u64,
    /// Model FLOPs per trained token (runner/cell.rs `train_flops_per_token`: no recompute), the
    /// numerator of MFU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_flops_per_token: Option<f64>,
}

/// Memory of the cell's process. View: process RSS (resident set size), in bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Memory {
    /// Which memory view the numbers are.
    pub view: String,
    /// Peak RSS of the whole child process (wait4's ru_maxrss): the number to compare.
    pub peak_rss_bytes: Option<u64>,
    /// RSS before the model was built (binary, libraries, allocator).
    pub baseline_rss_bytes: Option<u64>,
    /// RSS once the model, method and optimizer state were set up.
    pub after_load_rss_bytes: Option<u64>,
    /// peak − baseline: what the run itself cost.
    pub peak_above_baseline_bytes: Option<u64>,
    /// GPU memory, for cells on a CUDA device (absent on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuMemory>,
}

/// GPU memory of a CUDA cell, in two views. `pool_*`: the CUDA default memory pool every tensor
/// is allocated from (exact live tensor bytes, like PyTorch's max_memory_allocated; the context
/// and cuBLAS workspaces are not in it). `nvml_*`: NVML's used bytes for the whole device
/// (everything on the GPU, like nvidia-smi), sampled by the runner every few milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct GpuMemory {
    /// The GPU, as NVML names it.
    pub gpu: Option<String>,
    /// Peak live tensor bytes over training (from after load to the end of the last step): the
    /// number to compare with PyTorch's peak allocated.
    pub pool_peak_bytes: Option<u64>,
    /// Peak bytes the pool held over training (max_memory_reserved).
    pub pool_reserved_peak_bytes: Option<u64>,
    /// Live tensor bytes once model, method and optimizer state were set up.
    pub pool_after_load_bytes: Option<u64>,
    /// Peak live tensor bytes while loading (quantization and casts hold transients).
    pub pool_load_peak_bytes: Option<u64>,
    /// Peak live tensor bytes over the first step (weights and optimizer state, which exist
    /// after load, plus the first step's activations and gradients).
    pub pool_first_step_peak_bytes: Option<u64>,
    /// Device used before the cell's process started.
    pub nvml_before_bytes: Option<u64>,
    /// The largest device-used reading while the cell ran: the number to compare with
    /// nvidia-smi (and PyTorch's "device used").
    pub nvml_peak_bytes: Option<u64>,
    pub nvml_after_load_bytes: Option<u64>,
    pub nvml_after_first_step_bytes: Option<u64>,
    /// (seconds since start, largest device-used reading in that 250 ms interval).
    #[serde(default)]
    pub nvml_series: Vec<(f64, u64)>,
    pub nvml_samples: u64,
    /// Why a view is missing (no NVML library, no such GPU).
    pub nvml_error: Option<String>,
}

/// Step times. The first `timing_warmup_steps` are reported apart from the steady ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Timing {
    pub warmup_step_s: Vec<f64>,
    pub steady_step_s: Vec<f64>,
    pub median_step_s: Option<f64>,
    pub mean_step_s: Option<f64>,
    /// Sample standard deviation of the steady step times.
    pub stddev_step_s: Option<f64>,
    /// tokens_per_step / median steady step time.
    pub tokens_per_s: Option<f64>,
    /// GPU cells: model FLOPs per second (tokens/s × `model.train_flops_per_token`), TFLOP/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_tflops: Option<f64>,
    /// GPU cells: model FLOPs utilisation, model_tflops over the GPU's peak (`mfu_peak`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfu: Option<f64>,
    /// The peak MFU divides by, and its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfu_peak: Option<String>,
    pub load_s: Option<f64>,
    pub eval_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepPoint {
    pub step: u32,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub secs: f64,
    pub rss_bytes: Option<u64>,
}

/// One cell's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub schema_version: u32,
    pub suite: SuiteRef,
    pub cell: Cell,
    pub status: Status,
    /// Why the cell did not end `ok`.
    pub reason: Option<String>,
    /// What the cell's process reported of its failure (kind; the file and key of bad input).
    /// Absent for a cell that ended ok, one that ended without a report (killed, timed out), and
    /// in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// When the cell started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the whole child process.
    pub wall_s: f64,
    pub conditions: Conditions,
    /// Absent when the child died before reporting it.
    pub environment: Option<Environment>,
    pub model: Option<ModelInfo>,
    pub memory: Memory,
    pub timing: Timing,
    /// Every optimizer update, in order.
    pub steps: Vec<StepPoint>,
    pub final_train_loss: Option<f64>,
    pub eval: Option<EvalResult>,
    /// Where the child's full stderr was kept, relative to the record.
    pub log: Option<String>,
    /// Where the trained adapter was saved (PEFT layout), relative to the record.
    #[serde(default)]
    pub adapter: Option<String>,
    /// Where a full fine-tune's checkpoint was saved (`save_checkpoint`: a Hugging Face
    /// directory), relative to the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// The memory estimate made for this cell before it ran.
    #[serde(default)]
    pub estimate: Option<RecordEstimate>,
    /// Evaluations during training (`eval_every`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<CurvePoint>,
    /// When the time-to-quality `target` was first met (None: not met, or no target).
    #[serde(default)]
    pub target_reached: Option<TargetReached>,
    /// Other tasks scored after training (`also_eval`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_eval: Vec<crate::eval::TaskScore>,
    #[serde(default)]
    pub inference: Option<InferenceSpeed>,
    #[serde(default)]
    pub artifact: Option<Artifact>,
    /// The serving forms scored and timed after training (`deploy`), in the order asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<ServedForm>,
}

/// `ftbench estimate`'s answer for a cell, stored before the cell runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordEstimate {
    /// Whose activations were counted (ftbench's own graph for CPU cells).
    pub implementation: String,
    /// Peak tensor bytes.
    pub peak_tensor_bytes: u64,
    /// Peak tensor bytes + runtime overhead (threads, allocator): compare with the measured
    /// peak RSS above baseline.
    pub total_bytes: u64,
    pub components: Vec<crate::estimate::Component>,
    /// The batch shapes it was made at: the largest micro-batch the cell trained on (made by
    /// the cell once its task was prepared), or the most a batch can hold (made by the runner
    /// before the cell ran, for a cell that failed before). Records before this field: unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<String>,
}

/// Why a cell's process failed, as it reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An allocation failed (the record's status is `oom`).
    OutOfMemory,
    /// A file the cell reads is missing or malformed (`file`, `key` say where).
    BadInput,
    /// Anything else: a bug, or a failure ftbench did not foresee (a panic included).
    Internal,
    /// The cell's engine cannot run a setting of the cell (`key` names the knob).
    Unsupported,
}

impl Failure {
    /// The failure an error stands for: bad input when a [`BadInput`](crate::error::BadInput)
    /// is in its chain, internal otherwise.
    pub fn of_error(e: &anyhow::Error) -> Failure {
        let message = format!("{e:#}");
        if let Some(u) = crate::error::Unsupported::find(e) {
            return Failure {
                kind: FailureKind::Unsupported,
                message,
                file: None,
                key: Some(u.key.clone()),
            };
        }
        match crate::error::BadInput::find(e) {
            Some(b) => Failure {
                kind: FailureKind::BadInput,
                message,
                file: Some(b.file.clone()),
                key: b.key.clone(),
            },
            None => Failure {
                // A GPU allocation that failed comes back from the driver (cuMemAllocAsync) or
                // cuBLAS as an error value, not as the host allocator's failure: it is data too.
                kind: if is_device_oom(&message) || crate::error::OutOfMemory::find(e).is_some() {
                    FailureKind::OutOfMemory
                } else {
                    FailureKind::Internal
                },
                message,
                file: None,
                key: None,
            },
        }
    }
}

/// Whether an error message is a GPU out-of-memory error: the CUDA driver's
/// `CUDA_ERROR_OUT_OF_MEMORY` (cudarc's `DriverError`) or cuBLAS's `CUBLAS_STATUS_ALLOC_FAILED`.
pub fn is_device_oom(message: &str) -> bool {
    message.contains("CUDA_ERROR_OUT_OF_MEMORY") || message.contains("CUBLAS_STATUS_ALLOC_FAILED")
}
