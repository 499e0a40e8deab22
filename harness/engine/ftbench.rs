//! ftbench's own engine: the decoder, methods, optimizers and kernels of this program, in the
//! cell's process (child/).

use super::Engine;
use crate::child::CellJob;
use crate::suite::Plan;
use anyhow::Result;
use std::io::Write;

pub struct Ftbench;

impl Engine for Ftbench {
    fn name(&self) -> &'static str {
        "ftbench"
    }
    fn doc(&self) -> &'static str {
        "this program: its decoder, methods, optimizers and kernels, in the cell's process"
    }
    fn available(&self) -> std::result::Result<Vec<(String, String)>, String> {
        Ok(vec![("ftbench".into(), env!("CARGO_PKG_VERSION").into())])
    }
    fn refuses(&self, _plan: &Plan) -> Option<(&'static str, String)> {
        None
    }
    fn run(&self, job: &CellJob, plan: &Plan, out: &mut dyn Write) -> Result<()> {
        crate::child::run_own(job, plan, out)
    }
}
