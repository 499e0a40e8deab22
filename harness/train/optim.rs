//! AdamW over the trainable parameters, with f32 moments owned by the optimizer (not candle's
//! `AdamW`, which keeps moments in the parameter's dtype and has no clipping).

use crate::method::Trainable;
use candle_core::{Result, Tensor};
use ftbench_kernels::{adamw, AdamWHyper, Moments};

pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    moments: Vec<Moments>,
    step: u64,
}

impl AdamW {
    pub fn new(params: &[Trainable], beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        let moments = params.iter().map(|p| Moments::zeros(p.var.elem_count())).collect();
        AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
            moments,
            step: 0,
        }
    }

    /// Bytes of optimizer state (both moments of every parameter).
    pub fn state_bytes(&self) -> usize {
        self.moments.iter().map(Moments::bytes).sum()
    }

    /// One update: `grads[i]` is the gradient of `params[i]`, multiplied by `grad_scale`
    /// (the clipping coefficient) inside the fused kernel.
    pub fn step(&mut self, params: &[Trainable], grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let hyper = AdamWHyper {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            step: self.step,
            grad_scale,
        };
        for ((p, g), m) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
            adamw::step(p.var.as_tensor(), g, m, &hyper)?;
        }
        Ok(())
    }
}
