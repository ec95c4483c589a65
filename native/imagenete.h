/* imagenete native kernels: shared header.
 * Every exported symbol is prefixed ie_. Each kernel family has its own section; append new
 * sections at the end. Sections:
 *   1. Threads, GEMM and convolution (gemm.c, conv.c, winograd.c)
 */
#ifndef IMAGENETE_H
#define IMAGENETE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===================================================================================== */
/* 1. Threads, GEMM and convolution (gemm.c, conv.c, winograd.c)                          */
/*    All tensors fp32, contiguous, row-major (NCHW for images).                          */
/* ===================================================================================== */

/* OpenMP thread count used by all kernels (n <= 0: leave unchanged). */
void ie_set_num_threads(int n);
int  ie_get_num_threads(void);

/* General SGEMM, row-major: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
 * op(A) = A (A is [M,K], lda >= K) or A^T (transA = 1: A is [K,M], lda >= M); same for B.
 * beta == 0: C is not read (may hold NaN). M, N, K >= 0 (K == 0 gives C = beta*C). */
void ie_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);

/* Direct convolution (implicit GEMM):
 * y[b,co,oy,ox] = bias[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[b,ci,oy*stride+ky-pad, ox*stride+kx-pad]
 *                 (+ add[b,co,oy,ox] when add != NULL: fused residual add)
 * x [B,Cin,H,W], w [Cout,Cin,KH,KW], bias [Cout] or NULL, add/y [B,Cout,Ho,Wo],
 * Ho = (H+2*pad-KH)/stride+1, Wo likewise. Any KH, KW, stride >= 1, pad >= 0.
 * y must not alias x; y may alias add. */
void ie_conv2d_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                   int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad);

/* The same with a fused ReLU when relu != 0: y = max(0, conv + bias + add). */
void ie_conv2d_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);

/* Winograd F(4x4,3x3) convolution, 3x3, stride 1, pad 1 (same semantics as ie_conv2d_f32 with
 * KH=KW=3, stride=1, pad=1). Transforms the weights on every call and uses the direct path where
 * that does not pay (small images). Rounding error ~10x the direct conv's (relative L2 ~2e-6). */
void ie_conv3x3_winograd_f32(const float* x, const float* w, const float* bias, const float* add,
                             float* y, int B, int Cin, int H, int W, int Cout);

/* The same with a fused ReLU when relu != 0 (see ie_conv2d_ex_f32). */
void ie_conv3x3_winograd_ex_f32(const float* x, const float* w, const float* bias, const float* add,
                                float* y, int B, int Cin, int H, int W, int Cout, int relu);

/* Same with weights transformed once (load time): ie_winograd_weights_size() floats in wt
 * (36*Cout*Cin, 4x the weights), filled by ie_winograd_transform_weights(w [Cout,Cin,3,3]).
 * Always runs Winograd: ask ie_conv3x3_winograd_pays(..., 1) whether that beats ie_conv2d_f32 for
 * a shape (e.g. ADM-256: yes at 32x32 and above, no at 16x16 and 8x8). */
size_t ie_winograd_weights_size(int Cin, int Cout);
void ie_winograd_transform_weights(const float* w, float* wt, int Cin, int Cout);
void ie_conv3x3_winograd_pretransformed_f32(const float* x, const float* wt, const float* bias,
                                            const float* add, float* y,
                                            int B, int Cin, int H, int W, int Cout);
/* The transposed convolution of a 3x3, stride 1, pad 1 conv Cout -> Cin with weights w [Cin, Cout, 3, 3]:
 * the conv Cin -> Cout of x [B, Cin, H, W] whose kernel [co, ci] is w[ci, co] rotated by 180 degrees (the
 * input-gradient dx of that conv, with x = dy), by Winograd with the weights transformed from w as they are:
 * no transposed copy. Returns -1 when out of memory. Only where ie_conv3x3_winograd_pays(B, Cin, H, W, Cout, 0). */
