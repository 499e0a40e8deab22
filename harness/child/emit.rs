//! Writing events: one line each, flushed at once (the runner reads them as they come).

use super::events::Event;
use anyhow::{Context, Result};
use std::io::Write;

pub struct Emitter<'a, W: Write> {
    out: &'a mut W,
}

impl<'a, W: Write> Emitter<'a, W> {
    pub fn new(out: &'a mut W) -> Self {
        Emitter { out }
    }

    pub fn send(&mut self, e: Event) -> Result<()> {
        writeln!(self.out, "{}", e.to_line())
            .and_then(|_| self.out.flush())
            .context("cannot report to the runner (stdout closed)")
    }
}
