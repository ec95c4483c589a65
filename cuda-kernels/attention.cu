// attention: multi-head self-attention in guided-diffusion's legacy layout. qkv [B, 3C, T]: head n owns channels
// [3ch n, 3ch (n+1)) split q | k | v (ch = C / heads); each channel is a contiguous row over t.
//   out[b, n ch + c, t] = sum_s softmax_s(q_t . k_s / sqrt(ch)) v[c, s]
//
// Versions:
//   attention_f32_v1                fused forward, one pass over the keys with an online softmax in fp32
//                                   (FlashAttention-style): a block of ATTN_BQ threads owns ATTN_BQ queries of one
//                                   (b, head), one query per thread with q and the output accumulator in registers;
//                                   keys and values stream through shared memory ATTN_BKEY at a time, and the
//                                   running max is updated once per ATTN_SUB keys. Heads of up to ATTN_MAX_CH
//                                   channels (ADM: 64).
//   attention_softmax_f32_v1        row softmax in place, one warp per row: P = softmax(S) (the materialised path)
//   attention_softmax_grad_f32_v1   dS = P o (dP - rowsum(dP o P)) * scale in place of dP, one warp per row
// The input-gradient and heads wider than ATTN_MAX_CH use the materialised path: S = Q^T K via
// gemm_batched_f32_v1, then these row kernels, then the products for dV, dQ, dK (see CudaOps.attentionGrad).
// Default: v1.
#include "common.cuh"

constexpr int ATTN_BQ = 64;
constexpr int ATTN_BKEY = 64;
constexpr int ATTN_SUB = 16;
constexpr int ATTN_MAX_CH = 64;
constexpr int ATTN_ROW_WARPS = 8;          // rows per block of the row kernels (one warp each)
static_assert(ATTN_BQ == ATTN_BKEY, "attention_f32_v1 loads one key column per thread");
IE_CONSTANT_EXPORT(ATTN_BQ)
IE_CONSTANT_EXPORT(ATTN_MAX_CH)
IE_CONSTANT_EXPORT(ATTN_ROW_WARPS)

/** qkv [B, 3 heads ch, T] -> out [B, heads ch, T]; ch <= ATTN_MAX_CH. Grid (ceil(T / ATTN_BQ), heads, B). */
extern "C" __global__ void __launch_bounds__(ATTN_BQ)
attention_f32_v1(const float* __restrict__ qkv, float* __restrict__ out, int heads, int ch, int T, float scale) {
    __shared__ float Ks[ATTN_MAX_CH][ATTN_BKEY];
    __shared__ float Vs[ATTN_MAX_CH][ATTN_BKEY];
    const int n = blockIdx.y, b = blockIdx.z, t = blockIdx.x * ATTN_BQ + threadIdx.x;
    const long long c3 = 3LL * heads * ch;
    const float* q0 = qkv + ((long long) b * c3 + 3LL * ch * n) * T;
    const float* k0 = q0 + (long long) ch * T;
    const float* v0 = k0 + (long long) ch * T;
    const bool valid = t < T;
    float q[ATTN_MAX_CH], acc[ATTN_MAX_CH];
#pragma unroll
    for (int c = 0; c < ATTN_MAX_CH; c++) {
        q[c] = (c < ch && valid) ? q0[(long long) c * T + t] * scale : 0.f;
        acc[c] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int s0 = 0; s0 < T; s0 += ATTN_BKEY) {
        const int nk = T - s0 < ATTN_BKEY ? T - s0 : ATTN_BKEY;
        for (int c = 0; c < ch; c++) {
            int j = threadIdx.x;   // ATTN_BQ == ATTN_BKEY: one key column per thread
            Ks[c][j] = j < nk ? k0[(long long) c * T + s0 + j] : 0.f;
            Vs[c][j] = j < nk ? v0[(long long) c * T + s0 + j] : 0.f;
        }
        __syncthreads();
        for (int j0 = 0; j0 < nk; j0 += ATTN_SUB) {
            float sc[ATTN_SUB], mloc = m;
#pragma unroll
            for (int jj = 0; jj < ATTN_SUB; jj++) {
                float d = 0.f;
#pragma unroll
                for (int c = 0; c < ATTN_MAX_CH; c++)
                    if (c < ch) d = fmaf(q[c], Ks[c][j0 + jj], d);
                sc[jj] = j0 + jj < nk ? d : -INFINITY;
                mloc = fmaxf(mloc, sc[jj]);
            }
            const float corr = __expf(m - mloc);   // 0 on the first tile (m = -inf)
            l *= corr;
#pragma unroll
            for (int c = 0; c < ATTN_MAX_CH; c++) acc[c] *= corr;
#pragma unroll
            for (int jj = 0; jj < ATTN_SUB; jj++) {
                float p = __expf(sc[jj] - mloc);     // 0 for keys past T
                l += p;
#pragma unroll
                for (int c = 0; c < ATTN_MAX_CH; c++)
                    if (c < ch) acc[c] = fmaf(p, Vs[c][j0 + jj], acc[c]);
            }
            m = mloc;
        }
        __syncthreads();
    }
    if (!valid) return;
    float* o = out + ((long long) b * heads * ch + (long long) n * ch) * T + t;
    const float inv = 1.f / l;
#pragma unroll
    for (int c = 0; c < ATTN_MAX_CH; c++)
        if (c < ch) o[(long long) c * T] = acc[c] * inv;
}

/** S [rows, T] -> softmax of each row, in place. One warp per row, ATTN_ROW_WARPS rows per block. */
extern "C" __global__ void __launch_bounds__(ATTN_ROW_WARPS * 32)
attention_softmax_f32_v1(float* __restrict__ s, long long rows, int T) {
    const long long row = (long long) blockIdx.x * ATTN_ROW_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;   // whole warps leave together
    float* r = s + row * T;
    float mx = -INFINITY;
    for (int j = lane; j < T; j += 32) mx = fmaxf(mx, r[j]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float z = 0.f;
    for (int j = lane; j < T; j += 32) {
        float e = expf(r[j] - mx);
        r[j] = e;
        z += e;
    }
    const float inv = 1.f / ie_warp_sum(z);
    for (int j = lane; j < T; j += 32) r[j] *= inv;
}

/** dP [rows, T] -> dS = P o (dP - sum_j dP P) * scale, in place. One warp per row, ATTN_ROW_WARPS rows per block. */
extern "C" __global__ void __launch_bounds__(ATTN_ROW_WARPS * 32)
attention_softmax_grad_f32_v1(const float* __restrict__ p, float* __restrict__ dp, long long rows, int T, float scale) {
    const long long row = (long long) blockIdx.x * ATTN_ROW_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* pr = p + row * T;
    float* dr = dp + row * T;
    float acc = 0.f;
    for (int j = lane; j < T; j += 32) acc += pr[j] * dr[j];
    const float rs = ie_warp_sum(acc);
    for (int j = lane; j < T; j += 32) dr[j] = pr[j] * (dr[j] - rs) * scale;
}

IE_KERNEL_EXPORT(attention_f32_v1)
IE_KERNEL_EXPORT(attention_softmax_f32_v1)
IE_KERNEL_EXPORT(attention_softmax_grad_f32_v1)
