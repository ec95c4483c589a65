// conv: conv2d and its input-gradient as implicit GEMM (no im2col buffer: operands are gathered from NCHW while
// they are staged into shared memory). Bias and the fused residual are added in the epilogue.
//
// GEMM view, forward:         M = Cout, N = B*Ho*Wo, K = Cin*KH*KW
//     A[m][k] = w[m][k]                         (weights, row-major [Cout][Cin*KH*KW])
//     B[k][n] = x[b][ci][oy*s+ky-p][ox*s+kx-p]  (0 outside), k = (ci, ky, kx), n = (b, oy, ox)
//     y[b][m][oy][ox] = sum_k A B + bias[m] + add[b][m][oy][ox]
// GEMM view, input-gradient:  M = Cin, N = B*H*W, K = Cout*KH*KW
//     A[m][k] = w[co][m][ky][kx]                (weights gathered transposed), k = (co, ky, kx)
//     B[k][n] = dy[b][co][oy][ox] where iy = oy*s+ky-p, ix = ox*s+kx-p: oy = (iy+p-ky)/s when that divides
//               exactly and lands inside [0, Ho) (same for x), else 0; n = (b, iy, ix)
// Both views share one kernel template: only the gathers differ (ConvFwd / ConvGrad below).
// Grouped convolutions (ResNeXt): blockIdx.z is the group g; each group is the GEMM above over its own channels,
// M = Cout/groups (Cin/groups for the gradient), K = Cin/groups*KH*KW (Cout/groups*KH*KW), with the weights, the
// gathered channels and the stored channels offset by the group. groups = 1 is the plain convolution.
// Epilogue (forward): + bias[m], + add (the fused residual), then max(0, .) when relu != 0 (conv-BN-ReLU with BN
// folded; the gradient kernels never apply it).
//
// Versions:
//   conv2d_f32_v1, conv2d_grad_f32_v1    fp32 FMA. Block tile 64 (M) x 64 (N), K step 16, 256 threads with a
//                                        4x4 register tile each. Portable (any sm, the emulator).
//   conv2d_bf16_v2, conv2d_grad_bf16_v2  tensor cores: mma.sync.m16n8k16 with bf16 (or f16: the _f16_v2
//   conv2d_f16_v2, conv2d_grad_f16_v2    kernels) operands and fp32 accumulation. Block tile 64 x 64, K step 32,
//                                        4 warps with 32x32 warp tiles (2 x 4 mma tiles). Weights arrive
//                                        pre-converted to 16 bits (convert_f32_*_v1); activations are rounded to
//                                        16 bits while staged. sm_80 and later. Under emulation mma.sync is
//                                        replaced by a warp-cooperative exchange that implements the PTX ISA's
//                                        fragment layout (ie_mma_16816), so everything but the instruction itself
//                                        -- tiling, fragment loads, epilogue -- runs in CI.
// Default: v1 for fp32, v2 for bf16/f16 (CONV_DEFAULT_LOWP_VERSION).
#include "common.cuh"

constexpr int CONV_F32_BM = 64;
constexpr int CONV_F32_BN = 64;
constexpr int CONV_F32_BK = 16;
constexpr int CONV_F32_THREADS = 256;
constexpr int CONV_MMA_BM = 64;
constexpr int CONV_MMA_BN = 64;
constexpr int CONV_MMA_BK = 32;
constexpr int CONV_MMA_THREADS = 128;
constexpr int CONV_DEFAULT_LOWP_VERSION = 2;
IE_CONSTANT_EXPORT(CONV_F32_BM)
IE_CONSTANT_EXPORT(CONV_F32_BN)
IE_CONSTANT_EXPORT(CONV_F32_THREADS)
IE_CONSTANT_EXPORT(CONV_MMA_BM)
IE_CONSTANT_EXPORT(CONV_MMA_BN)
IE_CONSTANT_EXPORT(CONV_MMA_THREADS)
IE_CONSTANT_EXPORT(CONV_DEFAULT_LOWP_VERSION)

/** Problem description; P = output pixels per image (Ho*Wo forward, H*W for the input-gradient); g = this block's
 *  group of {@code groups} (Cin and Cout are the totals over all groups). */
struct ConvArgs {
    int B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, g;
};

