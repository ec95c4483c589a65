/* Winograd F(4x4, 3x3) convolution, stride 1, pad 1 (Lavin & Gray), fp32.
 *
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A     per 6x6 input tile d -> 4x4 output tile
 *
 * 36 multiplies per 16 outputs instead of 144: the 36 "frequency" points xi become 36 independent
 * GEMMs  M[xi] (Cout x tiles) = U[xi] (Cout x Cin) @ V[xi] (Cin x tiles), run with the AVX-512
 * micro-kernel of gemm.c. The work is cut into blocks of whole tile rows (about 64 tiles, NT_TARGET),
 * one block per thread at a time: input transform (straight into the GEMM's packed B panel layout,
 * so no packing), 36 GEMMs, output transform (+bias, +residual) into y. Where the tiles fill fewer
 * panels than there are threads (a 32x32 image), the threads share each block instead (wino_run_shared).
 * Transforms work on 16 horizontally adjacent tiles per zmm (stride-4 deinterleave of image rows).
 *
 * Weights: U[xi][co][ci] (36 planes of Cout*Cin floats, each padded: wino_uplane; 4x the 3x3 weights), computed per
 * call by ie_conv3x3_winograd_f32 or once by ie_winograd_transform_weights.
 *
 * bf16 (ie_conv3x3_winograd_bf16_ex): by default U and V are rounded to bf16 for the bf16 GEMM, with other
 * interpolation points (0, 1, -1, 1/2, -2, inf: G_BF16, BT6B, AT6B) and four frequencies kept fp32 (WINO_HI),
 * which hold the rounding error to ~1% per convolution; or (ie_set_winograd_bf16(0)) the fp32 path on x and w
 * rounded to bf16.
 *
 * ie_conv3x3_winograd_f32 uses the direct convolution where Winograd does not pay (small images,
 * see ie_conv3x3_winograd_pays). Without AVX-512 (the AVX2 build) all entry points use the direct
 * convolution and the "transformed" weights are a plain copy of w.
 */
#include "internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#ifndef WINO_PAD_WASTE
#define WINO_PAD_WASTE 4
#endif
#ifndef WINO_PF_HINT
#define WINO_PF_HINT _MM_HINT_T0
#endif
#ifndef WINO_PF_DIST
#define WINO_PF_DIST 2
#endif
/* output planes prefetched this many channels ahead (0: none) */
#ifndef WINO_OUT_PF
#define WINO_OUT_PF 2
#endif
#ifndef WINO_NT_TARGET
#define WINO_NT_TARGET 64
#endif

#ifdef __AVX512F__

/* Elements from one transformed-weight plane U[xi] to the next: Cout rows of Cinp, and a cache line and a half
 * more. The weight transform writes all 36 planes at the same offset; plane sizes that are a multiple of 4 KB (most)
 * would put those 36 stores into one L1 set, which made the transform 2.5x slower where U fits in the L2 cache. */
#define WINO_UPAD 48
static long wino_uplane(int Cinp, int Cout) { return (long)Cout * Cinp + WINO_UPAD; }

size_t ie_winograd_weights_size(int Cin, int Cout) { return (size_t)36 * wino_uplane(Cin, Cout); }

/* Lavin's G for the points 0, 1, -1, 2, -2, inf (the fp32 GEMM) */
static const float G_FP32[6][3] = {
    { 1.0f / 4, 0, 0 },
    { -1.0f / 6, -1.0f / 6, -1.0f / 6 },
    { -1.0f / 6, 1.0f / 6, -1.0f / 6 },
    { 1.0f / 24, 1.0f / 12, 1.0f / 6 },
    { 1.0f / 24, -1.0f / 12, 1.0f / 6 },
    { 0, 0, 1 },
};

/* The bf16 GEMM's transforms (winograd_bf16 on): the points 0, 1, -1, 1/2, -2, inf. Rounding U and V to bf16 is
 * amplified by the output transform; with Lavin's points that gives 1.4-2.5% relative L2 per convolution on white
 * inputs. These points give 1.5x less (a search over pairs of small fractions for the last two points, random smooth
 * images: the best), and the four frequencies of the two close points {1, 1/2} x {1, 1/2} (xi 7, 9, 19, 21), which
 * carry half of the remaining error there, stay fp32 (U, V and their GEMMs): 0.85-1.5% measured (native/test), for 11%
 * more GEMM time.
 *   G = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1],
 *   B^T and A^T in BT6B and AT6B. */
static const float G_BF16[6][3] = {
    { 1, 0, 0 },
    { 1.0f / 3, 1.0f / 3, 1.0f / 3 },
    { -1.0f / 3, 1.0f / 3, -1.0f / 3 },
    { -16.0f / 15, -8.0f / 15, -4.0f / 15 },
    { 1.0f / 15, -2.0f / 15, 4.0f / 15 },
    { 0, 0, 1 },
};
#define WINO_NHI 4
static const int WINO_HI[WINO_NHI] = { 7, 9, 19, 21 };

/* the fp32 slot of frequency xi in the bf16 GEMM's Winograd, or -1 */
static inline int wino_hi_slot(int xi)
{
    for (int h = 0; h < WINO_NHI; h++)
        if (WINO_HI[h] == xi) return h;
    return -1;
}

/* The taps of 16 fp32 3x3 kernels, lane l's at g + idx_l: gv[k] = g[idx_l + k] (k = ky*3+kx), or g[idx_l + 8 - k]
 * rotated by 180 degrees. */
static inline void taps_f32(const float* g, __m512i idx, __mmask16 m, int rot180, __m512 gv[9])
{
    for (int k = 0; k < 9; k++)
        gv[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g + (rot180 ? 8 - k : k), 4);
}

/* The same for 16 bf16 kernels, lane l's at byte offset off_l from g, widened: one dword gather per tap, tap 0 the low
 * half of the dword at the kernel's start and tap k >= 1 the high half of the dword that ends with it (so no byte
 * outside the kernels is read). Reading the kernels straight from w, instead of widening them to a stack buffer and
 * gathering from there, made the transposed transform 10-15% faster. */
static inline void taps_bf16(const uint16_t* g, __m512i off, __mmask16 m, int rot180, __m512 gv[9])
{
    const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000);
    for (int k = 0; k < 9; k++) {
        const __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, g + (k ? k - 1 : 0), 1);
        gv[rot180 ? 8 - k : k] = _mm512_castsi512_ps(k ? _mm512_and_si512(d, hi) : _mm512_slli_epi32(d, 16));
    }
}

/* U = G g G^T for 16 input channels at once, from their taps gv (taps_f32, taps_bf16); U[xi] goes to dst + xi*plane
 * (G_FP32), or (G_BF16) rounded to bf16 to dst16 + xi*plane and, for the fp32 frequencies, also to
 * dsthi + slot*plane. */
