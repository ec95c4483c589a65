/* imagenete native kernels: elementwise ops, normalisation, resampling, attention (ops.c).
 * fp32, contiguous, NCHW. All loops use every OpenMP thread (see ie_set_num_threads in imagenete.h). */
#ifndef IMAGENETE_OPS_H
#define IMAGENETE_OPS_H

#include "imagenete.h"

/* The convolution the backend runs: Winograd F(4x4,3x3) for 3x3 stride-1 pad-1 convolutions where it pays
 * (ie_conv3x3_winograd_pays: enough 4x4 tiles and channels), the direct implicit GEMM otherwise. Same
 * semantics as ie_conv2d_f32. ie_set_winograd(0) forces the direct path (for accuracy comparisons). */
void ie_conv2d_auto_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                        int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad);
/* The same followed by ReLU when relu != 0 (fused into the epilogue: y = max(0, conv + bias + add)). */
void ie_conv2d_auto_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);
void ie_set_winograd(int on);
extern int ie_winograd_enabled;   /* set by ie_set_winograd */

/* ie_conv2d_auto_ex_f32 with bf16 weights w [Cout,Cin,KH,KW]: ie_conv3x3_winograd_bf16_ex where Winograd pays,
 * else ie_conv2d_bf16_ex. Returns -1 when out of memory. */
int ie_conv2d_auto_ex_bf16(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);

/* Sums run in fp32 over blocks of this many elements (vectorised), the block sums in float64: a block's
 * rounding error stays ~1e-7 relative, and the float64 total does not grow with the group size. */
#define IE_SUM_BLOCK 1024L

/* Mean and 1/sqrt(biased variance + eps) of n floats: the GroupNorm statistics, shared by the forward and
 * its gradient so that both see identical values. */
IE_HIDDEN void ie_group_stats(const float* x, long n, float eps, double* mean, double* inv);

/* GroupNorm: per (b, g) mean/var over (C/G channels x HW), biased variance (ie_group_stats);
 * y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]; then, if ss != NULL ([B, 2C]),
 * y = y * (1 + ss[b, c]) + ss[b, C + c]; then SiLU if silu != 0. y may alias x. */
void ie_group_norm_f32(const float* x, const float* gamma, const float* beta, const float* ss, float* y,
                       int B, int C, long HW, int G, float eps, int silu);

void ie_silu_f32(const float* x, float* y, long n);
void ie_add_f32(const float* a, const float* b, float* y, long n);
/* y[b] = [a[b] (ia floats) | b[b] (ib floats)] for each of B samples. */
void ie_concat_f32(const float* a, const float* b, float* y, int B, long ia, long ib);
/* [P, H, W] -> [P, 2H, 2W] nearest. */
void ie_upsample2x_f32(const float* x, float* y, long P, int H, int W);
/* [P, H, W] -> [P, H/2, W/2] mean of 2x2. */
void ie_avgpool2x_f32(const float* x, float* y, long P, int H, int W);
/* y [N, M] = x [N, K] @ w[M, K]^T + bias[M] (bias may be NULL). */
void ie_linear_f32(const float* x, const float* w, const float* bias, float* y, int N, int K, int M);
/* Legacy-order multi-head attention: qkv [B, 3C, T] with head n owning channels [3ch n, 3ch (n+1))
 * as q|k|v; y [B, C, T]. Softmax in fp32 over keys. Returns -1 when its scratch allocation fails. */
int ie_attention_f32(const float* qkv, float* y, int B, int heads, int ch, int T);

/* grouped.c. Grouped convolution (groups > 1; semantics of ie_conv2d_ex_f32 with w [Cout, Cin/groups, KH, KW] and
 * output channel co reading only the input channels of its group co / (Cout/groups)), direct, one task per output
 * plane; and its input-gradient (dx [B, Cin, H, W] from dy [B, Cout, Ho, Wo]). */
void ie_conv2d_grouped_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int groups, int relu);
void ie_conv2d_grouped_grad_f32(const float* dy, const float* w, float* dx, int B, int Cin, int H, int W, int Cout,
                                int KH, int KW, int stride, int pad, int groups);

/* transformer.c. LayerNorm over the C channels of x [B, C, S] at each of the S positions; y may alias x. */
void ie_layer_norm_f32(const float* x, const float* gamma, const float* beta, float* y, int B, int C, long S, float eps);
/* Exact-form GELU, y = x (1 + erf(x / sqrt 2)) / 2, erf with |error| <= 1.5e-7 (PyTorch's vectorised CPU erf). */
void ie_gelu_f32(const float* x, float* y, long n);

/* ie_sgemm on the calling thread only (for use inside a parallel region). */
IE_HIDDEN void ie_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                               const float* B, int ldb, float beta, float* C, int ldc);
/* In-place softmax of each of {@code rows} rows of n floats (max-subtracted, fp32). */
IE_HIDDEN void ie_softmax_rows_f32(float* w, int rows, int n);

/* exp(x) for float, vectorisable (no libm call): |rel err| < 2e-7 on [-87, 88]; clamps outside. */
static inline float ie_expf(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    /* round to nearest by the 1.5*2^23 trick: vectorises, unlike roundf */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;          /* ln2 split: hi has 16 bits */
    r = r - n * 1.42860682030941723212e-6f;        /* lo */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int e = (int) n + 127;
    union { int i; float f; } u = { .i = e << 23 };
    return p * u.f;
}

static inline float ie_siluf(float v) { return v / (1.0f + ie_expf(-v)); }

#endif