/** The forward gathers. */
struct ConvFwd {
    /** Rows of this group's GEMM, and the output channels in all. */
    static __device__ __forceinline__ int M(const ConvArgs& a) { return a.Cout / a.groups; }
    static __device__ __forceinline__ int C(const ConvArgs& a) { return a.Cout; }
    static __device__ __forceinline__ int K(const ConvArgs& a) { return a.Cin / a.groups * a.KH * a.KW; }
    static __device__ __forceinline__ int P(const ConvArgs& a) { return a.Ho * a.Wo; }
    /** Index of A[m][k] in the weights (row g M + m of [Cout][Cin/groups*KH*KW]). */
    static __device__ __forceinline__ long long a_index(const ConvArgs& a, int m, int k) {
        return (long long) (a.g * M(a) + m) * K(a) + k;
    }
    /** Per-column state: the image's base offset in the operand and the window origin. */
    struct Col {
        long long base;
        int y0, x0;
        bool valid;
    };
    static __device__ __forceinline__ Col column(const ConvArgs& a, int n, int N) {
        Col c;
        c.valid = n < N;
        int nn = c.valid ? n : 0;
        int P_ = P(a), b = nn / P_, pix = nn - b * P_, oy = pix / a.Wo, ox = pix - oy * a.Wo;
        c.base = ((long long) b * a.Cin + (long long) a.g * (a.Cin / a.groups)) * a.H * a.W;   // the group's first channel
        c.y0 = oy * a.stride - a.pad;
        c.x0 = ox * a.stride - a.pad;
        return c;
    }
    /** B[k][n] from x (0 when outside the image or past K). */
    static __device__ __forceinline__ float b_value(const ConvArgs& a, const float* x, const Col& c, int k, int K_) {
        if (!c.valid || k >= K_) return 0.f;
        int khw = a.KH * a.KW, ci = k / khw, r = k - ci * khw, ky = r / a.KW, kx = r - ky * a.KW;
        int iy = c.y0 + ky, ix = c.x0 + kx;
        if (iy < 0 || iy >= a.H || ix < 0 || ix >= a.W) return 0.f;
        return x[c.base + ((long long) ci * a.H + iy) * a.W + ix];
    }
};

/** The input-gradient gathers (a transposed convolution of dy). */
struct ConvGrad {
    static __device__ __forceinline__ int M(const ConvArgs& a) { return a.Cin / a.groups; }
    static __device__ __forceinline__ int C(const ConvArgs& a) { return a.Cin; }
    static __device__ __forceinline__ int K(const ConvArgs& a) { return a.Cout / a.groups * a.KH * a.KW; }
    static __device__ __forceinline__ int P(const ConvArgs& a) { return a.H * a.W; }
    /** w[g Cout/groups + co][m][ky][kx] for k = (co, ky, kx) of this group. */
    static __device__ __forceinline__ long long a_index(const ConvArgs& a, int m, int k) {
        int khw = a.KH * a.KW, co = k / khw, r = k - co * khw;
        return ((long long) (a.g * (a.Cout / a.groups) + co) * M(a) + m) * khw + r;
    }
    struct Col {
        long long base;
        int y0, x0;   // iy + pad, ix + pad
        bool valid;
    };
    static __device__ __forceinline__ Col column(const ConvArgs& a, int n, int N) {
        Col c;
        c.valid = n < N;
        int nn = c.valid ? n : 0;
        int P_ = P(a), b = nn / P_, pix = nn - b * P_, iy = pix / a.W, ix = pix - iy * a.W;
        c.base = ((long long) b * a.Cout + (long long) a.g * (a.Cout / a.groups)) * a.Ho * a.Wo;
        c.y0 = iy + a.pad;
        c.x0 = ix + a.pad;
        return c;
    }
    static __device__ __forceinline__ float b_value(const ConvArgs& a, const float* dy, const Col& c, int k, int K_) {
        if (!c.valid || k >= K_) return 0.f;
        int khw = a.KH * a.KW, co = k / khw, r = k - co * khw, ky = r / a.KW, kx = r - ky * a.KW;
        int ty = c.y0 - ky, tx = c.x0 - kx;
        if (ty < 0 || tx < 0) return 0.f;
        int oy = ty / a.stride, ox = tx / a.stride;
        if (oy * a.stride != ty || ox * a.stride != tx || oy >= a.Ho || ox >= a.Wo) return 0.f;
        return dy[c.base + ((long long) co * a.Ho + oy) * a.Wo + ox];
    }
};