static inline __attribute__((always_inline)) void
transform16(const __m512 gv[9], __mmask16 m, float* dst, uint16_t* dst16, float* dsthi, long plane)
{
    const float (*G)[3] = dst16 ? G_BF16 : G_FP32;
    __m512 t[6][3];
    /* unrolled in full, so that the coefficients and the fp32-frequency slots are constants (10-30% faster) */
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            t[i][j] = _mm512_fmadd_ps(_mm512_set1_ps(G[i][0]), gv[j],
                      _mm512_fmadd_ps(_mm512_set1_ps(G[i][1]), gv[3 + j],
                                      _mm512_mul_ps(_mm512_set1_ps(G[i][2]), gv[6 + j])));
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            __m512 u = _mm512_fmadd_ps(t[i][0], _mm512_set1_ps(G[j][0]),
                       _mm512_fmadd_ps(t[i][1], _mm512_set1_ps(G[j][1]),
                                       _mm512_mul_ps(t[i][2], _mm512_set1_ps(G[j][2]))));
#ifdef __AVX512BF16__
            if (dst16) {
                _mm256_mask_storeu_epi16(dst16 + (i * 6 + j) * plane, m, (__m256i)_mm512_cvtneps_pbh(u));
                const int h = wino_hi_slot(i * 6 + j);
                if (h >= 0) _mm512_mask_storeu_ps(dsthi + h * plane, m, u);
                continue;
            }
#endif
            _mm512_mask_storeu_ps(dst + (i * 6 + j) * plane, m, u);
        }
}

static __m512i lane_stride(int s)
{
    return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(s));
}

/* w [Cout, Cin, 3, 3] -> U[xi][co][ci]; trans: w is [Cin, Cout, 3, 3] and the conv's kernel [co, ci] is w[ci, co]
 * rotated by 180 degrees (the input-gradient's convolution, read in place). Output channels outermost either way, so
 * that each plane's row co is written in order; the 16 lanes read consecutive kernels of one row of w, or (trans) one
 * kernel from each of 16 rows, and the next co reads the rest of the same lines from the cache (writing the planes out
 * of order, blocks of 16 rows of w outermost, took twice as long). */
static void transform_weights_f32(const float* w, int trans, float* wt, int Cin, int Cout)
{
    const long plane = wino_uplane(Cin, Cout);
    const __m512i idx = lane_stride(trans ? Cout * 9 : 9);
#pragma omp parallel for schedule(static) num_threads(ie_get_num_threads())
    for (int co = 0; co < Cout; co++)
        for (int ci0 = 0; ci0 < Cin; ci0 += 16) {
            const int n = Cin - ci0 < 16 ? Cin - ci0 : 16;
            const float* g = w + (trans ? (long)ci0 * Cout + co : (long)co * Cin + ci0) * 9;
            const __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 gv[9];
            taps_f32(g, idx, m, trans, gv);
            transform16(gv, m, wt + (long)co * Cin + ci0, NULL, NULL, plane);
        }
}

void ie_winograd_transform_weights(const float* w, float* wt, int Cin, int Cout)
{
    transform_weights_f32(w, 0, wt, Cin, Cout);
}

/* bf16 weights w [Cout, Cin, 3, 3] -> U[xi][co][ci] fp32, or U16[xi][co][ci] bf16 with Cin padded to even (Cinp,
 * zero column; the G_BF16 points), with the fp32 frequencies also in Uhi[slot][co][ci] (same planes, fp32): each row
 * of U16[xi] is a GEMM A row of bf16 pairs along ci. 16 kernels at a time (taps_bf16).
 * trans: w is [Cin, Cout, 3, 3] and the kernel [co, ci] is w[ci, co] rotated by 180 degrees (the input-gradient's
 * convolution, as transform_weights_f32): the 16 kernels come one from each of 16 rows of w. */
static void winograd_transform_weights_bf16(const uint16_t* w, int trans, float* Uf, uint16_t* U, float* Uhi, int Cin,
                                            int Cout)
{
    const int Cinp = U ? (Cin + 1) & ~1 : Cin;
    const long plane = wino_uplane(Cinp, Cout);
    const __m512i off = lane_stride(trans ? Cout * 18 : 18);   /* bytes */
#pragma omp parallel for schedule(static) num_threads(ie_get_num_threads())
    for (int co = 0; co < Cout; co++) {
        for (int ci0 = 0; ci0 < Cin; ci0 += 16) {
            const int n = Cin - ci0 < 16 ? Cin - ci0 : 16;
            const __mmask16 m = (__mmask16)((1u << n) - 1);
            __m512 gv[9];
            taps_bf16(w + (trans ? (long)ci0 * Cout + co : (long)co * Cin + ci0) * 9, off, m, trans, gv);
            transform16(gv, m, Uf ? Uf + (long)co * Cinp + ci0 : NULL, U ? U + (long)co * Cinp + ci0 : NULL,
                        U ? Uhi + (long)co * Cinp + ci0 : NULL, plane);
        }
        if (U && Cinp > Cin)
            for (int xi = 0; xi < 36; xi++) U[xi * plane + (long)co * Cinp + Cin] = 0;
    }
}

/* 1-D input transform B^T d on 6 vectors */
#define BT6(d0, d1, d2, d3, d4, d5, o)                                                              \
    do {                                                                                            \
        const __m512 f4 = _mm512_set1_ps(4.0f), f5 = _mm512_set1_ps(5.0f), f2 = _mm512_set1_ps(2.0f); \
        __m512 t0 = _mm512_fnmadd_ps(f4, d2, d4);         /* d4 - 4 d2 */                           \
        __m512 t1 = _mm512_fnmadd_ps(f4, d1, d3);         /* d3 - 4 d1 */                           \
        __m512 t2 = _mm512_sub_ps(d4, d2);                /* d4 - d2 */                             \
        __m512 t3 = _mm512_mul_ps(f2, _mm512_sub_ps(d3, d1)); /* 2 (d3 - d1) */                     \
        o[0] = _mm512_fmadd_ps(f4, d0, _mm512_fnmadd_ps(f5, d2, d4));                               \
        o[1] = _mm512_add_ps(t0, t1);                                                               \
        o[2] = _mm512_sub_ps(t0, t1);                                                               \
        o[3] = _mm512_add_ps(t2, t3);                                                               \
        o[4] = _mm512_sub_ps(t2, t3);                                                               \
        o[5] = _mm512_fmadd_ps(f4, d1, _mm512_fnmadd_ps(f5, d3, d5));                               \
    } while (0)

/* 1-D output transform A^T m on 6 vectors -> 4 */
#define AT6(m0, m1, m2, m3, m4, m5, o)                                                              \
    do {                                                                                            \
        const __m512 f2 = _mm512_set1_ps(2.0f), f4 = _mm512_set1_ps(4.0f), f8 = _mm512_set1_ps(8.0f); \
        __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);                            \
        __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);                            \
        o[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);                                          \
        o[1] = _mm512_fmadd_ps(f2, d34, d12);                                                       \
        o[2] = _mm512_fmadd_ps(f4, s34, s12);                                                       \
        o[3] = _mm512_add_ps(_mm512_fmadd_ps(f8, d34, d12), m5);                                    \
    } while (0)

/* 1-D input transform B^T d on 6 vectors for the G_BF16 points (0, 1, -1, 1/2, -2, inf):
 *   B^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0; 0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1] */
