// One fused AdamW step over parameter P, gradient (same dtype as P) and both moments S, in one
// pass, with the f32 arithmetic of kernels/src/adamw.rs (`impl Param for f32`):
//   g ← g·grad_scale;  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
//   p ← p·decay − step_size·m / (sqrt(v)·inv_bc2_sqrt + eps)
// P and S are f32 or bf16 (the update itself is f32; bf16 values are rounded to nearest even).
#pragma once
#include "common.cuh"

template <typename P, typename S>
__device__ void adamw_step(P* p, const P* g, S* m, S* v, size_t n, float b1, float b2, float eps, float gs,
                           float step_size, float inv_bc2_sqrt, float decay) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = to_f32(g[i]) * gs;
        float mi = b1 * to_f32(m[i]) + (1.0f - b1) * gi;
        float vi = b2 * to_f32(v[i]) + (1.0f - b2) * gi * gi;
        m[i] = from_f32<S>(mi);
        v[i] = from_f32<S>(vi);
        p[i] = from_f32<P>(to_f32(p[i]) * decay - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps));
    }
}

#define ADAMW(NAME, P, S)                                                                                   \
    extern "C" __global__ void NAME(P* p, const P* g, S* m, S* v, size_t n, float b1, float b2, float eps,  \
                                    float gs, float step_size, float inv_bc2_sqrt, float decay) {           \
        adamw_step<P, S>(p, g, m, v, n, b1, b2, eps, gs, step_size, inv_bc2_sqrt, decay);                   \
    }
ADAMW(adamw_f32_f32, float, float)
ADAMW(adamw_f32_bf16, float, __nv_bfloat16)
ADAMW(adamw_bf16_f32, __nv_bfloat16, float)
ADAMW(adamw_bf16_bf16, __nv_bfloat16, __nv_bfloat16)

// Σ x² of n values into *out (f32 partial sums per block, atomically added; out zeroed first).
template <typename T>
__device__ void sum_squares(const T* x, size_t n, float* out) {
    float acc = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float a = to_f32(x[i]);
        acc += a * a;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) atomicAdd(out, acc);
}
extern "C" __global__ void sum_squares_f32(const float* x, size_t n, float* out) { sum_squares<float>(x, n, out); }
extern "C" __global__ void sum_squares_bf16(const __nv_bfloat16* x, size_t n, float* out) {
    sum_squares<__nv_bfloat16>(x, n, out);
}
