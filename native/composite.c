/* Affine compositing of a premultiplied RGBA layer over a background (the edits' object placement).
 * The AVX-512 path handles 16 output pixels per step: coordinates in float64 (as the definition); taps from
 * two masked row loads when the 16 share their rows (no rotation), else gathered (two taps per 8-byte lane
 * where possible), zero outside the layer; the colour taps skipped where the sampled alpha is 0 (a premultiplied
 * layer's colour is 0 there: most of an object layer). All three give the same sums in the same order. The
 * scalar path is the definition and the tail. */
#include "imagenete.h"

#include <math.h>
#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Output pixel (ox, oy) of one sample: bilinear sample of the layer, composited over the background. */
static inline void composite_pixel(const float* sb, const float* gb, float* yb, const float* m, int C,
                                   int W, int Hs, int Ws, long plane, long splane, int ox, int oy)
{
    const double sx = (double) m[0] * ox + (double) m[1] * oy + m[2];
    const double sy = (double) m[3] * ox + (double) m[4] * oy + m[5];
    const double fxd = floor(sx), fyd = floor(sy);
    const long o = (long) oy * W + ox;
    if (fxd < -1 || fyd < -1 || fxd >= Ws || fyd >= Hs) {      /* no tap inside: background only */
        for (int c = 0; c < C; c++) yb[c * plane + o] = gb[c * plane + o];
        yb[C * plane + o] = 0.0f;
        return;
    }
    const int x0 = (int) fxd, y0 = (int) fyd;
    const double fx = sx - fxd, fy = sy - fyd;
    const double w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
    const int in00 = x0 >= 0 && y0 >= 0, in01 = x0 + 1 < Ws && y0 >= 0;
    const int in10 = x0 >= 0 && y0 + 1 < Hs, in11 = x0 + 1 < Ws && y0 + 1 < Hs;
    const long i00 = (long) y0 * Ws + x0;
    double a = 0;
    double v[8];
    for (int c = 0; c <= C; c++) {
        const float* s = sb + c * splane;
        double t = 0;
        if (in00) t += w00 * s[i00];
        if (in01) t += w01 * s[i00 + 1];
        if (in10) t += w10 * s[i00 + Ws];
        if (in11) t += w11 * s[i00 + Ws + 1];
        if (c == C) a = t;
        else if (c < 8) v[c] = t;
        else yb[c * plane + o] = (float) t;
    }
    for (int c = 0; c < C; c++) {
        const double t = c < 8 ? v[c] : yb[c * plane + o];
        yb[c * plane + o] = (float) (t + gb[c * plane + o] * (1 - a));
    }
    yb[C * plane + o] = (float) a;
}

#ifdef __AVX512F__
/* The bilinear sum of the four taps, in the one order that every AVX-512 path below uses. */
static inline __m512 bilerp(__m512 w00, __m512 w01, __m512 w10, __m512 w11, __m512 t00, __m512 t01, __m512 t10, __m512 t11)
{
    __m512 v = _mm512_mul_ps(w00, t00);
    v = _mm512_fmadd_ps(w01, t01, v);
    v = _mm512_fmadd_ps(w10, t10, v);
    return _mm512_fmadd_ps(w11, t11, v);
}

/* Bilinear sample of one layer plane s at 16 pixels whose taps are either both inside the layer or both outside
 * in each row (k0: row y0, k1: row y0+1): the two taps of a row come from one 8-byte load, so a row takes two
 * 8-lane gathers instead of two 16-lane ones (gathers bound this op). Same products and sums as the 4-tap form. */
static inline __m512 bilinear_pairs(const float* s, __m512i i00, __m512i i10, __mmask16 k0, __mmask16 k1,
                                    __m512 w00, __m512 w01, __m512 w10, __m512 w11)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512d z = _mm512_setzero_pd();
    const __m512 p0l = _mm512_castpd_ps(_mm512_mask_i32gather_pd(z, (__mmask8) k0, _mm512_castsi512_si256(i00), s, 4));
    const __m512 p0h = _mm512_castpd_ps(_mm512_mask_i32gather_pd(z, (__mmask8) (k0 >> 8), _mm512_extracti32x8_epi32(i00, 1), s, 4));
    const __m512 p1l = _mm512_castpd_ps(_mm512_mask_i32gather_pd(z, (__mmask8) k1, _mm512_castsi512_si256(i10), s, 4));
    const __m512 p1h = _mm512_castpd_ps(_mm512_mask_i32gather_pd(z, (__mmask8) (k1 >> 8), _mm512_extracti32x8_epi32(i10, 1), s, 4));
    return bilerp(w00, w01, w10, w11, _mm512_permutex2var_ps(p0l, even, p0h), _mm512_permutex2var_ps(p0l, odd, p0h),
                  _mm512_permutex2var_ps(p1l, even, p1h), _mm512_permutex2var_ps(p1l, odd, p1h));
}