#define BT6B(d0, d1, d2, d3, d4, d5, o)                                                             \
    do {                                                                                            \
        const __m512 h = _mm512_set1_ps(0.5f), t = _mm512_set1_ps(1.5f), f = _mm512_set1_ps(2.5f);  \
        const __m512 f2 = _mm512_set1_ps(2.0f);                                                     \
        __m512 a = _mm512_sub_ps(d3, d1), b = _mm512_sub_ps(d4, d2);                                \
        o[0] = _mm512_fnmadd_ps(f2, d2, _mm512_fmadd_ps(t, a, _mm512_add_ps(d0, d4)));              \
        o[1] = _mm512_fmadd_ps(f, d3, _mm512_fmadd_ps(h, d2, _mm512_sub_ps(d4, d1)));               \
        o[2] = _mm512_fmadd_ps(h, d3, _mm512_fnmadd_ps(f, d2, _mm512_add_ps(d4, d1)));              \
        o[3] = _mm512_fmadd_ps(f2, a, b);                                                           \
        o[4] = _mm512_fnmadd_ps(h, a, b);                                                           \
        o[5] = _mm512_fnmadd_ps(f2, d3, _mm512_fmadd_ps(t, b, _mm512_add_ps(d1, d5)));              \
    } while (0)

/* 1-D output transform A^T m on 6 vectors -> 4 for the G_BF16 points:
 *   A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1] */
#define AT6B(m0, m1, m2, m3, m4, m5, o)                                                             \
    do {                                                                                            \
        const __m512 f2 = _mm512_set1_ps(2.0f), f4 = _mm512_set1_ps(4.0f), f8 = _mm512_set1_ps(8.0f); \
        __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);                            \
        o[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), _mm512_add_ps(m3, m4));                        \
        o[1] = _mm512_fnmadd_ps(f2, m4, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), m3, d12));            \
        o[2] = _mm512_fmadd_ps(f4, m4, _mm512_fmadd_ps(_mm512_set1_ps(0.25f), m3, s12));            \
        o[3] = _mm512_add_ps(_mm512_fnmadd_ps(f8, m4, _mm512_fmadd_ps(_mm512_set1_ps(0.125f), m3, d12)), m5); \
    } while (0)

/* B^T d with the points of the GEMM's precision: bf16 (G_BF16) or fp32 (Lavin's) */
#define BT6X(bf, d0, d1, d2, d3, d4, d5, o)                                                         \
    do {                                                                                            \
        if (bf) BT6B(d0, d1, d2, d3, d4, d5, o);                                                    \
        else BT6(d0, d1, d2, d3, d4, d5, o);                                                        \
    } while (0)
#define AT6X(bf, m0, m1, m2, m3, m4, m5, o)                                                         \
    do {                                                                                            \
        if (bf) AT6B(m0, m1, m2, m3, m4, m5, o);                                                    \
        else AT6(m0, m1, m2, m3, m4, m5, o);                                                        \
    } while (0)

typedef struct {
    const float* x;       /* image [Cin, H, W] */
    int Cin, H, W, tw, twp;
    int rx;               /* round x to bf16 as it is loaded (bf16 mode, fp32 transforms) */
    int bf;               /* the bf16 GEMM's points (BT6B) */
} in_ctx;

/* the loaded vector, rounded to bf16 when c->rx */
static inline __m512 in_round(const in_ctx* c, __m512 v)
{
#ifdef __AVX512BF16__
    if (c->rx) return ie_round_bf16(v);
#endif
    return v;
}

/* Input transform of tile row ty, tiles [tx0, tx0+16), channel ci -> 36 vectors out[xi]. */
static inline void input_tiles(const in_ctx* c, int ci, int ty, int tx0, __m512 out[36])
{
    static const int idx_init[4][16] = {
        { 0, 4, 8, 12, 16, 20, 24, 28 }, { 1, 5, 9, 13, 17, 21, 25, 29 },
        { 2, 6, 10, 14, 18, 22, 26, 30 }, { 3, 7, 11, 15, 19, 23, 27, 31 } };
    __m512 tmp[6][6];
    const int W = c->W;
    const int s = 4 * tx0 - 1; /* first input column */
    const float* img = c->x + (long)ci * c->H * W;
    __mmask16 cm[5];
    int interior = s >= 0 && s + 80 <= W;
    if (!interior)
        for (int q = 0; q < 5; q++) {
            int lo = -s - 16 * q, hi = W - s - 16 * q; /* valid lanes [lo, hi) */
            if (lo < 0) lo = 0;
            if (hi > 16) hi = 16;
            cm[q] = hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
        }
    for (int i = 0; i < 6; i++) {
        int iy = 4 * ty - 1 + i;
        __m512 L[5];
        if ((unsigned)iy >= (unsigned)c->H) {
            for (int q = 0; q < 5; q++) L[q] = _mm512_setzero_ps();
        } else {
            const char* row = (const char*)(img + (long)iy * W) + (long)s * (long)sizeof(float);
            if (interior)
                for (int q = 0; q < 5; q++) L[q] = in_round(c, _mm512_loadu_ps((const float*)row + 16 * q));
            else
                for (int q = 0; q < 5; q++) L[q] = in_round(c, _mm512_maskz_loadu_ps(cm[q], (const float*)row + 16 * q));
        }
        __m512 v[6];
        for (int q = 0; q < 4; q++) {
            __m512i idx = _mm512_loadu_si512(idx_init[q]);
            __m512 lo = _mm512_permutex2var_ps(L[0], idx, L[1]);
            __m512 hi = _mm512_permutex2var_ps(L[2], idx, L[3]);
            v[q] = _mm512_shuffle_f32x4(lo, hi, 0x44);
        }
        __m512i l4 = _mm512_castps_si512(L[4]);
        v[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(l4, _mm512_castps_si512(v[0]), 1));
        v[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(l4, l4, 1), _mm512_castps_si512(v[1]), 1));
        BT6X(c->bf, v[0], v[1], v[2], v[3], v[4], v[5], tmp[i]);
    }
    for (int j = 0; j < 6; j++) {
        __m512 o[6];
        BT6X(c->bf, tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j], tmp[4][j], tmp[5][j], o);
        for (int k = 0; k < 6; k++) out[k * 6 + j] = o[k];
    }
}

/* Same for 16 arbitrary tiles (narrow images, tiles numbered compactly): lane j is tile
 * (tyv[j], txv[j]) of the image imgv[j] floats after c->x; lanes off in lanes are zero. Gathers
 * instead of row loads. */