/** out[b][c][pix] = acc + bias[c] + add[b][c][pix] with c = g M + m (the group's channel m), then max(0, .) if relu,
 *  for column n (n < N, m < M checked by the caller). */
template <class Map>
static __device__ __forceinline__ void conv_store(const ConvArgs& a, float* out, const float* bias, const float* add,
                                                  int relu, int m, int n, float acc) {
    int P_ = Map::P(a), b = n / P_, pix = n - b * P_, c = a.g * Map::M(a) + m;
    long long o = ((long long) b * Map::C(a) + c) * P_ + pix;
    float v = acc;
    if (bias) v += bias[c];
    if (add) v += add[o];
    if (relu && !(v > 0.f)) v = 0.f;   // NaN -> 0 as the reference's x > 0 ? x : 0
    out[o] = v;
}

// ------------------------------------------------------------------------------------------ v1: fp32 FMA
template <class Map>
static __device__ __forceinline__ void conv_f32_body(const float* __restrict__ x, const float* __restrict__ w,
                                                     const float* __restrict__ bias, const float* __restrict__ add,
                                                     float* __restrict__ out, const ConvArgs& a, int relu) {
    constexpr int BM = CONV_F32_BM, BN = CONV_F32_BN, BK = CONV_F32_BK, T = CONV_F32_THREADS;
    __shared__ __align__(16) float As[BK][BM + 4];
    __shared__ __align__(16) float Bs[BK][BN + 4];
    const int M = Map::M(a), K = Map::K(a), N = a.B * Map::P(a);
    const int tid = threadIdx.x, m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    // loaders: A element (m0 + tid/16 + 16i, k0 + tid%16), B element (k0 + tid/64 + 4i, n0 + tid%64)
    const int a_k = tid % BK, a_m = tid / BK;
    const int b_n = tid % BN, b_k = tid / BN;
    const typename Map::Col col = Map::column(a, n0 + b_n, N);
    // compute: rows ty*4 .. +3, columns tx*4 .. +3
    const int ty = tid / 16, tx = tid % 16;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
        for (int i = 0; i < BM * BK / T; i++) {
            int mm = a_m + i * (T / BK), m = m0 + mm, k = k0 + a_k;
            As[a_k][mm] = (m < M && k < K) ? w[Map::a_index(a, m, k)] : 0.f;
        }
#pragma unroll
        for (int i = 0; i < BN * BK / T; i++) {
            int kk = b_k + i * (T / BN);
            Bs[kk][b_n] = Map::b_value(a, x, col, k0 + kk, K);
        }
        __syncthreads();
        ie_tile_fma_4x4(As, Bs, ty, tx, acc);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) conv_store<Map>(a, out, bias, add, relu, m, n, acc[i][j]);
        }
    }
}

/** x [B,Cin,H,W], w [Cout,Cin/groups,KH,KW], bias [Cout] or null, add [B,Cout,Ho,Wo] or null -> y [B,Cout,Ho,Wo];
 *  relu != 0: y = max(0, .). Grid (N tiles, M tiles, groups). */
extern "C" __global__ void __launch_bounds__(CONV_F32_THREADS)
conv2d_f32_v1(const float* x, const float* w, const float* bias, const float* add, float* y, int B, int Cin, int H,
              int W, int Cout, int KH, int KW, int stride, int pad, int Ho, int Wo, int relu, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_f32_body<ConvFwd>(x, w, bias, add, y, a, relu);
}

/** dy [B,Cout,Ho,Wo], w [Cout,Cin/groups,KH,KW] -> dx [B,Cin,H,W]. */
extern "C" __global__ void __launch_bounds__(CONV_F32_THREADS)
conv2d_grad_f32_v1(const float* dy, const float* w, float* dx, int B, int Cin, int H, int W, int Cout, int KH, int KW,
                   int stride, int pad, int Ho, int Wo, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_f32_body<ConvGrad>(dy, w, nullptr, nullptr, dx, a, 0);
}

