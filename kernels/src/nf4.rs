//! NF4 (4-bit NormalFloat) blockwise quantization, bit-compatible with bitsandbytes'
//! `quantize_4bit(..., quant_type="nf4")` / `dequantize_4bit` on the CPU, including double
//! quantization of the block constants (`compress_statistics=True`).
//!
//! What bitsandbytes (0.50.x, CPU) does, and what this module reproduces bit for bit:
//!
//! - The values are split, in row-major order, into blocks of `blocksize` values (the last block
//!   may be partial). Each block keeps its absolute maximum as an f32 constant.
//! - A value is scaled into [-1, 1] and mapped to the index of the nearest entry of the 16-value
//!   NF4 codebook [`NF4_CODE`]: the index is the number of midpoints [`NF4_MIDPOINTS`] (computed in
//!   f32) strictly below the scaled value, so a value exactly on a midpoint takes the lower code
//!   (`torch.bucketize(right=False)` on the CPU; the CUDA decision tree in `dQuantizeNF4` has the
//!   same 15 thresholds, as f32, and the same `x > threshold` rule).
//! - Scaling: full blocks multiply by the reciprocal `1 / max(absmax, 1e-38)`; the partial last
//!   block divides by `max(absmax, 1e-38)`, and it is that clamped value that is stored for the
//!   partial block (a full all-zero block stores 0, a partial one 1e-38).
//! - Two codes per byte, the first value in the high nibble.
//! - Dequantization: `NF4_CODE[code] * absmax` in f32.
//! - Double quantization: `offset = mean(absmax)` (summed in the order PyTorch's CPU `sum` uses,
//!   see [`torch_mean_f32`]); `absmax - offset` is quantized in blocks of 256 with the signed 8-bit
//!   dynamic map ([`dynamic_map`]), with bitsandbytes' CPU kernel rounding (a 65 536-entry lookup
//!   table over [-1, 1], see [`DoubleQuant`]); the block constants are rebuilt as
//!   `code2[q] * absmax2 + offset`.
//!
//! Everything works over plain slices and is parallelised over blocks with rayon; the candle
//! glue ([`Nf4Tensor::quantize_tensor`], [`Nf4Tensor::dequantize_tensor`]) converts to and from
//! f32 tensors.

use rayon::prelude::*;
use std::sync::OnceLock;

/// The NF4 codebook, index 0 = -1.0, index 7 = 0.0, index 15 = 1.0: bitsandbytes' f32 constants
/// (`get_4bit_type("nf4")`, from `create_normal_map(offset=0.9677083)`).
#[allow(clippy::excessive_precision)] // bitsandbytes' literal decimals, kept as written
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.696_192_800_998_687_7,
    -0.525_073_051_452_636_7,
    -0.394_917_488_098_144_53,
    -0.284_441_381_692_886_35,
    -0.184_773_430_228_233_34,
    -0.091_050_036_251_544_95,
    0.0,
    0.079_580_299_556_255_34,
    0.160_930_201_411_247_25,
    0.246_112_301_945_686_34,
    0.337_915_241_718_292_24,
    0.440_709_829_330_444_34,
    0.562_617_003_917_694_1,
    0.722_956_836_223_602_3,
    1.0,
];

/// The 15 decision thresholds between neighbouring NF4 codes, `(code[i] + code[i + 1]) / 2` in
/// f32, as bitsandbytes computes them. A scaled value `s` gets the code
/// `#{ i : NF4_MIDPOINTS[i] < s }`.
pub const NF4_MIDPOINTS: [f32; 15] = {
    let mut m = [0.0f32; 15];
    let mut i = 0;
    while i < 15 {
        m[i] = (NF4_CODE[i] + NF4_CODE[i + 1]) / 2.0;
        i += 1;
    }
    m
};

/// bitsandbytes' default NF4 block size.
pub const DEFAULT_BLOCKSIZE: usize = 64;

/// Block size of the second-level (double) quantization of the block constants.
pub const DOUBLE_QUANT_BLOCKSIZE: usize = 256;

/// Lower clamp bitsandbytes applies to a block's absmax before scaling (`clamp(min=1e-38)`).
const MIN_ABSMAX: f32 = 1e-38;

/// Elements each rayon task handles (whole blocks are grouped up to about this many values).
const TASK_ELEMS: usize = 1 << 14;

/// Byte -> the two f32 codebook values it encodes (high nibble first).
static NF4_PAIR_LUT: [[f32; 2]; 256] = {
    let mut t = [[0.0f32; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [NF4_CODE[b >> 4], NF4_CODE[b & 15]];
        b += 1;
    }
    t
};

/// Why a quantization or dequantization was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Nf4Error {
    #[error("NF4: blocksize must be positive")]
    ZeroBlocksize,
    #[error("NF4: blocksize {0} is odd (two 4-bit codes share a byte, so blocks must hold an even number of values)")]
    OddBlocksize(usize),
    #[error("NF4: nothing to quantize (0 values)")]
    Empty,
    #[error("NF4: {0} values is an odd count (two 4-bit codes per byte)")]
    OddElementCount(usize),
    #[error("NF4: shape {rows}x{cols} holds {} values but {len} were given", rows * cols)]
    ShapeMismatch { rows: usize, cols: usize, len: usize },
    #[error("NF4: value {value} at index {index} is not finite")]
    NonFinite { index: usize, value: f32 },
    #[error("NF4: {what} has length {got}, expected {expected}")]
    Length { what: &'static str, expected: usize, got: usize },
    #[error("NF4: invalid parts: {0}")]
    Invalid(String),
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), Nf4Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Nf4Error::Length { what, expected, got })
    }
}

/// Whether `blocksize` can hold NF4 blocks: positive and even (two 4-bit codes share a byte).
/// The one check every layer (suite knobs, estimator, quantizer) applies.
pub fn check_blocksize(blocksize: usize) -> Result<(), Nf4Error> {
    if blocksize == 0 {
        Err(Nf4Error::ZeroBlocksize)
    } else if !blocksize.is_multiple_of(2) {
        Err(Nf4Error::OddBlocksize(blocksize))
    } else {
        Ok(())
    }
}

