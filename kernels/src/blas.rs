//! The CPU matmul backend this binary was built with, and what the MKL build needs to link.

/// "mkl" (Intel MKL, the `mkl` cargo feature), "gemm+openblas" (candle's gemm, with the frozen
/// linears and the LM head on OpenBLAS: the `openblas` feature) or "gemm" (candle's default
/// pure-Rust gemm).
pub const BACKEND: &str = if cfg!(feature = "mkl") {
    "mkl"
} else if cfg!(feature = "openblas") {
    "gemm+openblas"
} else {
    "gemm"
};

#[cfg(feature = "mkl")]
extern crate intel_mkl_src;

/// candle's MKL binding references `hgemm_` (f16 matmul), which Debian's MKL 2020.4 lacks. No
/// f16 matmul runs on ftbench's CPU path; this definition only lets the binary link, and says
/// so if anything ever calls it.
#[cfg(feature = "mkl")]
#[no_mangle]
pub extern "C" fn hgemm_() {
    eprintln!("ftbench: f16 matmul (hgemm) is not available in the MKL build");
    std::process::abort();
}

/// a (m, k) · bᵀ for b (n, k) when `b_transposed`, else a · b for b (k, n): both 2-D.
///
/// With the `openblas` feature, contiguous f32 operands go to OpenBLAS's `cblas_sgemm` (the
/// linears and the LM head call this); everything else is candle's matmul.
pub fn matmul(a: &candle_core::Tensor, b: &candle_core::Tensor, b_transposed: bool) -> candle_core::Result<candle_core::Tensor> {
    gemm(a, false, b, b_transposed)
}

/// op(a) · op(b) for 2-D a and b, op = transpose where asked (a stored (k, m) when
/// `a_transposed`, b stored (n, k) when `b_transposed`): OpenBLAS with the `openblas` feature
/// for contiguous f32 CPU operands, candle's matmul otherwise.
pub fn gemm(
    a: &candle_core::Tensor,
    a_transposed: bool,
    b: &candle_core::Tensor,
    b_transposed: bool,
) -> candle_core::Result<candle_core::Tensor> {
    #[cfg(feature = "openblas")]
    if let Some(y) = openblas::gemm(a, a_transposed, b, b_transposed)? {
        return Ok(y);
    }
    let a = if a_transposed { a.t()? } else { a.clone() };
    let b = if b_transposed { b.t()? } else { b.clone() };
    a.matmul(&b)
}

#[cfg(feature = "openblas")]
mod openblas {
    use crate::elem;
    use candle_core::{DType, Result, Tensor};

    const ROW_MAJOR: i32 = 101;
    const NO_TRANS: i32 = 111;
    const TRANS: i32 = 112;

    #[link(name = "openblas")]
    extern "C" {
        fn cblas_sgemm(
            order: i32,
            trans_a: i32,
            trans_b: i32,
            m: i32,
            n: i32,
            k: i32,
            alpha: f32,
            a: *const f32,
            lda: i32,
            b: *const f32,
            ldb: i32,
            beta: f32,
            c: *mut f32,
            ldc: i32,
        );
    }

    /// None when the operands are not contiguous 2-D f32 CPU tensors (candle handles those).
    pub fn gemm(a: &Tensor, at: bool, b: &Tensor, bt: bool) -> Result<Option<Tensor>> {
        let ok = |t: &Tensor| t.dtype() == DType::F32 && t.device().is_cpu() && t.is_contiguous() && t.rank() == 2;
        if !ok(a) || !ok(b) {
            return Ok(None);
        }
        let (ar, ac) = a.dims2()?;
        let (br, bc) = b.dims2()?;
        let (m, k) = if at { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if bt { (bc, br) } else { (br, bc) };
        if k != kb {
            candle_core::bail!(
                "matmul: {:?}{} against {:?}{}",
                a.dims(),
                if at { "ᵀ" } else { "" },
                b.dims(),
                if bt { "ᵀ" } else { "" }
            );
        }
        let mut c = vec![0f32; m * n];
        if k > 0 {
            elem::with_values::<f32, _>("openblas-sgemm", "a", a, |av| {
                elem::with_values::<f32, _>("openblas-sgemm", "b", b, |bv| {
                    // SAFETY: av and bv hold the row-major (ar, ac) and (br, bc) matrices, c the
                    // (m, n) result; the leading dimensions are their row lengths.
                    unsafe {
                        cblas_sgemm(
                            ROW_MAJOR,
                            if at { TRANS } else { NO_TRANS },
                            if bt { TRANS } else { NO_TRANS },
                            m as i32,
                            n as i32,
                            k as i32,
                            1.0,
                            av.as_ptr(),
                            ac as i32,
                            bv.as_ptr(),
                            bc as i32,
                            0.0,
                            c.as_mut_ptr(),
                            n as i32,
                        )
                    };
                    Ok(())
                })
            })?;
        }
        Ok(Some(elem::tensor(c, (m, n))?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    /// Every transpose combination against candle's plain matmul, at a size where the
    /// backends block the work (so a wrong stride or leading dimension shows).
    #[test]
    fn gemm_matches_candle_for_every_transpose() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (m, k, n) = (37, 70, 45);
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        let b = Tensor::randn(0f32, 1.0, (k, n), &dev)?;
        let want = a.matmul(&b)?;
        for (at, bt) in [(false, false), (false, true), (true, false), (true, true)] {
            let a_in = if at { a.t()?.contiguous()? } else { a.clone() };
            let b_in = if bt { b.t()?.contiguous()? } else { b.clone() };
            let got = super::gemm(&a_in, at, &b_in, bt)?;
            let d = (got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-3, "a transposed {at}, b transposed {bt}: {d}");
        }
        Ok(())
    }
}
