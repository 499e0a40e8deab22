//! Activation recompute (gradient checkpointing) of decoder blocks.
//!
//! A recomputed block is one custom op on the block's input: its forward pass runs the block
//! and keeps nothing but the input and output (the block's graph is dropped as soon as the
//! output is read), and its backward pass runs the block again with the graph on, then
//! backpropagates the output's gradient through it. So the training graph holds one hidden
//! state per layer plus, during backward, the graph of a single block — at the price of a
//! second forward pass of every block (≈ +1/3 of the step's FLOPs).
//!
//! Gradients of the block's parameters cannot travel through candle's backward (a custom op
//! returns its inputs' gradients only): the op leaves them in [`RecomputedGrads`], where the
//! trainer collects them with `Decoder::take_recomputed_grad`. Adapter dropout draws the same
//! masks in the re-run as in the first run (the stream is replayed from a snapshot).

use crate::nn::Dropout;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, TensorId, Var};
use ftbench_kernels::elem::{cpu_output, cpu_tensor};
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const NAME: &str = "ftbench-recompute-block";

/// Parameter gradients left by recomputed blocks, by parameter; shared by a decoder's clones.
#[derive(Debug, Clone, Default)]
pub struct RecomputedGrads(Arc<Mutex<HashMap<TensorId, Tensor>>>);

impl RecomputedGrads {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<TensorId, Tensor>>> {
        self.0
            .lock()
            .map_err(|_| candle_core::Error::Msg("recomputed gradients poisoned".into()))
    }

    fn add(&self, param: &Tensor, g: Tensor) -> Result<()> {
        let mut m = self.lock()?;
        let g = match m.remove(&param.id()) {
            Some(prev) => (prev + g)?,
            None => g,
        };
        m.insert(param.id(), g);
        Ok(())
    }

    pub fn take(&self, param: &Tensor) -> Result<Option<Tensor>> {
        Ok(self.lock()?.remove(&param.id()))
    }
}

/// What recompute needs of a model (the decoder implements it): run one block again, the
/// block's trainable tensors and dropout, and where to leave their gradients.
pub trait Blocks: Send + Sync + 'static {
    fn run_block(&self, layer: usize, x: &Tensor) -> Result<Tensor>;
    fn block_params(&self, layer: usize) -> Vec<Tensor>;
    fn block_dropout(&self, layer: usize) -> Option<&Dropout>;
    fn recomputed_grads(&self) -> &RecomputedGrads;
}

struct Recompute {
    /// A handle on the model (its tensors are shared, not copied).
    model: Arc<dyn Blocks>,
    layer: usize,
    /// Whether the block's input itself needs a gradient (something upstream trains).
    input_trains: bool,
    /// The adapters' dropout stream as it was when the forward pass started.
    dropout: Option<StdRng>,
}

impl Recompute {
    fn block(&self, x: &Tensor) -> Result<Tensor> {
        self.model.run_block(self.layer, x)
    }

    /// The block again, drawing the dropout masks of the first run (the stream moves on from
    /// where it is now afterwards, not from the snapshot).
    fn rerun(&self, x: &Tensor) -> Result<Tensor> {
        match (self.model.block_dropout(self.layer), &self.dropout) {
            (Some(d), Some(from)) => d.replay(from, || self.block(x))?,
            _ => self.block(x),
        }
    }
}

impl CustomOp1 for Recompute {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_tensor(NAME, s, l)?;
        cpu_output(self.block(&x)?, NAME)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        use ftbench_kernels::cuda::{output, tensor};
        output(self.block(&tensor(s, l)?)?, NAME)
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        // The input as a leaf: a Var when something upstream trains, a plain tensor otherwise.
        let input = if self.input_trains {
            Var::from_tensor(&x.detach())?.as_tensor().clone()
        } else {
            x.detach()
        };
        let y = self.rerun(&input)?;
        let grads = (y * dy.detach())?.sum_all()?.backward()?;
        for p in self.model.block_params(self.layer) {
            if let Some(g) = grads.get(&p) {
                self.model.recomputed_grads().add(&p, g.clone())?;
            }
        }
        Ok(if self.input_trains { grads.get(&input).cloned() } else { None })
    }
}

/// Block `layer` of `model` on x, under activation recompute (see the module docs).
pub fn recomputed_block(model: Arc<dyn Blocks>, layer: usize, x: &Tensor) -> Result<Tensor> {
    let dropout = match model.block_dropout(layer) {
        Some(d) => Some(d.snapshot()?),
        None => None,
    };
    // candle records an op only when its input is tracked; the block's parameters train even
    // when its input does not (the first block under LoRA), so the input becomes a leaf then.
    let input_trains = x.track_op();
    let x = if input_trains {
        x.contiguous()?
    } else {
        Var::from_tensor(x)?.as_tensor().clone()
    };
    x.apply_op1(Recompute {
        model,
        layer,
        input_trains,
        dropout,
    })
}
