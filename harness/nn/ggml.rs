//! A frozen linear weight in one of llama.cpp's GGML formats (Q8_0, Q5_0, Q4_K, Q6_K, ...), as a
//! GGUF file stores it, served the way llama.cpp serves it: candle's quantized matmul, which
//! quantizes each activation row and takes the dot products on the quantized blocks, so the
//! weight is never dequantized. Inference only: no gradient flows through it.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Result, Tensor};
use ftbench_kernels::FrozenWeight;
use std::sync::Arc;

pub struct GgmlWeight {
    q: Arc<QTensor>,
    matmul: QMatMul,
    shape: (usize, usize),
    /// Whether candle's quantized kernel takes this weight's rows: its Q4_1, Q5_0 and Q5_1 dot
    /// products assume an even number of blocks per row (a debug assertion; llama.cpp has no
    /// such limit). Other rows are served dequantized: the same values, a dense matmul's speed.
    direct: bool,
}

impl GgmlWeight {
    /// A (out, in) weight already quantized.
    pub fn new(q: QTensor) -> Result<GgmlWeight> {
        let shape = q.shape().dims2()?;
        let paired = matches!(q.dtype(), GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1);
        let direct = !paired || (shape.1 / q.dtype().block_size()).is_multiple_of(2);
        let q = Arc::new(q);
        Ok(GgmlWeight {
            matmul: QMatMul::from_arc(q.clone())?,
            q,
            shape,
            direct,
        })
    }

    pub fn ggml_dtype(&self) -> GgmlDType {
        self.q.dtype()
    }
}

impl FrozenWeight for GgmlWeight {
    fn dense(&self, dtype: DType) -> Result<Tensor> {
        self.q.dequantize(&self.q.device())?.to_dtype(dtype)
    }
    fn shape(&self) -> (usize, usize) {
        self.shape
    }
    fn name(&self) -> &'static str {
        "ftbench-ggml-linear"
    }
    fn stored_bytes(&self) -> usize {
        self.q.storage_size_in_bytes()
    }
    fn serve(&self, x: &Tensor) -> Option<Result<Tensor>> {
        if !self.direct {
            return None;
        }
        // The quantized kernels take f32 activations; other dtypes go back as they came.
        let dtype = x.dtype();
        Some(
            x.to_dtype(DType::F32)
                .and_then(|x| self.matmul.forward(&x.contiguous()?))
                .and_then(|y| y.to_dtype(dtype)),
        )
    }
}
