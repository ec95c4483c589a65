/* SGEMM: BLIS-style blocked GEMM with a register-blocked AVX-512 micro-kernel.
 *
 * Layout: C[M,N] row-major. The micro-kernel computes an MR x NR tile of C with NR = 16*NV
 * (NV zmm per row) and MR*NV accumulators; each k step loads NV vectors of the packed B
 * micro-panel and broadcasts MR scalars of A. A is NOT packed: it is read in place through
 * strides (row-major A: MR row streams; transposed A: one stream of MR contiguous floats per k),
 * which saves the packing traffic for the weight-heavy low-resolution convolutions.
 * B is packed per (KC x NC) block into NR-wide micro-panels by a callback, so the convolution
 * can pack its im2col panels straight from the image.
 *
 * Loops (per thread work unit = one job, a range of rows and a range of NC columns):
 *   for jc (NC): for ic (MC): for pc (KC): pack B block (KC x nc); for jr (NR): for ir (MR): kernel
 * The B micro-panel (KC*NR floats = 32 KB) stays in L1 across the ir loop, the A block (MC x KC)
 * in L2. With several K blocks the partial C tiles live in a contiguous per-thread buffer (C rows
 * of a convolution are H*W floats apart, a power of two that makes a C block thrash the caches)
 * and the epilogue (alpha, beta, bias, residual add, ReLU) runs once, on the last K block.
 * Batched columns (ie_gemm_job.img_cols, the small-image convolutions): the GEMM's columns are the
 * positions of several images side by side; a tile's vectors are stored with two masked stores where
 * they cross from one image's output to the next.
 *
 * Block sizes (Zen 5: 48 KB L1D, 1 MB L2 per core; measured, see native/test/run.sh bench):
 *   MR x NR = 6 x 64: 24 zmm accumulators + 4 B vectors; per k 4 loads + 6 broadcasts for 24
 *     FMAs, enough independent FMAs for 2 pipes x 4 cycles latency (runs at ~99% of peak in L1;
 *     12x32, 8x48, 14x32 measured equal in L1 but lower in the full GEMM). NR = 64 also tiles the
 *     small images exactly (8x8 = 64, 16x16 = 256 positions).
 *   KC = 128: B micro-panel 128 x 64 x 4 B = 32 KB fits L1 (KC = 192/256 measured 1-5% slower).
 *   MC = 384, NC = 512: A block <= 192 KB and B block 256 KB in L2. Up to MC_ONE = 512 rows stay one block
 *     (256 KB of A): every row block packs B again, which cost ResNet-50's 3x3 stride-2 512->512 convolution
 *     (im2col packing, 2 blocks of 256 rows) 12% of its time in fp32 and 21% in bf16.
 * Threads: work units (column chunks of NC, and row parts when there are too few of them) are
 * handed out dynamically; each unit packs its own B.
 */
#include "internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <immintrin.h>

#ifdef __AVX512F__
#ifndef IE_MR
#define IE_MR 6
#endif
#ifndef IE_NV
#define IE_NV 4
#endif
#define IE_NR (16 * IE_NV)
#else
#define IE_MR 6
#define IE_NR 16
#endif

#ifndef IE_KC
#define IE_KC 128
#endif
#ifndef IE_MC
#define IE_MC 384
#endif
#ifndef IE_MC_ONE
#define IE_MC_ONE 512
#endif
/* the most rows a row block can have (sizes the K-block accumulation buffer) */
#define IE_MC_MAX (IE_MC > IE_MC_ONE ? IE_MC : IE_MC_ONE)
#ifndef IE_NC
#define IE_NC 512
#endif
/* bf16: k per block, in pairs the same 32 KB B micro-panel as fp32 (128 pairs x 64 columns x 4 B) */
#ifndef IE_KC16
#define IE_KC16 256
#endif
/* bf16 packing: fp32 panel rows produced per call of the fp32 packer before conversion (a 16 KB buffer) */
#define PACK16_ROWS 64

/* ---------------------------------------------------------------- threads */

static int ie_nthreads = 0;

void ie_set_num_threads(int n)
{
    if (n > 0) {
        ie_nthreads = n;
        omp_set_num_threads(n);
    }
}

int ie_get_num_threads(void)
{
    return ie_nthreads > 0 ? ie_nthreads : omp_get_max_threads();
}

int ie_gemm_nr(void) { return IE_NR; }
int ie_gemm_mr(void) { return IE_MR; }

int ie_has_bf16(void)
{
#ifdef __AVX512BF16__
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
    }
    return has;
#else
    return 0;
#endif
}

/* ---------------------------------------------------------------- micro-kernel */

typedef struct {
    float alpha, beta;     /* first K block: C = alpha*acc + beta*C + bias + add; later: C += alpha*acc */
    const float* bias;
    const float* add;
    long ldadd;
    int first;
    const float* pfa;      /* row-major A: next micro-panel to prefetch (first pass over an A block), or NULL */
    float* cb;             /* contiguous MR x NR accumulation tile used across K blocks, or NULL */
    int cbmode;            /* CB_FIRST: cb = acc; CB_MID: cb += acc; CB_LAST: C = epilogue(acc + cb) */
    int relu;              /* max(0, .) once the sum is complete (last K block) */
    int last;              /* this is the last K block */
    int img_cols;          /* batched columns (see ie_gemm_job): c and add point at row i of image 0, */
    long img_stride;       /* the tile's first column is col0 */
    long col0;
    const uint16_t* pfa16; /* as pfa, for a bf16 A */
} epi_t;
enum { CB_FIRST = 1, CB_MID = 2, CB_LAST = 3 };

#ifdef __AVX512F__

#define NV IE_NV
#define MR IE_MR

