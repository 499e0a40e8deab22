// The decoder's row and elementwise ops, forward and backward, each the CUDA counterpart of a
// CPU op in kernels/src (same formulas, f32 arithmetic; T = float or bf16 storage):
//   gated.rs        y = act(g)·u;  du = dy·act(g), dg = dy·u·act'(g); act = 0: SiLU g·σ(g),
//                   1: GELU (tanh) ½g·(1 + tanh(k·(g + c·g³)))
//   rms_norm.rs     y = x·r·w, r = 1/sqrt(mean(x²) + eps);
//                   dx = r·w·dy − x·r³/h·Σ w·dy·x;  dw = Σ_rows dy·x·r (f32, atomically)
//   softmax.rs      p = softmax(scale·s) over the keys row r sees (start + r % queries + 1);
//                   ds = scale·p·(dp − Σ p·dp)
//   rope.rs         fwd: x (b, t, heads·hd) → (b, heads, t, hd), pair (i, i+hd/2) turned by the
//                   angle of position start+t; bwd (sign −1): the inverse rotation, back in x's layout
// Row kernels: one block of 256 threads per row.
#pragma once
#include "common.cuh"

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

// act(g) and, when slope is given, act'(g).
__device__ __forceinline__ float gate_act(float g, int act, float* slope) {
    if (act == 0) {
        float s = sigmoidf_(g);
        if (slope) *slope = s * (1.0f + g * (1.0f - s));
        return g * s;
    }
    float th = tanhf(GELU_K * (g + GELU_C * g * g * g));
    if (slope) *slope = 0.5f * (1.0f + th) + 0.5f * g * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_C * g * g);
    return 0.5f * g * (1.0f + th);
}

template <typename T>
__device__ void gated_fwd(const T* g, const T* u, T* y, size_t n, int act) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        y[i] = from_f32<T>(gate_act(to_f32(g[i]), act, nullptr) * to_f32(u[i]));
    }
}

// out = [dg (n) | du (n)]
template <typename T>
__device__ void gated_bwd(const T* g, const T* u, const T* dy, T* out, size_t n, int act) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = to_f32(g[i]), ui = to_f32(u[i]), d = to_f32(dy[i]);
        float slope;
        float a = gate_act(gi, act, &slope);
        out[i] = from_f32<T>(d * ui * slope);
        out[n + i] = from_f32<T>(d * a);
    }
}

template <typename T>
__device__ void rms_norm_fwd(const T* x, const T* w, T* y, unsigned h, float eps) {
    const T* row = x + (size_t)blockIdx.x * h;
    T* out = y + (size_t)blockIdx.x * h;
    float ss = 0.0f;
    for (unsigned j = threadIdx.x; j < h; j += blockDim.x) {
        float v = to_f32(row[j]);
        ss += v * v;
    }
    float r = rsqrtf(block_sum(ss) / (float)h + eps);
    for (unsigned j = threadIdx.x; j < h; j += blockDim.x) out[j] = from_f32<T>(to_f32(row[j]) * r * to_f32(w[j]));
}

// dx into dx (T, rows × h); dw accumulated into dw (f32, h, zeroed by the caller).
template <typename T>
__device__ void rms_norm_bwd(const T* x, const T* w, const T* dy, T* dx, float* dw, unsigned h, float eps) {
    size_t off = (size_t)blockIdx.x * h;
    float ss = 0.0f, dot = 0.0f;
    for (unsigned j = threadIdx.x; j < h; j += blockDim.x) {
        float v = to_f32(x[off + j]);
        ss += v * v;
        dot += to_f32(w[j]) * to_f32(dy[off + j]) * v;
    }
    ss = block_sum(ss);
    dot = block_sum(dot);
    float r = rsqrtf(ss / (float)h + eps);
    float c = r * r * r / (float)h * dot;
    for (unsigned j = threadIdx.x; j < h; j += blockDim.x) {
        float v = to_f32(x[off + j]), d = to_f32(dy[off + j]);
        if (dx) dx[off + j] = from_f32<T>(r * to_f32(w[j]) * d - v * c);
        if (dw) atomicAdd(dw + j, d * v * r);
    }
}