/// Number of blocks of `blocksize` values covering `n` values (the last one may be partial).
pub fn num_blocks(n: usize, blocksize: usize) -> usize {
    n.div_ceil(blocksize)
}

/// The NF4 code of a value already scaled into [-1, 1] (values outside saturate to 0 or 15; NaN
/// gives 0). Ties go to the lower code, as in bitsandbytes.
#[inline(always)]
pub fn nf4_code_index(scaled: f32) -> u8 {
    let mut q = 0u32;
    for m in NF4_MIDPOINTS {
        q += (scaled > m) as u32;
    }
    q as u8
}

// ---------------------------------------------------------------------------------------------
// First level: NF4 codes + one f32 absmax per block.
// ---------------------------------------------------------------------------------------------

/// Max |x| over a block (0 for an all-zero block) and whether every value is finite.
///
/// Computed on the bit patterns: for |x| the IEEE bits `x & 0x7fff_ffff` order like the values,
/// and every NaN or infinity lies at or above `0x7f80_0000`, so one integer max does both.
#[inline(always)]
fn block_absmax(x: &[f32]) -> (f32, bool) {
    const ABS: u32 = 0x7fff_ffff;
    let (chunks, rest) = x.as_chunks::<8>();
    let mut acc = [0u32; 8];
    for c in chunks {
        for i in 0..8 {
            acc[i] = acc[i].max(c[i].to_bits() & ABS);
        }
    }
    let mut m = acc.iter().fold(0u32, |m, &a| m.max(a));
    for v in rest {
        m = m.max(v.to_bits() & ABS);
    }
    (f32::from_bits(m), m < 0x7f80_0000)
}

/// Codes of `x` (scaled by `f`) packed two per byte into `packed` (`x.len()` is even). `AVX2`:
/// the caller runs with AVX2 enabled.
#[inline(always)]
fn pack_block<const AVX2: bool>(x: &[f32], packed: &mut [u8], f: impl Fn(f32) -> f32) {
    let (xs, xrest) = x.as_chunks::<16>();
    let (ps, prest) = packed.as_chunks_mut::<8>();
    for (xc, pc) in xs.iter().zip(ps.iter_mut()) {
        let s: [f32; 16] = std::array::from_fn(|i| f(xc[i]));
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: AVX2 is enabled in the caller (the const parameter says so).
            *pc = unsafe { codes16_avx2(&s) };
            continue;
        }
        // The code is the number of midpoints below the value, counted in f32 lanes so that the
        // comparisons stay full-width vectors.
        let mut q = [0.0f32; 16];
        for m in NF4_MIDPOINTS {
            for i in 0..16 {
                q[i] += if s[i] > m { 1.0 } else { 0.0 };
            }
        }
        for j in 0..8 {
            // hi * 16 + lo (exact, 0..=255) read back as an integer: adding 2^23 puts it in the
            // low mantissa bits, which keeps the conversion vectorized.
            pc[j] = (q[2 * j] * 16.0 + q[2 * j + 1] + 8_388_608.0).to_bits() as u8;
        }
    }
    for (pair, p) in xrest.chunks_exact(2).zip(prest.iter_mut()) {
        *p = (nf4_code_index(f(pair[0])) << 4) | nf4_code_index(f(pair[1]));
    }
}

/// The packed codes of 16 scaled values with AVX2: per midpoint one compare and one integer
/// subtraction of its all-ones mask (= +1 where `s > m`), then `code[2j] << 4 | code[2j + 1]`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn codes16_avx2(s: &[f32; 16]) -> [u8; 8] {
    use std::arch::x86_64::*;
    // SAFETY: the loads and stores stay within the 16-value input and the 8-lane arrays.
    unsafe {
        let s0 = _mm256_loadu_ps(s.as_ptr());
        let s1 = _mm256_loadu_ps(s.as_ptr().add(8));
        let mut c0 = _mm256_setzero_si256();
        let mut c1 = _mm256_setzero_si256();
        for m in NF4_MIDPOINTS {
            let mv = _mm256_set1_ps(m);
            // _CMP_GT_OQ is Rust's `>`: false when either side is NaN.
            c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(s0, mv)));
            c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(s1, mv)));
        }
        // Even lanes: code[2j] * 16 + code[2j + 1] (the odd lane shifted down into them).
        let d0 = _mm256_add_epi32(_mm256_slli_epi32::<4>(c0), _mm256_srli_epi64::<32>(c0));
        let d1 = _mm256_add_epi32(_mm256_slli_epi32::<4>(c1), _mm256_srli_epi64::<32>(c1));
        let mut a = [0u32; 8];
        let mut b = [0u32; 8];
        _mm256_storeu_si256(a.as_mut_ptr().cast(), d0);
        _mm256_storeu_si256(b.as_mut_ptr().cast(), d1);
        [
            a[0] as u8, a[2] as u8, a[4] as u8, a[6] as u8, b[0] as u8, b[2] as u8, b[4] as u8, b[6] as u8,
        ]
    }
}

/// Quantizes one block; returns the absmax bitsandbytes stores for it, or `None` if the block
/// holds a non-finite value.
#[inline(always)]
fn quantize_block<const AVX2: bool>(x: &[f32], packed: &mut [u8], partial: bool) -> Option<f32> {
    let (amax, finite) = block_absmax(x);
    if !finite {
        return None;
    }
    let clamped = if amax > MIN_ABSMAX { amax } else { MIN_ABSMAX };
    if partial {
        // bitsandbytes divides the trailing partial block by its (clamped) absmax and stores the
        // clamped value.
        pack_block::<AVX2>(x, packed, |v| v / clamped);
        Some(clamped)
    } else {
        // Full blocks: multiplied by the reciprocal; the unclamped absmax is stored.
        let inv = 1.0 / clamped;
        pack_block::<AVX2>(x, packed, |v| v * inv);
        Some(amax)
    }
}