// ------------------------------------------------------------------------------------------ v2: tensor cores
/** 16-bit operand formats: rounding from fp32 and back, and the mma.sync type name. */
struct Bf16 {
    static __device__ __forceinline__ unsigned short round(float v) { return __bfloat16_as_ushort(__float2bfloat16(v)); }
    static __device__ __forceinline__ float widen(unsigned short h) { return __bfloat162float(__ushort_as_bfloat16(h)); }
};
struct F16 {
    static __device__ __forceinline__ unsigned short round(float v) { return __half_as_ushort(__float2half(v)); }
    static __device__ __forceinline__ float widen(unsigned short h) { return __half2float(__ushort_as_half(h)); }
};

/**
 * D = A B + C for one warp, m16n8k16, A row-major 16x16, B column-major 16x8, fp32 C/D. Fragments as in the PTX
 * ISA ("Matrix fragments for mma.m16n8k16 with floating point type"), g = lane / 4, t = lane % 4, two 16-bit
 * values per register, the lower-indexed one in the low half:
 *   a[0] = A[g][2t..2t+1]   a[1] = A[g+8][2t..2t+1]   a[2] = A[g][2t+8..2t+9]   a[3] = A[g+8][2t+8..2t+9]
 *   b[0] = B[2t..2t+1][g]   b[1] = B[2t+8..2t+9][g]
 *   c[0] = C[g][2t]  c[1] = C[g][2t+1]  c[2] = C[g+8][2t]  c[3] = C[g+8][2t+1]
 */
template <class T16>
static __device__ __forceinline__ void ie_mma_16816(float c[4], const unsigned a[4], const unsigned b[2]) {
#ifdef IE_EMULATION
    // The warp's fragments go through a per-warp stage in shared memory; each lane then forms its four outputs
    // from the elements the layout above assigns to the other lanes.
    __shared__ unsigned stage[32][32][6];
    const int lin = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z), warp = lin >> 5, lane = lin & 31;
    for (int i = 0; i < 4; i++) stage[warp][lane][i] = a[i];
    stage[warp][lane][4] = b[0];
    stage[warp][lane][5] = b[1];
    __syncwarp();
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++) {
        int row = g + (i >= 2 ? 8 : 0), colb = 2 * t + (i & 1);
        float acc = c[i];
        for (int k = 0; k < 16; k++) {
            unsigned ar = stage[warp][(row & 7) * 4 + ((k & 7) >> 1)][(row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)];
            unsigned br = stage[warp][colb * 4 + ((k & 7) >> 1)][4 + (k >= 8 ? 1 : 0)];
            float av = T16::widen((unsigned short) ((k & 1) ? ar >> 16 : ar & 0xffffu));
            float bv = T16::widen((unsigned short) ((k & 1) ? br >> 16 : br & 0xffffu));
            acc = fmaf(av, bv, acc);
        }
        c[i] = acc;
    }
    __syncwarp();
#else
    if constexpr (std::is_same<T16, Bf16>::value) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#endif
}

