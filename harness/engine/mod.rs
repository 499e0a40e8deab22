//! The engine seam: what trains a cell and answers its evaluation requests. A cell is prepared
//! once by ftbench (model files, method, precision, optimizer, schedule, the exact batches, the
//! evaluation requests) and handed to an engine; ftbench scores what the engine answers and
//! writes the same record, so two engines differ only in what they compute.
//!
//! Adding an engine: write `harness/engine/NAME.rs` with a unit struct implementing [`Engine`]
//! and add it to [`ENGINES`].

mod ftbench;
mod job;
pub mod python;
mod pytorch;
mod relay;
mod replay;

pub use replay::Replayed;

use crate::child::CellJob;
use crate::suite::Plan;
use anyhow::Result;
use std::io::Write;

/// An engine that can run a cell.
pub trait Engine: Sync + 'static {
    /// The suite's spelling (`engine: NAME`) and the record's.
    fn name(&self) -> &'static str;
    /// What it is (`ftbench list`).
    fn doc(&self) -> &'static str;
    /// Whether it can run on this machine: its libraries and their versions, or why not.
    fn available(&self) -> std::result::Result<Vec<(String, String)>, String>;
    /// The knob of `plan` this engine cannot run, and why (the cell is refused by name).
    fn refuses(&self, plan: &Plan) -> Option<(&'static str, String)>;
    /// Runs the cell, writing its events to `out` (child/events.rs), the last one `done`.
    fn run(&self, job: &CellJob, plan: &Plan, out: &mut dyn Write) -> Result<()>;
}

/// Every engine a suite can name (`suite::ENGINE_NAMES` lists their names for the plan).
pub static ENGINES: &[&dyn Engine] = &[&ftbench::Ftbench, &pytorch::Pytorch];

/// Runs one cell in this process (`ftbench cell`), writing events to `out`: its plan, handed to
/// its engine; a setting the engine cannot run is refused by name (an `unsupported` failure).
pub fn run_cell(job: &CellJob, out: &mut dyn Write) -> Result<()> {
    let plan = job.cell.plan().map_err(|(k, e)| anyhow::anyhow!("knob `{k}`: {e}"))?;
    let engine = EngineRef::lookup(plan.engine).map_err(anyhow::Error::msg)?;
    if let Some((knob, why)) = engine.refuses(&plan) {
        return Err(crate::error::Unsupported::new(knob, format!("engine {}: {why}", engine.name())));
    }
    engine.run(job, &plan, out)
}

/// A registered engine.
#[derive(Clone, Copy)]
pub struct EngineRef(pub &'static dyn Engine);

impl EngineRef {
    /// The registered engine called `name`; the error lists every name.
    pub fn lookup(name: &str) -> std::result::Result<EngineRef, String> {
        ENGINES.iter().find(|e| e.name() == name).map(|e| EngineRef(*e)).ok_or_else(|| {
            let known: Vec<&str> = ENGINES.iter().map(|e| e.name()).collect();
            format!("unknown engine `{name}`: expected one of {}", known.join(", "))
        })
    }
}

impl std::ops::Deref for EngineRef {
    type Target = dyn Engine;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl std::fmt::Debug for EngineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_knows_every_registered_engine_by_name() {
        let names: Vec<&str> = super::ENGINES.iter().map(|e| e.name()).collect();
        assert_eq!(names, crate::suite::ENGINE_NAMES);
    }
}