/// Quantizes a run of whole blocks (only the last may be partial). `Err(i)`: block `i` (local)
/// holds a non-finite value.
#[inline(always)]
fn quantize_blocks_body<const AVX2: bool>(x: &[f32], packed: &mut [u8], absmax: &mut [f32], blocksize: usize) -> Result<(), usize> {
    for (b, ((xb, pb), a)) in x
        .chunks(blocksize)
        .zip(packed.chunks_mut(blocksize / 2))
        .zip(absmax.iter_mut())
        .enumerate()
    {
        match quantize_block::<AVX2>(xb, pb, xb.len() < blocksize) {
            Some(m) => *a = m,
            None => return Err(b),
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_blocks_avx2(x: &[f32], packed: &mut [u8], absmax: &mut [f32], blocksize: usize) -> Result<(), usize> {
    quantize_blocks_body::<true>(x, packed, absmax, blocksize)
}

fn quantize_blocks(x: &[f32], packed: &mut [u8], absmax: &mut [f32], blocksize: usize) -> Result<(), usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above). The vector code computes the
            // same IEEE products, quotients and comparisons as the scalar code.
            return unsafe { quantize_blocks_avx2(x, packed, absmax, blocksize) };
        }
    }
    quantize_blocks_body::<false>(x, packed, absmax, blocksize)
}

/// Blocks per rayon task.
fn blocks_per_task(blocksize: usize) -> usize {
    (TASK_ELEMS / blocksize).max(1)
}

/// NF4-quantizes `values` blockwise into `packed` (`values.len() / 2` bytes, first value of each
/// pair in the high nibble) and `absmax` (one f32 per block), exactly as bitsandbytes does.
pub fn quantize_nf4_into(values: &[f32], blocksize: usize, packed: &mut [u8], absmax: &mut [f32]) -> Result<(), Nf4Error> {
    check_blocksize(blocksize)?;
    let n = values.len();
    if n == 0 {
        return Err(Nf4Error::Empty);
    }
    if !n.is_multiple_of(2) {
        return Err(Nf4Error::OddElementCount(n));
    }
    check_len("packed", n / 2, packed.len())?;
    check_len("absmax", num_blocks(n, blocksize), absmax.len())?;
    let per_task = blocks_per_task(blocksize);
    let res = values
        .par_chunks(per_task * blocksize)
        .zip(packed.par_chunks_mut(per_task * blocksize / 2))
        .zip(absmax.par_chunks_mut(per_task))
        .try_for_each(|((x, p), a)| quantize_blocks(x, p, a, blocksize));
    if res.is_err() {
        let index = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Err(Nf4Error::NonFinite {
            index,
            value: values[index],
        });
    }
    Ok(())
}

#[inline(always)]
fn dequant_block(packed: &[u8], scale: f32, out: &mut [f32]) {
    let (pairs, _) = out.as_chunks_mut::<2>();
    for (o, &b) in pairs.iter_mut().zip(packed) {
        let [first, second] = NF4_PAIR_LUT[b as usize];
        *o = [first * scale, second * scale];
    }
}

/// Dequantizes `packed` into `out` (`out.len()` values), block `b` scaled by `scale(b)`.
pub(crate) fn dequantize_with(packed: &[u8], blocksize: usize, out: &mut [f32], scale: impl Fn(usize) -> f32 + Sync) {
    let per_task = blocks_per_task(blocksize);
    out.par_chunks_mut(per_task * blocksize)
        .zip(packed.par_chunks(per_task * blocksize / 2))
        .enumerate()
        .for_each(|(t, (o, p))| {
            for (b, (ob, pb)) in o.chunks_mut(blocksize).zip(p.chunks(blocksize / 2)).enumerate() {
                dequant_block(pb, scale(t * per_task + b), ob);
            }
        });
}

/// Dequantizes NF4 codes with one f32 absmax per block: `out[i] = NF4_CODE[code_i] * absmax[block]`.
pub fn dequantize_nf4_into(packed: &[u8], absmax: &[f32], blocksize: usize, out: &mut [f32]) -> Result<(), Nf4Error> {
    check_blocksize(blocksize)?;
    let n = out.len();
    if !n.is_multiple_of(2) {
        return Err(Nf4Error::OddElementCount(n));
    }
    check_len("packed", n / 2, packed.len())?;
    check_len("absmax", num_blocks(n, blocksize), absmax.len())?;
    dequantize_with(packed, blocksize, out, |b| absmax[b]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Second level: the signed 8-bit dynamic map and the double quantization of the block constants.
// ---------------------------------------------------------------------------------------------

/// bitsandbytes' `torch.linspace(start, end, steps, dtype=float32)` on the CPU: both halves are
/// computed from their own end, `start + step * i` and `end - step * (steps - 1 - i)`, each as one
/// fused multiply-add.
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = (end - start) / (steps - 1) as f32;
    let half = steps / 2;
    (0..steps)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - 1 - i) as f32, end)
            }
        })
        .collect()
}

/// bitsandbytes' `create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)`: 256 sorted f32
/// values, dense near zero. Signed (the default code of `quantize_blockwise`, of NF4's double
/// quantization and of 8-bit Adam's first moment): in [-0.99297, 1]; unsigned (8-bit Adam's
/// second moment): in [0, 1], twice as many fraction values per decade.
fn create_dynamic_map(signed: bool) -> [f32; 256] {
    const MAX_EXPONENT_BITS: i32 = 7;
    const NON_SIGN_BITS: i32 = 7;
    let mut data: Vec<f32> = Vec::with_capacity(256);
    for i in 0..MAX_EXPONENT_BITS {
        let bits = i + NON_SIGN_BITS - MAX_EXPONENT_BITS + if signed { 0 } else { 1 };
        let items = (1usize << bits) + 1;
        let bounds = linspace_f32(0.1, 1.0, items);
        // Python's `10 ** e` (a double), applied to the f32 tensor as an f32 scalar.
        let e = -(MAX_EXPONENT_BITS - 1) + i;
        let scale = if e >= 0 { 10f64.powi(e) } else { 1.0 / 10f64.powi(-e) } as f32;
        let means: Vec<f32> = bounds.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        data.extend(means.iter().map(|&m| scale * m));
        if signed {
            data.extend(means.iter().map(|&m| -scale * m));
        }
    }
    // additional_items = 2^(7 - 7) - 1 = 0: nothing more.
    data.push(0.0);
    data.push(1.0);
    debug_assert_eq!(data.len(), 256);
    data.sort_by(|a, b| a.total_cmp(b));
    let mut out = [0.0f32; 256];
    out.copy_from_slice(&data);
    out
}