static inline void input_tiles_gather(const in_ctx* c, int ci, __m512i imgv, __m512i tyv, __m512i txv,
                                      __mmask16 lanes, __m512 out[36])
{
    __m512 tmp[6][6];
    const float* img = c->x + (long)ci * c->H * c->W;
    const __m512i Wv = _mm512_set1_epi32(c->W), Hv = _mm512_set1_epi32(c->H);
    const __m512i iy0 = _mm512_sub_epi32(_mm512_slli_epi32(tyv, 2), _mm512_set1_epi32(1));
    const __m512i ix0 = _mm512_sub_epi32(_mm512_slli_epi32(txv, 2), _mm512_set1_epi32(1));
    const __m512i base = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(iy0, Wv), ix0), imgv);
    __mmask16 cm[6];
    for (int k = 0; k < 6; k++) {
        __m512i ix = _mm512_add_epi32(ix0, _mm512_set1_epi32(k));
        cm[k] = _mm512_cmplt_epu32_mask(ix, Wv);        /* 0 <= ix < W (unsigned compare) */
    }
    for (int i = 0; i < 6; i++) {
        __m512i iy = _mm512_add_epi32(iy0, _mm512_set1_epi32(i));
        __mmask16 rm = _mm512_cmplt_epu32_mask(iy, Hv) & lanes;
        __m512i rowb = _mm512_add_epi32(base, _mm512_set1_epi32(i * c->W));
        __m512 v[6];
        for (int k = 0; k < 6; k++)
            v[k] = in_round(c, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rm & cm[k],
                                                        _mm512_add_epi32(rowb, _mm512_set1_epi32(k)), img, 4));
        BT6X(c->bf, v[0], v[1], v[2], v[3], v[4], v[5], tmp[i]);
    }
    for (int j = 0; j < 6; j++) {
        __m512 o[6];
        BT6X(c->bf, tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j], tmp[4][j], tmp[5][j], o);
        for (int k = 0; k < 6; k++) out[k * 6 + j] = o[k];
    }
}

/* Interleave 4 vectors: out[4j + c] = v[c][j] (64 floats in o[0..3]). */
static inline void interleave4(__m512 a, __m512 b, __m512 c, __m512 d, __m512 o[4])
{
#define PD(x) _mm512_castps_pd(x)
#define PS(x) _mm512_castpd_ps(x)
    __m512 ab_lo = _mm512_unpacklo_ps(a, b), ab_hi = _mm512_unpackhi_ps(a, b);
    __m512 cd_lo = _mm512_unpacklo_ps(c, d), cd_hi = _mm512_unpackhi_ps(c, d);
    __m512 q0 = PS(_mm512_unpacklo_pd(PD(ab_lo), PD(cd_lo)));
    __m512 q1 = PS(_mm512_unpackhi_pd(PD(ab_lo), PD(cd_lo)));
    __m512 q2 = PS(_mm512_unpacklo_pd(PD(ab_hi), PD(cd_hi)));
    __m512 q3 = PS(_mm512_unpackhi_pd(PD(ab_hi), PD(cd_hi)));
#undef PD
#undef PS
    __m512 t0 = _mm512_shuffle_f32x4(q0, q1, 0x44), t1 = _mm512_shuffle_f32x4(q2, q3, 0x44);
    __m512 t2 = _mm512_shuffle_f32x4(q0, q1, 0xEE), t3 = _mm512_shuffle_f32x4(q2, q3, 0xEE);
    o[0] = _mm512_shuffle_f32x4(t0, t1, 0x88);
    o[1] = _mm512_shuffle_f32x4(t0, t1, 0xDD);
    o[2] = _mm512_shuffle_f32x4(t2, t3, 0x88);
    o[3] = _mm512_shuffle_f32x4(t2, t3, 0xDD);
}

/* How one wino_run call cuts its tiles into blocks, and the layout of a block's buffers. */
typedef struct {
    int B, Cin, H, W, Cout;
    int th, tw, twp;
    int padded;       /* tile numbering, see wino_plan_make */
    long HW, CHW, tpi;
    int nty, nrb;     /* padded: tile rows per block, blocks per image */
    long ntb, nbpi;   /* compact: tiles per block; blocks per image or 0 */
    long nblocks, ntp;/* blocks; tiles per block rounded up to whole GEMM panels */
    int bf, Cinp;     /* bf16 GEMM operands; Cin padded to even for them */
    long vrows;       /* V rows per panel: Cin floats, or Cinp/2 bf16 pairs (4-byte units either way) */
    long vplane, mplane;
    long vhplane;     /* bf: the fp32 frequencies' V planes [panel][ci][NR], Cin rows (0 otherwise) */
    long uplane;      /* elements between the weight planes U[xi] (wino_uplane) */
    int NR;
    int rowsplit;     /* the threads share each block (see wino_plan_make) */
} wino_plan;

static wino_plan wino_plan_make(int B, int Cin, int H, int W, int Cout, int bf)
{
    wino_plan p;
    p.B = B; p.Cin = Cin; p.H = H; p.W = W; p.Cout = Cout;
    p.th = (H + 3) / 4; p.tw = (W + 3) / 4; p.twp = (p.tw + 15) & ~15;
    /* Tile numbering: "padded" (per image, block of tile rows; row r, column tx -> r*twp + tx, 16
     * adjacent tiles per vector, loaded as image rows) unless that wastes > 25% of the lanes, then
     * "compact": tiles numbered across the whole batch, g = (b*th + ty)*tw + tx, and a block is a
     * range of them (gathers). Small images (28x28 has 7x7 tiles, 14x14 4x4) thus fill whole GEMM
     * panels with the tiles of several images. */
    p.padded = (p.twp - p.tw) * WINO_PAD_WASTE <= p.twp;
    p.HW = (long)H * W; p.CHW = (long)Cin * p.HW; p.tpi = (long)p.th * p.tw;
    /* tiles per block: more for bigger weights (each U[xi] is streamed once per block), but at
     * least one block per thread, and balanced */
    long ntarget = WINO_NT_TARGET * ((long)Cin * Cout / 65536);
    if (ntarget < WINO_NT_TARGET) ntarget = WINO_NT_TARGET;
    if (ntarget > 4 * WINO_NT_TARGET) ntarget = 4 * WINO_NT_TARGET;
    p.NR = ie_gemm_nr();
    /* Fewer GEMM panels of tiles than threads (a 32x32 image: 64 tiles, one panel): blocks cut for every thread would
     * fill only part of a panel, and the GEMM computes whole panels. Then the threads share each block instead, the
     * input transform split by channels and the GEMMs and output transform by output channels (wino_run). */
    const long slots = p.padded ? (long)B * p.th * p.twp : (long)B * p.th * p.tw;
    const int threads = ie_get_num_threads();
    p.rowsplit = threads > 1 && (slots + p.NR - 1) / p.NR < threads;
    const int T = p.rowsplit ? 1 : threads;
    p.nty = 0; p.nrb = 0; p.ntb = 0; p.nbpi = 0;
    long ntmax;
    if (p.padded) {
        const int th = p.th;
        int nty = (int)(ntarget / p.twp);
        if (nty < 1) nty = 1;
        int nb = (th + nty - 1) / nty;               /* blocks per image */
        if ((long)B * nb < T) nb = (T + B - 1) / B;
        if (nb > th) nb = th;
        p.nty = (th + nb - 1) / nb;
        p.nrb = (th + p.nty - 1) / p.nty;
        p.nblocks = (long)B * p.nrb;
        ntmax = (long)p.nty * p.twp;
    } else {
        const long total = (long)B * p.tpi, tpi = p.tpi;
        long ntb = ntarget;
        if ((total + ntb - 1) / ntb < T) ntb = (total + T - 1) / T;
        ntb = (ntb + 15) & ~15L;
        /* balanced blocks of whole vectors */
        long nbk = (total + ntb - 1) / ntb;
        ntb = ((total + nbk - 1) / nbk + 15) & ~15L;
        /* lane offsets are int32 floats from the block's first image: blocks stay within an image
         * when the images they would span exceed that */
        if ((ntb / tpi + 2) * p.CHW > 0x7FFFFFFFL) {
            if (ntb > tpi) ntb = (tpi + 15) & ~15L;
            p.nbpi = (tpi + ntb - 1) / ntb;
            p.nblocks = (long)B * p.nbpi;
        } else {
            p.nblocks = (total + ntb - 1) / ntb;
        }
        p.ntb = ntb;
        ntmax = ntb;
    }
    p.ntp = (ntmax + p.NR - 1) / p.NR * p.NR;
    /* planes padded by a few cache lines: the transforms touch all 36 planes at the same offset,
     * and power-of-two plane sizes would map them onto the same cache sets */
    p.bf = bf; p.Cinp = bf ? (Cin + 1) & ~1 : Cin;
    p.vrows = bf ? p.Cinp / 2 : Cin;
    p.vplane = p.vrows * p.ntp + 48; p.mplane = (long)Cout * p.ntp + 48;
    p.vhplane = bf ? (long)Cin * p.ntp + 48 : 0;
    p.uplane = wino_uplane(p.Cinp, Cout);
    return p;
}

