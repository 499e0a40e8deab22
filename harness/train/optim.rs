//! The optimizer seam: one trait for a registry entry ([`OptimizerKind`]: a name, a doc, the
//! knobs it declares, and its typed settings from a cell's knobs), one for those settings
//! ([`OptimizerSettings`]: the update it builds and its memory model), one for what it builds
//! ([`Optimizer`]: the update); the registry (`OPTIMIZERS`, registry.rs) is what the `optimizer`
//! knob, the plan, the trainer, the estimator and `ftbench list` iterate.
//!
//! Adding an optimizer: write `harness/train/NAME.rs` with a unit struct implementing
//! [`OptimizerKind`], its settings implementing [`OptimizerSettings`] and its own knobs declared
//! there as [`KnobSpec`]s; declare the file in train/mod.rs and add its line to `OPTIMIZERS`.

use crate::knob::{KnobSpec, KnobValues};
use crate::method::Trainable;
use candle_core::{DType, Result, Tensor};
use std::fmt;
use std::sync::Arc;

/// AdamW's hyper-parameters (the learning rate comes per step from the schedule), which every
/// optimizer here shares (the `adam_*` and `weight_decay` knobs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamParams {
    /// PyTorch's AdamW defaults, without weight decay.
    fn default() -> Self {
        AdamParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
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

/// An optimizer's settings, typed and checked: what the plan carries and the trainer builds from.
pub trait OptimizerSettings: Send + Sync + fmt::Debug {
    /// The registry entry these settings are of.
    fn kind(&self) -> &'static dyn OptimizerKind;
    /// The optimizer over `params`; an error where it cannot hold their state (8-bit state off
    /// the CPU).
    fn build(&self, params: &[Trainable]) -> Result<Box<dyn Optimizer>>;
    /// The estimator's model: bytes of state for one trainable tensor `name` of `dims` whose
    /// weights are kept in `master`.
    fn state_bytes(&self, name: &str, dims: &[u64], master: DType) -> f64;
    /// The settings beyond the shared AdamW ones, for records (`galore rank 128, gap 200`); empty
    /// when there are none.
    fn describe(&self) -> String {
        String::new()
    }
}

/// One registered optimizer.
pub trait OptimizerKind: Sync + 'static {
    /// The suite's spelling (`optimizer: NAME`).
    fn name(&self) -> &'static str;
    /// What it is and what it trades (`ftbench list`).
    fn doc(&self) -> &'static str;
    /// The knobs it declares for itself (beyond the shared `adam_*` and `weight_decay`).
    fn knobs(&self) -> &'static [KnobSpec] {
        &[]
    }
    /// Its settings from the shared hyper-parameters and its own knobs' values (validated
    /// against their specs already); an error is (knob, what was expected).
    fn settings(&'static self, adam: AdamParams, own: KnobValues) -> std::result::Result<Arc<dyn OptimizerSettings>, (String, String)>;
}
