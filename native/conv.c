/* Direct convolution as an implicit GEMM (see gemm.c):
 *   per batch image: Y[Cout, Ho*Wo] = W[Cout, Cin*KH*KW] @ X~[Cin*KH*KW, Ho*Wo] (+bias, +add)
 * The weights are the A operand, read in place. The B operand X~ (im2col) is never materialised:
 * the GEMM driver asks for one KC x NC block at a time, packed straight from the image into its
 * NR-wide micro-panels (padding becomes zeros there). A 1x1 stride-1 unpadded conv is a plain GEMM
 * on the image itself.
 * Packing, stride 1 with Wo == W ("same" convs, AVX-512): the panel row of tap (ci,ky,kx) for output
 * positions p..p+63 is the contiguous run x[ci] + p + (ky-pad)*W + (kx-pad), with the lanes that
 * fall into the padding zeroed by precomputed per-panel masks: 4 loads + 4 stores per 64 values.
 * Other strides/paddings go through output-row segments (vector loads; stride 2 takes the even lanes of
 * two vectors, larger strides are scalar).
 * Small images (Ho*Wo not a multiple of the 64-wide micro-panel, e.g. 14x14 = 196 or 7x7 = 49 positions)
 * run as ONE GEMM over the batch, N = B*Ho*Wo, so that the panels are full (per image, 196 columns take
 * 4 panels of 64 and 49 take one: 77% of the lanes); the GEMM writes such a tile to the images it spans
 * (ie_gemm_job.img_cols).
 * The rows a few channels ahead are prefetched while packing (spread over the loop: bursts of
 * prefetches at the start of a block were measured useless).
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

typedef struct {
    const float* x;          /* image 0 [Cin, H, W]; GEMM column n is position n % (Ho*Wo) of image */
    long img_stride;         /* n / (Ho*Wo), at x + (n / (Ho*Wo)) * img_stride */
    int Cin, H, W, KH, KW, stride, pad, Ho, Wo;
    /* fast path (stride 1, Wo == W, AVX-512): the panel row for (ci,ky,kx) starting at output
     * position p is x[ci] + p + (ky-pad)*W + (kx-pad), contiguous, with the lanes that fall into
     * the padding masked off: masks[(panel*KH*KW + ky*KW + kx)*NV + v]. NULL otherwise. */
    const unsigned short* masks;
} im2col_ctx;

#ifdef __AVX512F__
#define FAST_MAX_KK 64
/* Lane-validity masks for every NR-wide output panel and kernel tap (see im2col_ctx). */
static unsigned short* make_masks(int H, int W, int Ho, int Wo, int KH, int KW, int pad, int NR)
{
    const long HoWo = (long)Ho * Wo;
    const long npan = (HoWo + NR - 1) / NR;
    const int NV = NR / 16, KK = KH * KW;
    unsigned short* m = calloc((size_t)npan * KK * NV, sizeof(unsigned short));
    if (!m) return NULL;
    int oy = 0, ox = 0;
    for (long p = 0; p < HoWo; p++) {
        long pan = p / NR;
        int c = (int)(p % NR), v = c / 16;
        unsigned short bit = (unsigned short)(1u << (c % 16));
        for (int ky = 0; ky < KH; ky++) {
            if ((unsigned)(oy + ky - pad) >= (unsigned)H) continue;
            for (int kx = 0; kx < KW; kx++)
                if ((unsigned)(ox + kx - pad) < (unsigned)W) m[(pan * KK + ky * KW + kx) * NV + v] |= bit;
        }
        if (++ox == Wo) { ox = 0; oy++; }
    }
    return m;
}
#endif

