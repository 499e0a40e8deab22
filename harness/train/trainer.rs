//! One optimizer update: forward and backward over each micro-batch, gradients summed,
//! global-norm clipping, the optimizer's step.

use super::optim::{AdamParams, Optimizer, OptimizerSettings};
use super::registry::default_optimizer;
use super::{batch_loss, Schedule};
use crate::data::Batch;
use crate::method::Trainable;
use crate::model::Decoder;
use anyhow::Result;
use candle_core::Tensor;

#[derive(Debug, Clone)]
pub struct TrainerConfig {
    pub schedule: Schedule,
    /// 0 disables clipping.
    pub max_grad_norm: f64,
    /// Which optimizer (a registry entry's typed settings).
    pub optimizer: std::sync::Arc<dyn OptimizerSettings>,
}

impl TrainerConfig {
    /// The default optimizer (f32 AdamW) with PyTorch's defaults and no weight decay, under
    /// `schedule` and clipping at `max_grad_norm`.
    pub fn adamw(schedule: Schedule, max_grad_norm: f64) -> Self {
        TrainerConfig {
            schedule,
            max_grad_norm,
            optimizer: default_optimizer(AdamParams::default()),
        }
    }
}

/// What one update did.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    /// Mean loss over the micro-batches.
    pub loss: f64,
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

pub struct Trainer {
    pub params: Vec<Trainable>,
    pub optim: Box<dyn Optimizer>,
    cfg: TrainerConfig,
    step: u32,
}

impl Trainer {
    /// A trainer over `params`; fails where the optimizer cannot hold their state (8-bit state
    /// off the CPU).
    pub fn new(params: Vec<Trainable>, cfg: TrainerConfig) -> Result<Self> {
        let optim = cfg.optimizer.build(&params)?;
        Ok(Trainer {
            params,
            optim,
            cfg,
            step: 0,
        })
    }

    /// One update over `micro_batches` (gradient accumulation when there are several).
    pub fn step(&mut self, model: &Decoder, micro_batches: &[Batch]) -> Result<StepStats> {
        let n = micro_batches.len();
        let mut sums: Vec<Option<Tensor>> = vec![None; self.params.len()];
        let mut loss_sum = 0.0;
        for batch in micro_batches {
            let loss = batch_loss(model, batch)?;
            loss_sum += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            let loss = if n > 1 { (loss / n as f64)? } else { loss };
            let mut grads = loss.backward()?;
            drop(loss);
            for (p, sum) in self.params.iter().zip(sums.iter_mut()) {
                // Parameters inside recomputed blocks get theirs from the re-run, not the graph.
                let g = match (grads.remove(p.var.as_tensor()), model.take_recomputed_grad(p.var.as_tensor())?) {
                    (Some(a), Some(b)) => (a + b)?,
                    (Some(g), None) | (None, Some(g)) => g,
                    (None, None) => anyhow::bail!("no gradient reached `{}`", p.name),
                };
                *sum = Some(match sum.take() {
                    None => g,
                    Some(s) => (s + g)?,
                });
            }
        }
        if !loss_sum.is_finite() {
            anyhow::bail!("loss is not finite ({loss_sum}) at step {}", self.step + 1);
        }
        let grads: Vec<Tensor> = sums.into_iter().map(|g| g.expect("every parameter got a gradient")).collect();
        let grad_norm = grads
            .iter()
            .map(ftbench_kernels::sum_squares)
            .sum::<candle_core::Result<f64>>()?
            .sqrt();
        let scale = if self.cfg.max_grad_norm > 0.0 && grad_norm > self.cfg.max_grad_norm {
            self.cfg.max_grad_norm / (grad_norm + 1e-6)
        } else {
            1.0
        };
        self.step += 1;
        let lr = self.cfg.schedule.lr(self.step);
        self.optim.step(&self.params, &grads, lr, scale)?;
        Ok(StepStats {
            loss: loss_sum / n as f64,
            lr,
            grad_norm,
        })
    }
}
