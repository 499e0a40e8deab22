//! Seeded dropout for the adapters' input, on only while training.

use candle_core::{Result, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Shared by every adapter of a model: one seeded stream, one training switch.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    state: Arc<(Mutex<StdRng>, AtomicBool)>,
}

impl Dropout {
    pub fn new(p: f64, seed: u64) -> Self {
        Dropout {
            p,
            state: Arc::new((Mutex::new(StdRng::seed_from_u64(seed ^ 0xd70f)), AtomicBool::new(false))),
        }
    }

    /// Turns dropout on (training) or off (evaluation).
    pub fn set_training(&self, on: bool) {
        self.state.1.store(on, Ordering::Relaxed);
    }

    /// A mask shaped like x: each element 0 with probability p, else 1/(1-p); `None` when p = 0
    /// or not training.
    pub fn mask(&self, x: &Tensor) -> Result<Option<Tensor>> {
        if self.p == 0.0 || !self.state.1.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let keep = 1.0 - self.p;
        let mask: Vec<f32> = {
            let mut rng = self.rng()?;
            (0..x.elem_count())
                .map(|_| if rng.random::<f64>() < keep { (1.0 / keep) as f32 } else { 0.0 })
                .collect()
        };
        Ok(Some(Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?))
    }

    /// The stream's state now, to draw the same masks again with [`Dropout::replay`]
    /// (activation recompute re-runs a block's forward pass in backward).
    pub fn snapshot(&self) -> Result<StdRng> {
        Ok(self.rng()?.clone())
    }

    /// Runs `f` with the stream at a `snapshot`, then puts the stream back where it was.
    pub fn replay<R>(&self, from: &StdRng, f: impl FnOnce() -> R) -> Result<R> {
        let now = std::mem::replace(&mut *self.rng()?, from.clone());
        let r = f();
        *self.rng()? = now;
        Ok(r)
    }

    fn rng(&self) -> Result<std::sync::MutexGuard<'_, StdRng>> {
        self.state
            .0
            .lock()
            .map_err(|_| candle_core::Error::Msg("dropout rng poisoned".into()))
    }

    /// x with the mask applied (x itself when p = 0 or not training).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self.mask(x)? {
            Some(m) => x * m,
            None => Ok(x.clone()),
        }
    }
}