/* The same with one 16-lane gather per tap, each tap masked on its own (pixels at the layer's edges). */
static inline __m512 bilinear_taps(const float* s, __m512i i00, __mmask16 k00, __mmask16 k01, __mmask16 k10,
                                   __mmask16 k11, int Ws, __m512 w00, __m512 w01, __m512 w10, __m512 w11)
{
    const __m512 z = _mm512_setzero_ps();
    const __m512i i01 = _mm512_add_epi32(i00, _mm512_set1_epi32(1));
    const __m512i i10 = _mm512_add_epi32(i00, _mm512_set1_epi32(Ws)), i11 = _mm512_add_epi32(i10, _mm512_set1_epi32(1));
    return bilerp(w00, w01, w10, w11, _mm512_mask_i32gather_ps(z, k00, i00, s, 4), _mm512_mask_i32gather_ps(z, k01, i01, s, 4),
                  _mm512_mask_i32gather_ps(z, k10, i10, s, 4), _mm512_mask_i32gather_ps(z, k11, i11, s, 4));
}

/* Lanes j of a 16-float load starting at layer column x that are inside the row [0, Ws). */
static inline __mmask16 row_mask(int x, int Ws)
{
    const int a = x < 0 ? -x : 0, b = Ws - x < 16 ? Ws - x : 16;
    return b <= a ? 0 : (__mmask16) (((1u << b) - 1) & ~((1u << a) - 1));
}

/* Pixels whose taps all lie in one pair of layer rows (no rotation) and within 32 columns from xlo: each row is two
 * masked loads (zero outside the layer, as the gathers' masks), the taps picked by permutes. No gathers. */
typedef struct {
    long off0;              /* layer offset of (row y0, column xlo) */
    int v0, v1;             /* rows y0, y0+1 inside the layer */
    __mmask16 mlo, mhi;     /* columns xlo .. xlo+15, xlo+16 .. xlo+31 inside the row */
    __m512i il;             /* x0 - xlo per pixel */
} row_window;

static inline __m512 bilinear_window(const float* s, const row_window* r, int Ws, __m512 w00, __m512 w01, __m512 w10, __m512 w11)
{
    const __m512i ir = _mm512_add_epi32(r->il, _mm512_set1_epi32(1));
    const __m512 z = _mm512_setzero_ps();
    const float* p0 = s + r->off0, *p1 = p0 + Ws;
    /* the layer rows about two output rows ahead (15 streams per row are more than the hardware prefetcher
     * follows): 7.5 -> 5.2 ms for 64 images at 256x256, 0.7x */
    _mm_prefetch((const char*) (p1 + 2 * Ws), _MM_HINT_T0);
    _mm_prefetch((const char*) (p1 + 2 * Ws + 16), _MM_HINT_T0);
    const __m512 a0 = r->v0 ? _mm512_maskz_loadu_ps(r->mlo, p0) : z, b0 = r->v0 ? _mm512_maskz_loadu_ps(r->mhi, p0 + 16) : z;
    const __m512 a1 = r->v1 ? _mm512_maskz_loadu_ps(r->mlo, p1) : z, b1 = r->v1 ? _mm512_maskz_loadu_ps(r->mhi, p1 + 16) : z;
    return bilerp(w00, w01, w10, w11, _mm512_permutex2var_ps(a0, r->il, b0), _mm512_permutex2var_ps(a0, ir, b0),
                  _mm512_permutex2var_ps(a1, r->il, b1), _mm512_permutex2var_ps(a1, ir, b1));
}

/* Output stores bypass the cache where aligned (the whole output is written once and read later): no
 * read-for-ownership of the destination, a quarter of this op's memory traffic. */
static inline void store_out(float* p, __m512 v)
{
    if (((uintptr_t) p & 63) == 0) _mm512_stream_ps(p, v);
    else _mm512_storeu_ps(p, v);
}

/* 16 pixels that the layer does not cover: the background, alpha 0. */
static inline void background_16(const float* gb, float* yb, int C, long plane, long o)
{
    for (int c = 0; c < C; c++) store_out(yb + c * plane + o, _mm512_loadu_ps(gb + c * plane + o));
    store_out(yb + C * plane + o, _mm512_setzero_ps());
}

