// norm: GroupNorm over (C/G channels x spatial) per sample and group, biased variance, affine, then optionally
// y * (1 + scale) + shift (scale-shift from [B, 2C]) and SiLU, fused; and its input-gradient. LayerNorm over the
// channels at each position (the vision transformers' tokens, channel-major [B, C, T]).
//
// A group of ADM-256 at 256x256 holds 8 x 65536 values, and there are only 32 groups per sample, so one block per
// group would leave most of the GPU idle: statistics are computed per chunk of a group (many blocks), each chunk
// as (count, mean, M2) in fp64 with a two-pass mean/deviation sum, and combined with Chan's formula by the kernels
// that apply them. Per-element arithmetic is fp32, as in the fast CPU backend.
//
// Versions (all v1):
//   group_norm_stats_f32_v1       grid (B*G, chunks): (n, mean, M2) of each chunk -> part[B*G][chunks][3]
//   group_norm_apply_f32_v1       grid (B*C, ceil(HW / GN_APPLY_PER_BLOCK)): y from x and the combined statistics,
//                                 which it also stores (mean, 1/sqrt(var + eps) per group) when given somewhere to
//   group_norm_grad_reduce_f32_v1 grid (B*G, chunks): per chunk sum(dxhat), sum(dxhat * xhat) -> part2[..][2]; the
//                                 statistics are the forward's stored ones, or else combined from part
//   group_norm_grad_apply_f32_v1  grid (B*C, ceil(HW / GN_APPLY_PER_BLOCK)):
//                                 dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) [+ add, a residual's gradient]
//   layer_norm_f32_v1             grid-stride, one thread per position (b, s) of x [B, C, S]: fp64 mean, then fp64
//                                 sum of squared deviations over the C channels (stride S: consecutive threads read
//                                 consecutive positions, so every load of a warp is coalesced), fp32 apply
// Default: v1.
#include "common.cuh"

constexpr int GN_THREADS = 256;
constexpr int GN_APPLY_PER_BLOCK = 1024;   // elements of one channel plane per apply block
constexpr int GN_MAX_CHUNKS = 64;
constexpr int GN_CHUNK_MIN = 4096;         // a chunk has at least this many values (unless the group is smaller)
IE_CONSTANT_EXPORT(GN_THREADS)
IE_CONSTANT_EXPORT(GN_APPLY_PER_BLOCK)
IE_CONSTANT_EXPORT(GN_MAX_CHUNKS)
IE_CONSTANT_EXPORT(GN_CHUNK_MIN)

/** The [lo, hi) range of chunk c of a group of n values split into `chunks` near-equal chunks. */
static __device__ __forceinline__ void gn_chunk(long long n, int chunks, int c, long long* lo, long long* hi) {
    long long len = (n + chunks - 1) / chunks;
    *lo = c * len;
    *hi = *lo + len < n ? *lo + len : n;
}

extern "C" __global__ void __launch_bounds__(GN_THREADS)
group_norm_stats_f32_v1(const float* __restrict__ x, double* __restrict__ part, long long n, int chunks) {
    __shared__ double scratch[32];
    const int c = blockIdx.y, bg = blockIdx.x;
    const float* g = x + (long long) bg * n;
    long long lo, hi;
    gn_chunk(n, chunks, c, &lo, &hi);
    double s = 0;
    for (long long i = lo + threadIdx.x; i < hi; i += GN_THREADS) s += g[i];
    long long cnt = hi > lo ? hi - lo : 0;
    double total = ie_block_sum(s, scratch);
    double mean = cnt > 0 ? total / (double) cnt : 0.0;
    double q = 0;
    for (long long i = lo + threadIdx.x; i < hi; i += GN_THREADS) {
        double d = g[i] - mean;
        q += d * d;
    }
    double m2 = ie_block_sum(q, scratch);
    if (threadIdx.x == 0) {
        double* p = part + ((long long) bg * chunks + c) * 3;
        p[0] = (double) cnt;
        p[1] = mean;
        p[2] = m2;
    }
}

/** Combines the chunks of group bg: mean and 1/sqrt(var + eps) (Chan et al.'s pairwise update). */
static __device__ __forceinline__ void gn_combine(const double* part, int bg, int chunks, float eps, double* mean_out,
                                                  double* inv_out) {
    const double* p = part + (long long) bg * chunks * 3;
    double n = 0, mean = 0, m2 = 0;
    for (int c = 0; c < chunks; c++) {
        double nb = p[3 * c], mb = p[3 * c + 1], qb = p[3 * c + 2];
        if (nb == 0) continue;
        double nab = n + nb, d = mb - mean;
        mean += d * nb / nab;
        m2 += qb + d * d * n * nb / nab;
        n = nab;
    }
    *mean_out = mean;
    *inv_out = 1.0 / sqrt(m2 / n + (double) eps);
}