/* The tiles of one block: padded, tile rows [ty0, ..) of image b; compact, tiles [g0, g0+nt) of the batch, with
 * each one's image (relative to b), tile row and column. */
typedef struct {
    int b, ty0, nt;
    long g0;
    int tb[4 * WINO_NT_TARGET + 16], tyl[4 * WINO_NT_TARGET + 16], txl[4 * WINO_NT_TARGET + 16];
} wino_block;

static void wino_block_tiles(const wino_plan* p, long blk, wino_block* k)
{
    k->b = 0; k->ty0 = 0; k->g0 = 0;
    if (p->padded) {
        k->b = (int)(blk / p->nrb);
        const int rb = (int)(blk % p->nrb);
        k->ty0 = rb * p->nty;
        k->nt = (p->th - k->ty0 < p->nty ? p->th - k->ty0 : p->nty) * p->twp;
        return;
    }
    const long tpi = p->tpi, ntb = p->ntb;
    long g0, g1;
    if (p->nbpi) {
        const long bi = blk / p->nbpi, q = blk % p->nbpi;
        g0 = bi * tpi + q * ntb;
        g1 = g0 + ntb < (bi + 1) * tpi ? g0 + ntb : (bi + 1) * tpi;
    } else {
        g0 = blk * ntb;
        g1 = g0 + ntb < (long)p->B * tpi ? g0 + ntb : (long)p->B * tpi;
    }
    k->g0 = g0;
    k->nt = (int)(g1 - g0);
    k->b = (int)(g0 / tpi);                          /* the block's first image */
    for (int t = 0; t < k->nt; t++) {
        const long g = g0 + t, bb = g / tpi, r = g - bb * tpi;
        k->tb[t] = (int)(bb - k->b);
        k->tyl[t] = (int)(r / p->tw);
        k->txl[t] = (int)(r % p->tw);
    }
}

/* 1 where tiles [t0, t0+16) of channel ci transform to zero: past the block's tiles, in the padding columns of a
 * tile row, or in the padding channel ci == Cin. */
static inline int wino_no_tiles(const wino_plan* p, const wino_block* k, int ci, long t0)
{
    return t0 >= k->nt || (p->padded && (t0 % p->twp) >= p->tw) || ci >= p->Cin;
}

/* The 36 transformed vectors of channel ci, tiles [t0, t0+16) of the block. */
static inline void wino_input_vectors(const wino_plan* p, const wino_block* k, const in_ctx* ic, int ci, long t0,
                                      __m512 o[36])
{
    if (wino_no_tiles(p, k, ci, t0)) {
        for (int xi = 0; xi < 36; xi++) o[xi] = _mm512_setzero_ps();
    } else if (p->padded) {
        const int ty = k->ty0 + (int)(t0 / p->twp), tx0 = (int)(t0 % p->twp);
        /* image channels are far apart and their row runs short (the hardware
         * prefetchers miss them): prefetch this group's rows a few channels ahead */
        if (ci + WINO_PF_DIST < p->Cin)
            for (int i = 0; i < 6; i++) {
                int iy = 4 * ty - 1 + i;
                if ((unsigned)iy >= (unsigned)p->H) continue;
                const char* q = (const char*)(ic->x + (long)(ci + WINO_PF_DIST) * p->HW + (long)iy * p->W + 4 * tx0 - 1);
                for (int l = 0; l < 6; l++) _mm_prefetch(q + 64 * l, WINO_PF_HINT);
            }
        input_tiles(ic, ci, ty, tx0, o);
    } else {
        const __m512i lane_id = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        __m512i t = _mm512_add_epi32(_mm512_set1_epi32((int)t0), lane_id);
        __mmask16 lanes = _mm512_cmplt_epi32_mask(t, _mm512_set1_epi32(k->nt));
        __m512i imgv = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(lanes, k->tb + t0), _mm512_set1_epi32((int)p->CHW));
        __m512i tyv = _mm512_maskz_loadu_epi32(lanes, k->tyl + t0);
        __m512i txv = _mm512_maskz_loadu_epi32(lanes, k->txl + t0);
        input_tiles_gather(ic, ci, imgv, tyv, txv, lanes, o);
    }
}

/* Input transform of the block's channels [ci0, ci1) (bf16: even bounds) -> V[xi][panel][ci][NR] (fp32), or
 * V[xi][panel][ci/2][NR] pairs of channels rounded to bf16 (p->bf; Ev holds the even channel's vectors, per 16 tiles,
 * until the odd one comes) and the fp32 frequencies also in Vh[slot][panel][ci][NR]. */
static void wino_input_transform(const wino_plan* p, const wino_block* k, const in_ctx* ic, float* V, float* Ev,
                                 float* Vh, int ci0, int ci1)
{
    const long NR = p->NR, vplane = p->vplane;
    for (int ci = ci0; ci < ci1; ci++)
        for (long t0 = 0; t0 < p->ntp; t0 += 16) {
            float* dst = V + (t0 / NR) * p->vrows * NR + (long)(p->bf ? ci / 2 : ci) * NR + t0 % NR;
            __m512 o[36];
            if (!p->bf && wino_no_tiles(p, k, ci, t0)) {
                for (int xi = 0; xi < 36; xi++) _mm512_store_ps(dst + xi * vplane, _mm512_setzero_ps());
                continue;
            }
            wino_input_vectors(p, k, ic, ci, t0, o);
            if (!p->bf) {
                for (int xi = 0; xi < 36; xi++) _mm512_store_ps(dst + xi * vplane, o[xi]);
            } else {
                if (ci < p->Cin)
                    for (int h = 0; h < WINO_NHI; h++)
                        _mm512_store_ps(Vh + h * p->vhplane + (t0 / NR) * p->Cin * NR + (long)ci * NR + t0 % NR, o[WINO_HI[h]]);
                float* even = Ev + (t0 / 16) * 36 * 16;
                if (ci % 2 == 0) {
                    for (int xi = 0; xi < 36; xi++) _mm512_store_ps(even + 16 * xi, o[xi]);
                } else {
#ifdef __AVX512BF16__
                    for (int xi = 0; xi < 36; xi++)
                        _mm512_store_si512(dst + xi * vplane, ie_bf16_pairs(_mm512_load_ps(even + 16 * xi), o[xi]));
#endif
                }
            }
        }
}

