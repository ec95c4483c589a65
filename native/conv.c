/* Direct convolution as an implicit GEMM (see gemm.c):
 *   per batch image: Y[Cout, Ho*Wo] = W[Cout, Cin*KH*KW] @ X~[Cin*KH*KW, Ho*Wo] (+bias, +add)
 * The weights are the A operand, read in place. The B operand X~ (im2col) is never materialised:
 * the GEMM driver asks for one KC x NC block at a time, packed straight from the image into its
 * NR-wide micro-panels (padding becomes zeros there). A 1x1 stride-1 unpadded conv is a plain GEMM
 * on the image itself.
 * Packing, stride 1 with Wo == W ("same" convs, AVX-512): the panel row of tap (ci,ky,kx) for output
 * positions p..p+63 is the contiguous run x[ci] + p + (ky-pad)*W + (kx-pad), with the lanes that
 * fall into the padding zeroed by precomputed per-panel masks: 4 loads + 4 stores per 64 values.
 * Other strides/paddings go through output-row segments (scalar for stride > 1).
 * The rows a few channels ahead are prefetched while packing (spread over the loop: bursts of
 * prefetches at the start of a block were measured useless).
 */
#include "imagenete.h"

#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

typedef struct {
    const float* x;          /* one image [Cin, H, W] */
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
        /* output-row segments of this panel */
        int seg_oy[64 + 2], seg_ox[64 + 2], seg_c[64 + 2], seg_len[64 + 2], nseg = 0;
        {
            int pidx = n0 + j0, c = 0;
            while (c < nr) {
                int oy = pidx / p->Wo, ox = pidx % p->Wo;
                int len = p->Wo - ox < nr - c ? p->Wo - ox : nr - c;
                if (nseg == 64 + 2) break; /* cannot happen: NR <= 64 */
                seg_oy[nseg] = oy; seg_ox[nseg] = ox; seg_c[nseg] = c; seg_len[nseg] = len; nseg++;
                c += len; pidx += len;
            }
        }
        int ci = k0 / KK, r = k0 % KK, ky = r / p->KW, kx = r % p->KW;
        for (int k = 0; k < kc; k++, d += NR) {
            const float* img = p->x + ci * HW;
            for (int sg = 0; sg < nseg; sg++) {
                int iy = seg_oy[sg] * p->stride + ky - p->pad;
                int valid = (unsigned)iy < (unsigned)p->H;
                pack_segment(d + seg_c[sg], img + (long)(valid ? iy : 0) * p->W, valid, p->W,
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

void ie_conv2d_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                   int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad)
{
    if (B <= 0 || Cout <= 0) return;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    if (Ho <= 0 || Wo <= 0) return;
    const long HoWo = (long)Ho * Wo;
    const int K = Cin * KH * KW;
    const int plain = KH == 1 && KW == 1 && stride == 1 && pad == 0;
    const unsigned short* masks = NULL;
#ifdef __AVX512F__
    if (!plain && stride == 1 && Wo == W && KH * KW <= FAST_MAX_KK)
        masks = make_masks(H, W, Ho, Wo, KH, KW, pad, ie_gemm_nr());
#endif
#ifdef __AVX512F__
    if (masks && Cout <= ie_gemm_mr() && K > 0) {
        /* few output channels: read B straight from the image (packing would dominate) */
        const int KK = KH * KW;
        long* off = malloc(sizeof(long) * (size_t)K);
        int* slot = malloc(sizeof(int) * (size_t)K);
        for (int k = 0; k < K; k++) {
            int ci = k / KK, r = k % KK, ky = r / KW, kx = r % KW;
            off[k] = (long)ci * H * W + (long)(ky - pad) * W + (kx - pad);
            slot[k] = r;
        }
        for (int b = 0; b < B; b++)
            ie_gemm_smallm_direct(Cout, (int)HoWo, K, w, K, x + (long)b * Cin * H * W, off, slot, masks, KK,
                                  y + (long)b * Cout * HoWo, HoWo, bias,
                                  add ? add + (long)b * Cout * HoWo : NULL, HoWo);
        free(off); free(slot); free((void*)masks);
        return;
    }
#endif
    ie_gemm_job* jobs = malloc(sizeof(ie_gemm_job) * (size_t)B);
    im2col_ctx* ic = malloc(sizeof(im2col_ctx) * (size_t)B);
    ie_packb_plain* pc = malloc(sizeof(ie_packb_plain) * (size_t)B);
    for (int b = 0; b < B; b++) {
        const float* xb = x + (long)b * Cin * H * W;
        ie_gemm_job* jb = &jobs[b];
        memset(jb, 0, sizeof *jb);
        jb->M = Cout; jb->N = (int)HoWo; jb->K = K;
        jb->A = w; jb->rsa = K; jb->csa = 1;
        if (plain) {
            pc[b] = (ie_packb_plain){ xb, (long)H * W, 0 };
            jb->packb = ie_packb_plain_fn; jb->bctx = &pc[b];
        } else {
            ic[b] = (im2col_ctx){ xb, Cin, H, W, KH, KW, stride, pad, Ho, Wo, masks };
            jb->packb = im2col_pack; jb->bctx = &ic[b];
        }
        jb->C = y + (long)b * Cout * HoWo; jb->ldc = HoWo;
        jb->alpha = 1.0f; jb->beta = 0.0f;
        jb->bias = bias;
        jb->add = add ? add + (long)b * Cout * HoWo : NULL; jb->ldadd = HoWo;
    }
    ie_gemm_run(jobs, B);
    free(jobs); free(ic); free(pc);
    free((void*)masks);
}