int ie_conv3x3_winograd_transposed_f32(const float* x, const float* w, float* y, int B, int Cin, int H, int W, int Cout);
/* 1 if Winograd (with weights pretransformed, or transformed per call) is faster than the direct
 * convolution for this shape on this build. */
int ie_conv3x3_winograd_pays(int B, int Cin, int H, int W, int Cout, int pretransformed);

/* ---- bf16 operands (AVX-512 BF16: vdpbf16ps), fp32 accumulation ----
 * Weights come as bf16 bit patterns (uint16, converted once by the caller); activations are rounded to bf16
 * (to nearest even) while packed; products are exact and summed in fp32. Where the CPU lacks AVX-512 BF16
 * (ie_has_bf16() == 0) every entry below runs the fp32 kernels on the weights widened to fp32. */

/* 1 when the CPU executes vdpbf16ps and this library was built for it. */
int ie_has_bf16(void);

/* C[M,N] = A[M,K] @ op(B)[K,N] + beta * C, A bf16 row-major (lda >= K), B fp32 (transB as in ie_sgemm).
 * beta == 0: C is not read. Returns 0, or -1 when out of memory (the fallback's widened copy of A). */
int ie_gemm_bf16(int transB, int M, int N, int K, const uint16_t* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc);

/* ie_conv2d_ex_f32 with bf16 weights w [Cout,Cin,KH,KW]: conv(bf16(x), w) with fp32 sums. Few output channels
 * (Cout <= 6 with stride 1 and Wo == W, e.g. a conv to RGB: bound by reading the image, not by arithmetic) run the
 * fp32 kernel on the widened weights and x rounded to bf16: the same products. Returns 0, or -1 when out of memory. */
int ie_conv2d_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu);

/* Winograd F(4x4,3x3) for bf16 weights w [Cout,Cin,3,3] (where ie_conv3x3_winograd_pays). By default the fp32
 * Winograd on x and w rounded to bf16 (the operands of the bf16 direct convolution; the transforms and products in
 * fp32): ie_conv2d_bf16_ex's result up to the fp32 Winograd's rounding. With ie_set_winograd_bf16(1), the transformed
 * operands U = G g G^T and V = B^T d B rounded to bf16 for the bf16 GEMM: faster, but the transforms amplify the
 * rounding to ~2.5% relative L2 per convolution (bf16 direct: ~0.25%). Returns -1 when out of memory. */
int ie_conv3x3_winograd_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                                int B, int Cin, int H, int W, int Cout, int relu);
void ie_set_winograd_bf16(int on);

/* ---- internal to gemm.c / conv.c / winograd.c (hidden, not exported) ---- */
#define IE_HIDDEN __attribute__((visibility("hidden")))

/* Packs op(B)[k0:k0+kc, n0:n0+nc] into micro-panels of ie_gemm_nr() columns:
 * dst[(j/NR)*kc*NR + k*NR + j%NR], zero-filled for columns j >= nc in the last panel. */
typedef void (*ie_packb_fn)(const void* ctx, int k0, int kc, int n0, int nc, float* dst);
/* The same into bf16 pairs (see ie_gemm_job.bpre16: kc may be odd, the last pair's high half zero). */
typedef void (*ie_packb16_fn)(const void* ctx, int k0, int kc, int n0, int nc, uint32_t* dst);