/* Gathered taps follow the rotated rows diagonally through the layer, where the hardware prefetcher does not
 * look: prefetch the two tap rows of every 4th pixel of the output row after next, in every channel (rotation
 * of 64 images at 256x256: 8.2 -> 7.0 ms; every pixel or every 8th: less). Inlined by force: a call costs the gain. */
static inline __attribute__((always_inline)) void prefetch_taps_ahead(const float* sb, __m512i i00, const float* m, int C, int Ws, long splane)
{
    const __m512i ahead = _mm512_add_epi32(i00, _mm512_set1_epi32((int) floor(2.0 * m[4]) * Ws + (int) floor(2.0 * m[1])));
    int idx[16];
    _mm512_storeu_si512(idx, ahead);
    for (int c = 0; c <= C; c++)
        for (int l = 0; l < 16; l += 4) {
            const long q = idx[l] + c * splane;
            if (q >= 0 && q + Ws < (C + 1) * splane) {
                _mm_prefetch((const char*) (sb + q), _MM_HINT_T0);
                _mm_prefetch((const char*) (sb + q + Ws), _MM_HINT_T0);
            }
        }
}

/* 16 pixels ox0 .. ox0+15 of row oy (all inside the row). Weights in float from float64 fractions. */
static inline void composite_16(const float* sb, const float* gb, float* yb, const float* m, int C,
                                int W, int Hs, int Ws, long plane, long splane, int ox0, int oy)
{
    const __m512d lane = _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0);
    const __m512d m0 = _mm512_set1_pd(m[0]), m3 = _mm512_set1_pd(m[3]);
    const __m512d bx = _mm512_set1_pd((double) m[1] * oy + m[2]), by = _mm512_set1_pd((double) m[4] * oy + m[5]);
    __m512 fx, fy;
    __m512i x0, y0;
    {
        __m512d oxa = _mm512_add_pd(_mm512_set1_pd(ox0), lane), oxb = _mm512_add_pd(_mm512_set1_pd(ox0 + 8), lane);
        __m512d sxa = _mm512_fmadd_pd(m0, oxa, bx), sxb = _mm512_fmadd_pd(m0, oxb, bx);
        __m512d sya = _mm512_fmadd_pd(m3, oxa, by), syb = _mm512_fmadd_pd(m3, oxb, by);
        /* clamp far-away coordinates so that the int conversion stays defined; they get no taps anyway */
        const __m512d lo = _mm512_set1_pd(-4), hix = _mm512_set1_pd(Ws + 4.0), hiy = _mm512_set1_pd(Hs + 4.0);
        sxa = _mm512_min_pd(_mm512_max_pd(sxa, lo), hix);
        sxb = _mm512_min_pd(_mm512_max_pd(sxb, lo), hix);
        sya = _mm512_min_pd(_mm512_max_pd(sya, lo), hiy);
        syb = _mm512_min_pd(_mm512_max_pd(syb, lo), hiy);
        __m512d flxa = _mm512_roundscale_pd(sxa, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512d flxb = _mm512_roundscale_pd(sxb, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512d flya = _mm512_roundscale_pd(sya, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512d flyb = _mm512_roundscale_pd(syb, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        fx = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_sub_pd(sxa, flxa))), _mm512_cvtpd_ps(_mm512_sub_pd(sxb, flxb)), 1);
        fy = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_sub_pd(sya, flya))), _mm512_cvtpd_ps(_mm512_sub_pd(syb, flyb)), 1);
        x0 = _mm512_inserti32x8(_mm512_castsi256_si512(_mm512_cvtpd_epi32(flxa)), _mm512_cvtpd_epi32(flxb), 1);
        y0 = _mm512_inserti32x8(_mm512_castsi256_si512(_mm512_cvtpd_epi32(flya)), _mm512_cvtpd_epi32(flyb), 1);
    }
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 gx = _mm512_sub_ps(one, fx), gy = _mm512_sub_ps(one, fy);
    const __m512 w00 = _mm512_mul_ps(gx, gy), w01 = _mm512_mul_ps(fx, gy), w10 = _mm512_mul_ps(gx, fy), w11 = _mm512_mul_ps(fx, fy);
    const __m512i zero = _mm512_setzero_si512(), ws = _mm512_set1_epi32(Ws), hs = _mm512_set1_epi32(Hs);
    const __m512i x1 = _mm512_add_epi32(x0, _mm512_set1_epi32(1)), y1 = _mm512_add_epi32(y0, _mm512_set1_epi32(1));
    const __mmask16 vx0 = _mm512_cmpge_epi32_mask(x0, zero) & _mm512_cmplt_epi32_mask(x0, ws);
    const __mmask16 vx1 = _mm512_cmpge_epi32_mask(x1, zero) & _mm512_cmplt_epi32_mask(x1, ws);
    const __mmask16 vy0 = _mm512_cmpge_epi32_mask(y0, zero) & _mm512_cmplt_epi32_mask(y0, hs);
    const __mmask16 vy1 = _mm512_cmpge_epi32_mask(y1, zero) & _mm512_cmplt_epi32_mask(y1, hs);
    const __mmask16 k00 = vx0 & vy0, k01 = vx1 & vy0, k10 = vx0 & vy1, k11 = vx1 & vy1;
    const long o = (long) oy * W + ox0;
    if ((k00 | k01 | k10 | k11) == 0) {                           /* all 16 outside the layer */
        background_16(gb, yb, C, plane, o);
        return;
    }
    const __m512i i00 = _mm512_add_epi32(_mm512_mullo_epi32(y0, ws), x0), i10 = _mm512_add_epi32(i00, ws);
    /* taps: from two row windows when the rows are the same for all 16 (no rotation) and close enough; else
     * paired gathers where no pixel has one tap of a row in and one out; else one gather per tap */
    row_window rw = { 0 };
    int mode = ((k00 ^ k01) | (k10 ^ k11)) == 0 ? 1 : 2;
    if (m[3] == 0.0f) {
        const int xlo = _mm512_reduce_min_epi32(x0), xhi = _mm512_reduce_max_epi32(x0);
        if (xhi - xlo <= 30) {
            const int yr = _mm_cvtsi128_si32(_mm512_castsi512_si128(y0));
            rw = (row_window){ (long) yr * Ws + xlo, (unsigned) yr < (unsigned) Hs, (unsigned) (yr + 1) < (unsigned) Hs,
                               row_mask(xlo, Ws), row_mask(xlo + 16, Ws), _mm512_sub_epi32(x0, _mm512_set1_epi32(xlo)) };
            mode = 0;
        }
    }
    if (mode != 0) prefetch_taps_ahead(sb, i00, m, C, Ws, splane);
