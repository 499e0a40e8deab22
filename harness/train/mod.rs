//! Training: masked loss, AdamW with its own f32 state, warm-up + cosine schedule, gradient
//! clipping and accumulation.

mod loss;
mod optim;
mod schedule;
mod trainer;

pub use loss::{batch_loss, target_logits};
pub use optim::AdamW;
pub use schedule::Schedule;
pub use trainer::{StepStats, Trainer, TrainerConfig};