/* dst[c] = x[ci, iy, ox*s + kx - pad] for c in [0,len), ox = ox0 + c; zero outside the image. */
static inline void pack_segment(float* restrict d, const float* restrict row, int valid_row,
                                int W, int ox0, int len, int kx, int s, int pad)
{
    if (!valid_row) {
        memset(d, 0, (size_t)len * sizeof(float));
        return;
    }
    if (s == 1) {
        int off = ox0 + kx - pad;                 /* ix of c = 0 */
        int lo = -off > 0 ? -off : 0;             /* first c with ix >= 0 */
        int hi = W - off < len ? W - off : len;   /* c < hi has ix < W */
        if (hi < lo) hi = lo;
#ifdef __AVX512F__
        for (int c = 0; c < len; c += 16) {
            int n = len - c < 16 ? len - c : 16;
            __mmask16 sm = (__mmask16)((1u << n) - 1);
            int a = lo - c, b = hi - c;           /* valid lanes [a, b) */
            if (a < 0) a = 0;
            if (b > n) b = n;
            __mmask16 lm = b > a ? (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1)) : 0;
            const float* src = (const float*)((const char*)row + ((long)off + c) * (long)sizeof(float));
            __m512 v = _mm512_maskz_loadu_ps(lm, src);
            _mm512_mask_storeu_ps(d + c, sm, v);
        }
#else
        for (int c = 0; c < lo && c < len; c++) d[c] = 0.0f;
        if (hi > lo) memcpy(d + lo, row + off + lo, (size_t)(hi - lo) * sizeof(float));
        for (int c = hi > lo ? hi : lo; c < len; c++) d[c] = 0.0f;
#endif
        return;
    }
#ifdef __AVX512F__
    if (s == 2) {
        /* 16 outputs from 32 consecutive inputs (zero-masked outside [0, W)), even lanes */
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        for (int c = 0; c < len; c += 16) {
            const int n = len - c < 16 ? len - c : 16;
            const int base = (ox0 + c) * 2 + kx - pad;          /* ix of lane 0 */
            int a = -base, b = W - base;                        /* valid input lanes [a, b) of 32 */
            if (a < 0) a = 0;
            if (b > 2 * n - 1) b = 2 * n - 1;                   /* the last odd lane is never used */
            uint32_t m = 0;
            if (b > a) m = (uint32_t)((((uint64_t)1 << b) - 1) & ~(((uint64_t)1 << a) - 1));
            const float* src = (const float*)((const char*)row + (long)base * (long)sizeof(float));
            __m512 lo = _mm512_maskz_loadu_ps((__mmask16)(m & 0xFFFF), src);
            __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), src + 16);
            _mm512_mask_storeu_ps(d + c, (__mmask16)((1u << n) - 1), _mm512_permutex2var_ps(lo, even, hi));
        }
        return;
    }
#endif
    for (int c = 0; c < len; c++) {
        int ix = (ox0 + c) * s + kx - pad;
        d[c] = (unsigned)ix < (unsigned)W ? row[ix] : 0.0f;
    }
}