/// The signed 8-bit dynamic map (bitsandbytes' `create_dynamic_map()`), built once.
pub fn dynamic_map() -> &'static [f32; 256] {
    static MAP: OnceLock<[f32; 256]> = OnceLock::new();
    MAP.get_or_init(|| create_dynamic_map(true))
}

/// The unsigned 8-bit dynamic map (bitsandbytes' `create_dynamic_map(signed=False)`), built once.
pub fn unsigned_dynamic_map() -> &'static [f32; 256] {
    static MAP: OnceLock<[f32; 256]> = OnceLock::new();
    MAP.get_or_init(|| create_dynamic_map(false))
}

/// Size of bitsandbytes' CPU quantization lookup table over [-1, 1].
const QLUT_SIZE: usize = 1 << 16;

/// bitsandbytes' CPU 8-bit quantization table for a sorted 256-entry code: bin `i` stands for
/// `-1 + 2i/65535` and holds the number of code midpoints strictly below it.
fn build_code_lut(code: &[f32; 256]) -> Vec<u8> {
    let mid: Vec<f32> = code.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    let mut lut = vec![0u8; QLUT_SIZE];
    let mut idx = 0usize;
    for (i, slot) in lut.iter_mut().enumerate() {
        let val = -1.0f32 + (2.0 * i as f32) / (QLUT_SIZE - 1) as f32;
        while idx < mid.len() && mid[idx] < val {
            idx += 1;
        }
        *slot = idx as u8;
    }
    lut
}

fn dynamic_map_lut() -> &'static [u8] {
    static LUT: OnceLock<Vec<u8>> = OnceLock::new();
    LUT.get_or_init(|| build_code_lut(dynamic_map()))
}

/// The lookup-table bin of a value scaled into [-1, 1]: `(v + 1) * 0.5 * 65535 + 0.5` truncated,
/// the last multiply-add fused as bitsandbytes' compiled kernel does. Computed exactly in f64
/// (the product and sum need at most 42 bits) and rounded once to f32, which is the fused result.
#[inline(always)]
fn code_lut_bin(v: f32) -> usize {
    let v = v.clamp(-1.0, 1.0);
    let t = (v + 1.0) as f64 * 32767.5 + 0.5;
    (t as f32) as u16 as usize
}

/// bitsandbytes' CPU `quantize_blockwise` (8-bit) of `values` with a sorted 256-entry `code`:
/// per block the f32 absmax, and per value the code index of `value * (1 / absmax)` (an all-zero
/// block gets codes 0 and absmax 0). Returns (codes, absmax per block).
pub fn quantize_blockwise_8bit(values: &[f32], code: &[f32; 256], blocksize: usize) -> Result<(Vec<u8>, Vec<f32>), Nf4Error> {
    if blocksize == 0 {
        return Err(Nf4Error::ZeroBlocksize);
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(Nf4Error::NonFinite {
            index,
            value: values[index],
        });
    }
    let owned;
    let lut: &[u8] = if std::ptr::eq(code, dynamic_map()) || code == dynamic_map() {
        dynamic_map_lut()
    } else {
        owned = build_code_lut(code);
        &owned
    };
    let mut codes = vec![0u8; values.len()];
    let mut absmax = vec![0.0f32; num_blocks(values.len(), blocksize)];
    values
        .par_chunks(blocksize)
        .zip(codes.par_chunks_mut(blocksize))
        .zip(absmax.par_iter_mut())
        .for_each(|((x, q), a)| {
            let m = x.iter().fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
            *a = m;
            if m == 0.0 {
                q.fill(0);
                return;
            }
            let inv = 1.0 / m;
            for (qi, &v) in q.iter_mut().zip(x) {
                *qi = lut[code_lut_bin(v * inv)];
            }
        });
    Ok((codes, absmax))
}

/// `out[i] = code[codes[i]] * absmax[i / blocksize]` (bitsandbytes' `dequantize_blockwise`).
pub fn dequantize_blockwise_8bit_into(
    codes: &[u8],
    absmax: &[f32],
    code: &[f32; 256],
    blocksize: usize,
    out: &mut [f32],
) -> Result<(), Nf4Error> {
    if blocksize == 0 {
        return Err(Nf4Error::ZeroBlocksize);
    }
    check_len("out", codes.len(), out.len())?;
    check_len("absmax", num_blocks(codes.len(), blocksize), absmax.len())?;
    for ((o, q), a) in out.chunks_mut(blocksize).zip(codes.chunks(blocksize)).zip(absmax) {
        for (oi, &qi) in o.iter_mut().zip(q) {
            *oi = code[qi as usize] * a;
        }
    }
    Ok(())
}

/// The f32 sum PyTorch's CPU kernel computes for a contiguous 1-D f32 tensor with fewer than
/// 32 768 elements (above that it may split the work across threads): 8-lane vectors (AVX2)
/// summed with 4-way interleaving in a cascade, then the tail, then the lanes.
pub fn torch_sum_f32(x: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = x.len();
    if n >= LANES {
        let nvec = n / LANES;
        let vec_at = |i: usize| -> [f32; LANES] { x[i * LANES..(i + 1) * LANES].try_into().unwrap() };
        let vadd = |a: [f32; LANES], b: [f32; LANES]| -> [f32; LANES] { std::array::from_fn(|l| a[l] + b[l]) };
        let ilp = nvec / 4;
        let mut part = multi_row_sum(ilp, [0.0; LANES], |i, k| vec_at(i * 4 + k), vadd);
        for i in ilp * 4..nvec {
            part[0] = vadd(part[0], vec_at(i));
        }
        for k in 1..4 {
            part[0] = vadd(part[0], part[k]);
        }
        let mut acc = 0.0f32;
        for &v in &x[nvec * LANES..] {
            acc += v;
        }
        for l in part[0] {
            acc += l;
        }
        acc
    } else {
        let ilp = n / 4;
        let mut part = multi_row_sum(ilp, 0.0f32, |i, k| x[i * 4 + k], |a, b| a + b);
        for &v in &x[ilp * 4..] {
            part[0] += v;
        }
        part[0] + part[1] + part[2] + part[3]
    }
}