#define SAMPLE(s) (mode == 0 ? bilinear_window(s, &rw, Ws, w00, w01, w10, w11) \
                   : mode == 1 ? bilinear_pairs(s, i00, i10, k00, k10, w00, w01, w10, w11) \
                               : bilinear_taps(s, i00, k00, k01, k10, k11, Ws, w00, w01, w10, w11))
    const __m512 a = SAMPLE(sb + C * splane);   /* alpha first: the colours need (1 - a) */
    if (_mm512_cmpneq_ps_mask(a, _mm512_setzero_ps()) == 0) {
        /* no coverage: a premultiplied layer is 0 in every channel there, so the output is the background */
        background_16(gb, yb, C, plane, o);
        return;
    }
    const __m512 na = _mm512_sub_ps(one, a);
    for (int c = 0; c < C; c++)
        store_out(yb + c * plane + o, _mm512_fmadd_ps(_mm512_loadu_ps(gb + c * plane + o), na, SAMPLE(sb + c * splane)));
#undef SAMPLE
    store_out(yb + C * plane + o, a);
}
#endif

/* bg [B,C,H,W], src [B,C+1,Hs,Ws] premultiplied colour + alpha, inv [B*6]: output pixel (x, y) samples the
 * layer at (i0 x + i1 y + i2, i3 x + i4 y + i5), bilinear, taps outside the layer transparent.
 * y [B,C+1,H,W] = sampled colour + bg (1 - a), then a. */
void ie_affine_composite_f32(const float* bg, const float* src, const float* inv, float* y,
                             int B, int C, int H, int W, int Hs, int Ws) {
    const long plane = (long) H * W, splane = (long) Hs * Ws;
    #pragma omp parallel
    {
    #pragma omp for schedule(static) collapse(2)
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < H; oy++) {
            const float* m = inv + 6 * b;
            const float* sb = src + (long) b * (C + 1) * splane;
            const float* gb = bg + (long) b * C * plane;
            float* yb = y + (long) b * (C + 1) * plane;
            int ox = 0;
#ifdef __AVX512F__
            if (splane < (1L << 30))                                    /* int32 gather offsets */
                for (; ox + 16 <= W; ox += 16) composite_16(sb, gb, yb, m, C, W, Hs, Ws, plane, splane, ox, oy);
#endif
            for (; ox < W; ox++) composite_pixel(sb, gb, yb, m, C, W, Hs, Ws, plane, splane, ox, oy);
        }
#ifdef __AVX512F__
    _mm_sfence();   /* the streaming stores are visible before the op returns */
#endif
    }
}
