//! Training: masked loss, the optimizer registry (AdamW with f32, bf16 or 8-bit state), warm-up +
//! cosine schedule, gradient clipping and accumulation.

mod adamw;
mod galore;
mod loss;
mod optim;
mod registry;
mod schedule;
mod trainer;

pub use adamw::{AdamW, AdamWSettings};
pub use loss::{batch_loss, target_logits, target_rows};
pub use optim::{AdamParams, Optimizer, OptimizerKind, OptimizerSettings};
pub use registry::{default_optimizer, optimizer_kind, OPTIMIZERS};
pub use schedule::Schedule;
pub use trainer::{StepStats, Trainer, TrainerConfig};