/// PyTorch's `multi_row_sum` (4 rows, 4 cascade levels).
#[allow(clippy::needless_range_loop)] // indexed like the original, level by level
fn multi_row_sum<T: Copy>(size: usize, zero: T, load: impl Fn(usize, usize) -> T, add: impl Fn(T, T) -> T) -> [T; 4] {
    const LEVELS: usize = 4;
    let ceil_log2 = if size <= 2 { 1 } else { usize::BITS - (size - 1).leading_zeros() } as usize;
    let level_power = (ceil_log2 / LEVELS).max(4);
    let level_step = 1usize << level_power;
    let level_mask = level_step - 1;
    let mut acc = [[zero; 4]; LEVELS];
    let mut i = 0;
    while i + level_step <= size {
        for _ in 0..level_step {
            for k in 0..4 {
                acc[0][k] = add(acc[0][k], load(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            for k in 0..4 {
                acc[j][k] = add(acc[j][k], acc[j - 1][k]);
                acc[j - 1][k] = zero;
            }
            if i & (level_mask << (j * level_power)) != 0 {
                break;
            }
        }
    }
    while i < size {
        for k in 0..4 {
            acc[0][k] = add(acc[0][k], load(i, k));
        }
        i += 1;
    }
    for j in 1..LEVELS {
        for k in 0..4 {
            acc[0][k] = add(acc[0][k], acc[j][k]);
        }
    }
    acc[0]
}

/// `tensor.mean()` of a 1-D f32 tensor as PyTorch computes it on the CPU: [`torch_sum_f32`] / n.
pub fn torch_mean_f32(x: &[f32]) -> f32 {
    torch_sum_f32(x) / x.len() as f32
}

/// Double-quantized block constants (bitsandbytes `compress_statistics=True`).
#[derive(Debug, Clone, PartialEq)]
pub struct DoubleQuant {
    /// One 8-bit code per NF4 block: the code index of `(absmax - offset) / absmax2`.
    pub codes: Vec<u8>,
    /// One f32 per `blocksize2` codes.
    pub absmax2: Vec<f32>,
    /// The mean of the first-level absmax values, subtracted before quantizing.
    pub offset: f32,
    /// Codes per second-level block (256 in bitsandbytes).
    pub blocksize2: usize,
    /// The 8-bit code (the signed dynamic map). Shared and constant: not counted in the bytes.
    pub code2: Box<[f32; 256]>,
}

impl DoubleQuant {
    /// Double-quantizes first-level absmax values as bitsandbytes does.
    pub fn quantize(absmax: &[f32]) -> Result<Self, Nf4Error> {
        if absmax.is_empty() {
            return Err(Nf4Error::Empty);
        }
        let offset = torch_mean_f32(absmax);
        let centered: Vec<f32> = absmax.iter().map(|&a| a - offset).collect();
        let code2 = dynamic_map();
        let (codes, absmax2) = quantize_blockwise_8bit(&centered, code2, DOUBLE_QUANT_BLOCKSIZE)?;
        Ok(DoubleQuant {
            codes,
            absmax2,
            offset,
            blocksize2: DOUBLE_QUANT_BLOCKSIZE,
            code2: Box::new(*code2),
        })
    }

    /// Number of first-level blocks described.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The rebuilt absmax of first-level block `b`: `code2[codes[b]] * absmax2[b / blocksize2] + offset`.
    #[inline(always)]
    pub fn absmax(&self, b: usize) -> f32 {
        self.code2[self.codes[b] as usize] * self.absmax2[b / self.blocksize2] + self.offset
    }

    /// Every rebuilt absmax (bitsandbytes' `dequantize_blockwise(...) + offset`).
    pub fn reconstruct(&self) -> Vec<f32> {
        (0..self.codes.len()).map(|b| self.absmax(b)).collect()
    }

    /// Bytes of the codes, the second-level absmax values and the offset.
    pub fn bytes(&self) -> usize {
        self.codes.len() + 4 * self.absmax2.len() + 4
    }

    fn validate(&self) -> Result<(), Nf4Error> {
        if self.blocksize2 == 0 {
            return Err(Nf4Error::ZeroBlocksize);
        }
        check_len("absmax2", num_blocks(self.codes.len(), self.blocksize2), self.absmax2.len())
    }
}

/// The per-block constants of an [`Nf4Tensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum Absmax {
    /// One f32 absmax per block.
    Plain(Vec<f32>),
    /// Double-quantized absmax values.
    Double(DoubleQuant),
}

impl Absmax {
    /// Number of blocks described.
    pub fn len(&self) -> usize {
        match self {
            Absmax::Plain(v) => v.len(),
            Absmax::Double(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The absmax of every block, as dequantization uses it (rebuilt if double-quantized).
    pub fn values(&self) -> Vec<f32> {
        match self {
            Absmax::Plain(v) => v.clone(),
            Absmax::Double(d) => d.reconstruct(),
        }
    }

    /// Bytes the constants take: 4 per block, or codes + second-level absmax + offset.
    pub fn bytes(&self) -> usize {
        match self {
            Absmax::Plain(v) => 4 * v.len(),
            Absmax::Double(d) => d.bytes(),
        }
    }
}

/// A 2-D f32 matrix quantized to NF4, bitsandbytes' layout: row-major values in blocks of
/// `blocksize`, two codes per byte (first value high nibble), one absmax per block.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Tensor {
    shape: (usize, usize),
    blocksize: usize,
    packed: Vec<u8>,
    absmax: Absmax,
}

impl Nf4Tensor {
    /// Quantizes row-major `values` of `shape` = (rows, cols) in blocks of `blocksize` (even; 64
    /// is bitsandbytes' default), double-quantizing the block constants if `double_quant`.
    pub fn quantize(values: &[f32], shape: (usize, usize), blocksize: usize, double_quant: bool) -> Result<Self, Nf4Error> {
        let (rows, cols) = shape;
        if rows.checked_mul(cols) != Some(values.len()) {
            return Err(Nf4Error::ShapeMismatch {
                rows,
                cols,
                len: values.len(),
            });
        }
        check_blocksize(blocksize)?;
        let n = values.len();
        if n == 0 {
            return Err(Nf4Error::Empty);
        }
        if !n.is_multiple_of(2) {
            return Err(Nf4Error::OddElementCount(n));
        }
        let mut packed = vec![0u8; n / 2];
        let mut absmax = vec![0.0f32; num_blocks(n, blocksize)];
        quantize_nf4_into(values, blocksize, &mut packed, &mut absmax)?;
        let absmax = if double_quant {
            Absmax::Double(DoubleQuant::quantize(&absmax)?)
        } else {
            Absmax::Plain(absmax)
        };
        Ok(Nf4Tensor {
            shape,
            blocksize,
            packed,
            absmax,
        })
    }

    /// Assembles a tensor from stored parts (e.g. bitsandbytes' `weight` bytes and quant state),
    /// checking that the sizes agree.
    pub fn from_parts(shape: (usize, usize), blocksize: usize, packed: Vec<u8>, absmax: Absmax) -> Result<Self, Nf4Error> {
        check_blocksize(blocksize)?;
        let (rows, cols) = shape;
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| Nf4Error::Invalid(format!("shape {rows}x{cols} overflows")))?;
        if n == 0 {
            return Err(Nf4Error::Empty);
        }
        if !n.is_multiple_of(2) {
            return Err(Nf4Error::OddElementCount(n));
        }
        check_len("packed", n / 2, packed.len())?;
        check_len("absmax", num_blocks(n, blocksize), absmax.len())?;
        if let Absmax::Double(d) = &absmax {
            d.validate()?;
        }
        Ok(Nf4Tensor {
            shape,
            blocksize,
            packed,
            absmax,
        })
    }

    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.0 * self.shape.1
    }

    pub fn blocksize(&self) -> usize {
        self.blocksize
    }

    /// Number of first-level blocks.
    pub fn num_blocks(&self) -> usize {
        self.absmax.len()
    }

    /// The packed codes, two per byte, first value in the high nibble.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    pub fn absmax(&self) -> &Absmax {
        &self.absmax
    }

    /// The code (0..16) of value `i`.
    pub fn code(&self, i: usize) -> u8 {
        let b = self.packed[i / 2];
        if i.is_multiple_of(2) {
            b >> 4
        } else {
            b & 15
        }
    }

    /// Dequantizes into `out` (`numel()` values, row-major).
    pub fn dequantize_into(&self, out: &mut [f32]) -> Result<(), Nf4Error> {
        check_len("out", self.numel(), out.len())?;
        match &self.absmax {
            Absmax::Plain(a) => dequantize_with(&self.packed, self.blocksize, out, |b| a[b]),
            Absmax::Double(d) => dequantize_with(&self.packed, self.blocksize, out, |b| d.absmax(b)),
        }
        Ok(())
    }

    /// Dequantizes into a new row-major vector.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.numel()];
        self.dequantize_into(&mut out).expect("output sized from the shape");
        out
    }

    /// Bytes of the packed codes (numel / 2).
    pub fn packed_bytes(&self) -> usize {
        self.packed.len()
    }

    /// Bytes of the block constants: 4 per block, or, double-quantized, 1 per block + 4 per 256
    /// blocks + 4 for the offset (the shared 256-entry code map is not counted).
    pub fn constants_bytes(&self) -> usize {
        self.absmax.bytes()
    }

    /// packed_bytes() + constants_bytes().
    pub fn total_bytes(&self) -> usize {
        self.packed_bytes() + self.constants_bytes()
    }

    /// Quantizes a tensor of any shape (seen as (numel / last_dim, last_dim); a scalar or 1-D
    /// tensor as one row), converted to f32 first.
    pub fn quantize_tensor(t: &candle_core::Tensor, blocksize: usize, double_quant: bool) -> candle_core::Result<Self> {
        let dims = t.dims();
        let cols = dims.last().copied().unwrap_or(1);
        let n = t.elem_count();
        let rows = n.checked_div(cols).unwrap_or(0);
        let values = t.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        Self::quantize(&values, (rows, cols), blocksize, double_quant).map_err(candle_core::Error::wrap)
    }

    /// Dequantizes into an f32 tensor of shape (rows, cols) on `device`.
    pub fn dequantize_tensor(&self, device: &candle_core::Device) -> candle_core::Result<candle_core::Tensor> {
        candle_core::Tensor::from_vec(self.dequantize(), self.shape, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-normal values (sum of uniforms), scaled.
    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        (0..n).map(|_| ((0..4).map(|_| u()).sum::<f32>() - 2.0) * scale).collect()
    }

    fn max_half_gap() -> f32 {
        NF4_CODE.windows(2).map(|w| (w[1] - w[0]) / 2.0).fold(0.0, f32::max)
    }

    #[test]
    fn codebook_and_midpoints() {
        assert_eq!(NF4_CODE[0], -1.0);
        assert_eq!(NF4_CODE[7], 0.0);
        assert_eq!(NF4_CODE[15], 1.0);
        assert!(NF4_CODE.windows(2).all(|w| w[0] < w[1]));
        // The CUDA kernel's decision-tree thresholds (dQuantizeNF4), rounded to f32, are the
        // same midpoints.
        let cuda: [f64; 15] = [
            -0.8480964004993439,
            -0.6106329262256622,
            -0.4599952697753906,
            -0.33967943489551544,
            -0.23460740596055984,
            -0.13791173323988914,
            -0.045525018125772476,
            0.03979014977812767,
            0.1202552504837513,
            0.2035212516784668,
            0.2920137718319893,
            0.3893125355243683,
            0.5016634166240692,
            0.6427869200706482,
            0.8614784181118011,
        ];
        for (m, c) in NF4_MIDPOINTS.iter().zip(cuda) {
            assert_eq!(*m, c as f32);
        }
        for (i, &c) in NF4_CODE.iter().enumerate() {
            assert_eq!(nf4_code_index(c) as usize, i);
        }
        // Ties go down; one ulp above goes up.
        for (i, &m) in NF4_MIDPOINTS.iter().enumerate() {
            assert_eq!(nf4_code_index(m) as usize, i);
            assert_eq!(
                nf4_code_index(f32::from_bits(if m > 0.0 { m.to_bits() + 1 } else { m.to_bits() - 1 })) as usize,
                i + 1
            );
        }
        assert_eq!(nf4_code_index(-0.0), 7);
        assert_eq!(nf4_code_index(-2.0), 0);
        assert_eq!(nf4_code_index(2.0), 15);
    }

    #[test]
    fn dynamic_map_shape() {
        let m = dynamic_map();
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(m[255], 1.0);
        assert!(m.contains(&0.0));
        assert!((m[0] + 0.99297).abs() < 1e-5, "{}", m[0]);
        // Smallest magnitude: 1e-6 * (0.1 + 1) / 2.
        let smallest = m.iter().filter(|v| **v > 0.0).fold(f32::MAX, |a, &b| a.min(b));
        assert!((smallest - 5.5e-7).abs() < 1e-12, "{smallest}");
    }

    #[test]
    fn unsigned_dynamic_map_shape() {
        let m = unsigned_dynamic_map();
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((m[0], m[255]), (0.0, 1.0));
        // Decade 10^(i-6) holds the 2^(i+1) midpoints of linspace(0.1, 1, 2^(i+1) + 1), scaled.
        let mut k = 1;
        for i in 0..7 {
            let items = 1usize << (i + 1);
            let step = 0.9 / items as f64;
            for j in 0..items {
                let want = 10f64.powi(i - 6) * (0.1 + step * (j as f64 + 0.5));
                assert!((m[k] as f64 - want).abs() <= 1e-6 * want, "entry {k}: {} vs {want}", m[k]);
                k += 1;
            }
        }
        assert_eq!(k, 255);
    }

    #[test]
    fn round_trip_error_is_bounded() {
        for &bs in &[64usize, 128, 256, 4096] {
            let (rows, cols) = (37, 90);
            let x = values(rows * cols, bs as u64, 0.02);
            let q = Nf4Tensor::quantize(&x, (rows, cols), bs, false).unwrap();
            let y = q.dequantize();
            let Absmax::Plain(am) = q.absmax() else { panic!() };
            let bound = max_half_gap();
            for (i, (&a, &b)) in x.iter().zip(&y).enumerate() {
                let m = am[i / bs];
                assert!((a - b).abs() <= bound * m * (1.0 + 1e-6), "bs {bs} i {i}: {a} vs {b}, absmax {m}");
            }
            assert_eq!(q.packed_bytes(), rows * cols / 2);
            assert_eq!(q.constants_bytes(), 4 * (rows * cols).div_ceil(bs));
            // The block maximum is represented exactly (code ±1).
            for (b, &m) in am.iter().enumerate() {
                let blk = &x[b * bs..((b + 1) * bs).min(x.len())];
                let j = blk.iter().position(|v| v.abs() == m).unwrap() + b * bs;
                assert_eq!(y[j], x[j]);
            }
        }
    }

    #[test]
    fn zero_stays_zero() {
        let mut x = values(256, 7, 1.0);
        x[5] = 0.0;
        x[6] = -0.0;
        for v in &mut x[128..192] {
            *v = 0.0; // an all-zero block
        }
        let q = Nf4Tensor::quantize(&x, (2, 128), 64, false).unwrap();
        let y = q.dequantize();
        assert_eq!(q.code(5), 7);
        assert_eq!(q.code(6), 7);
        assert_eq!(y[5], 0.0);
        assert_eq!(y[6], 0.0);
        assert!(y[128..192].iter().all(|v| *v == 0.0));
        let Absmax::Plain(am) = q.absmax() else { panic!() };
        assert_eq!(am[2], 0.0);
        // All zeros, double-quantized too.
        let z = vec![0.0f32; 512];
        for dq in [false, true] {
            let q = Nf4Tensor::quantize(&z, (4, 128), 64, dq).unwrap();
            assert!(q.packed().iter().all(|&b| b == 0x77));
            assert!(q.dequantize().iter().all(|v| *v == 0.0));
        }
    }

    #[test]
    fn partial_last_block() {
        // 300 values, blocksize 64: 4 full blocks and one of 44.
        let x = values(300, 3, 2.0);
        let q = Nf4Tensor::quantize(&x, (3, 100), 64, false).unwrap();
        assert_eq!(q.num_blocks(), 5);
        assert_eq!(q.packed_bytes(), 150);
        let Absmax::Plain(am) = q.absmax() else { panic!() };
        let tail_max = x[256..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(am[4], tail_max);
        let y = q.dequantize();
        for i in 256..300 {
            assert!((x[i] - y[i]).abs() <= max_half_gap() * tail_max * (1.0 + 1e-6));
            // The partial block divides by its absmax.
            assert_eq!(q.code(i), nf4_code_index(x[i] / tail_max));
        }
        // An all-zero partial block stores the clamp value, as bitsandbytes does.
        let mut x = x;
        x[256..].fill(0.0);
        let q = Nf4Tensor::quantize(&x, (3, 100), 64, false).unwrap();
        let Absmax::Plain(am) = q.absmax() else { panic!() };
        assert_eq!(am[4], 1e-38);
        assert!(q.dequantize()[256..].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn double_quant_is_close_to_plain() {
        let x = values(64 * 700, 11, 0.05);
        let plain = Nf4Tensor::quantize(&x, (700, 64), 64, false).unwrap();
        let dq = Nf4Tensor::quantize(&x, (700, 64), 64, true).unwrap();
        assert_eq!(plain.packed(), dq.packed());
        let Absmax::Plain(am) = plain.absmax() else { panic!() };
        let Absmax::Double(d) = dq.absmax() else { panic!() };
        assert_eq!(d.absmax2.len(), 3);
        assert_eq!(dq.constants_bytes(), 700 + 3 * 4 + 4);
        let rebuilt = d.reconstruct();
        for (b, (&a, &r)) in am.iter().zip(&rebuilt).enumerate() {
            let a2 = d.absmax2[b / 256];
            assert!((a - r).abs() <= 0.008 * a2, "block {b}: {a} vs {r} (absmax2 {a2})");
        }
        let y = dq.dequantize();
        let yp = plain.dequantize();
        for (i, (&p, &q)) in yp.iter().zip(&y).enumerate() {
            let code = NF4_CODE[plain.code(i) as usize];
            assert_eq!(q, code * rebuilt[i / 64], "{i}");
            assert!((p - q).abs() <= (am[i / 64] - rebuilt[i / 64]).abs() * 1.0001 + 1e-12);
        }
    }

    #[test]
    fn errors_not_panics() {
        let x = vec![1.0f32; 10];
        assert_eq!(Nf4Tensor::quantize(&x, (1, 10), 0, false), Err(Nf4Error::ZeroBlocksize));
        assert_eq!(Nf4Tensor::quantize(&x, (1, 10), 63, false), Err(Nf4Error::OddBlocksize(63)));
        assert_eq!(Nf4Tensor::quantize(&x[..9], (3, 3), 64, false), Err(Nf4Error::OddElementCount(9)));
        assert!(matches!(
            Nf4Tensor::quantize(&x, (3, 3), 64, false),
            Err(Nf4Error::ShapeMismatch { .. })
        ));
        assert_eq!(Nf4Tensor::quantize(&[], (0, 4), 64, false), Err(Nf4Error::Empty));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut y = values(1000, 1, 1.0);
            y[777] = bad;
            match Nf4Tensor::quantize(&y, (10, 100), 64, true) {
                Err(Nf4Error::NonFinite { index, .. }) => assert_eq!(index, 777),
                other => panic!("{other:?}"),
            }
        }
        let q = Nf4Tensor::quantize(&x, (2, 5), 64, false).unwrap();
        let mut out = vec![0.0; 9];
        assert!(matches!(q.dequantize_into(&mut out), Err(Nf4Error::Length { .. })));
        assert!(Nf4Tensor::from_parts((2, 5), 64, vec![0; 4], Absmax::Plain(vec![1.0])).is_err());
        assert!(Nf4Tensor::from_parts((2, 5), 64, vec![0; 5], Absmax::Plain(vec![1.0, 2.0])).is_err());
        let p = Nf4Tensor::from_parts((2, 5), 64, q.packed().to_vec(), q.absmax().clone()).unwrap();
        assert_eq!(p, q);
    }

    #[test]
    fn parallel_matches_block_by_block() {
        // Larger than one rayon task, odd number of tasks, partial last block.
        let n = 3 * TASK_ELEMS + 2 * 64 + 10;
        let x = values(n, 5, 0.3);
        let q = Nf4Tensor::quantize(&x, (1, n), 64, true).unwrap();
        let Absmax::Double(d) = q.absmax() else { panic!() };
        let am = d.reconstruct();
        let y = q.dequantize();
        for (b, blk) in x.chunks(64).enumerate() {
            let m = blk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (j, &v) in blk.iter().enumerate() {
                let i = b * 64 + j;
                let s = if blk.len() < 64 { v / m } else { v * (1.0 / m) };
                assert_eq!(q.code(i), nf4_code_index(s), "{i}");
                assert_eq!(y[i], NF4_CODE[q.code(i) as usize] * am[b]);
            }
        }
    }

    #[test]
    fn vector_paths_match_scalar_code() {
        // Values on, just below and just above every midpoint, ±0, ±1 and random ones: the
        // dispatched (AVX2 where available) kernel, the portable vector kernel and
        // nf4_code_index must agree.
        let mut x = Vec::new();
        for m in NF4_MIDPOINTS {
            x.extend([m, f32::from_bits(m.to_bits() - 1), f32::from_bits(m.to_bits() + 1)]);
        }
        x.extend([0.0, -0.0, 1.0, -1.0, 0.5, -0.5]);
        x.extend(values(64 * 40 - x.len(), 4, 0.4));
        for bs in [64usize, 128, 2560] {
            let mut p1 = vec![0u8; x.len() / 2];
            let mut a1 = vec![0.0f32; num_blocks(x.len(), bs)];
            let mut p2 = p1.clone();
            let mut a2 = a1.clone();
            quantize_blocks(&x, &mut p1, &mut a1, bs).unwrap();
            quantize_blocks_body::<false>(&x, &mut p2, &mut a2, bs).unwrap();
            assert_eq!(p1, p2);
            assert_eq!(a1, a2);
            for (i, &v) in x.iter().enumerate() {
                let m = a1[i / bs].max(MIN_ABSMAX);
                let want = nf4_code_index(v * (1.0 / m));
                let got = if i % 2 == 0 { p1[i / 2] >> 4 } else { p1[i / 2] & 15 };
                assert_eq!(got, want, "bs {bs} i {i} v {v}");
            }
        }
        // Scaled exactly onto the midpoints (absmax 1.0 in the block).
        let mut y: Vec<f32> = NF4_MIDPOINTS.to_vec();
        y.push(1.0);
        let q = Nf4Tensor::quantize(&y, (1, 16), 16, false).unwrap();
        for i in 0..15 {
            assert_eq!(q.code(i) as usize, i, "a value on midpoint {i} takes the lower code");
        }
    }

    #[test]
    fn torch_sum_order() {
        // Under 8 values: 4 interleaved partial sums, then the tail into the first.
        let x = [1e8f32, 1.0, -1e8, 1.0, 1.0];
        assert_eq!(torch_sum_f32(&x), ((1e8f32 + 1.0) + 1.0) + -1e8 + 1.0);
        let v = values(5000, 9, 1.0);
        let exact: f64 = v.iter().map(|&a| a as f64).sum();
        assert!((torch_sum_f32(&v) as f64 - exact).abs() < 1e-3);
        assert_eq!(torch_mean_f32(&[2.0, 4.0]), 3.0);
    }

    #[test]
    fn candle_glue() -> candle_core::Result<()> {
        let x = values(4 * 128, 2, 1.0);
        let t = candle_core::Tensor::from_vec(x.clone(), (4, 128), &candle_core::Device::Cpu)?;
        let q = Nf4Tensor::quantize_tensor(&t, 64, false)?;
        assert_eq!(q, Nf4Tensor::quantize(&x, (4, 128), 64, false).unwrap());
        let d = q.dequantize_tensor(&candle_core::Device::Cpu)?;
        assert_eq!(d.dims(), &[4, 128]);
        assert_eq!(d.flatten_all()?.to_vec1::<f32>()?, q.dequantize());
        Ok(())
    }
}