/** Group bg's mean and 1/sqrt(var + eps): stored ones ([B*G][2], from the forward) when given, else combined from part. */
static __device__ __forceinline__ void gn_stats(const double* stats, const double* part, int bg, int chunks, float eps,
                                                double* mean, double* inv) {
    if (stats) {
        *mean = stats[2 * bg];
        *inv = stats[2 * bg + 1];
    } else {
        gn_combine(part, bg, chunks, eps, mean, inv);
    }
}

/** The affine, scale-shift and SiLU transform of one normalised value xhat of channel ch of sample b: returns z
 *  (before SiLU) and, through sc, the scale factor (1 + scale) applied after the affine. */
static __device__ __forceinline__ float gn_affine(float xhat, int b, int C, int ch, const float* gamma, const float* beta,
                                                  const float* ss, float* sc) {
    float v = xhat * gamma[ch] + beta[ch];
    *sc = 1.f;
    if (ss) {
        *sc = 1.f + ss[(long long) b * 2 * C + ch];
        v = v * *sc + ss[(long long) b * 2 * C + C + ch];
    }
    return v;
}

static __device__ __forceinline__ float gn_sigmoid(float z) { return 1.f / (1.f + expf(-z)); }

/** x [B,C,HW] -> y; ss [B,2C] or null; silu 0/1. part from group_norm_stats_f32_v1. stats [B*G][2] or null: receives
 *  the combined statistics (written by the first block of each group's first channel). */
extern "C" __global__ void __launch_bounds__(GN_THREADS)
group_norm_apply_f32_v1(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                        const float* __restrict__ ss, const double* __restrict__ part, float* __restrict__ y,
                        double* __restrict__ stats, int C, long long hw, int G, int chunks, float eps, int silu) {
    __shared__ float stat[2];
    const int bc = blockIdx.x, b = bc / C, ch = bc - b * C, bg = b * G + ch / (C / G);
    if (threadIdx.x == 0) {
        double mean, inv;
        gn_combine(part, bg, chunks, eps, &mean, &inv);
        if (stats && blockIdx.y == 0 && ch % (C / G) == 0) {
            stats[2 * bg] = mean;
            stats[2 * bg + 1] = inv;
        }
        stat[0] = (float) mean;
        stat[1] = (float) inv;
    }
    __syncthreads();
    const float mean = stat[0], inv = stat[1];
    const float* xp = x + (long long) bc * hw;
    float* yp = y + (long long) bc * hw;
    long long lo = (long long) blockIdx.y * GN_APPLY_PER_BLOCK, hi = lo + GN_APPLY_PER_BLOCK < hw ? lo + GN_APPLY_PER_BLOCK : hw;
    for (long long i = lo + threadIdx.x; i < hi; i += GN_THREADS) {
        float sc, z = gn_affine((xp[i] - mean) * inv, b, C, ch, gamma, beta, ss, &sc);
        yp[i] = silu ? z * gn_sigmoid(z) : z;
    }
}

/** dxhat of one element: dy through SiLU' (at z), the scale and gamma. */
static __device__ __forceinline__ float gn_dxhat(float dy, float xhat, int b, int C, int ch, const float* gamma,
                                                 const float* beta, const float* ss, int silu) {
    float sc, z = gn_affine(xhat, b, C, ch, gamma, beta, ss, &sc);
    float dz = dy;
    if (silu) {
        float e = expf(-z), s = 1.f / (1.f + e);
        dz *= s * (1.f + z * (e * s));   // 1 - s computed as e s: no cancellation for large z
    }
    return dz * sc * gamma[ch];
}