// Scores (rows, keys) per matrix, matrices back to back: row index = blockIdx.x. A row sees keys
// [lo, visible): window = 0 is plain causal, otherwise the last `window` positions up to its own.
template <typename T>
__device__ void causal_softmax_fwd(const T* s, T* p, unsigned rows, unsigned keys, unsigned queries, unsigned start,
                                   unsigned window, float scale) {
    size_t row = blockIdx.x;
    unsigned r = row % rows;
    unsigned visible = min(start + r % queries + 1, keys);
    unsigned lo = (window == 0 || visible <= window) ? 0 : visible - window;
    const T* in = s + row * keys;
    T* out = p + row * keys;
    float m = -INFINITY;
    for (unsigned j = lo + threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, to_f32(in[j]) * scale);
    // Block max via the shared sum helper's pattern: negate-free max reduction.
    __shared__ float red[32];
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = lane < (int)(blockDim.x >> 5) ? red[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, o));
    float sum = 0.0f;
    for (unsigned j = lo + threadIdx.x; j < visible; j += blockDim.x) sum += expf(to_f32(in[j]) * scale - m);
    sum = block_sum(sum);
    float inv = 1.0f / sum;
    for (unsigned j = threadIdx.x; j < keys; j += blockDim.x)
        out[j] = from_f32<T>(j >= lo && j < visible ? expf(to_f32(in[j]) * scale - m) * inv : 0.0f);
}

template <typename T>
__device__ void causal_softmax_bwd(const T* p, const T* dp, T* ds, unsigned keys, float scale) {
    size_t off = (size_t)blockIdx.x * keys;
    float dot = 0.0f;
    for (unsigned j = threadIdx.x; j < keys; j += blockDim.x) dot += to_f32(p[off + j]) * to_f32(dp[off + j]);
    dot = block_sum(dot);
    for (unsigned j = threadIdx.x; j < keys; j += blockDim.x) {
        float pj = to_f32(p[off + j]);
        ds[off + j] = from_f32<T>(scale * pj * (to_f32(dp[off + j]) - dot));
    }
}

// One thread per rotated pair. forward = 1: src in x's layout, dst in the heads' layout; 0: the reverse.
template <typename T>
__device__ void rope(const T* src, const T* cos, const T* sin, T* dst, unsigned b, unsigned t, unsigned heads,
                     unsigned hd, unsigned start, int forward) {
    unsigned half = hd / 2;
    size_t pairs = (size_t)b * heads * t * half;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < pairs; k += (size_t)gridDim.x * blockDim.x) {
        unsigned i = k % half;
        size_t r = k / half;
        unsigned ti = r % t;
        r /= t;
        unsigned hi = r % heads;
        unsigned bi = r / heads;
        size_t x_at = (((size_t)bi * t + ti) * heads + hi) * hd;
        size_t h_at = (((size_t)bi * heads + hi) * t + ti) * hd;
        size_t from = forward ? x_at : h_at, to = forward ? h_at : x_at;
        size_t tab = (size_t)(start + ti) * hd + i;
        float c = to_f32(cos[tab]), sn = to_f32(sin[tab]) * (forward ? 1.0f : -1.0f);
        float a = to_f32(src[from + i]), bb = to_f32(src[from + i + half]);
        dst[to + i] = from_f32<T>(a * c - bb * sn);
        dst[to + i + half] = from_f32<T>(bb * c + a * sn);
    }
}

#define ROW_KERNELS(SUF, T)                                                                                     \
    extern "C" __global__ void gated_fwd_##SUF(const T* g, const T* u, T* y, size_t n, int act) {               \
        gated_fwd<T>(g, u, y, n, act);                                                                          \
    }                                                                                                           \
    extern "C" __global__ void gated_bwd_##SUF(const T* g, const T* u, const T* dy, T* out, size_t n, int act) { \
        gated_bwd<T>(g, u, dy, out, n, act);                                                                    \
    }                                                                                                           \
    extern "C" __global__ void rms_norm_fwd_##SUF(const T* x, const T* w, T* y, unsigned h, float eps) {        \
        rms_norm_fwd<T>(x, w, y, h, eps);                                                                       \
    }                                                                                                           \
    extern "C" __global__ void rms_norm_bwd_##SUF(const T* x, const T* w, const T* dy, T* dx, float* dw,        \
                                                  unsigned h, float eps) {                                      \
        rms_norm_bwd<T>(x, w, dy, dx, dw, h, eps);                                                              \
    }                                                                                                           \
    extern "C" __global__ void causal_softmax_fwd_##SUF(const T* s, T* p, unsigned rows, unsigned keys,         \
                                                        unsigned queries, unsigned start, unsigned window,      \
                                                        float scale) {                                          \
        causal_softmax_fwd<T>(s, p, rows, keys, queries, start, window, scale);                                 \
    }                                                                                                           \
    extern "C" __global__ void causal_softmax_bwd_##SUF(const T* p, const T* dp, T* ds, unsigned keys,          \
                                                        float scale) {                                          \
        causal_softmax_bwd<T>(p, dp, ds, keys, scale);                                                          \
    }                                                                                                           \
    extern "C" __global__ void rope_##SUF(const T* src, const T* cos, const T* sin, T* dst, unsigned b,         \
                                          unsigned t, unsigned heads, unsigned hd, unsigned start, int forward) { \
        rope<T>(src, cos, sin, dst, b, t, heads, hd, start, forward);                                           \
    }
ROW_KERNELS(f32, float)
ROW_KERNELS(bf16, __nv_bfloat16)