/* The 36 GEMMs of a block for the output channels [co0, co1): M[xi] (Cout x nt, ld ntp) = U[xi] @ V[xi], fp32 (U)
 * or bf16 (U16) operands; with U16, the fp32 frequencies on Uh and Vh. */
static void wino_gemms(const wino_plan* p, const float* U, const uint16_t* U16, const float* Uh, const float* V,
                       const float* Vh, float* Mb, int nt, int co0, int co1)
{
    for (int xi = 0; xi < 36; xi++) {
        ie_gemm_job jb;
        memset(&jb, 0, sizeof jb);
        jb.M = co1 - co0; jb.N = nt; jb.K = p->Cinp;
        const int h = p->bf ? wino_hi_slot(xi) : -1;
        if (h >= 0) {
            jb.K = p->Cin;
            jb.A = Uh + h * p->uplane + (long)co0 * p->Cinp;
            jb.bpre = Vh + h * p->vhplane;
            jb.rsa = p->Cinp; jb.csa = 1;
            jb.bpre_ld = (long)p->Cin * p->NR;
            jb.C = Mb + xi * p->mplane + (long)co0 * p->ntp; jb.ldc = p->ntp;
            jb.alpha = 1.0f; jb.beta = 0.0f;
            ie_gemm_serial(&jb);
            continue;
        }
        if (p->bf) {
            jb.A16 = U16 + xi * p->uplane + (long)co0 * p->Cinp;
            jb.bpre16 = (const uint32_t*)(V + xi * p->vplane);
        } else {
            jb.A = U + xi * p->uplane + (long)co0 * p->Cin;
            jb.bpre = V + xi * p->vplane;
        }
        jb.rsa = p->Cinp; jb.csa = 1;
        jb.bpre_ld = p->vrows * p->NR;
        jb.C = Mb + xi * p->mplane + (long)co0 * p->ntp; jb.ldc = p->ntp;
        jb.alpha = 1.0f; jb.beta = 0.0f;
        ie_gemm_serial(&jb);
    }
}

/* Output rows of 16 tiles (t0..) of channel co: tmp[k][*] is A^T applied along the first axis, for output row k of
 * each tile; finishes the transform, adds bias (bv) and add (ac, channel co's plane, or NULL), applies the ReLU, and
 * stores into yc (channel co's plane of the block's first image). Padded: the tiles are adjacent in one tile row. */
static inline void wino_store_padded(const wino_plan* p, const wino_block* k, int t0, __m512 tmp[4][6], __m512 bv,
                                     float* yc, const float* ac, int relu)
{
    const int W = p->W, ty = k->ty0 + t0 / p->twp, ox0 = 4 * (t0 % p->twp);
    const __m512 zero = _mm512_setzero_ps();
    __mmask16 sm[4];
    for (int q = 0; q < 4; q++) {
        int n = W - ox0 - 16 * q;
        sm[q] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
    }
    for (int kk = 0; kk < 4; kk++) {
        const int oy = 4 * ty + kk;
        if (oy >= p->H) break;
        __m512 o[4], q[4];
        AT6X(p->bf, tmp[kk][0], tmp[kk][1], tmp[kk][2], tmp[kk][3], tmp[kk][4], tmp[kk][5], o);
        interleave4(o[0], o[1], o[2], o[3], q);
        float* yr = yc + (long)oy * W + ox0;
        const float* ar = ac ? ac + (long)oy * W + ox0 : NULL;
        for (int qq = 0; qq < 4; qq++) {
            __m512 val = _mm512_add_ps(q[qq], bv);
            if (ar) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(sm[qq], ar + 16 * qq));
            if (relu) val = _mm512_max_ps(val, zero);
            _mm512_mask_storeu_ps(yr + 16 * qq, sm[qq], val);
        }
    }
}

/* The same for compact tiles: lane j is tile t0+j; its 4 outputs of row k are out[4j..4j+4). */
static inline void wino_store_compact(const wino_plan* p, const wino_block* k, int t0, __m512 tmp[4][6], __m512 bv,
                                      float* yc, const float* ac, int relu)
{
    const int W = p->W, nl = k->nt - t0 < 16 ? k->nt - t0 : 16;
    const __m512 zero = _mm512_setzero_ps();
    for (int kk = 0; kk < 4; kk++) {
        __m512 o[4], q[4];
        float ob[64];
        AT6X(p->bf, tmp[kk][0], tmp[kk][1], tmp[kk][2], tmp[kk][3], tmp[kk][4], tmp[kk][5], o);
        interleave4(o[0], o[1], o[2], o[3], q);
        for (int qq = 0; qq < 4; qq++) _mm512_storeu_ps(ob + 16 * qq, _mm512_add_ps(q[qq], bv));
        for (int j = 0; j < nl; j++) {
            const int tt = t0 + j, oy = 4 * k->tyl[tt] + kk, ox = 4 * k->txl[tt];
            if (oy >= p->H) continue;
            const long io = (long)k->tb[tt] * p->Cout * p->HW + (long)oy * W + ox;
            const int n = W - ox < 4 ? W - ox : 4;
            const __mmask8 mk = (__mmask8)((1u << n) - 1);
            __m128 val = _mm_loadu_ps(ob + 4 * j);
            if (ac) val = _mm_add_ps(val, _mm_maskz_loadu_ps(mk, ac + io));
            if (relu) val = _mm_max_ps(val, _mm512_castps512_ps128(zero));
            _mm_mask_storeu_ps(yc + io, mk, val);
        }
    }
}

