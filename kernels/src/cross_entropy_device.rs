//! The chunked LM head + cross-entropy of [`crate::cross_entropy`] written in candle tensor ops,
//! for devices the slice code does not run on (a CUDA GPU, in f32 or bf16): the same chunking
//! (at most one vocabulary chunk of logits at a time, in f32), the same online log-sum-exp, the
//! same backward (each chunk's logits recomputed, dlogits = (softmax − onehot)·g/n). Tests run it
//! on the CPU against the slice code; tests/cuda_ops.rs on a GPU.

use candle_core::{DType, Result, Tensor, D};

/// Per-row log-sum-exp (n) in f32 and the mean loss (scalar f32) of h (n, d) · w (vocab, d)ᵀ
/// against targets (n, u32), over the vocabulary chunks `chunks`.
pub fn forward(h: &Tensor, w: &Tensor, targets: &Tensor, chunks: &[(usize, usize)]) -> Result<(Tensor, Tensor)> {
    let n = h.dim(0)?;
    let (mut m, mut s): (Option<Tensor>, Option<Tensor>) = (None, None);
    for &(a, b) in chunks {
        let z = h.matmul(&w.narrow(0, a, b - a)?.t()?)?.to_dtype(DType::F32)?;
        let mc = z.max_keepdim(D::Minus1)?;
        let sc = z.broadcast_sub(&mc)?.exp()?.sum_keepdim(D::Minus1)?;
        (m, s) = match (m, s) {
            (Some(m0), Some(s0)) => {
                let m1 = m0.maximum(&mc)?;
                let s1 = ((s0 * (m0 - &m1)?.exp()?)? + (sc * (mc - &m1)?.exp()?)?)?;
                (Some(m1), Some(s1))
            }
            _ => (Some(mc), Some(sc)),
        };
    }
    let (Some(m), Some(s)) = (m, s) else {
        candle_core::bail!("ftbench-linear-cross-entropy: an empty vocabulary")
    };
    let lse = (m + s.log()?)?.squeeze(1)?;
    // The target's logit: each row's dot product with its target's head row, in f32.
    let picked = (h.to_dtype(DType::F32)? * w.index_select(targets, 0)?.to_dtype(DType::F32)?)?.sum(1)?;
    let loss = ((&lse - picked)?.sum_all()? / n as f64)?;
    Ok((lse, loss))
}

/// (dh, dw when `want_dw`) for the loss's gradient `g` (scalar), in h's and w's dtypes.
pub fn backward(
    h: &Tensor,
    w: &Tensor,
    targets: &Tensor,
    lse: &Tensor,
    g: &Tensor,
    chunks: &[(usize, usize)],
    want_dw: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let (n, _) = h.dims2()?;
    let coef = (g.to_dtype(DType::F32)? / n as f64)?;
    let (hf, lse) = (h.to_dtype(DType::F32)?, lse.unsqueeze(1)?);
    let mut dh: Option<Tensor> = None;
    let mut dw_parts = Vec::new();
    for &(a, b) in chunks {
        let wc = w.narrow(0, a, b - a)?;
        let z = h.matmul(&wc.t()?)?.to_dtype(DType::F32)?;
        let p = z.broadcast_sub(&lse)?.exp()?.broadcast_mul(&coef)?; // softmax · g/n
        let part = p.matmul(&wc.to_dtype(DType::F32)?)?;
        dh = Some(match dh {
            None => part,
            Some(acc) => (acc + part)?,
        });
        if want_dw {
            dw_parts.push(p.t()?.matmul(&hf)?);
        }
    }
    let Some(dh) = dh else {
        candle_core::bail!("ftbench-linear-cross-entropy: an empty vocabulary")
    };
    // The one-hot term: −g/n at each row's target.
    let wt = w.index_select(targets, 0)?.to_dtype(DType::F32)?;
    let dh = (dh - wt.broadcast_mul(&coef)?)?.to_dtype(h.dtype())?;
    let dw = if want_dw {
        let dw = Tensor::cat(&dw_parts, 0)?;
        let minus = hf.broadcast_mul(&coef)?.neg()?;
        Some(dw.index_add(targets, &minus, 0)?.to_dtype(w.dtype())?)
    } else {
        None
    };
    Ok((dh, dw))
}

