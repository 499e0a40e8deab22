//! Tasks and batching: synthetic token-level tasks with a held-out split.

mod batch;
mod task;

pub use batch::Batch;
pub use task::{Example, Task, TaskKind, TASKS};