typedef struct {
    int M, N, K;
    const float* A; long rsa, csa;   /* A(i,k) = A[i*rsa + k*csa]; rsa == 1 or csa == 1 */
    ie_packb_fn packb; const void* bctx;
    const float* bpre; long bpre_ld; /* instead of packb: B already packed as micro-panels, panel p
                                        (columns p*NR..) row k at bpre + p*bpre_ld + k*NR */
    float* C; long ldc;
    float alpha, beta;               /* C = alpha*A@B + beta*C (beta == 0: C not read) */
    const float* bias;               /* + bias[i] per row, or NULL */
    const float* add; long ldadd;    /* + add[i*ldadd + j], or NULL; may alias C */
    int relu;                        /* then max(0, .) (after bias and add) */
    /* Columns of several images side by side (img_cols >= 16, beta == 0): column j of C is column
     * j % img_cols of image j / img_cols, C(i,j) = C[(j/img_cols)*img_stride + i*ldc + j%img_cols];
     * add likewise with ldadd and the same img_stride. 0: plain C[i*ldc + j]. */
    int img_cols; long img_stride;
    /* bf16 operands (ie_has_bf16() only): A16 replaces A, bf16 bit patterns read in place, row-major
     * (A(i,k) = A16[i*rsa + k], csa == 1); B is rounded to bf16 (to nearest even) while packed, from packb's
     * fp32 panels, or comes as bpre16: panel p, k-pair q at bpre16 + p*bpre_ld + q*NR, each 32-bit lane
     * bf16 B(2q, j) | B(2q+1, j) << 16. Products exact, sums in fp32 (vdpbf16ps). */
    const uint16_t* A16;
    const uint32_t* bpre16;
    ie_packb16_fn packb16;           /* bf16: packs straight into pairs (same ctx), instead of through packb */
} ie_gemm_job;

/* A scratch buffer of at least nfloats floats, 2 MiB aligned, from those parked between calls when one is large
 * enough (else fresh; p NULL when out of memory); park it back when done (the largest few are kept). */
typedef struct { float* p; size_t cap; } ie_scratch;
IE_HIDDEN ie_scratch ie_scratch_take(size_t nfloats);
IE_HIDDEN void ie_scratch_park(ie_scratch b);
/* Runs jobs[0..njobs) (independent outputs) on all threads. */
IE_HIDDEN void ie_gemm_run(const ie_gemm_job* jobs, int njobs);
/* Runs one job on the calling thread only (for callers that parallelise themselves). */
IE_HIDDEN void ie_gemm_serial(const ie_gemm_job* job);
IE_HIDDEN int ie_gemm_nr(void);
#if defined(__AVX512BF16__)
#include <immintrin.h>
/* Two fp32 rows of 16 -> 16 bf16 pairs (lo | hi << 16), rounded to nearest even: a GEMM B row pair. */
static inline __m512i ie_bf16_pairs(__m512 lo, __m512 hi)
{
    const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(inter, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}
/* v rounded to bf16 (to nearest even, as the packing rounds), kept as fp32: for fp32 kernels run in bf16 mode. */
static inline __m512 ie_round_bf16(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v)), 16));
}
#endif
/* dst[i] = the float of bf16 bits src[i] (exact). */
IE_HIDDEN void ie_bf16_to_f32(const uint16_t* src, float* dst, size_t n);
/* C[M,N] (M <= ie_gemm_mr()) = A @ B with B read from an image, no packing (AVX-512 only):
 * B(k, p) = lanes of x[off[k] + p] enabled in masks[(p/NR)*KK*NV + slot[k]*NV + (p%NR)/16]. */
IE_HIDDEN void ie_gemm_smallm_direct(int M, int N, int K, const float* A, long lda, const float* x,
                                     const long* off, const int* slot, const unsigned short* masks, int KK,
                                     float* C, long ldc, const float* bias, const float* add, long ldadd,
                                     int relu, int round_x);
IE_HIDDEN int ie_gemm_mr(void);
/* Packer for a plain row-major B (ctx = ie_packb_plain*). */
typedef struct { const float* B; long ldb; int trans; } ie_packb_plain;
IE_HIDDEN void ie_packb_plain_fn(const void* ctx, int k0, int kc, int n0, int nc, float* dst);
/* Its bf16 form for a non-transposed B (trans == 0), ie_packb16_fn. */
IE_HIDDEN void ie_packb16_plain_fn(const void* ctx, int k0, int kc, int n0, int nc, uint32_t* dst);
/* ie_packb16_fn for a B already in bf16, row-major (ctx = ie_packb_bf16*): rows k, k+1 interleaved. */
typedef struct { const uint16_t* B; long ldb; } ie_packb_bf16;
IE_HIDDEN void ie_packb16_bf16_fn(const void* ctx, int k0, int kc, int n0, int nc, uint32_t* dst);

#ifdef __cplusplus
}
#endif

#endif /* IMAGENETE_H */