/* Output transform of the block's output channels [co0, co1): Y = A^T M A per tile (+bias, +add, ReLU) -> y. */
static void wino_output_transform(const wino_plan* p, const wino_block* k, const float* Mb, const float* bias,
                                  const float* add, float* y, int relu, int co0, int co1)
{
    const long HW = p->HW, mplane = p->mplane;
    float* yb = y + (long)k->b * p->Cout * HW;
    const float* ab = add ? add + (long)k->b * p->Cout * HW : NULL;
    for (int co = co0; co < co1; co++) {
        const __m512 bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
        float* yc = yb + (long)co * HW;
        const float* ac = ab ? ab + (long)co * HW : NULL;
        for (int t0 = 0; t0 < k->nt; t0 += 16) {
            if (p->padded && t0 % p->twp >= p->tw) continue;
            /* a block writes only a few rows of each output plane, too short a run for the hardware
             * prefetchers: without this the stores (and the residual's loads) wait on memory, 8-11% of a
             * 256 -> 256 convolution at 256x256 (less where the GEMMs dominate: 1% at 512 -> 256) */
            if (WINO_OUT_PF && p->padded && co + WINO_OUT_PF < p->Cout) {
                const int ty = k->ty0 + t0 / p->twp, ox0 = 4 * (t0 % p->twp);
                const int nl = (p->W - ox0 + 15) / 16 < 4 ? (p->W - ox0 + 15) / 16 : 4;
                for (int kk = 0; kk < 4 && 4 * ty + kk < p->H; kk++) {
                    const long off = (long)WINO_OUT_PF * HW + (long)(4 * ty + kk) * p->W + ox0;
                    for (int l = 0; l < nl; l++) {
                        __builtin_prefetch(yc + off + 16 * l, 1, 3);
                        if (ac) __builtin_prefetch(ac + off + 16 * l, 0, 3);
                    }
                }
            }
            const float* m = Mb + (long)co * p->ntp + t0;
            __m512 tmp[4][6];
            for (int j = 0; j < 6; j++) {
                __m512 o[4];
                AT6X(p->bf, _mm512_load_ps(m + (0 * 6 + j) * mplane), _mm512_load_ps(m + (1 * 6 + j) * mplane),
                    _mm512_load_ps(m + (2 * 6 + j) * mplane), _mm512_load_ps(m + (3 * 6 + j) * mplane),
                    _mm512_load_ps(m + (4 * 6 + j) * mplane), _mm512_load_ps(m + (5 * 6 + j) * mplane), o);
                for (int kk = 0; kk < 4; kk++) tmp[kk][j] = o[kk];
            }
            if (p->padded) wino_store_padded(p, k, t0, tmp, bv, yc, ac, relu);
            else wino_store_compact(p, k, t0, tmp, bv, yc, ac, relu);
        }
    }
}

/* wino_run for a plan with rowsplit: all threads work on each block, with V and M shared; thread t of n transforms
 * the channels [Cinp t/n, Cinp (t+1)/n) (whole pairs), then, after a barrier, runs the GEMMs and the output transform
 * of its output channels (whole GEMM row tiles), whose M rows it computed itself. -1 (nothing done) when the shared
 * buffer cannot be had. */
static int wino_run_shared(const wino_plan* p, const float* x, const float* U, const uint16_t* U16, const float* Uh,
                           const float* bias, const float* add, float* y, int relu, int rx)
{
    const int T = ie_get_num_threads();
    const size_t nev = p->bf ? (size_t)36 * p->ntp : 0;
    const ie_scratch buf = ie_scratch_take((size_t)36 * (p->vplane + p->mplane) + (p->bf ? (size_t)WINO_NHI * p->vhplane : 0)
                                           + (size_t)T * nev, IE_SCRATCH_SHARED);
    if (!buf.p) return -1;
    float* V = buf.p;
    float* Mb = V + 36 * p->vplane;
    float* Vh = Mb + 36 * p->mplane;                 /* bf16: the fp32 frequencies */
    float* Ev0 = Vh + (p->bf ? (size_t)WINO_NHI * p->vhplane : 0);   /* bf16: each thread's even channels */
    const int mr = ie_gemm_mr(), rtiles = (p->Cout + mr - 1) / mr, units = p->bf ? p->Cinp / 2 : p->Cinp;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        const int c0 = (int)((long)units * t / n) * (p->bf ? 2 : 1), c1 = (int)((long)units * (t + 1) / n) * (p->bf ? 2 : 1);
        const int r0 = (int)((long)rtiles * t / n) * mr;
        int r1 = (int)((long)rtiles * (t + 1) / n) * mr;
        if (r1 > p->Cout) r1 = p->Cout;
        float* Ev = Ev0 + (size_t)t * nev;
        wino_block k;
        for (long blk = 0; blk < p->nblocks; blk++) {
            wino_block_tiles(p, blk, &k);
            const in_ctx ic = { x + (long)k.b * p->CHW, p->Cin, p->H, p->W, p->tw, p->twp, rx, p->bf };
            wino_input_transform(p, &k, &ic, V, Ev, Vh, c0, c1);
#pragma omp barrier
            wino_gemms(p, U, U16, Uh, V, Vh, Mb, k.nt, r0, r1);
            wino_output_transform(p, &k, Mb, bias, add, y, relu, r0, r1);
#pragma omp barrier
        }
    }
    ie_scratch_park(buf);
    return 0;
}

/* U: fp32 weights U[xi][co][ci] (rx: x rounded to bf16 as loaded); or U16 (U NULL): bf16 weights U16[xi][co][ci]
 * with Cin padded to even and the fp32 frequencies' Uh (see winograd_transform_weights_bf16), and then V is rounded
 * to bf16 pairs along ci for the bf16 GEMM. Each thread takes blocks of tiles: input transform, 36 GEMMs, output
 * transform. */
static void wino_run(const float* x, const float* U, const uint16_t* U16, const float* Uh, const float* bias,
                     const float* add, float* y, int B, int Cin, int H, int W, int Cout, int relu, int rx)
{
    const wino_plan p = wino_plan_make(B, Cin, H, W, Cout, U16 != NULL);
    if (p.rowsplit && wino_run_shared(&p, x, U, U16, Uh, bias, add, y, relu, rx) == 0) return;
    int nt_threads = ie_get_num_threads();
    if (nt_threads > p.nblocks) nt_threads = (int)p.nblocks;

#pragma omp parallel num_threads(nt_threads)
    {
        const ie_scratch buf = ie_scratch_take((size_t)36 * (p.vplane + p.mplane)
                                               + (p.bf ? (size_t)36 * p.ntp + (size_t)WINO_NHI * p.vhplane : 0),
                                               IE_SCRATCH_THREAD);
        float* V = buf.p;
        float* Mb = V + 36 * p.vplane;
        float* Ev = Mb + 36 * p.mplane;              /* bf16: the even channel's transform, per 16 tiles */
        float* Vh = Ev + 36 * p.ntp;                 /* bf16: the fp32 frequencies */
        wino_block k;
#pragma omp for schedule(dynamic, 1)
        for (long blk = 0; blk < p.nblocks; blk++) {
            wino_block_tiles(&p, blk, &k);
            const in_ctx ic = { x + (long)k.b * p.CHW, Cin, H, W, p.tw, p.twp, rx, p.bf };
            wino_input_transform(&p, &k, &ic, V, Ev, Vh, 0, p.Cinp);
            wino_gemms(&p, U, U16, Uh, V, Vh, Mb, k.nt, 0, Cout);
            wino_output_transform(&p, &k, Mb, bias, add, y, relu, 0, Cout);
        }
        ie_scratch_park(buf);
    }
}

int ie_conv3x3_winograd_pays(int B, int Cin, int H, int W, int Cout)
{
    const long th = (H + 3) / 4, tw = (W + 3) / 4;
    if (Cin < 8 || Cout < 8) return 0;
    /* tiles overhanging the image: 16 th tw outputs computed for H W of them (14x14 and 7x7: 1.31) */
    if (16 * th * tw * 2 > 3L * H * W) return 0;
    /* enough tiles to amortise the weight transform (36*Cin*Cout floats), in both precisions: at 64 (one 32x32
     * image, the threads sharing its block) 512 -> 512 channels take 6.4 ms with the per-call transform against the
     * direct 12.7 ms in fp32, and 5.3 against 7.0 ms in bf16; with the weights transformed once the same bound holds */
    return (long)B * th * tw >= 64;
}