static inline __attribute__((always_inline)) void
kernel_store(__m512 acc[MR][NV], float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    __mmask16 mk[NV];
    for (int v = 0; v < NV; v++) {
        int rem = nr - 16 * v;
        mk[v] = rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
    }
    if (e->cb) {
        float* cb = e->cb;
        if (e->cbmode == CB_FIRST) {
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) _mm512_store_ps(cb + i * IE_NR + 16 * v, acc[i][v]);
            return;
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_load_ps(cb + i * IE_NR + 16 * v));
        if (e->cbmode == CB_MID) {
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) _mm512_store_ps(cb + i * IE_NR + 16 * v, acc[i][v]);
            return;
        }
    }
    const __m512 va = _mm512_set1_ps(e->alpha);
    const int scale = e->alpha != 1.0f;
    const int relu = e->relu && e->last;
    const __m512 zero = _mm512_setzero_ps();
    if (e->img_cols) {
        /* batched columns: lanes of vector v lie in image b (mask m0[v], offset o0[v]) and, past the
         * image's last column, in image b+1 (m1[v], o1[v]); img_cols >= 16 so there are at most two */
        __mmask16 m0[NV], m1[NV];
        long o0[NV], o1[NV];
        for (int v = 0; v < NV; v++) {
            const long col = e->col0 + 16 * v, b = col / e->img_cols, r = col - b * e->img_cols;
            const long len = e->img_cols - r;
            const __mmask16 lo = len >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << len) - 1);
            m0[v] = mk[v] & lo;
            m1[v] = mk[v] & (__mmask16)~lo;
            o0[v] = b * e->img_stride + r;
            o1[v] = (b + 1) * e->img_stride - len;
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i >= mr) break;
            float* cr = c + i * ldc;
            const float* ar = e->first && e->add ? e->add + i * e->ldadd : NULL;
            __m512 bi = _mm512_set1_ps(e->first && e->bias ? e->bias[i] : 0.0f);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                __m512 r = acc[i][v];
                if (scale) r = _mm512_mul_ps(r, va);
                if (!e->first) {
                    __m512 old = _mm512_maskz_loadu_ps(m0[v], cr + o0[v]);
                    if (m1[v]) old = _mm512_mask_loadu_ps(old, m1[v], cr + o1[v]);
                    r = _mm512_add_ps(r, old);
                } else {
                    if (e->bias) r = _mm512_add_ps(r, bi);
                    if (ar) {
                        __m512 a = _mm512_maskz_loadu_ps(m0[v], ar + o0[v]);
                        if (m1[v]) a = _mm512_mask_loadu_ps(a, m1[v], ar + o1[v]);
                        r = _mm512_add_ps(r, a);
                    }
                }
                if (relu) r = _mm512_max_ps(r, zero);
                _mm512_mask_storeu_ps(cr + o0[v], m0[v], r);
                if (m1[v]) _mm512_mask_storeu_ps(cr + o1[v], m1[v], r);
            }
        }
        return;
    }
    if (!e->first) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            if (i >= mr) break;
            float* cr = c + i * ldc;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) {
                __m512 r = acc[i][v];
                __m512 old = _mm512_maskz_loadu_ps(mk[v], cr + 16 * v);
                r = scale ? _mm512_fmadd_ps(r, va, old) : _mm512_add_ps(r, old);
                if (relu) r = _mm512_max_ps(r, zero);
                _mm512_mask_storeu_ps(cr + 16 * v, mk[v], r);
            }
        }
        return;
    }
    const __m512 vb = _mm512_set1_ps(e->beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float* cr = c + i * ldc;
        __m512 bi = _mm512_set1_ps(e->bias ? e->bias[i] : 0.0f);
        const float* ar = e->add ? e->add + i * e->ldadd : NULL;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            __m512 r = acc[i][v];
            if (scale) r = _mm512_mul_ps(r, va);
            if (e->beta != 0.0f) r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk[v], cr + 16 * v), vb, r);
            if (e->bias) r = _mm512_add_ps(r, bi);
            if (ar) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mk[v], ar + 16 * v));
            if (relu) r = _mm512_max_ps(r, zero);
            _mm512_mask_storeu_ps(cr + 16 * v, mk[v], r);
        }
    }
}

/* Touch the C tile (and the residual) early: its lines are usually in L3 or DRAM and the
 * k loop hides the latency. */
static inline __attribute__((always_inline)) void
prefetch_c(const float* c, long ldc, int mr, const epi_t* e)
{
    if (e->cb) {
        for (int i = 0; i < MR * NV; i++) _mm_prefetch((const char*)(e->cb + 16 * i), _MM_HINT_T0);
        if (e->cbmode != CB_LAST) return;
    }
    const float* add = e->add;
    if (e->img_cols) { /* the tile's first image */
        const long b = e->col0 / e->img_cols, o = b * e->img_stride + e->col0 - b * e->img_cols;
        c += o;
        if (add) add += o;
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
            _mm_prefetch((const char*)(c + i * ldc + 16 * v), _MM_HINT_T0);
            if (add) _mm_prefetch((const char*)(add + i * e->ldadd + 16 * v), _MM_HINT_T0);
        }
    }
}

/* A row-major in place: A(i,k) = a[i*rsa + k]. */
static void kernel_rowA(int kc, const float* restrict a, long rsa, const float* restrict b,
                        float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    __m512 acc[MR][NV];
    const float* ap[MR];
    prefetch_c(c, ldc, mr, e);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        ap[i] = a + (i < mr ? i : mr - 1) * rsa;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    }
    const float* pfa = e->pfa;
    for (int k0 = 0; k0 < kc; k0 += 16) {
        /* next A micro-panel, one cache line per row every 16 k (spread: bursts get dropped) */
        if (pfa)
            for (int i = 0; i < MR; i++) _mm_prefetch((const char*)(pfa + i * rsa + k0), _MM_HINT_T0);
        const int k1 = k0 + 16 < kc ? k0 + 16 : kc;
        for (int k = k0; k < k1; k++) {
            __m512 bv[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                __m512 ai = _mm512_set1_ps(ap[i][k]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
            b += IE_NR;
        }
    }
    kernel_store(acc, c, ldc, mr, nr, e);
}

/* A column-major in place (op(A) = A^T of a row-major array): A(i,k) = a[i + k*csa]. */
static void kernel_colA(int kc, const float* restrict a, long csa, const float* restrict b,
                        float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    __m512 acc[MR][NV];
    int off[MR];
    prefetch_c(c, ldc, mr, e);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        off[i] = i < mr ? i : mr - 1;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[off[i]]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
        /* the next tiles' lines of A (16 floats on): one k row each, strided, which the hardware does not prefetch */
        _mm_prefetch((const char*)(a + 16), _MM_HINT_T0);
        b += IE_NR;
        a += csa;
    }
    kernel_store(acc, c, ldc, mr, nr, e);
}