extern "C" __global__ void __launch_bounds__(GN_THREADS)
group_norm_grad_reduce_f32_v1(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ gamma,
                              const float* __restrict__ beta, const float* __restrict__ ss, const double* __restrict__ part,
                              const double* __restrict__ stats, double* __restrict__ part2, int C, long long hw, int G,
                              int chunks, float eps, int silu) {
    __shared__ double scratch[32];
    __shared__ float stat[2];
    const int c = blockIdx.y, bg = blockIdx.x, b = bg / G, g = bg - b * G, cg = C / G;
    if (threadIdx.x == 0) {
        double mean, inv;
        gn_stats(stats, part, bg, chunks, eps, &mean, &inv);
        stat[0] = (float) mean;
        stat[1] = (float) inv;
    }
    __syncthreads();
    const float mean = stat[0], inv = stat[1];
    const long long n = (long long) cg * hw, base = (long long) bg * n;
    long long lo, hi;
    gn_chunk(n, chunks, c, &lo, &hi);
    double s1 = 0, s2 = 0;
    for (long long i = lo + threadIdx.x; i < hi; i += GN_THREADS) {
        int ch = g * cg + (int) (i / hw);
        float xhat = (x[base + i] - mean) * inv;
        float d = gn_dxhat(dy[base + i], xhat, b, C, ch, gamma, beta, ss, silu);
        s1 += d;
        s2 += (double) d * xhat;
    }
    s1 = ie_block_sum(s1, scratch);
    s2 = ie_block_sum(s2, scratch);
    if (threadIdx.x == 0) {
        double* p = part2 + ((long long) bg * chunks + c) * 2;
        p[0] = s1;
        p[1] = s2;
    }
}

extern "C" __global__ void __launch_bounds__(GN_THREADS)
group_norm_grad_apply_f32_v1(const float* __restrict__ dy, const float* __restrict__ x, const float* __restrict__ gamma,
                             const float* __restrict__ beta, const float* __restrict__ ss, const double* __restrict__ part,
                             const double* __restrict__ stats, const double* __restrict__ part2, const float* __restrict__ add,
                             float* __restrict__ dx, int C, long long hw, int G, int chunks, float eps, int silu) {
    __shared__ float stat[4];
    const int bc = blockIdx.x, b = bc / C, ch = bc - b * C, cg = C / G, bg = b * G + ch / cg;
    if (threadIdx.x == 0) {
        double mean, inv, s1 = 0, s2 = 0;
        gn_stats(stats, part, bg, chunks, eps, &mean, &inv);
        const double* p = part2 + (long long) bg * chunks * 2;
        for (int c = 0; c < chunks; c++) {
            s1 += p[2 * c];
            s2 += p[2 * c + 1];
        }
        double n = (double) cg * hw;
        stat[0] = (float) mean;
        stat[1] = (float) inv;
        stat[2] = (float) (s1 / n);
        stat[3] = (float) (s2 / n);
    }
    __syncthreads();
    const float mean = stat[0], inv = stat[1], m1 = stat[2], m2 = stat[3];
    const long long off = (long long) bc * hw;
    long long lo = (long long) blockIdx.y * GN_APPLY_PER_BLOCK, hi = lo + GN_APPLY_PER_BLOCK < hw ? lo + GN_APPLY_PER_BLOCK : hw;
    for (long long i = lo + threadIdx.x; i < hi; i += GN_THREADS) {
        float xhat = (x[off + i] - mean) * inv;
        float d = gn_dxhat(dy[off + i], xhat, b, C, ch, gamma, beta, ss, silu);
        dx[off + i] = inv * (d - m1 - xhat * m2) + (add ? add[off + i] : 0.f);
    }
}

/** x, y [B, C, S]: y = (x - mean) / sqrt(var + eps) gamma[c] + beta[c] over the C values of each position. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
layer_norm_f32_v1(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
                  float* __restrict__ y, int B, int C, long long S, float eps) {
    IE_GRID_STRIDE(p, (long long) B * S) {
        const long long b = p / S, s = p - b * S, base = b * C * S + s;
        double sum = 0;
        for (int c = 0; c < C; c++) sum += x[base + c * S];
        const double mean = sum / C;
        double sq = 0;
        for (int c = 0; c < C; c++) {
            const double d = x[base + c * S] - mean;
            sq += d * d;
        }
        const double inv = 1.0 / sqrt(sq / C + eps);
        for (int c = 0; c < C; c++) y[base + c * S] = (float) ((x[base + c * S] - mean) * inv * gamma[c] + beta[c]);
    }
}

IE_KERNEL_EXPORT(group_norm_stats_f32_v1)
IE_KERNEL_EXPORT(group_norm_apply_f32_v1)
IE_KERNEL_EXPORT(group_norm_grad_reduce_f32_v1)
IE_KERNEL_EXPORT(group_norm_grad_apply_f32_v1)
IE_KERNEL_EXPORT(layer_norm_f32_v1)
