//! The runner: each cell runs in its own child process (`ftbench cell`), so a crash, an OOM
//! kill or a timeout of one cell is recorded and the suite goes on. Cells run one at a time:
//! a cell's time and memory are measured with nothing else of ftbench's running beside it.

mod cell;
mod child;
mod events;
pub mod failure;
pub mod generate;
mod record_of;
mod suite_run;

pub use cell::{run_cell, CellJob};
pub use child::{run_child, ChildExit, ChildOutcome, PARK_AT_ONCE};
pub use events::Event;
pub use generate::{load_for_inference, parse_ids, run_generate, GenerateRequest, InferenceModel};
pub use record_of::record_of;
pub use suite_run::{run_suite, RunOptions, RunSummary};