#ifdef __AVX512BF16__
/* The bf16 micro-kernel: A bf16 row-major in place, B a packed micro-panel of bf16 pairs along k. Per k-pair,
 * NV loads of B and MR broadcasts of a 32-bit A pair for MR*NV vdpbf16ps (two products each: twice the FMA's
 * work at the same issue rate). An odd kc ends with a half pair: A(i, kc-1) zero-extended, against the packer's
 * zero row. */
static void kernel_rowA_bf16(int kc, const uint16_t* restrict a, long rsa, const uint32_t* restrict b,
                             float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    __m512 acc[MR][NV];
    const uint16_t* ap[MR];
    prefetch_c(c, ldc, mr, e);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        ap[i] = a + (i < mr ? i : mr - 1) * rsa;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    }
    const uint16_t* pfa = e->pfa16;
    const int kp = kc / 2;
    for (int k0 = 0; k0 < kp; k0 += 16) {
        /* next A micro-panel, one cache line (32 pairs) per row every 16 pairs */
        if (pfa && k0 % 32 == 0)
            for (int i = 0; i < MR; i++) _mm_prefetch((const char*)(pfa + i * rsa + 2 * k0), _MM_HINT_T0);
        const int k1 = k0 + 16 < kp ? k0 + 16 : kp;
        for (int k = k0; k < k1; k++) {
            __m512bh bv[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_load_si512(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                uint32_t pair;
                memcpy(&pair, ap[i] + 2 * k, sizeof pair);
                const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)pair);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
            }
            b += IE_NR;
        }
    }
    if (kc & 1) {
        __m512bh bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_load_si512(b + 16 * v);
        for (int i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32(ap[i][kc - 1]);
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
        }
    }
    kernel_store(acc, c, ldc, mr, nr, e);
}

/* The same with A column-major (op(A) = A^T of a row-major bf16 array, A(i,k) = a[i + k*csa]: a weight matrix read
 * transposed, as the input-gradient of a convolution reads it), in place or packed:
 * - in place (kernel_colA_bf16, products of one column panel): per k-pair, the MR values of rows k and k+1 (one masked
 *   128-bit load each) are interleaved into pairs, each broadcast by a permute (8% faster than through a stack copy and
 *   broadcast loads);
 * - packed (kernel_pairA_bf16, more panels; see pack_a_bf16): pair (A(i, 2q), A(i, 2q+1)) at ap[q*ldp + i], the MR
 *   pairs of a k-pair contiguous. Rows past mr read the pack's padding (their sums are not stored). */
static inline __attribute__((always_inline)) void
kernel_colA_bf16_any(int kc, const uint16_t* restrict a, long csa, const uint32_t* restrict ap, long ldp, int packed,
                     const uint32_t* restrict b, float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    __m512 acc[MR][NV];
    prefetch_c(c, ldc, mr, e);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    const __mmask8 am = (__mmask8)((1u << mr) - 1);
    const int kp = (kc + 1) / 2;
    for (int k = 0; k < kp; k++) {
        __m512i prs = _mm512_setzero_si512();
        if (!packed) {
            const __m128i r0 = _mm_maskz_loadu_epi16(am, a);
            const __m128i r1 = 2 * k + 1 < kc ? _mm_maskz_loadu_epi16(am, a + csa) : _mm_setzero_si128();
            /* the next tiles' line of these two rows (32 values on): strided rows, which the hardware does not
             * prefetch */
            _mm_prefetch((const char*)(a + 32), _MM_HINT_T0);
            _mm_prefetch((const char*)(a + csa + 32), _MM_HINT_T0);
            prs = _mm512_castsi256_si512(_mm256_set_m128i(_mm_unpackhi_epi16(r0, r1), _mm_unpacklo_epi16(r0, r1)));
            a += 2 * csa;
        }
        __m512bh bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_load_si512(b + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)(packed ? _mm512_set1_epi32((int)ap[i])
                                                  : _mm512_permutexvar_epi32(_mm512_set1_epi32(i), prs));
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
        }
        b += IE_NR;
        if (packed) ap += ldp;
    }
    kernel_store(acc, c, ldc, mr, nr, e);
}

static void kernel_colA_bf16(int kc, const uint16_t* restrict a, long csa, const uint32_t* restrict b,
                             float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    kernel_colA_bf16_any(kc, a, csa, NULL, 0, 0, b, c, ldc, mr, nr, e);
}

static void kernel_pairA_bf16(int kc, const uint32_t* restrict ap, long ldp, const uint32_t* restrict b,
                              float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    kernel_colA_bf16_any(kc, NULL, 0, ap, ldp, 1, b, c, ldc, mr, nr, e);
}

/* 32 bf16 values of a row (lo) and of the next row (hi) -> the 32 pairs lo | hi << 16, in order, at d */
static inline void store_pairs32(__m512i lo, __m512i hi, uint32_t* d)
{
    const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    /* unpack pairs within 128-bit lanes (values 0-3 | 8-11 | ..., 4-7 | 12-15 | ...), then in order */
    const __m512i pl = _mm512_unpacklo_epi16(lo, hi), ph = _mm512_unpackhi_epi16(lo, hi);
    _mm512_storeu_si512(d, _mm512_permutex2var_epi64(pl, first, ph));
    _mm512_storeu_si512(d + 16, _mm512_permutex2var_epi64(pl, second, ph));
}

/* Pair rows of a column-major bf16 A (A(i,k) = a[i + k*csa], a weight matrix read transposed, as the input-gradient of
 * a convolution reads it): rows [0, mc) and k [0, kc) into ap[q*ldp + i] = A(i, 2q) | A(i, 2q+1) << 16 (an odd kc's
 * last pair with a zero high half). Both source rows of a pair are read as runs of 32, so the strided rows (the weight
 * matrix's, often a multiple of 4 KB apart) are read sequentially, not a few values of each per micro-tile. */
