//! ftbench-kernels: the numeric kernels of ftbench.
//!
//! - [`adamw`]: a fused, in-place AdamW step over a parameter, its gradient and f32 moment
//!   buffers (one pass over memory, no temporaries), with the gradient-clipping coefficient
//!   folded in; [`adamw_state`]: the same step with bf16 or bitsandbytes-style 8-bit blockwise
//!   moments.
//! - [`blas`]: which CPU matmul backend the build uses (MKL behind the `mkl` feature).
//! - [`reduce`]: sum of squares of a tensor in f64 (for the global gradient norm).
//! - [`nf4`]: NF4 blockwise quantization and dequantization (with optional double quantization of
//!   the block constants), bit-compatible with bitsandbytes' `quantize_4bit(quant_type="nf4")`.
//! - [`rms_norm`], [`softmax`] (scaled causal), [`rope`] (fused with the split into heads),
//!   [`swiglu`] and [`geglu`], [`cross_entropy`] (LM head + loss over vocabulary chunks): the decoder's
//!   elementwise work as single differentiable ops, one pass each way, f32 and f64.
//! - [`linear`]: linear layers with a frozen (dense or quantized) weight whose backward pass
//!   returns only the input gradient, the fused LoRA linear, and the trainable linear.
//!
//! - [`nf4_device`]: an NF4 weight resident on the compute device, dequantized there;
//!   [`adamw_device`]: AdamW with its moments on the parameter's device (GPU, or bf16 params).
//! - `cuda` (feature `cuda`): the PTX of kernels/cuda/*.cu and its launches (NF4 dequantize,
//!   fused AdamW, sum of squares), and the glue that gives the linear ops a `cuda_fwd`.
//!
//! Every kernel has a plain-slice form (what the tests and benches exercise) and a candle glue
//! that applies it to tensors in place. The fused row ops (RMSNorm, RoPE, softmax, SwiGLU, the
//! LM-head loss) are CPU-only: on a GPU the decoder composes them from candle's CUDA ops.

pub mod adamw;
pub mod adamw_device;
pub mod adamw_state;
pub mod blas;
pub mod cross_entropy;
pub mod cross_entropy_device;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod elem;
pub mod gated;
pub mod linear;
pub mod nf4;
pub mod nf4_device;
pub mod reduce;
pub mod rms_norm;
pub mod rope;
pub mod softmax;

pub use adamw::{AdamWHyper, Moments};
pub use adamw_device::DeviceMoments;
pub use adamw_state::{AdamState, StateKind};
pub use cross_entropy::linear_cross_entropy;
pub use gated::{geglu, swiglu};
pub use linear::{at_dtype, frozen_linear, linear, lora_linear, DenseWeight, FrozenLinear, FrozenWeight, LoraLinear, TrainableLinear};
pub use nf4::{check_blocksize, Absmax, DoubleQuant, Nf4Error, Nf4Tensor};
pub use nf4_device::Nf4Device;
pub use reduce::sum_squares;
pub use rms_norm::rms_norm;
pub use rope::rope_heads;
pub use softmax::causal_softmax;
