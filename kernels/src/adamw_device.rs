//! AdamW with its moments on the parameter's device, for parameters the host kernel
//! ([`crate::adamw::step`], f32/f64 on the CPU) does not take: any parameter on a GPU, and bf16
//! parameters anywhere ("pure bf16" training). The moments are f32 or bf16 tensors.
//!
//! On CUDA the step is one fused kernel (kernels/cuda/adamw.cuh); elsewhere it is composed from
//! candle tensor ops with the same f32 arithmetic (a few temporaries the size of the parameter).
//! Tests check the composed step against the host kernel, and tests/cuda_ops.rs the CUDA kernel
//! against both.

use crate::adamw::{AdamWHyper, StepConsts};
use candle_core::{DType, Result, Tensor, Var};

/// The two moments of one parameter, on its device.
pub struct DeviceMoments {
    pub m: Var,
    pub v: Var,
}

impl DeviceMoments {
    /// Zero moments shaped like `param`, stored as `dtype` (f32 or bf16).
    pub fn zeros(param: &Tensor, dtype: DType) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::BF16) {
            candle_core::bail!("ftbench-adamw: moments on the device are f32 or bf16, not {dtype:?}");
        }
        Ok(DeviceMoments {
            m: Var::zeros(param.shape(), dtype, param.device())?,
            v: Var::zeros(param.shape(), dtype, param.device())?,
        })
    }

    pub fn bytes(&self) -> usize {
        2 * self.m.elem_count() * self.m.dtype().size_in_bytes()
    }

    pub fn dtype(&self) -> DType {
        self.m.dtype()
    }
}

/// One AdamW step of `param` in place on its device (see the module doc).
pub fn step_device(param: &Var, grad: &Tensor, s: &DeviceMoments, h: &AdamWHyper) -> Result<()> {
    if param.dims() != grad.dims() {
        candle_core::bail!(
            "ftbench-adamw: parameter shape {:?} vs gradient shape {:?}",
            param.dims(),
            grad.dims()
        );
    }
    let grad = grad.to_dtype(param.dtype())?.contiguous()?;
    #[cfg(feature = "cuda")]
    if param.device().is_cuda() {
        return crate::cuda::adamw::step(param.as_tensor(), &grad, s.m.as_tensor(), s.v.as_tensor(), h);
    }
    step_composed(param, &grad, s, h)
}

/// The step from tensor ops, in f32: the arithmetic of `impl Param for f32` in adamw.rs.
pub fn step_composed(param: &Var, grad: &Tensor, s: &DeviceMoments, h: &AdamWHyper) -> Result<()> {
    let c = StepConsts::of(h);
    let f = |t: &Tensor| t.to_dtype(DType::F32);
    let g = (f(grad)? * c.grad_scale)?;
    let m = ((f(s.m.as_tensor())? * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
    let v = ((f(s.v.as_tensor())? * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let denom = ((v.sqrt()? * (1.0 / c.bc2_sqrt))? + c.eps)?;
    let p = ((f(param.as_tensor())? * c.decay)? - ((&m / denom)? * c.step_size)?)?;
    s.m.set(&m.to_dtype(s.m.dtype())?)?;
    s.v.set(&v.to_dtype(s.v.dtype())?)?;
    param.set(&p.to_dtype(param.dtype())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adamw::{step, Moments};
    use crate::AdamState;
    use candle_core::Device;

    fn hyper(step: u64) -> AdamWHyper {
        AdamWHyper {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            step,
            grad_scale: 0.5,
        }
    }

    fn grad(step: u64, n: usize) -> Vec<f32> {
        (0..n).map(|i| (((i + step as usize * 13) * 7 % 53) as f32 - 26.0) / 10.0).collect()
    }

    #[test]
    fn the_composed_step_follows_the_host_kernel() -> Result<()> {
        let n = 5000;
        let p0: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let host = Tensor::from_vec(p0.clone(), n, &Device::Cpu)?;
        let mut host_state = AdamState::from(Moments::zeros(n));
        let dev = Var::from_tensor(&Tensor::from_vec(p0.clone(), n, &Device::Cpu)?)?;
        let moments = DeviceMoments::zeros(dev.as_tensor(), DType::F32)?;
        for t in 1..=5 {
            let g = Tensor::from_vec(grad(t, n), n, &Device::Cpu)?;
            step(&host, &g, &mut host_state, &hyper(t))?;
            step_composed(&dev, &g, &moments, &hyper(t))?;
        }
        let (a, b): (Vec<f32>, Vec<f32>) = (host.to_vec1()?, dev.as_tensor().to_vec1()?);
        let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let moved = a.iter().zip(&p0).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(err < 1e-5 && moved > 1e-2, "max difference {err}, moved {moved}");
        Ok(())
    }

    #[test]
    fn bf16_parameters_with_bf16_moments_train_in_bf16() -> Result<()> {
        let n = 4096;
        let p0: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let f32p = Var::from_tensor(&Tensor::from_vec(p0.clone(), n, &Device::Cpu)?)?;
        let bf16p = Var::from_tensor(&Tensor::from_vec(p0.clone(), n, &Device::Cpu)?.to_dtype(DType::BF16)?)?;
        let (m32, m16) = (
            DeviceMoments::zeros(f32p.as_tensor(), DType::F32)?,
            DeviceMoments::zeros(bf16p.as_tensor(), DType::BF16)?,
        );
        for t in 1..=5 {
            let g = Tensor::from_vec(grad(t, n), n, &Device::Cpu)?;
            step_device(&f32p, &g, &m32, &hyper(t))?;
            step_device(&bf16p, &g.to_dtype(DType::BF16)?, &m16, &hyper(t))?;
        }
        assert_eq!(bf16p.dtype(), DType::BF16);
        assert_eq!(m16.bytes(), 4 * n);
        let (a, b): (Vec<f32>, Vec<f32>) = (f32p.as_tensor().to_vec1()?, bf16p.as_tensor().to_dtype(DType::F32)?.to_vec1()?);
        // bf16 keeps 8 bits of mantissa: within a few ulps of |p| ≤ 2 after five steps.
        let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(err < 0.05, "bf16 drifted {err} from f32");
        Ok(())
    }
}