#[cfg(test)]
mod tests {
    use crate::cross_entropy::{linear_cross_entropy_by_tensor_ops, linear_cross_entropy_chunked};
    use candle_core::{Device, Result, Tensor, Var};

    #[test]
    fn the_tensor_op_path_equals_the_slice_code_forward_and_backward() -> Result<()> {
        let (n, d, vocab) = (13, 24, 101);
        let v = |k: usize, s: usize| (0..k).map(|i| (((i * 7919 + s) % 211) as f32 - 105.0) / 90.0).collect::<Vec<f32>>();
        let targets = Tensor::from_vec((0..n as u32).map(|i| (i * 37) % vocab as u32).collect::<Vec<_>>(), n, &Device::Cpu)?;
        let mut out = Vec::new();
        for by_tensors in [false, true] {
            let h = Var::from_tensor(&Tensor::from_vec(v(n * d, 1), (n, d), &Device::Cpu)?)?;
            let w = Var::from_tensor(&Tensor::from_vec(v(vocab * d, 2), (vocab, d), &Device::Cpu)?)?;
            // 5 rows × 40 values: three vocabulary chunks, the last one short.
            let f = if by_tensors {
                linear_cross_entropy_by_tensor_ops
            } else {
                linear_cross_entropy_chunked
            };
            let loss = f(h.as_tensor(), w.as_tensor(), &targets, n * 40)?;
            let g = (&loss * 3.0)?.backward()?;
            out.push((
                loss.to_scalar::<f32>()?,
                g.get(h.as_tensor()).unwrap().clone(),
                g.get(w.as_tensor()).unwrap().clone(),
            ));
        }
        let diff = |a: &Tensor, b: &Tensor| -> Result<f32> { (a - b)?.abs()?.max_all()?.to_scalar::<f32>() };
        assert!((out[0].0 - out[1].0).abs() < 1e-5, "loss {} vs {}", out[0].0, out[1].0);
        assert!(diff(&out[0].1, &out[1].1)? < 1e-5, "dh");
        assert!(diff(&out[0].2, &out[1].2)? < 1e-5, "dw");
        Ok(())
    }

    #[test]
    fn the_loss_is_f32_for_bf16_inputs_and_bad_targets_are_errors_on_both_paths() -> Result<()> {
        use candle_core::DType;
        let (n, d, vocab) = (6, 8, 50);
        let v = |k: usize, s: usize| (0..k).map(|i| (((i * 7919 + s) % 211) as f32 - 105.0) / 90.0).collect::<Vec<f32>>();
        let h = Tensor::from_vec(v(n * d, 1), (n, d), &Device::Cpu)?;
        let w = Tensor::from_vec(v(vocab * d, 2), (vocab, d), &Device::Cpu)?;
        let targets = Tensor::from_vec((0..n as u32).map(|i| i * 7).collect::<Vec<_>>(), n, &Device::Cpu)?;
        let f32_loss = linear_cross_entropy_by_tensor_ops(&h, &w, &targets, 64)?.to_scalar::<f32>()?;
        // bf16 hidden rows and head (what a GPU computes in): the loss comes back in f32, close
        // to the f32 loss, and not rounded to bf16's grid.
        let (hb, wb) = (h.to_dtype(DType::BF16)?, w.to_dtype(DType::BF16)?);
        let loss = linear_cross_entropy_by_tensor_ops(&hb, &wb, &targets, 64)?;
        assert_eq!(loss.dtype(), DType::F32);
        let l = loss.to_scalar::<f32>()?;
        assert!((l - f32_loss).abs() < 0.05, "{l} vs {f32_loss}");
        assert_ne!(half::bf16::from_f32(l).to_f32(), l, "{l} is on the bf16 grid");
        // An id outside the vocabulary is an error naming it, on the slice path and on the
        // tensor path (which is a GPU's: there it would be an unchecked read).
        let bad = Tensor::from_vec(vec![0u32, 1, 2, 3, 4, vocab as u32], n, &Device::Cpu)?;
        for by_tensors in [false, true] {
            let f = if by_tensors {
                linear_cross_entropy_by_tensor_ops
            } else {
                linear_cross_entropy_chunked
            };
            let e = f(&h, &w, &bad, 64).unwrap_err().to_string();
            assert!(e.contains("target id 50 at row 5 is outside the vocabulary of 50"), "{e}");
        }
        Ok(())
    }
}
