//! The registry: every optimizer a suite can name (`optimizer: NAME`), in the order `ftbench list`
//! shows them. A new optimizer is one line here (and its own file).

use super::optim::{AdamParams, OptimizerKind, OptimizerSettings};
use crate::knob::KnobValues;
use std::sync::Arc;

/// Every optimizer a suite can name; the first is the default. One entry per line.
#[rustfmt::skip]
pub static OPTIMIZERS: &[&dyn OptimizerKind] = &[
    &super::adamw::ADAMW,
    &super::adamw::ADAMW_BF16,
    &super::adamw::ADAMW_8BIT,
    &super::galore::GaLore,
];

/// The registered optimizer called `name`; the error lists every name.
pub fn optimizer_kind(name: &str) -> std::result::Result<&'static dyn OptimizerKind, String> {
    OPTIMIZERS.iter().copied().find(|o| o.name() == name).ok_or_else(|| {
        let known: Vec<&str> = OPTIMIZERS.iter().map(|o| o.name()).collect();
        format!("unknown optimizer `{name}`: expected one of {}", known.join(", "))
    })
}

/// The default optimizer (f32 AdamW) with `adam`.
pub fn default_optimizer(adam: AdamParams) -> Arc<dyn OptimizerSettings> {
    OPTIMIZERS[0]
        .settings(adam, KnobValues(&Default::default()))
        .unwrap_or_else(|(k, e)| unreachable!("the default optimizer reads no knob of its own ({k}: {e})"))
}