static void pack_a_bf16(const uint16_t* a, long csa, int mc, int kc, uint32_t* ap, long ldp)
{
    for (int k = 0; k < kc; k += 2, a += 2 * csa, ap += ldp) {
        const int two = k + 1 < kc;
        for (int r = 0; r < mc; r += 32) {
            const __mmask32 m = mc - r >= 32 ? (__mmask32)0xFFFFFFFF : (__mmask32)((1u << (mc - r)) - 1);
            const __m512i lo = _mm512_maskz_loadu_epi16(m, a + r);
            const __m512i hi = two ? _mm512_maskz_loadu_epi16(m, a + csa + r) : _mm512_setzero_si512();
            store_pairs32(lo, hi, ap + r);
        }
    }
}

/* Packs op(B)[k0:k0+kc, n0:n0+nc] as bf16 pairs (see ie_gemm_job.bpre16; kp = ceil(kc/2) pair rows per panel)
 * through the job's fp32 packer, PACK16_ROWS rows of one panel at a time into tmp. */
static void pack_bf16(const ie_gemm_job* jb, int k0, int kc, int n0, int nc, uint32_t* dst, float* tmp)
{
    const int kp = (kc + 1) / 2;
    for (int j0 = 0; j0 < nc; j0 += IE_NR) {
        const int nr = nc - j0 < IE_NR ? nc - j0 : IE_NR;
        uint32_t* d = dst + (long)(j0 / IE_NR) * kp * IE_NR;
        for (int s = 0; s < kc; s += PACK16_ROWS) {
            const int sk = kc - s < PACK16_ROWS ? kc - s : PACK16_ROWS;
            jb->packb(jb->bctx, k0 + s, sk, n0 + j0, nr, tmp);
            for (int r = 0; r < sk; r += 2) {
                uint32_t* dr = d + (long)((s + r) / 2) * IE_NR;
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) {
                    const __m512 lo = _mm512_load_ps(tmp + r * IE_NR + 16 * v);
                    const __m512 hi = r + 1 < sk ? _mm512_load_ps(tmp + (r + 1) * IE_NR + 16 * v) : _mm512_setzero_ps();
                    _mm512_store_si512(dr + 16 * v, ie_bf16_pairs(lo, hi));
                }
            }
        }
    }
}
#endif

#ifndef SMALLM_PF
#define SMALLM_PF 27
#endif
/* Few output rows (M <= MR, e.g. a conv to RGB): packing B would cost more than the FMAs, so B
 * is read straight from the image. Row k of the B panel at column p: zero-masked load of
 * x[off[k] + p .. +64) with masks[(p/NR)*KK*NV + slot[k]*NV + v]. One panel per kernel pass,
 * panels split over threads. */
