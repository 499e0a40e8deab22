//! Optimizers: one trait and one registry ([`OPTIMIZERS`]) that the `optimizer` knob, the trainer,
//! the record and the per-cell estimate read. A new optimizer is a new [`OptimizerKind`] here.
//!
//! The three AdamW variants share ftbench's fused kernel (not candle's `AdamW`, which keeps its
//! moments in the parameter's dtype and has no clipping) and differ in what the two moments are
//! stored as between steps (`ftbench_kernels::adamw_state`): f32, bf16, or bitsandbytes' 8-bit
//! blockwise codes. The update itself is f32 in all three.

use crate::method::Trainable;
use candle_core::{DType, Result, Tensor};
use ftbench_kernels::adamw_device::step_device;
use ftbench_kernels::{adamw, AdamState, AdamWHyper, DeviceMoments, StateKind};

/// AdamW's hyper-parameters (the learning rate comes per step from the schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// An optimizer over a fixed list of trainable parameters.
pub trait Optimizer: Send {
    /// One update: `grads[i]` is the gradient of `params[i]`, multiplied by `grad_scale` (the
    /// clipping coefficient) inside the update; `params[i]` learns at `lr · params[i].lr_scale`.
    fn step(&mut self, params: &[Trainable], grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()>;
    /// Bytes of state held now.
    fn state_bytes(&self) -> usize;
    /// What the state is, as it was actually allocated (records and reports).
    fn state_dtype(&self) -> String;
}

/// One registered optimizer.
#[derive(Debug)]
pub struct OptimizerKind {
    /// The suite's spelling (`optimizer: NAME`).
    pub name: &'static str,
    /// What it is and what it trades (`ftbench list`).
    pub doc: &'static str,
    /// The estimator's model of its state.
    pub estimate: crate::estimate::Optimizer,
    pub build: fn(&[Trainable], AdamParams) -> Result<Box<dyn Optimizer>>,
}

/// Every optimizer a suite can name; the first is the default.
pub static OPTIMIZERS: &[OptimizerKind] = &[
    OptimizerKind {
        name: "adamw",
        doc: "AdamW with f32 moments (8 bytes per trainable parameter), as torch.optim.AdamW",
        estimate: crate::estimate::Optimizer::Adamw,
        build: |p, h| Ok(Box::new(AdamW::new(p, h, StateKind::F32)?)),
    },
    OptimizerKind {
        name: "adamw-bf16",
        doc: "AdamW with bf16 moments (4 bytes per parameter; the update in f32): half the state, moments rounded to 8 bits of mantissa",
        estimate: crate::estimate::Optimizer::AdamwBf16,
        build: |p, h| Ok(Box::new(AdamW::new(p, h, StateKind::Bf16)?)),
    },
    OptimizerKind {
        name: "adamw-8bit",
        doc: "bitsandbytes' AdamW8bit: moments as 8-bit dynamic-map codes per block of 256 (2.03 bytes per parameter; tensors under 4096 values keep f32): a quarter of the state",
        estimate: crate::estimate::Optimizer::Adamw8bit,
        build: |p, h| Ok(Box::new(AdamW::new(p, h, StateKind::Blockwise8)?)),
    },
];

/// The registered optimizer called `name`.
pub fn optimizer_kind(name: &str) -> std::result::Result<&'static OptimizerKind, String> {
    OPTIMIZERS.iter().find(|o| o.name == name).ok_or_else(|| {
        let known: Vec<&str> = OPTIMIZERS.iter().map(|o| o.name).collect();
        format!("unknown optimizer `{name}`: expected one of {}", known.join(", "))
    })
}

/// Where one parameter's moments live.
enum State {
    /// Host memory, updated by the CPU kernel (f32/f64 parameters on the CPU).
    Host(AdamState),
    /// On the parameter's device (a GPU, or bf16 parameters): f32 or bf16 tensors, the fused
    /// CUDA kernel or the composed step (`ftbench_kernels::adamw_device`).
    Device(DeviceMoments, StateKind),
}

impl State {
    fn kind(&self) -> StateKind {
        match self {
            State::Host(s) => s.kind(),
            State::Device(_, k) => *k,
        }
    }
    fn bytes(&self) -> usize {
        match self {
            State::Host(s) => s.bytes(),
            State::Device(d, _) => d.bytes(),
        }
    }
}

/// AdamW with decoupled weight decay, its moments stored as `kind`.
pub struct AdamW {
    pub hyper: AdamParams,
    states: Vec<State>,
    step: u64,
}

impl AdamW {
    /// Moments for every parameter: host memory for f32/f64 parameters on the CPU, the
    /// parameter's device otherwise (where 8-bit state is not implemented: an error).
    pub fn new(params: &[Trainable], h: AdamParams, kind: StateKind) -> Result<Self> {
        let states = params
            .iter()
            .map(|p| {
                let t = p.var.as_tensor();
                if t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64) {
                    return Ok(State::Host(AdamState::zeros(kind, p.var.elem_count())));
                }
                let dtype = match kind {
                    StateKind::F32 => DType::F32,
                    StateKind::Bf16 => DType::BF16,
                    StateKind::Blockwise8 => candle_core::bail!(
                        "optimizer adamw-8bit keeps its 8-bit state in host memory for f32 parameters on the CPU only; `{}` is {:?} on {:?} (use adamw or adamw-bf16)",
                        p.name,
                        t.dtype(),
                        t.device()
                    ),
                };
                Ok(State::Device(DeviceMoments::zeros(t, dtype)?, kind))
            })
            .collect::<Result<_>>()?;
        Ok(AdamW { hyper: h, states, step: 0 })
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, params: &[Trainable], grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let mut hyper = AdamWHyper {
            lr,
            beta1: self.hyper.beta1,
            beta2: self.hyper.beta2,
            eps: self.hyper.eps,
            weight_decay: self.hyper.weight_decay,
            step: self.step,
            grad_scale,
        };
        for ((p, g), s) in params.iter().zip(grads).zip(self.states.iter_mut()) {
            // The method's per-parameter multiplier (LoRA+ trains B faster than A).
            hyper.lr = lr * p.lr_scale;
            match s {
                State::Host(s) => adamw::step(p.var.as_tensor(), g, s, &hyper)?,
                State::Device(m, _) => step_device(&p.var, g, m, &hyper)?,
            }
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.states.iter().map(State::bytes).sum()
    }

    /// "f32", "bf16", or "8-bit blockwise" — with "+ f32 for N small tensors" where bitsandbytes'
    /// size rule kept some in f32.
    fn state_dtype(&self) -> String {
        let kinds: Vec<StateKind> = self.states.iter().map(State::kind).collect();
        let Some(&main) = kinds.iter().find(|k| **k != StateKind::F32).or(kinds.first()) else {
            return "none".into();
        };
        let f32s = kinds.iter().filter(|k| **k == StateKind::F32).count();
        if main == StateKind::F32 || f32s == 0 {
            main.name().to_string()
        } else {
            format!("{} + f32 for {f32s} small tensors", main.name())
        }
    }
}
