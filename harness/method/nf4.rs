//! The NF4 base of `qlora` and `qdora`: a dense weight quantized to NF4 as it is loaded (the
//! dense tensor is dropped right after); `ftbench_kernels::Nf4Tensor` is the frozen weight the
//! linear op reads.

use candle_core::{DType, Tensor};
use ftbench_kernels::Nf4Tensor;

/// The knobs an NF4 base reads.
pub const NF4_KNOBS: &[&str] = &["nf4_block_size", "nf4_double_quant"];

/// Quantizes a dense (out, in) weight to NF4.
pub fn quantize_weight(w: &Tensor, block_size: usize, double_quant: bool) -> anyhow::Result<Nf4Tensor> {
    let (o, i) = w.dims2()?;
    let values: Vec<f32> = w.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Nf4Tensor::quantize(&values, (o, i), block_size, double_quant).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A frozen NF4 linear where the model runs: the host tensor on the CPU, its codes and
/// constants copied as they are to a GPU.
pub fn nf4_on(nf4: Nf4Tensor, device: &candle_core::Device) -> anyhow::Result<crate::nn::Linear> {
    use std::sync::Arc;
    Ok(crate::nn::Linear::Frozen(if device.is_cpu() {
        Arc::new(nf4)
    } else {
        Arc::new(ftbench_kernels::Nf4Device::upload(&nf4, device)?)
    }))
}

/// Checks an NF4 block size as the quantizer will (`must be ... found N`).
pub fn check_block_size(block_size: u64) -> Result<(), String> {
    ftbench_kernels::check_blocksize(block_size as usize)
        .map_err(|e| format!("must be an even number of values (bitsandbytes uses 64), found {block_size} ({e})"))
}
