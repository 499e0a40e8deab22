// NF4 dequantization: bitsandbytes' layout (row-major blocks of `blocksize` values, two 4-bit
// codes per byte, the first value in the high nibble), one absmax per block, either plain f32 or
// double-quantized (an 8-bit code per block into the signed dynamic map `code2`, one f32 per
// `blocksize2` codes, plus `offset`). Same arithmetic as kernels/src/nf4.rs: code * absmax in f32.
#pragma once
#include "common.cuh"

__constant__ float NF4_CODE[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// The absmax of block b: plain (absmax != nullptr) or rebuilt from the double quantization.
__device__ __forceinline__ float nf4_block_scale(size_t b, const float* absmax, const uint8_t* qcodes,
                                                 const float* absmax2, const float* code2, float offset,
                                                 unsigned blocksize2) {
    if (absmax) return absmax[b];
    // Multiply, then add, each rounded: no fused multiply-add, so the value is the CPU's bit for bit.
    return __fadd_rn(__fmul_rn(code2[qcodes[b]], absmax2[b / blocksize2]), offset);
}

// Each thread turns 4 packed bytes into 8 values (one 16-byte store for bf16, two for f32).
template <typename T>
__device__ void nf4_dequant(const uint8_t* packed, size_t nbytes, const float* absmax, const uint8_t* qcodes,
                            const float* absmax2, const float* code2, float offset, unsigned blocksize,
                            unsigned blocksize2, T* out) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t first = t * 4;
    if (first >= nbytes) return;
    size_t stop = first + 4 < nbytes ? first + 4 : nbytes;
    size_t v0 = first * 2;
    T vals[8];
    for (size_t i = first; i < stop; ++i) {
        // Both values of a byte lie in one block: block sizes are even (check_blocksize).
        float s = nf4_block_scale(2 * i / blocksize, absmax, qcodes, absmax2, code2, offset, blocksize2);
        uint8_t byte = packed[i];
        vals[(i - first) * 2] = from_f32<T>(__fmul_rn(NF4_CODE[byte >> 4], s));
        vals[(i - first) * 2 + 1] = from_f32<T>(__fmul_rn(NF4_CODE[byte & 15], s));
    }
    if (stop - first == 4) {
        store8(out + v0, vals);
    } else {
        for (size_t k = 0; k < (stop - first) * 2; ++k) out[v0 + k] = vals[k];
    }
}

#define NF4_DEQUANT(NAME, T)                                                                              \
    extern "C" __global__ void NAME(const uint8_t* packed, size_t nbytes, const float* absmax,            \
                                    const uint8_t* qcodes, const float* absmax2, const float* code2,       \
                                    float offset, unsigned blocksize, unsigned blocksize2, T* out) {       \
        nf4_dequant<T>(packed, nbytes, absmax, qcodes, absmax2, code2, offset, blocksize, blocksize2, out); \
    }
NF4_DEQUANT(nf4_dequant_f32, float)
NF4_DEQUANT(nf4_dequant_bf16, __nv_bfloat16)
