//! ftbench: a benchmark harness for fine-tuning methods of large language models.
//!
//! Data flow: a YAML [`suite`] is validated and expanded into cells; the [`runner`] runs each
//! cell as a child process (`ftbench cell`) that builds a [`model`], applies a [`method`],
//! trains it ([`train`]) on a [`data`] task and evaluates it ([`eval`]) while the parent
//! [`probe`]s its memory; each cell ends as one versioned [`record`]; the [`report`] turns
//! records into CSV and HTML.

pub mod atomic;
pub mod child;
pub mod data;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod estimate;
pub mod eval;
pub mod export;
pub mod knob;
pub mod launch;
pub mod load;
pub mod method;
pub mod model;
pub mod nn;
pub mod probe;
pub mod record;
pub mod report;
pub mod runner;
pub mod suite;
pub mod train;