template <class Map, class T16>
static __device__ __forceinline__ void conv_mma_body(const float* __restrict__ x, const unsigned short* __restrict__ w16,
                                                     const float* __restrict__ bias, const float* __restrict__ add,
                                                     float* __restrict__ out, const ConvArgs& a, int relu) {
    constexpr int BM = CONV_MMA_BM, BN = CONV_MMA_BN, BK = CONV_MMA_BK, T = CONV_MMA_THREADS;
    constexpr int LD = BK + 8;   // row stride in 16-bit elements: 20 words, so the fragment loads of a warp hit
                                 // 32 different banks
    __shared__ __align__(16) unsigned short As[BM][LD];   // [m][k]
    __shared__ __align__(16) unsigned short Bs[BN][LD];   // [n][k]: B stored column-major, as mma's "col" wants
    const int M = Map::M(a), K = Map::K(a), N = a.B * Map::P(a);
    const int tid = threadIdx.x, m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int a_k = tid % BK, a_m = tid / BK;   // A loads: (a_m + 4i, a_k)
    const int b_n = tid % BN, b_k = tid / BN;   // B loads: (b_k + 2i, b_n)
    const typename Map::Col col = Map::column(a, n0 + b_n, N);
    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;   // this warp's 32x32 tile
    float acc[2][4][4] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
        for (int i = 0; i < BM * BK / T; i++) {
            int mm = a_m + i * (T / BK), m = m0 + mm, k = k0 + a_k;
            As[mm][a_k] = (m < M && k < K) ? w16[Map::a_index(a, m, k)] : (unsigned short) 0;
        }
#pragma unroll
        for (int i = 0; i < BN * BK / T; i++) {
            int kk = b_k + i * (T / BN);
            Bs[b_n][kk] = T16::round(Map::b_value(a, x, col, k0 + kk, K));
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < BK; ks += 16) {
            unsigned af[2][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                int r = wm + mi * 16 + g;
                af[mi][0] = *reinterpret_cast<const unsigned*>(&As[r][ks + 2 * t]);
                af[mi][1] = *reinterpret_cast<const unsigned*>(&As[r + 8][ks + 2 * t]);
                af[mi][2] = *reinterpret_cast<const unsigned*>(&As[r][ks + 2 * t + 8]);
                af[mi][3] = *reinterpret_cast<const unsigned*>(&As[r + 8][ks + 2 * t + 8]);
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                int c = wn + ni * 8 + g;
                bf[ni][0] = *reinterpret_cast<const unsigned*>(&Bs[c][ks + 2 * t]);
                bf[ni][1] = *reinterpret_cast<const unsigned*>(&Bs[c][ks + 2 * t + 8]);
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) ie_mma_16816<T16>(acc[mi][ni], af[mi], bf[ni]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                int m = m0 + wm + mi * 16 + g + (i >= 2 ? 8 : 0);
                int n = n0 + wn + ni * 8 + 2 * t + (i & 1);
                if (m < M && n < N) conv_store<Map>(a, out, bias, add, relu, m, n, acc[mi][ni][i]);
            }
}

/** As conv2d_f32_v1 (relu included) with w16 the weights rounded to bf16 (convert_f32_bf16_v1); fp32 accumulation. */
extern "C" __global__ void __launch_bounds__(CONV_MMA_THREADS)
conv2d_bf16_v2(const float* x, const unsigned short* w16, const float* bias, const float* add, float* y, int B, int Cin,
               int H, int W, int Cout, int KH, int KW, int stride, int pad, int Ho, int Wo, int relu, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_mma_body<ConvFwd, Bf16>(x, w16, bias, add, y, a, relu);
}

extern "C" __global__ void __launch_bounds__(CONV_MMA_THREADS)
conv2d_grad_bf16_v2(const float* dy, const unsigned short* w16, float* dx, int B, int Cin, int H, int W, int Cout, int KH,
                    int KW, int stride, int pad, int Ho, int Wo, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_mma_body<ConvGrad, Bf16>(dy, w16, nullptr, nullptr, dx, a, 0);
}

/** As conv2d_bf16_v2 with IEEE half operands (convert_f32_f16_v1). */
extern "C" __global__ void __launch_bounds__(CONV_MMA_THREADS)
conv2d_f16_v2(const float* x, const unsigned short* w16, const float* bias, const float* add, float* y, int B, int Cin,
              int H, int W, int Cout, int KH, int KW, int stride, int pad, int Ho, int Wo, int relu, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_mma_body<ConvFwd, F16>(x, w16, bias, add, y, a, relu);
}

extern "C" __global__ void __launch_bounds__(CONV_MMA_THREADS)
conv2d_grad_f16_v2(const float* dy, const unsigned short* w16, float* dx, int B, int Cin, int H, int W, int Cout, int KH,
                   int KW, int stride, int pad, int Ho, int Wo, int groups) {
    ConvArgs a{B, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo, groups, (int) blockIdx.z};
    conv_mma_body<ConvGrad, F16>(dy, w16, nullptr, nullptr, dx, a, 0);
}

IE_KERNEL_EXPORT(conv2d_f32_v1)
IE_KERNEL_EXPORT(conv2d_grad_f32_v1)
IE_KERNEL_EXPORT(conv2d_bf16_v2)
IE_KERNEL_EXPORT(conv2d_grad_bf16_v2)
IE_KERNEL_EXPORT(conv2d_f16_v2)
IE_KERNEL_EXPORT(conv2d_grad_f16_v2)
