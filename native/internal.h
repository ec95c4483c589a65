/* imagenete native kernels: what the .c files of native/ share among themselves and nobody else may call.
 * Nothing here is exported from the library (IE_HIDDEN: hidden visibility), so the Java bindings, the tests and
 * embedders cannot reach it; the public entry points are all in imagenete.h, which this header includes.
 * Sections: 1. scratch buffers (scratch.c); 2. the GEMM engine behind ie_sgemm and the convolutions (gemm.c,
 * used by conv.c, winograd.c, ops.c, grad.c); 3. helpers of the elementwise and gradient kernels (ops.c, grad.c,
 * transformer.c). */
#ifndef IMAGENETE_INTERNAL_H
#define IMAGENETE_INTERNAL_H

#include "imagenete.h"

#define IE_HIDDEN __attribute__((visibility("hidden")))

/* ===================================================================================== */
/* 1. Scratch buffers (scratch.c): the one mechanism for temporary memory; scratch.c says who owns what, how   */
/*    long it is kept and what is thread-safe.                                             */
/* ===================================================================================== */

typedef enum {
    IE_SCRATCH_THREAD,  /* kept by the calling thread (per-thread work buffers of parallel regions); nests LIFO */
    IE_SCRATCH_SHARED   /* from the global pool of a few large parked buffers (per-call weights), locked */
} ie_scratch_kind;
/* p: at least the floats asked for (cap of them), 4 KiB (thread) or 2 MiB (shared) aligned; NULL when out of
 * memory. depth: where it goes back to (scratch.c's business). */
typedef struct { float* p; size_t cap; int depth; } ie_scratch;
/* A buffer of at least nfloats floats, the caller's until it parks it. */
IE_HIDDEN ie_scratch ie_scratch_take(size_t nfloats, ie_scratch_kind kind);
/* Gives b back (p NULL: nothing). A thread parks its IE_SCRATCH_THREAD buffers in the reverse order of taking. */
IE_HIDDEN void ie_scratch_park(ie_scratch b);
/* Bytes held in IE_SCRATCH_THREAD buffers by all live threads (freed when their thread ends; for the tests). */
IE_HIDDEN size_t ie_scratch_thread_bytes(void);

/* ===================================================================================== */
/* 2. The GEMM engine (gemm.c)                                                             */
/* ===================================================================================== */

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
    /* bf16 operands (ie_has_bf16() only): A16 replaces A, bf16 bit patterns read in place through rsa and csa as
     * A (one of them 1); B is rounded to bf16 (to nearest even) while packed, from packb's
     * fp32 panels, or comes as bpre16: panel p, k-pair q at bpre16 + p*bpre_ld + q*NR, each 32-bit lane
     * bf16 B(2q, j) | B(2q+1, j) << 16. Products exact, sums in fp32 (vdpbf16ps). */
    const uint16_t* A16;
    const uint32_t* bpre16;
    ie_packb16_fn packb16;           /* bf16: packs straight into pairs (same ctx), instead of through packb */
} ie_gemm_job;

/* A job for C = alpha op(A) B + beta C, op(A) [M, K] = A (lda its row stride) or, transA, A^T (A [K, M]); C [M, N] with
 * row stride ldc; alpha == 0: K = 0 (A and B not read). The caller sets how B comes (packb or bpre). */
IE_HIDDEN ie_gemm_job ie_gemm_job_plain(int transA, int M, int N, int K, float alpha, const float* A, long lda,
                                        float beta, float* C, long ldc);
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

/* Products that reuse one B over many row blocks (attention, ops.c): B [K, N] (trans: given as B^T [N, K], ldb its
 * row stride) packed once into ie_packed_b_size(K, N) floats of GEMM micro-panels; then C = alpha op(A) B + beta C on
 * the calling thread, op(A) [M, K] = A (lda its row stride) or, transA, A^T (A [K, M]). */
IE_HIDDEN size_t ie_packed_b_size(int K, int N);
IE_HIDDEN void ie_pack_b(const float* B, long ldb, int trans, int K, int N, float* dst);
IE_HIDDEN void ie_gemm_packed_serial(int transA, int M, int N, int K, float alpha, const float* A, long lda,
                                     const float* bp, float beta, float* C, long ldc);
/* Attention's query rows per block for T keys; ie_store_transposed: dst[c*ld + j] = t[j*ch + c] (a [rows, ch] block
 * into the [ch, T] layout). */
IE_HIDDEN int ie_attention_rows(int T);
IE_HIDDEN void ie_store_transposed(const float* t, int rows, int ch, float* dst, long ld);
/* n rounded up to whole 64-byte lines of floats; n floats 64-byte aligned from malloc's heap (free() them), or NULL */
static inline size_t ie_round16(size_t n) { return (n + 15) & ~(size_t) 15; }
IE_HIDDEN float* ie_alloc_floats(size_t n);
/* ie_sgemm on the calling thread only (for use inside a parallel region). */
IE_HIDDEN void ie_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                               const float* B, int ldb, float beta, float* C, int ldc);

/* ===================================================================================== */
/* 3. Helpers of the elementwise, normalisation and gradient kernels (ops.c, grad.c, transformer.c)            */
/* ===================================================================================== */

/* 0 after ie_set_winograd(0): ie_conv2d_auto_* and the conv gradient take the direct path. */
IE_HIDDEN extern int ie_winograd_enabled;

/* Sums run in fp32 over blocks of this many elements (vectorised), the block sums in float64: a block's
 * rounding error stays ~1e-7 relative, and the float64 total does not grow with the group size. */
#define IE_SUM_BLOCK 1024L

/* Mean and 1/sqrt(biased variance + eps) of n floats: the GroupNorm statistics, shared by the forward and
 * its gradient so that both see identical values. */
IE_HIDDEN void ie_group_stats(const float* x, long n, float eps, double* mean, double* inv);

/* ie_linear_f32 and ie_linear_grad_f32 with at most this many input rows (batch-1 embeddings) stream the weights
 * row by row (ops.c) instead of packing them for the GEMM. */
#define IE_FEW_ROWS 4

/* ie_linear_grad_f32 for N <= IE_FEW_ROWS (ops.c); -1 when out of memory (nothing written). */
IE_HIDDEN int ie_linear_grad_few_rows(const float* dy, const float* w, float* dx, int N, int M, int K);

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

#endif /* IMAGENETE_INTERNAL_H */
