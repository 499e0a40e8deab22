//! The runner (the parent's side): each cell runs in its own child process (`ftbench cell`,
//! crate::child), so a crash, an OOM kill or a timeout of one cell is recorded and the suite goes
//! on. Cells run one at a time: a cell's time and memory are measured with nothing else of
//! ftbench's running beside it.

mod cell_estimate;
mod export;
pub mod generate;
mod record_of;
mod shard;
mod spawn;
mod suite_run;

pub use cell_estimate::{cell_estimate, estimate_cell};
pub use export::{run_export, ExportRequest};
pub use generate::{load_for_inference, parse_ids, run_generate, GenerateRequest, InferenceModel};
pub use record_of::record_of;
pub use shard::{cell_cost, partition, shard_cells, Partition, Shard};
pub use spawn::{interrupted, oom_kills, run_child, stop_on_interrupt, ChildExit, ChildOutcome, PARK_AT_ONCE};
pub use suite_run::{run_suite, RunOptions, RunSummary};
