//! Training: masked loss, the optimizers (AdamW with f32, bf16 or 8-bit state), warm-up +
//! cosine schedule, gradient clipping and accumulation.

mod loss;
mod optim;
mod schedule;
mod trainer;

pub use loss::{batch_loss, target_logits};
pub use optim::{optimizer_kind, AdamParams, AdamW, Optimizer, OptimizerKind, OPTIMIZERS};
pub use schedule::Schedule;
pub use trainer::{StepStats, Trainer, TrainerConfig};
