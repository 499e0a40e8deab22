//! Rotary tables grown on demand. A table covers positions 0..len; it is built for the longest
//! sequence seen so far (rounded up to a power of two, at least 64, at most
//! max_position_embeddings) and shared by every clone of the decoder. Built whole at load, the
//! tables of a 32k-context model with 256-wide heads (Gemma-3-270M: a global and a local base)
//! held 134 MB, and building them in f64 took as much again, for cells that train on 96 tokens.

use super::ops::RopeTables;
use candle_core::{DType, Device, Result};
use std::sync::{Arc, RwLock};

#[derive(Debug)]
pub struct RopeCache {
    inv_freq: Vec<f64>,
    max_len: usize,
    dtype: DType,
    device: Device,
    tables: RwLock<Option<Arc<RopeTables>>>,
}

impl RopeCache {
    pub fn new(inv_freq: Vec<f64>, max_len: usize, dtype: DType, device: &Device) -> RopeCache {
        RopeCache {
            inv_freq,
            max_len,
            dtype,
            device: device.clone(),
            tables: RwLock::new(None),
        }
    }

    /// Tables covering positions 0..len (len ≤ max_position_embeddings, which the caller checks).
    pub fn covering(&self, len: usize) -> Result<Arc<RopeTables>> {
        let current = self
            .tables
            .read()
            .map_err(|_| candle_core::Error::Msg("rope cache poisoned".into()))?
            .clone();
        if let Some(t) = current.filter(|t| t.len() >= len) {
            return Ok(t);
        }
        let mut slot = self
            .tables
            .write()
            .map_err(|_| candle_core::Error::Msg("rope cache poisoned".into()))?;
        if let Some(t) = slot.as_ref().filter(|t| t.len() >= len) {
            return Ok(t.clone());
        }
        let grown = len.next_power_of_two().max(64).min(self.max_len.max(len));
        let t = Arc::new(RopeTables::from_inv_freq(&self.inv_freq, grown, self.dtype, &self.device)?);
        *slot = Some(t.clone());
        Ok(t)
    }
}