#ifndef PACK_PF_CH
#define PACK_PF_CH 3
#endif
static void im2col_pack(const void* vctx, int k0, int kc, int n0, int nc, float* dst)
{
    const im2col_ctx* p = vctx;
    const int NR = ie_gemm_nr();
    const int KK = p->KH * p->KW;
    const long HW = (long)p->H * p->W;
#ifdef __AVX512F__
    if (p->masks) {
        const int NV = NR / 16;
        const char* xb = (const char*)p->x;
        const char* xe = (const char*)(p->x + p->Cin * HW);
        for (int j0 = 0; j0 < nc; j0 += NR) {
            const long pan = (n0 + j0) / NR;           /* n0 is a multiple of NR */
            const unsigned short* mk = p->masks + pan * KK * NV;
            float* d = dst + (long)(j0 / NR) * kc * NR;
            int ci = k0 / KK, r = k0 % KK, ky = r / p->KW, kx = r % p->KW;
            for (int k = 0; k < kc; k++, d += NR) {
                /* byte address arithmetic: the start may lie before x (masked-off lanes) */
                const char* src = (const char*)p->x +
                    ((long)ci * HW + n0 + j0 + (long)(ky - p->pad) * p->W + (kx - p->pad)) * (long)sizeof(float);
                const unsigned short* m = mk + (ky * p->KW + kx) * NV;
                if (kx == 0 && ci + PACK_PF_CH < p->Cin) {
                    /* spread prefetch of the same rows PACK_PF_CH channels ahead (channels are far
                     * apart and their runs short: the hardware prefetchers miss them) */
                    const char* pf = src + PACK_PF_CH * HW * (long)sizeof(float);
                    for (int v = 0; v <= NV; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                }
                {
                    const float* sv = (const float*)src;
                    if (src >= xb && src + NR * sizeof(float) <= xe) {
                        /* in bounds: a plain load and a zeroing move beat a masked load */
                        for (int v = 0; v < NV; v++)
                            _mm512_store_ps(d + 16 * v, _mm512_maskz_mov_ps(m[v], _mm512_loadu_ps(sv + 16 * v)));
                    } else {
                        for (int v = 0; v < NV; v++)
                            _mm512_store_ps(d + 16 * v, _mm512_maskz_loadu_ps(m[v], sv + 16 * v));
                    }
                }
                if (++kx == p->KW) {
                    kx = 0;
                    if (++ky == p->KH) { ky = 0; ci++; }
                }
            }
        }
        return;
    }
#endif
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR;
        float* d = dst + (long)(j0 / NR) * kc * NR;
        /* output-row segments of this panel (each within one row of one image) */
        int seg_oy[64 + 2], seg_ox[64 + 2], seg_c[64 + 2], seg_len[64 + 2], nseg = 0;
        long seg_img[64 + 2];
        {
            const long HoWo = (long)p->Ho * p->Wo;
            long pidx = n0 + j0;
            int c = 0;
            while (c < nr) {
                long b = pidx / HoWo;
                int q = (int)(pidx - b * HoWo), oy = q / p->Wo, ox = q % p->Wo;
                int len = p->Wo - ox < nr - c ? p->Wo - ox : nr - c;
                if (nseg == 64 + 2) break; /* cannot happen: NR <= 64 */
                seg_img[nseg] = b * p->img_stride;
                seg_oy[nseg] = oy; seg_ox[nseg] = ox; seg_c[nseg] = c; seg_len[nseg] = len; nseg++;
                c += len; pidx += len;
            }
        }
        int ci = k0 / KK, r = k0 % KK, ky = r / p->KW, kx = r % p->KW;
        /* prefetch distance in tap rows: PACK_PF_CH channels, or a few rows of the same channel when
         * there are few channels (the stem: 3) */
        const int pf_rows = p->Cin > PACK_PF_CH ? PACK_PF_CH * p->KH : 3;
        for (int k = 0; k < kc; k++, d += NR) {
            const float* img = p->x + ci * HW;
            if (kx == 0 && ci * p->KH + ky + pf_rows < p->Cin * p->KH) {
                /* the input rows of each segment pf_rows tap rows (ci, ky) ahead (see above) */
                const int t = ci * p->KH + ky + pf_rows, pci = t / p->KH, pky = t % p->KH;
                for (int sg = 0; sg < nseg; sg++) {
                    int iy = seg_oy[sg] * p->stride + pky - p->pad;
                    if ((unsigned)iy >= (unsigned)p->H) continue;
                    int ix = seg_ox[sg] * p->stride - p->pad;
                    if (ix < 0) ix = 0;
                    const char* pf = (const char*)(p->x + seg_img[sg] + pci * HW + (long)iy * p->W + ix);
                    const int bytes = (seg_len[sg] * p->stride + p->KW) * (int)sizeof(float);
                    for (int o = 0; o < bytes + 64; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                }
            }
            for (int sg = 0; sg < nseg; sg++) {
                int iy = seg_oy[sg] * p->stride + ky - p->pad;
                int valid = (unsigned)iy < (unsigned)p->H;
                pack_segment(d + seg_c[sg], img + seg_img[sg] + (long)(valid ? iy : 0) * p->W, valid, p->W,
                             seg_ox[sg], seg_len[sg], kx, p->stride, p->pad);
            }
            if (nr < NR) memset(d + nr, 0, (size_t)(NR - nr) * sizeof(float));
            if (++kx == p->KW) {
                kx = 0;
                if (++ky == p->KH) { ky = 0; ci++; }
            }
        }
    }
}

#ifdef __AVX512BF16__
/* im2col_pack's masked stride-1 path (ctx->masks set) straight into bf16 pairs: tap rows k and k+1 (of the same or
 * the next channel) loaded and masked as there, rounded and interleaved. */
static void im2col_pack16(const void* vctx, int k0, int kc, int n0, int nc, uint32_t* dst)
{
    const im2col_ctx* p = vctx;
    const int NR = ie_gemm_nr(), NV = NR / 16;
    const int KK = p->KH * p->KW, kp = (kc + 1) / 2;
    const long HW = (long)p->H * p->W;
    const char* xb = (const char*)p->x;
    const char* xe = (const char*)(p->x + p->Cin * HW);
    for (int j0 = 0; j0 < nc; j0 += NR) {
        const long pan = (n0 + j0) / NR;
        const unsigned short* mk = p->masks + pan * KK * NV;
        uint32_t* d = dst + (long)(j0 / NR) * kp * NR;
        int ci = k0 / KK, r = k0 % KK, ky = r / p->KW, kx = r % p->KW;
        for (int k = 0; k < kc; k += 2, d += NR) {
            __m512 row[2][4];
            for (int h = 0; h < 2; h++) {
                if (k + h >= kc) {
                    for (int v = 0; v < NV; v++) row[h][v] = _mm512_setzero_ps();
                    continue;
                }
                const char* src = (const char*)p->x +
                    ((long)ci * HW + n0 + j0 + (long)(ky - p->pad) * p->W + (kx - p->pad)) * (long)sizeof(float);
                const unsigned short* m = mk + (ky * p->KW + kx) * NV;
                if (kx == 0 && ci + PACK_PF_CH < p->Cin) {
                    const char* pf = src + PACK_PF_CH * HW * (long)sizeof(float);
                    for (int v = 0; v <= NV; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                }
                const float* sv = (const float*)src;
                if (src >= xb && src + NR * sizeof(float) <= xe)
                    for (int v = 0; v < NV; v++) row[h][v] = _mm512_maskz_mov_ps(m[v], _mm512_loadu_ps(sv + 16 * v));
                else
                    for (int v = 0; v < NV; v++) row[h][v] = _mm512_maskz_loadu_ps(m[v], sv + 16 * v);
                if (++kx == p->KW) {
                    kx = 0;
                    if (++ky == p->KH) { ky = 0; ci++; }
                }
            }
            for (int v = 0; v < NV; v++) _mm512_store_si512(d + 16 * v, ie_bf16_pairs(row[0][v], row[1][v]));
        }
    }
}
#endif

#ifndef PLAIN_PF_ROWS
#define PLAIN_PF_ROWS 4
#endif
/* The runs of GEMM columns n .. n+nr (nr <= 64) that lie within one image of a 1x1 stride-1 convolution over the
 * batch: run r is row k0 of the image at x + soff[r], slen[r] columns, panel columns sc[r] on. Returns the count. */
static int image_runs(const im2col_ctx* p, int k0, long n, int nr, long* soff, int* sc, int* slen)
{
    const long HW = (long)p->Ho * p->Wo;
    int nseg = 0;
    for (long c = 0; c < nr; nseg++) {
        const long b = n / HW, q = n - b * HW;
        const int len = (int)(HW - q < nr - c ? HW - q : nr - c);
        soff[nseg] = b * p->img_stride + q + (long)k0 * HW;
        sc[nseg] = (int)c;
        slen[nseg] = len;
        c += len; n += len;
    }
    return nseg;
}
/* 1x1 stride-1 convolution over the batch: B(k, n) = x[(n / HW) * img_stride + k * HW + n % HW]
 * (ctx: im2col_ctx). Per panel, the runs of columns within one image are copied row by
 * row; a panel inside one image (the common case) is 4 plain loads and stores per row. */
static void packb_images(const void* vctx, int k0, int kc, int n0, int nc, float* dst)
{
    const im2col_ctx* p = vctx;
    const int NR = ie_gemm_nr();
    const long HW = (long)p->Ho * p->Wo;       /* = H*W: 1x1, stride 1, no padding */
    for (int j0 = 0; j0 < nc; j0 += NR) {
        const int nr = nc - j0 < NR ? nc - j0 : NR;
        float* d = dst + (long)(j0 / NR) * kc * NR;
        long soff[64 + 2];
        int sc[64 + 2], slen[64 + 2];
        const int nseg = image_runs(p, k0, n0 + j0, nr, soff, sc, slen);
#ifdef __AVX512F__
        if (nseg == 1 && nr == NR) {
            const float* s = p->x + soff[0];
            for (int k = 0; k < kc; k++, s += HW, d += NR) {
                const char* pf = (const char*)(s + PLAIN_PF_ROWS * HW);
                for (int v = 0; v <= NR / 16; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                for (int v = 0; v < NR / 16; v++) _mm512_store_ps(d + 16 * v, _mm512_loadu_ps(s + 16 * v));
            }
            continue;
        }
        for (int k = 0; k < kc; k++, d += NR) {
            for (int sg = 0; sg < nseg; sg++) {
                const float* s = p->x + soff[sg] + (long)k * HW;
                const char* pf = (const char*)(s + PLAIN_PF_ROWS * HW);
                for (int o = 0; o < slen[sg] * 4 + 64; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                for (int c = 0; c < slen[sg]; c += 16) {
                    const int n = slen[sg] - c < 16 ? slen[sg] - c : 16;
                    const __mmask16 m = (__mmask16)((1u << n) - 1);
                    _mm512_mask_storeu_ps(d + sc[sg] + c, m, _mm512_maskz_loadu_ps(m, s + c));
                }
            }
            if (nr < NR) memset(d + nr, 0, (size_t)(NR - nr) * sizeof(float));
        }
#else
        for (int k = 0; k < kc; k++, d += NR) {
            for (int sg = 0; sg < nseg; sg++)
                memcpy(d + sc[sg], p->x + soff[sg] + (long)k * HW, (size_t)slen[sg] * sizeof(float));
            if (nr < NR) memset(d + nr, 0, (size_t)(NR - nr) * sizeof(float));
        }
#endif
    }
}

#ifdef __AVX512BF16__
/* packb_images straight into bf16 pairs: channel rows k and k+1 of each run of columns within one image. */
static void packb_images16(const void* vctx, int k0, int kc, int n0, int nc, uint32_t* dst)
{
    const im2col_ctx* p = vctx;
    const int NR = ie_gemm_nr(), NV = NR / 16, kp = (kc + 1) / 2;
    const long HW = (long)p->Ho * p->Wo;
    for (int j0 = 0; j0 < nc; j0 += NR) {
        const int nr = nc - j0 < NR ? nc - j0 : NR;
        uint32_t* d = dst + (long)(j0 / NR) * kp * NR;
        long soff[64 + 2];
        int sc[64 + 2], slen[64 + 2];
        const int nseg = image_runs(p, k0, n0 + j0, nr, soff, sc, slen);
        /* vector v's lanes lie in at most two runs (HW >= 16): lane c of run r loads from
         * x + soff[r] + (c - sc[r]), so each run is one masked load at a lane-aligned offset */
        long o0[4], o1[4];
        __mmask16 m0[4], m1[4];
        for (int v = 0, r = 0; v < NV; v++) {
            m0[v] = m1[v] = 0;
            o0[v] = o1[v] = 0;
            for (int h = 0; h < 2 && r < nseg && sc[r] < 16 * (v + 1); h++) {
                const int end = sc[r] + slen[r];
                const int lo = sc[r] > 16 * v ? sc[r] : 16 * v, hi = end < 16 * (v + 1) ? end : 16 * (v + 1);
                const __mmask16 m = (__mmask16)((((1u << (hi - 16 * v)) - 1) >> (lo - 16 * v)) << (lo - 16 * v));
                const long o = soff[r] - sc[r] + 16 * v;
                if (h == 0) { m0[v] = m; o0[v] = o; } else { m1[v] = m; o1[v] = o; }
                if (end <= 16 * (v + 1)) r++;   /* the run ends in this vector */
                else break;
            }
        }
        for (int k = 0; k < kc; k += 2, d += NR) {
            __m512 r[2][4];
            for (int h = 0; h < 2; h++) {
                if (k + h >= kc) {
                    for (int v = 0; v < NV; v++) r[h][v] = _mm512_setzero_ps();
                    continue;
                }
                if (nseg == 1 && nr == NR) {          /* the panel inside one image: plain loads */
                    const float* sp = p->x + soff[0] + (long)(k + h) * HW;
                    const char* pf = (const char*)(sp + 2 * PLAIN_PF_ROWS * HW);
                    for (int v = 0; v <= NV; v++) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
                    for (int v = 0; v < NV; v++) r[h][v] = _mm512_loadu_ps(sp + 16 * v);
                    continue;
                }
                const float* sp = p->x + (long)(k + h) * HW;
                for (int sg = 0; sg < nseg; sg++) {
                    const char* pf = (const char*)(sp + soff[sg] + 2 * PLAIN_PF_ROWS * HW);
                    for (int o = 0; o < slen[sg] * 4 + 64; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
                }
                for (int v = 0; v < NV; v++) {
                    __m512 a = _mm512_maskz_loadu_ps(m0[v], sp + o0[v]);
                    if (m1[v]) a = _mm512_mask_loadu_ps(a, m1[v], sp + o1[v]);
                    r[h][v] = a;
                }
            }
            for (int v = 0; v < NV; v++) _mm512_store_si512(d + 16 * v, ie_bf16_pairs(r[0][v], r[1][v]));
        }
    }
}
#endif

/* One convolution (see the header comment); relu: max(0, .) after bias and residual. Weights w (fp32) or, when
 * w16 != NULL, bf16 (then the CPU must have ie_has_bf16()). Returns -1 when out of memory. */
static int conv_impl(const float* x, const float* w, const uint16_t* w16, const float* bias, const float* add, float* y,
                     int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu)
{
    if (B <= 0 || Cout <= 0) return 0;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    if (Ho <= 0 || Wo <= 0) return 0;
    const long HoWo = (long)Ho * Wo, CHW = (long)Cin * H * W;
    const int K = Cin * KH * KW, NR = ie_gemm_nr();
    if (KH == 1 && KW == 1 && pad == 0 && stride > 1 && (long)B * Cin * HoWo <= 1L << 28) {
        /* strided 1x1 (ResNet's downsampling): the input subsampled once (a quarter of it), then the plain 1x1 GEMM,
         * instead of packing short strided runs of output rows (7 to 28 columns) one by one */
        ie_scratch xsb = ie_scratch_take((size_t)B * Cin * HoWo, IE_SCRATCH_SHARED);   /* ResNet-50 batch 32: 26 MB */
        if (!xsb.p) return -1;
        float* xs = xsb.p;
#pragma omp parallel for schedule(static)
        for (long pl = 0; pl < (long)B * Cin; pl++)
            for (int oy = 0; oy < Ho; oy++) {
                const float* src = x + pl * H * W + (long)oy * stride * W;
                float* dst = xs + pl * HoWo + (long)oy * Wo;
                for (int ox = 0; ox < Wo; ox++) dst[ox] = src[(long)ox * stride];
            }
        const int r = conv_impl(xs, w, w16, bias, add, y, B, Cin, Ho, Wo, Cout, 1, 1, 1, 0, relu);
        ie_scratch_park(xsb);
        return r;
    }
    const int plain = KH == 1 && KW == 1 && stride == 1 && pad == 0;
    const unsigned short* masks = NULL;
#ifdef __AVX512F__
    if (!plain && stride == 1 && Wo == W && KH * KW <= FAST_MAX_KK)
        masks = make_masks(H, W, Ho, Wo, KH, KW, pad, NR);
#endif
#ifdef __AVX512F__
    if (masks && Cout <= ie_gemm_mr() && K > 0) {
        /* few output channels: read B straight from the image (packing would dominate); bf16: the weights
         * widened, x rounded as loaded */
        const int KK = KH * KW;
        long* off = malloc(sizeof(long) * (size_t)K);
        int* slot = malloc(sizeof(int) * (size_t)K);
        float* wf = w16 ? malloc(sizeof(float) * (size_t)Cout * K) : NULL;
        if (!off || !slot || (w16 && !wf)) {
            free(off); free(slot); free(wf); free((void*)masks);
            return -1;
        }
        if (w16) {
            ie_bf16_to_f32(w16, wf, (size_t)Cout * K);
            w = wf;
        }
        for (int k = 0; k < K; k++) {
            int ci = k / KK, r = k % KK, ky = r / KW, kx = r % KW;
            off[k] = (long)ci * H * W + (long)(ky - pad) * W + (kx - pad);
            slot[k] = r;
        }
        for (int b = 0; b < B; b++)
            ie_gemm_smallm_direct(Cout, (int)HoWo, K, w, K, x + (long)b * CHW, off, slot, masks, KK,
                                  y + (long)b * Cout * HoWo, HoWo, bias,
                                  add ? add + (long)b * Cout * HoWo : NULL, HoWo, relu, w16 != NULL);
        free(off); free(slot); free(wf); free((void*)masks);
        return 0;
    }
#endif
    /* batched columns where per-image panels would leave > 10% of the lanes idle (14x14: 23%, 7x7: 23%;
     * not 28x28: 6%, where the mapped epilogue costs about what it saves), and not for the masked
     * stride-1 packer (per image) */
    const long panels = (HoWo + NR - 1) / NR;
    const int batched = B > 1 && !masks && HoWo >= 16 && (panels * NR - HoWo) * 10 > panels * NR &&
                        (long)B * HoWo <= 0x7FFFFFFFL;
    if (batched) {
        im2col_ctx ic = { x, CHW, Cin, H, W, KH, KW, stride, pad, Ho, Wo, NULL };
        ie_gemm_job jb;
        memset(&jb, 0, sizeof jb);
        jb.M = Cout; jb.N = (int)(B * HoWo); jb.K = K;
        jb.A = w; jb.A16 = w16; jb.rsa = K; jb.csa = 1;
        jb.packb = plain ? packb_images : im2col_pack; jb.bctx = &ic;
#ifdef __AVX512BF16__
        if (plain) jb.packb16 = packb_images16;
#endif
        jb.C = y; jb.ldc = HoWo;
        jb.alpha = 1.0f; jb.beta = 0.0f;
        jb.bias = bias;
        jb.add = add; jb.ldadd = HoWo;
        jb.relu = relu;
        jb.img_cols = (int)HoWo; jb.img_stride = (long)Cout * HoWo;
        ie_gemm_run(&jb, 1);
        return 0;
    }
    ie_gemm_job* jobs = malloc(sizeof(ie_gemm_job) * (size_t)B);
    im2col_ctx* ic = malloc(sizeof(im2col_ctx) * (size_t)B);
    ie_packb_plain* pc = malloc(sizeof(ie_packb_plain) * (size_t)B);
    if (!jobs || !ic || !pc) {
        free(jobs); free(ic); free(pc); free((void*)masks);
        return -1;
    }
    for (int b = 0; b < B; b++) {
        const float* xb = x + (long)b * CHW;
        ie_gemm_job* jb = &jobs[b];
        memset(jb, 0, sizeof *jb);
        jb->M = Cout; jb->N = (int)HoWo; jb->K = K;
        jb->A = w; jb->A16 = w16; jb->rsa = K; jb->csa = 1;
        if (plain) {
            pc[b] = (ie_packb_plain){ xb, (long)H * W, 0 };
            jb->packb = ie_packb_plain_fn; jb->bctx = &pc[b];
#ifdef __AVX512BF16__
            jb->packb16 = ie_packb16_plain_fn;
#endif
        } else {
            ic[b] = (im2col_ctx){ xb, CHW, Cin, H, W, KH, KW, stride, pad, Ho, Wo, masks };
            jb->packb = im2col_pack; jb->bctx = &ic[b];
#ifdef __AVX512BF16__
            if (masks) jb->packb16 = im2col_pack16;
#endif
        }
        jb->C = y + (long)b * Cout * HoWo; jb->ldc = HoWo;
        jb->alpha = 1.0f; jb->beta = 0.0f;
        jb->bias = bias;
        jb->add = add ? add + (long)b * Cout * HoWo : NULL; jb->ldadd = HoWo;
        jb->relu = relu;
    }
    ie_gemm_run(jobs, B);
    free(jobs); free(ic); free(pc);
    free((void*)masks);
    return 0;
}

void ie_conv2d_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                   int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad)
{
    conv_impl(x, w, NULL, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, 0);
}

void ie_conv2d_ex_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu)
{
    conv_impl(x, w, NULL, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, relu);
}

int ie_conv2d_bf16_ex(const float* x, const uint16_t* w, const float* bias, const float* add, float* y,
                      int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int relu)
{
    if (ie_has_bf16()) return conv_impl(x, NULL, w, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, relu);
    const size_t n = (size_t)Cout * Cin * KH * KW;
    float* wf = malloc(sizeof(float) * (n ? n : 1));
    if (!wf) return -1;
    ie_bf16_to_f32(w, wf, n);
    const int r = conv_impl(x, wf, NULL, bias, add, y, B, Cin, H, W, Cout, KH, KW, stride, pad, relu);
    free(wf);
    return r;
}
