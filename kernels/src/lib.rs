//! ftbench-kernels: the numeric kernels of ftbench.
//!
//! - [`adamw`]: a fused, in-place AdamW step over a parameter, its gradient and f32 moment
//!   buffers (one pass over memory, no temporaries), with the gradient-clipping coefficient
//!   folded in.
//! - [`reduce`]: sum of squares of a tensor in f64 (for the global gradient norm).
//!
//! Every kernel has a plain-slice form (what the tests and benches exercise) and a candle glue
//! that applies it to tensors in place. CPU only for now; CUDA comes behind a `cuda` feature.

pub mod adamw;
pub mod reduce;

pub use adamw::{AdamWHyper, Moments};
pub use reduce::sum_squares;
