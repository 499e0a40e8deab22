//! An NF4 weight whose packed codes and block constants live on the compute device (a CUDA GPU,
//! or the CPU), dequantized there for one matmul at a time: the frozen base of QLoRA/QDoRA off
//! the CPU. Bytes on the device are those of bitsandbytes' `Params4bit`: numel/2 packed codes plus
//! the constants (one f32 per block, or with double quantization one byte per block, one f32 per
//! 256 blocks and an offset).
//!
//! [`Nf4Tensor`] (host memory, bit-exact with bitsandbytes) stays the source of truth: this is its
//! upload, and its dequantization must equal [`Nf4Tensor::dequantize`] (tests below on the CPU,
//! tests/cuda_ops.rs on a GPU).

use crate::linear::FrozenWeight;
use crate::nf4::{dequantize_with, Absmax, Nf4Tensor};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

/// The block constants on the device.
pub enum DeviceScales {
    /// One f32 absmax per block.
    Plain(Tensor),
    /// Double quantization: an 8-bit code per block into `code2` (256 f32), one f32 per
    /// `blocksize2` codes, plus `offset`.
    Double {
        codes: Tensor,
        absmax2: Tensor,
        code2: Tensor,
        offset: f32,
        blocksize2: usize,
    },
}

/// An NF4 matrix (out, in) resident on a device.
pub struct Nf4Device {
    shape: (usize, usize),
    blocksize: usize,
    /// u8, numel / 2 (first value in the high nibble).
    pub packed: Tensor,
    pub scales: DeviceScales,
}

impl Nf4Device {
    /// Copies `t` (codes and constants, as they are) to `device`.
    pub fn upload(t: &Nf4Tensor, device: &Device) -> Result<Self> {
        let packed = Tensor::from_slice(t.packed(), t.packed().len(), device)?;
        let scales = match t.absmax() {
            Absmax::Plain(v) => DeviceScales::Plain(Tensor::from_slice(v, v.len(), device)?),
            Absmax::Double(d) => DeviceScales::Double {
                codes: Tensor::from_slice(&d.codes, d.codes.len(), device)?,
                absmax2: Tensor::from_slice(&d.absmax2, d.absmax2.len(), device)?,
                code2: Tensor::from_slice(&d.code2[..], 256, device)?,
                offset: d.offset,
                blocksize2: d.blocksize2,
            },
        };
        Ok(Nf4Device {
            shape: t.shape(),
            blocksize: t.blocksize(),
            packed,
            scales,
        })
    }

    pub fn blocksize(&self) -> usize {
        self.blocksize
    }

    /// Bytes of the packed codes.
    pub fn packed_bytes(&self) -> usize {
        self.packed.elem_count()
    }

    /// Bytes of the block constants (the 256-entry code table shared by every weight excluded,
    /// as in [`Nf4Tensor::constants_bytes`]).
    pub fn constants_bytes(&self) -> usize {
        match &self.scales {
            DeviceScales::Plain(a) => 4 * a.elem_count(),
            DeviceScales::Double { codes, absmax2, .. } => codes.elem_count() + 4 * absmax2.elem_count() + 4,
        }
    }

    /// The dense matrix (out, in) in `dtype` (f32 or bf16), computed on the device.
    pub fn dequantize(&self, dtype: DType) -> Result<Tensor> {
        if !matches!(dtype, DType::F32 | DType::BF16) {
            candle_core::bail!("ftbench-nf4-dequant: output dtype {dtype:?} (f32 or bf16)");
        }
        self.packed.apply_op1_no_bwd(&Dequant { w: self, dtype })?.reshape(self.shape)
    }
}

impl FrozenWeight for Nf4Device {
    fn dense(&self, dtype: DType) -> Result<Tensor> {
        match dtype {
            DType::F32 | DType::BF16 => self.dequantize(dtype),
            other => self.dequantize(DType::F32)?.to_dtype(other),
        }
    }
    fn shape(&self) -> (usize, usize) {
        self.shape
    }
    fn name(&self) -> &'static str {
        "ftbench-nf4-linear"
    }
    fn stored_bytes(&self) -> usize {
        let bytes = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        self.packed.elem_count()
            + match &self.scales {
                DeviceScales::Plain(a) => bytes(a),
                DeviceScales::Double { codes, absmax2, code2, .. } => bytes(codes) + bytes(absmax2) + bytes(code2) + 4,
            }
    }
}

/// The dequantization as an op on the packed codes (no backward: the weight is frozen).
struct Dequant<'a> {
    w: &'a Nf4Device,
    dtype: DType,
}

impl CustomOp1 for Dequant<'_> {
    fn name(&self) -> &'static str {
        "ftbench-nf4-dequant"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let packed = crate::elem::slice_u8(self.name(), "packed codes", s, l)?;
        let n = packed.len() * 2;
        let mut out = vec![0f32; n];
        match &self.w.scales {
            DeviceScales::Plain(a) => {
                let a: Vec<f32> = a.to_vec1()?;
                dequantize_with(packed, self.w.blocksize, &mut out, |b| a[b]);
            }
            DeviceScales::Double {
                codes,
                absmax2,
                code2,
                offset,
                blocksize2,
            } => {
                let (q, a2, c2): (Vec<u8>, Vec<f32>, Vec<f32>) = (codes.to_vec1()?, absmax2.to_vec1()?, code2.to_vec1()?);
                dequantize_with(packed, self.w.blocksize, &mut out, |b| {
                    c2[q[b] as usize] * a2[b / blocksize2] + offset
                });
            }
        }
        let storage = match self.dtype {
            DType::BF16 => CpuStorage::BF16(out.iter().map(|&x| half::bf16::from_f32(x)).collect()),
            _ => CpuStorage::F32(out),
        };
        Ok((storage, Shape::from(n)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        let out = crate::cuda::nf4::dequantize(self.w, s, l, self.dtype)?;
        Ok((out, Shape::from(l.shape().elem_count() * 2)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 1013) as f32 - 506.0) / 300.0).collect()
    }

    #[test]
    fn device_dequantization_equals_the_host_tensor_plain_and_double() -> Result<()> {
        for double in [false, true] {
            let t = Nf4Tensor::quantize(&values(64 * 300), (64, 300), 64, double).expect("quantizes");
            let d = Nf4Device::upload(&t, &Device::Cpu)?;
            let got: Vec<f32> = d.dense(DType::F32)?.flatten_all()?.to_vec1()?;
            assert_eq!(got, t.dequantize(), "double_quant {double}");
            let bf: Vec<f32> = d.dense(DType::BF16)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let want: Vec<f32> = t.dequantize().iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect();
            assert_eq!(bf, want);
            assert_eq!(d.packed_bytes(), t.packed_bytes());
            assert_eq!(d.constants_bytes(), t.constants_bytes());
        }
        Ok(())
    }
}