void ie_gemm_smallm_direct(int M, int N, int K, const float* A, long lda, const float* x, const long* off,
                           const int* slot, const unsigned short* masks, int KK, float* C, long ldc,
                           const float* bias, const float* add, long ldadd, int relu, int round_x)
{
    const long npan = (N + IE_NR - 1) / IE_NR;
    int nt = ie_get_num_threads();
    if (nt > npan) nt = (int)npan;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
    for (long pan = 0; pan < npan; pan++) {
        const long p0 = pan * IE_NR;
        const int nr = N - p0 < IE_NR ? (int)(N - p0) : IE_NR;
        const unsigned short* mp = masks + pan * KK * NV;
        __m512 acc[MR][NV];
        const float* ap[MR];
        for (int i = 0; i < MR; i++) {
            ap[i] = A + (i < M ? i : M - 1) * lda;
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
        }
        for (int k = 0; k < K; k++) {
            const char* src = (const char*)x + (off[k] + p0) * (long)sizeof(float);
            const unsigned short* m = mp + slot[k] * NV;
            if (k + SMALLM_PF < K) { /* image rows of a few channels ahead: far apart, short runs */
                const char* pf = (const char*)x + (off[k + SMALLM_PF] + p0) * (long)sizeof(float);
                for (int v = 0; v <= NV; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
            }
            __m512 bv[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(m[v], (const float*)src + 16 * v);
#ifdef __AVX512BF16__
            if (round_x)
                for (int v = 0; v < NV; v++) bv[v] = ie_round_bf16(bv[v]);
#endif
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                __m512 ai = _mm512_set1_ps(ap[i][k]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
        }
        epi_t e = { 1.0f, 0.0f, bias, add ? add + p0 : NULL, ldadd, 1, NULL, NULL, 0, relu, 1, 0, 0, 0, NULL };
        kernel_store(acc, C + p0, ldc, M, nr, &e);
    }
}

#undef NV
#undef MR

#else /* generic (AVX2 build): GCC vector extensions, 8 floats per vector, NR = 16 */

typedef float v8 __attribute__((vector_size(32), aligned(4)));

static inline __attribute__((always_inline)) void
kernel_generic(int kc, const float* restrict a, long rsa, long csa, const float* restrict b,
               float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    v8 acc[IE_MR][2];
    long off[IE_MR];
    for (int i = 0; i < IE_MR; i++) {
        off[i] = (i < mr ? i : mr - 1) * rsa;
        acc[i][0] = (v8){0};
        acc[i][1] = (v8){0};
    }
    for (int k = 0; k < kc; k++) {
        v8 b0 = *(const v8*)(b), b1 = *(const v8*)(b + 8);
        const float* ak = a + k * csa;
        for (int i = 0; i < IE_MR; i++) {
            v8 ai = (v8){0} + ak[off[i]];
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
        b += IE_NR;
    }
    for (int i = 0; i < mr; i++) {
        float t[16];
        memcpy(t, acc[i], sizeof t);
        float* cr = c + i * ldc;
        float bi = e->bias ? e->bias[i] : 0.0f;
        const float* ar = e->add ? e->add + i * e->ldadd : NULL;
        for (int j = 0; j < nr; j++) {
            long o = j;   /* batched columns: offset of column col0 + j from image 0 */
            if (e->img_cols) {
                const long col = e->col0 + j, b = col / e->img_cols;
                o = b * e->img_stride + col - b * e->img_cols;
            }
            float r = e->alpha * t[j];
            if (!e->first) r += cr[o];
            else {
                if (e->beta != 0.0f) r += e->beta * cr[o];
                r += bi;
                if (ar) r += ar[o];
            }
            if (e->relu && e->last && !(r > 0.0f)) r = 0.0f;
            cr[o] = r;
        }
    }
}

static void kernel_rowA(int kc, const float* restrict a, long rsa, const float* restrict b,
                        float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    kernel_generic(kc, a, rsa, 1, b, c, ldc, mr, nr, e);
}

static void kernel_colA(int kc, const float* restrict a, long csa, const float* restrict b,
                        float* restrict c, long ldc, int mr, int nr, const epi_t* e)
{
    kernel_generic(kc, a, 1, csa, b, c, ldc, mr, nr, e);
}

#endif

#ifdef __AVX512F__
/* In-place 16x16 transpose: r[i][j] -> r[j][i]. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#define PD(x) _mm512_castps_pd(x)
#define PS(x) _mm512_castpd_ps(x)
    for (int i = 0; i < 16; i += 4) {
        u[i] = PS(_mm512_unpacklo_pd(PD(t[i]), PD(t[i + 2])));
        u[i + 1] = PS(_mm512_unpackhi_pd(PD(t[i]), PD(t[i + 2])));
        u[i + 2] = PS(_mm512_unpacklo_pd(PD(t[i + 1]), PD(t[i + 3])));
        u[i + 3] = PS(_mm512_unpackhi_pd(PD(t[i + 1]), PD(t[i + 3])));
    }
#undef PD
#undef PS
    for (int s = 0; s < 4; s++) {
        t[s] = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x44);
        t[4 + s] = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xEE);
        t[8 + s] = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x44);
        t[12 + s] = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xEE);
    }
    for (int s = 0; s < 4; s++) {
        r[s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0x88);
        r[4 + s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0xDD);
        r[8 + s] = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0x88);
        r[12 + s] = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0xDD);
    }
}
#endif

/* ---------------------------------------------------------------- B packing (plain matrix) */

#ifndef PLAIN_PF_ROWS
#define PLAIN_PF_ROWS 4
#endif
void ie_packb_plain_fn(const void* ctx, int k0, int kc, int n0, int nc, float* dst)
{
    const ie_packb_plain* p = ctx;
    const long ldb = p->ldb;
    for (int j0 = 0; j0 < nc; j0 += IE_NR) {
        int nr = nc - j0 < IE_NR ? nc - j0 : IE_NR;
        float* d = dst + (long)(j0 / IE_NR) * kc * IE_NR;
        if (!p->trans) {
            const float* s = p->B + (long)k0 * ldb + n0 + j0;
            if (nr == IE_NR) {
                /* rows of B (image channels for a 1x1 conv) are far apart: prefetch a few ahead
                 * (a prefetch past the end of B is harmless) */
                for (int k = 0; k < kc; k++, s += ldb, d += IE_NR) {
                    const char* pf = (const char*)s + PLAIN_PF_ROWS * ldb * (long)sizeof(float);
                    for (int v = 0; v <= IE_NR / 16; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                    memcpy(d, s, IE_NR * sizeof(float));
                }
            } else {
                for (int k = 0; k < kc; k++, s += ldb, d += IE_NR) {
                    memcpy(d, s, nr * sizeof(float));
                    memset(d + nr, 0, (IE_NR - nr) * sizeof(float));
                }
            }
        } else {
            /* op(B)(k,j) = B[j*ldb + k]: rows of B are columns of op(B). */
            const float* s = p->B + (long)(n0 + j0) * ldb + k0;
#ifdef __AVX512F__
            int k = 0;
            if (nr == IE_NR) {
                for (; k + 16 <= kc; k += 16) {
                    for (int jj = 0; jj < IE_NR; jj += 16) {
                        __m512 r[16];
                        for (int t = 0; t < 16; t++) r[t] = _mm512_loadu_ps(s + (long)(jj + t) * ldb + k);
                        transpose16(r);
                        for (int t = 0; t < 16; t++) _mm512_store_ps(d + (long)(k + t) * IE_NR + jj, r[t]);
                    }
                }
            }
            for (; k < kc; k++)
                for (int j = 0; j < IE_NR; j++) d[(long)k * IE_NR + j] = j < nr ? s[(long)j * ldb + k] : 0.0f;
#else
            for (int k = 0; k < kc; k++)
                for (int j = 0; j < IE_NR; j++) d[(long)k * IE_NR + j] = j < nr ? s[(long)j * ldb + k] : 0.0f;
#endif
        }
    }
}

#ifdef __AVX512BF16__
void ie_packb16_plain_fn(const void* ctx, int k0, int kc, int n0, int nc, uint32_t* dst)
{
    const ie_packb_plain* p = ctx;
    const long ldb = p->ldb;
    const int kp = (kc + 1) / 2;
    for (int j0 = 0; j0 < nc; j0 += IE_NR) {
        const int nr = nc - j0 < IE_NR ? nc - j0 : IE_NR;
        __mmask16 m[IE_NR / 16];
        for (int v = 0; v < IE_NR / 16; v++) {
            const int r = nr - 16 * v;
            m[v] = r >= 16 ? (__mmask16)0xFFFF : r <= 0 ? (__mmask16)0 : (__mmask16)((1u << r) - 1);
        }
        uint32_t* d = dst + (long)(j0 / IE_NR) * kp * IE_NR;
        const float* s = p->B + (long)k0 * ldb + n0 + j0;
        for (int k = 0; k < kc; k += 2, s += 2 * ldb, d += IE_NR) {
            /* rows of B (image channels for a 1x1 conv) are far apart: prefetch a few ahead */
            const char* pf = (const char*)s + 2 * PLAIN_PF_ROWS * ldb * (long)sizeof(float);
            for (int v = 0; v <= IE_NR / 16; v++) {
                _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                _mm_prefetch(pf + ldb * (long)sizeof(float) + 64 * v, _MM_HINT_T0);
            }
            const int two = k + 1 < kc;
            for (int v = 0; v < IE_NR / 16; v++) {
                const __m512 lo = _mm512_maskz_loadu_ps(m[v], s + 16 * v);
                const __m512 hi = two ? _mm512_maskz_loadu_ps(m[v], s + ldb + 16 * v) : _mm512_setzero_ps();
                _mm512_store_si512(d + 16 * v, ie_bf16_pairs(lo, hi));
            }
        }
    }
}

void ie_packb16_bf16_fn(const void* ctx, int k0, int kc, int n0, int nc, uint32_t* dst)
{
    const ie_packb_bf16* p = ctx;
    const long ldb = p->ldb;
    const int kp = (kc + 1) / 2;
    for (int j0 = 0; j0 < nc; j0 += IE_NR) {
        const int nr = nc - j0 < IE_NR ? nc - j0 : IE_NR;
        uint32_t* d = dst + (long)(j0 / IE_NR) * kp * IE_NR;
        const uint16_t* s = p->B + (long)k0 * ldb + n0 + j0;
        for (int k = 0; k < kc; k += 2, s += 2 * ldb, d += IE_NR) {
            const int two = k + 1 < kc;
            for (int h = 0; h < IE_NR; h += 32) {       /* 32 columns: one 512-bit row load each */
                const int r = nr - h;
                const __mmask32 m = r >= 32 ? (__mmask32)0xFFFFFFFF : r <= 0 ? 0 : (__mmask32)((1u << r) - 1);
                const __m512i a = _mm512_maskz_loadu_epi16(m, s + h);
                const __m512i b = two ? _mm512_maskz_loadu_epi16(m, s + ldb + h) : _mm512_setzero_si512();
                store_pairs32(a, b, d + h);
            }
        }
    }
}
#endif

/* ---------------------------------------------------------------- driver */

typedef struct { int job, m0, m1, n0, n1; } unit_t;

/* bf16 with a column-major A: the pair rows of an A block (pack_a_bf16), APACK_LD apart (a row block's rows, and a
 * cache line more so that the rows do not map onto the same cache sets), IE_KC16 / 2 of them */
#define APACK_LD (IE_MC_MAX + 16 + 16)
#define APACK_SIZE ((size_t)APACK_LD * (IE_KC16 / 2))

/* bp: the packed B block (KC x NC floats, or as many bf16 pairs); cbuf: the K-block accumulation tiles (or NULL);
 * tmp: PACK16_ROWS x NR floats for the bf16 packing; ap: APACK_SIZE units for the bf16 packing of a column-major A */
static void run_unit(const ie_gemm_job* jb, int m0, int m1, int n0, int n1, float* bp, float* cbuf, float* tmp,
                     uint32_t* ap)
{
    const int K = jb->K;
    const int bf = jb->A16 != NULL;
    /* K blocks of balanced size <= KC; in bf16 of whole pairs (only the last block may end on a half pair) */
    const int Ku = bf ? (K + 1) / 2 : K, kcu = bf ? IE_KC16 / 2 : IE_KC;
    const int nkb = (Ku + kcu - 1) / kcu;
    epi_t e = { jb->alpha, jb->beta, NULL, NULL, jb->ldadd, 1, NULL, NULL, 0, jb->relu, 0, jb->img_cols,
                jb->img_stride, 0, NULL };
    const int rowA = jb->csa == 1;
#ifdef __AVX512BF16__
    /* bf16, column-major A: packed as pairs once per block where more than one panel of columns reuses it (in place,
     * a micro-tile reads a few values of each of its rows, often a multiple of 4 KB apart and thrashing the caches:
     * 1.1-1.3x the row-major time against 1.3-1.7x in place at 16x16 in ADM-256's input-gradients); one panel: in
     * place (the pack's extra pass cost up to 1.6x there) */
    const long ldp = APACK_LD;
    const int usepack = bf && jb->csa != 1 && n1 - n0 > IE_NR;
#endif
    const int mtiles = (m1 - m0 + IE_MR - 1) / IE_MR;
    /* row blocks of balanced size <= MC; up to MC_ONE rows in one block (each row block packs B again) */
    const int nmb = m1 - m0 <= IE_MC_ONE ? 1 : (m1 - m0 + IE_MC - 1) / IE_MC;
    for (int jc = n0; jc < n1; jc += IE_NC) {
        const int nc = n1 - jc < IE_NC ? n1 - jc : IE_NC;
        const int npan = (nc + IE_NR - 1) / IE_NR;
        for (int ib = 0; ib < nmb; ib++) {
            const int ic = m0 + (int)((long)mtiles * ib / nmb) * IE_MR;
            int mc = m0 + (int)((long)mtiles * (ib + 1) / nmb) * IE_MR;
            mc = (mc < m1 ? mc : m1) - ic;
            for (int kb = 0; kb < nkb; kb++) {
                const int u0 = (int)((long)Ku * kb / nkb), u1 = (int)((long)Ku * (kb + 1) / nkb);
                const int pc = bf ? 2 * u0 : u0, kc = (bf ? (2 * u1 < K ? 2 * u1 : K) : u1) - pc;
                /* 4-byte units: floats, or bf16 pairs */
                const float* bb = bp;
                long pstride = (long)(bf ? (kc + 1) / 2 : kc) * IE_NR;
                if (jb->bpre) {
                    bb = jb->bpre + (long)(jc / IE_NR) * jb->bpre_ld + (long)pc * IE_NR;
                    pstride = jb->bpre_ld;
                } else if (jb->bpre16) {
                    bb = (const float*)(jb->bpre16 + (long)(jc / IE_NR) * jb->bpre_ld + (long)(pc / 2) * IE_NR);
                    pstride = jb->bpre_ld;
                } else if (bf) {
#ifdef __AVX512BF16__
                    if (jb->packb16) jb->packb16(jb->bctx, pc, kc, jc, nc, (uint32_t*)bp);
                    else pack_bf16(jb, pc, kc, jc, nc, (uint32_t*)bp, tmp);
#endif
                } else {
                    jb->packb(jb->bctx, pc, kc, jc, nc, bp);
                }
#ifdef __AVX512BF16__
                if (usepack) pack_a_bf16(jb->A16 + ic + (long)pc * jb->csa, jb->csa, mc, kc, ap, ldp);
#endif
                e.first = kb == 0;
                e.last = kb == nkb - 1;
                /* several K blocks: accumulate in the contiguous tile buffer (C rows can be a large
                 * power of two apart, which makes a C block thrash the caches) */
                const int usecb = cbuf && nkb > 1;
                e.cbmode = kb == 0 ? CB_FIRST : kb == nkb - 1 ? CB_LAST : CB_MID;
                if (usecb && kb == nkb - 1) e.first = 1;
                for (int jr = 0; jr < nc; jr += IE_NR) {
                    const int nr = nc - jr < IE_NR ? nc - jr : IE_NR;
                    const float* b = bb + (long)(jr / IE_NR) * pstride;
                    for (int ir = 0; ir < mc; ir += IE_MR) {
                        const int i = ic + ir;
                        const int mr = mc - ir < IE_MR ? mc - ir : IE_MR;
                        /* batched columns: row i of image 0, the kernel finds the column */
                        const long cofs = jb->img_cols ? 0 : jc + jr;
                        float* c = jb->C + (long)i * jb->ldc + cofs;
                        e.col0 = jc + jr;
                        e.cb = usecb ? cbuf + ((long)(ir / IE_MR) * npan + jr / IE_NR) * (IE_MR * IE_NR) : NULL;
                        e.bias = e.first && jb->bias ? jb->bias + i : NULL;
                        e.add = e.first && jb->add ? jb->add + (long)i * jb->ldadd + cofs : NULL;
                        const int pf = jr == 0 && ir + IE_MR < mc;
                        if (bf) {
#ifdef __AVX512BF16__
                            if (rowA) {
                                e.pfa16 = pf ? jb->A16 + (long)(i + IE_MR) * jb->rsa + pc : NULL;
                                kernel_rowA_bf16(kc, jb->A16 + (long)i * jb->rsa + pc, jb->rsa, (const uint32_t*)b, c,
                                                 jb->ldc, mr, nr, &e);
                            } else if (usepack) {
                                kernel_pairA_bf16(kc, ap + ir, ldp, (const uint32_t*)b, c, jb->ldc, mr, nr, &e);
                            } else {
                                kernel_colA_bf16(kc, jb->A16 + i + (long)pc * jb->csa, jb->csa, (const uint32_t*)b, c,
                                                 jb->ldc, mr, nr, &e);
                            }
#endif
                            continue;
                        }
                        e.pfa = rowA && pf ? jb->A + (long)(i + IE_MR) * jb->rsa + pc : NULL;
                        if (rowA)
                            kernel_rowA(kc, jb->A + (long)i * jb->rsa + pc, jb->rsa, b, c, jb->ldc, mr, nr, &e);
                        else
                            kernel_colA(kc, jb->A + i + (long)pc * jb->csa, jb->csa, b, c, jb->ldc, mr, nr, &e);
                    }
                }
            }
        }
    }
}

/* C = beta*C (+bias +add) for K == 0 */
static void run_k0(const ie_gemm_job* jb)
{
    for (int i = 0; i < jb->M; i++) {
        float* c = jb->C + (long)i * jb->ldc;
        const float* a = jb->add ? jb->add + (long)i * jb->ldadd : NULL;
        for (int j = 0; j < jb->N; j++) {
            long o = j;
            if (jb->img_cols) o = (long)(j / jb->img_cols) * jb->img_stride + j % jb->img_cols;
            float r = jb->beta != 0.0f ? jb->beta * c[o] : 0.0f;
            if (jb->bias) r += jb->bias[i];
            if (a) r += a[o];
            if (jb->relu && !(r > 0.0f)) r = 0.0f;
            c[o] = r;
        }
    }
}

void ie_gemm_run(const ie_gemm_job* jobs, int njobs)
{
    const int T = ie_get_num_threads();
    /* Work units: n chunks of up to NC columns (whole NR panels) x m parts. */
    long nunits_n = 0;
    double flops = 0;
    int colA16 = 0;      /* a job with a column-major bf16 A: the A-pack region in each thread's scratch */
    for (int j = 0; j < njobs; j++) {
        if (jobs[j].M <= 0 || jobs[j].N <= 0) continue;
        if (jobs[j].K <= 0) { run_k0(&jobs[j]); continue; }
        nunits_n += (jobs[j].N + IE_NC - 1) / IE_NC;
        flops += (double)jobs[j].M * jobs[j].N * jobs[j].K;
        if (jobs[j].A16 && jobs[j].csa != 1) colA16 = 1;
    }
    if (nunits_n == 0) return;
    /* Too few column chunks to balance: split the rows too (each row part packs the same B,
     * which is cheap next to streaming its part of A), so that the unit count is a multiple of T. */
    int nsplit = 1, msplit = 1;
    if (T > 1 && nunits_n < 4L * T) {
        long g = nunits_n, t = T;
        while (t) { long r = g % t; g = t; t = r; }      /* gcd */
        msplit = (int)(T / g);
        int maxm = 1;
        for (int j = 0; j < njobs; j++)
            if (jobs[j].K > 0 && jobs[j].N > 0) {
                int mt = (jobs[j].M + IE_MR - 1) / IE_MR;
                if (mt > maxm) maxm = mt;
            }
        if (msplit > maxm) msplit = maxm;
        if (msplit < T && nunits_n * msplit < T) nsplit = (int)((T + nunits_n * msplit - 1) / (nunits_n * msplit));
    }
    long cap = nunits_n * nsplit * msplit + (long)njobs * nsplit * msplit;
    unit_t* units = malloc(sizeof(unit_t) * cap);
    long nu = 0;
    for (int j = 0; j < njobs; j++) {
        const ie_gemm_job* jb = &jobs[j];
        if (jb->M <= 0 || jb->N <= 0 || jb->K <= 0) continue;
        int nchunks = (jb->N + IE_NC - 1) / IE_NC;
        long npanels = (jb->N + IE_NR - 1) / IE_NR;
        long nparts = (long)nchunks * nsplit;
        /* a single job in a few chunks (a batched small-image conv: 13 chunks on 2 threads): whole
         * rounds of T equal parts instead of a last round with idle threads */
        if (njobs == 1 && T > 1 && nunits_n >= 4L * T && nparts < 16L * T) nparts = (nparts + T - 1) / T * T;
        if (nparts > npanels) nparts = npanels;
        long mtiles = (jb->M + IE_MR - 1) / IE_MR;
        long mparts = msplit < mtiles ? msplit : mtiles;
        for (long q = 0; q < nparts; q++) {
            int n0 = (int)(npanels * q / nparts) * IE_NR, n1 = (int)(npanels * (q + 1) / nparts) * IE_NR;
            if (n1 > jb->N) n1 = jb->N;
            for (long r = 0; r < mparts; r++) {
                int m0 = (int)(mtiles * r / mparts) * IE_MR, m1 = (int)(mtiles * (r + 1) / mparts) * IE_MR;
                if (m1 > jb->M) m1 = jb->M;
                units[nu++] = (unit_t){ j, m0, m1, n0, n1 };
            }
        }
    }
    const size_t bsize = (size_t)IE_KC * IE_NC, tsize = (size_t)PACK16_ROWS * IE_NR, asize = colA16 ? APACK_SIZE : 0;
    int nt = T;
    if (flops < 2e5) nt = 1;
    if (nt > nu) nt = (int)nu;
#ifdef __AVX512F__
    const size_t csize = (size_t)(IE_MC_MAX + IE_MR) * IE_NC;
#else
    const size_t csize = 0;
#endif
    if (nt <= 1) {
        const ie_scratch s = ie_scratch_take(bsize + csize + tsize + asize, IE_SCRATCH_THREAD);
        float* bp = s.p;
        for (long u = 0; u < nu; u++)
            run_unit(&jobs[units[u].job], units[u].m0, units[u].m1, units[u].n0, units[u].n1, bp,
                     csize ? bp + bsize : NULL, bp + bsize + csize,
                     asize ? (uint32_t*)(bp + bsize + csize + tsize) : NULL);
        ie_scratch_park(s);
    } else {
#pragma omp parallel num_threads(nt)
        {
            const ie_scratch s = ie_scratch_take(bsize + csize + tsize + asize, IE_SCRATCH_THREAD);
            float* bp = s.p;
#pragma omp for schedule(dynamic, 1)
            for (long u = 0; u < nu; u++)
                run_unit(&jobs[units[u].job], units[u].m0, units[u].m1, units[u].n0, units[u].n1, bp,
                         csize ? bp + bsize : NULL, bp + bsize + csize,
                         asize ? (uint32_t*)(bp + bsize + csize + tsize) : NULL);
            ie_scratch_park(s);
        }
    }
    free(units);
}

void ie_gemm_serial(const ie_gemm_job* jb)
{
    if (jb->M <= 0 || jb->N <= 0) return;
    if (jb->K <= 0) { run_k0(jb); return; }
    const size_t bsize = jb->bpre || jb->bpre16 ? 0 : (size_t)IE_KC * IE_NC, tsize = (size_t)PACK16_ROWS * IE_NR;
#ifdef __AVX512F__
    const size_t csize = (size_t)(IE_MC_MAX + IE_MR) * IE_NC;
#else
    const size_t csize = 0;
#endif
    const size_t asize = jb->A16 && jb->csa != 1 ? APACK_SIZE : 0;
    const ie_scratch s = ie_scratch_take(bsize + csize + tsize + asize + 16, IE_SCRATCH_THREAD);
    float* bp = s.p;
    run_unit(jb, 0, jb->M, 0, jb->N, bp, csize ? bp + bsize : NULL, bp + bsize + csize,
             asize ? (uint32_t*)(bp + bsize + csize + tsize) : NULL);
    ie_scratch_park(s);
}

/* ---------------------------------------------------------------- ie_sgemm */

ie_gemm_job ie_gemm_job_plain(int transA, int M, int N, int K, float alpha, const float* A, long lda, float beta,
                              float* C, long ldc)
{
    ie_gemm_job jb;
    memset(&jb, 0, sizeof jb);
    jb.M = M; jb.N = N; jb.K = alpha == 0.0f ? 0 : K;
    jb.A = A;
    if (!transA) { jb.rsa = lda; jb.csa = 1; }
    else { jb.rsa = 1; jb.csa = lda; }
    jb.C = C; jb.ldc = ldc;
    jb.alpha = alpha; jb.beta = beta;
    return jb;
}

void ie_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    ie_packb_plain pb = { B, ldb, transB != 0 };
    ie_gemm_job jb = ie_gemm_job_plain(transA, M, N, K, alpha, A, lda, beta, C, ldc);
    jb.packb = ie_packb_plain_fn; jb.bctx = &pb;
    ie_gemm_run(&jb, 1);
}

/* ---------------------------------------------------------------- bf16 */

void ie_bf16_to_f32(const uint16_t* src, float* dst, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

int ie_gemm_bf16(int transA, int transB, int M, int N, int K, const uint16_t* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc)
{
    if (M <= 0 || N <= 0) return 0;
    if (!ie_has_bf16()) {
        const size_t n = K <= 0 ? 1 : transA ? (size_t)(K - 1) * lda + M : (size_t)(M - 1) * lda + K;
        float* a = malloc(sizeof(float) * n);
        if (!a) return -1;
        if (K > 0) ie_bf16_to_f32(A, a, n);
        ie_sgemm(transA, transB, M, N, K, 1.0f, a, lda, B, ldb, beta, C, ldc);
        free(a);
        return 0;
    }
    ie_packb_plain pb = { B, ldb, transB != 0 };
    ie_gemm_job jb;
    memset(&jb, 0, sizeof jb);
    jb.M = M; jb.N = N; jb.K = K;
    jb.A16 = A;
    if (!transA) { jb.rsa = lda; jb.csa = 1; }
    else { jb.rsa = 1; jb.csa = lda; }
    jb.packb = ie_packb_plain_fn; jb.bctx = &pb;
#ifdef __AVX512BF16__
    if (!transB) jb.packb16 = ie_packb16_plain_fn;
#endif
    jb.C = C; jb.ldc = ldc;
    jb.alpha = 1.0f; jb.beta = beta;
    ie_gemm_run(&jb, 1);
    return 0;
}
