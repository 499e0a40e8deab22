//! AdamW with decoupled weight decay, its two moments stored between steps as f32 (`adamw`),
//! bf16 (`adamw-bf16`) or bitsandbytes' 8-bit blockwise codes (`adamw-8bit`): three entries of
//! the optimizer registry (optim.rs) over one implementation.
//!
//! The three share ftbench's fused kernel (not candle's `AdamW`, which keeps its moments in the
//! parameter's dtype and has no clipping) and differ in what the two moments are stored as
//! between steps (`ftbench_kernels::adamw_state`). The update itself is f32 in all three.

use super::optim::{AdamParams, Optimizer, OptimizerKind, OptimizerSettings};
use crate::knob::KnobValues;
use crate::method::Trainable;
use candle_core::{DType, Result, Tensor};
use ftbench_kernels::adamw_device::step_device;
use ftbench_kernels::{adamw, AdamState, AdamWHyper, DeviceMoments, StateKind};
use std::sync::Arc;

/// One AdamW entry of the registry: its name, doc and how it stores its moments.
pub struct AdamWKind {
    name: &'static str,
    doc: &'static str,
    state: StateKind,
}

pub static ADAMW: AdamWKind = AdamWKind {
    name: "adamw",
    doc: "AdamW with f32 moments (8 bytes per trainable parameter), as torch.optim.AdamW on f32 parameters",
    state: StateKind::F32,
};

pub static ADAMW_BF16: AdamWKind = AdamWKind {
    name: "adamw-bf16",
    doc: "AdamW with bf16 moments (4 bytes per parameter; the update in f32): half the state, moments rounded to 8 bits of mantissa (torch's AdamW on bf16 parameters keeps bf16 state too)",
    state: StateKind::Bf16,
};

pub static ADAMW_8BIT: AdamWKind = AdamWKind {
    name: "adamw-8bit",
    doc: "bitsandbytes' AdamW8bit: moments as 8-bit dynamic-map codes per block of 256 (2.03 bytes per parameter; tensors under 4096 values keep f32): a quarter of the state",
    state: StateKind::Blockwise8,
};

impl OptimizerKind for AdamWKind {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn settings(&'static self, adam: AdamParams, _: KnobValues) -> std::result::Result<Arc<dyn OptimizerSettings>, (String, String)> {
        Ok(Arc::new(AdamWSettings { kind: self, adam }))
    }
}

/// An AdamW entry with its hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct AdamWSettings {
    kind: &'static AdamWKind,
    pub adam: AdamParams,
}

impl std::fmt::Debug for AdamWKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl OptimizerSettings for AdamWSettings {
    fn kind(&self) -> &'static dyn OptimizerKind {
        self.kind
    }
    fn build(&self, params: &[Trainable]) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(AdamW::new(params, self.adam, self.kind.state)?))
    }
    /// Two moments per value: 4 bytes each (f32), 2 (bf16), or one byte plus an f32 constant per
    /// block of 256 (8-bit; a tensor under bitsandbytes' `min_8bit_size` of 4096 values keeps f32).
    fn state_bytes(&self, _name: &str, dims: &[u64], _master: DType) -> f64 {
        let n = dims.iter().product::<u64>() as f64;
        match self.kind.state {
            StateKind::F32 => 8.0 * n,
            StateKind::Bf16 => 4.0 * n,
            StateKind::Blockwise8 if n < ftbench_kernels::adamw_state::MIN_8BIT_SIZE as f64 => 8.0 * n,
            StateKind::Blockwise8 => 2.0 * (n + 4.0 * (n / ftbench_kernels::adamw_state::BLOCK_8BIT as f64).ceil()),
        }
    }
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