void ie_conv3x3_winograd_pretransformed_f32(const float* x, const float* wt, const float* bias,
                                            const float* add, float* y,
                                            int B, int Cin, int H, int W, int Cout)
{
    if (B <= 0 || Cout <= 0 || H <= 0 || W <= 0) return;
    wino_run(x, wt, NULL, NULL, bias, add, y, B, Cin, H, W, Cout, 0, 0);
}

void ie_conv3x3_winograd_ex_f32(const float* x, const float* w, const float* bias, const float* add,
                                float* y, int B, int Cin, int H, int W, int Cout, int relu)
{
    if (B <= 0 || Cout <= 0 || H <= 0 || W <= 0) return;
    ie_scratch U = { NULL, 0, -1 };
    if (ie_conv3x3_winograd_pays(B, Cin, H, W, Cout)) U = ie_scratch_take(ie_winograd_weights_size(Cin, Cout), IE_SCRATCH_SHARED);
    if (!U.p) { /* small image (or out of memory): direct convolution */
        ie_conv2d_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, 3, 3, 1, 1, relu);
        return;
    }
    ie_winograd_transform_weights(w, U.p, Cin, Cout);
    wino_run(x, U.p, NULL, NULL, bias, add, y, B, Cin, H, W, Cout, relu, 0);
    ie_scratch_park(U);
}

static int winograd_bf16 = 1;

void ie_set_winograd_bf16(int on) { winograd_bf16 = on; }

/* ie_conv3x3_winograd_bf16_ex, or (trans) its transposed convolution as ie_conv3x3_winograd_transposed_f32 */
static int wino_bf16(const float* x, const uint16_t* w, int trans, const float* bias, const float* add, float* y,
                     int B, int Cin, int H, int W, int Cout, int relu)
{
    if (B <= 0 || Cout <= 0 || H <= 0 || W <= 0) return 0;
    const int bf = ie_has_bf16(), u16 = bf && winograd_bf16;
    /* U: bf16 (2 bytes, Cin padded to even) and the fp32 frequencies, or fp32, in the fp32 scratch */
    const size_t plane16 = (size_t)wino_uplane((Cin + 1) & ~1, Cout);
    ie_scratch U = ie_scratch_take(u16 ? (18 + WINO_NHI) * plane16 : ie_winograd_weights_size(Cin, Cout), IE_SCRATCH_SHARED);
    if (!U.p) return -1;
    float* Uh = u16 ? U.p + 18 * plane16 : NULL;
    winograd_transform_weights_bf16(w, trans, u16 ? NULL : U.p, u16 ? (uint16_t*)U.p : NULL, Uh, Cin, Cout);
    if (u16) wino_run(x, NULL, (const uint16_t*)U.p, Uh, bias, add, y, B, Cin, H, W, Cout, relu, 0);
    else wino_run(x, U.p, NULL, NULL, bias, add, y, B, Cin, H, W, Cout, relu, bf);
    ie_scratch_park(U);
    return 0;
}

int ie_conv3x3_winograd_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                                int B, int Cin, int H, int W, int Cout, int relu)
{
    return wino_bf16(x, w, 0, bias, add, y, B, Cin, H, W, Cout, relu);
}

int ie_conv3x3_winograd_transposed_bf16(const float* x, const uint16_t* w, float* y, int B, int Cin, int H, int W,
                                        int Cout)
{
    return wino_bf16(x, w, 1, NULL, NULL, y, B, Cin, H, W, Cout, 0);
}

void ie_conv3x3_winograd_f32(const float* x, const float* w, const float* bias, const float* add,
                             float* y, int B, int Cin, int H, int W, int Cout)
{
    ie_conv3x3_winograd_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, 0);
}

int ie_conv3x3_winograd_transposed_f32(const float* x, const float* w, float* y, int B, int Cin, int H, int W, int Cout)
{
    if (B <= 0 || Cout <= 0 || H <= 0 || W <= 0) return 0;
    ie_scratch U = ie_scratch_take(ie_winograd_weights_size(Cin, Cout), IE_SCRATCH_SHARED);
    if (!U.p) return -1;
    transform_weights_f32(w, 1, U.p, Cin, Cout);
    wino_run(x, U.p, NULL, NULL, NULL, NULL, y, B, Cin, H, W, Cout, 0, 0);
    ie_scratch_park(U);
    return 0;
}

#else /* no AVX-512: direct convolution */

int ie_conv3x3_winograd_pays(int B, int Cin, int H, int W, int Cout) { return 0; }

size_t ie_winograd_weights_size(int Cin, int Cout) { return (size_t)9 * Cout * Cin; }

void ie_winograd_transform_weights(const float* w, float* wt, int Cin, int Cout)
{
    memcpy(wt, w, (size_t)9 * Cout * Cin * sizeof(float));
}

void ie_conv3x3_winograd_pretransformed_f32(const float* x, const float* wt, const float* bias,
                                            const float* add, float* y,
                                            int B, int Cin, int H, int W, int Cout)
{
    ie_conv2d_f32(x, wt, bias, add, y, B, Cin, H, W, Cout, 3, 3, 1, 1);
}

void ie_conv3x3_winograd_f32(const float* x, const float* w, const float* bias, const float* add,
                             float* y, int B, int Cin, int H, int W, int Cout)
{
    ie_conv2d_f32(x, w, bias, add, y, B, Cin, H, W, Cout, 3, 3, 1, 1);
}

void ie_conv3x3_winograd_ex_f32(const float* x, const float* w, const float* bias, const float* add,
                                float* y, int B, int Cin, int H, int W, int Cout, int relu)
{
    ie_conv2d_ex_f32(x, w, bias, add, y, B, Cin, H, W, Cout, 3, 3, 1, 1, relu);
}

/* the transposed convolutions as the direct input-gradients (which never come back here: ie_conv3x3_winograd_pays()
 * is 0) */
int ie_conv3x3_winograd_transposed_f32(const float* x, const float* w, float* y, int B, int Cin, int H, int W, int Cout)
{
    return ie_conv2d_grad_f32(x, w, y, B, Cin, Cout, H, W, 3, 3, 1, 1);
}

int ie_conv3x3_winograd_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                                int B, int Cin, int H, int W, int Cout, int relu)
{
    return ie_conv2d_bf16_ex(x, w, bias, add, y, B, Cin, H, W, Cout, 3, 3, 1, 1, relu);
}

int ie_conv3x3_winograd_transposed_bf16(const float* x, const uint16_t* w, float* y, int B, int Cin, int H, int W,
                                        int Cout)
{
    return ie_conv2d_grad_bf16(x, w, y, B, Cin, Cout, H, W, 3, 3, 1, 1);
}

void ie_set_winograd_bf16(int on) {}

#endif
