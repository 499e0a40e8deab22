//! The NF4 frozen weight of QLoRA: packed 4-bit codes and block constants only; the dense
//! weight exists only inside one forward or backward matmul.

use candle_core::{DType, Device, Result, Tensor};
use ftbench_kernels::nf4::Nf4Tensor;
use ftbench_kernels::FrozenWeight;

pub struct Nf4Weight {
    pub q: Nf4Tensor,
}

impl Nf4Weight {
    /// Quantizes a dense (out, in) weight; the dense tensor can be dropped afterwards.
    pub fn quantize(w: &Tensor, block_size: usize, double_quant: bool) -> anyhow::Result<Nf4Weight> {
        let (o, i) = w.dims2()?;
        let values: Vec<f32> = w.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let q = Nf4Tensor::quantize(&values, (o, i), block_size, double_quant).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Nf4Weight { q })
    }
}

impl FrozenWeight for Nf4Weight {
    fn dense(&self, dtype: DType) -> Result<Tensor> {
        Tensor::from_vec(self.q.dequantize(), self.q.shape(), &Device::Cpu)?.to_dtype(dtype)
    }
    fn shape(&self) -> (usize, usize) {
        self.q.shape()
    }
    fn name(&self) -> &'static str {
        "ftbench-nf4-linear"
    }
}
