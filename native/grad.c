/* Input-gradients (vector-Jacobian products) of the fast CPU ops; see imagenete.h (section 3) for each definition.
 * The products go through the GEMM / convolution of gemm.c and conv.c (their public API only);
 * the memory-bound loops are written so that gcc vectorises them. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536L

/* ------------------------------------------------------------------------------------ conv2d */

/* Columns per col2im tile: [Cin*KH*KW, nt] floats stay near this size (4 MiB), so that no full
 * [Cin*K*K, Ho*Wo] matrix is materialised for large images. */
#define COL_TILE_FLOATS (1L << 20)

/* dx[ci] += col2im(cols[ci*KK .. (ci+1)*KK), columns n0 .. n0+nc) for each ci (planes are disjoint). */
static void col2im_add(const float* cols, long nc, long n0, float* dx, int Cin, int H, int W,
                       int Wo, int KH, int KW, int s, int pad)
{
    const int KK = KH * KW;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int ci = 0; ci < Cin; ci++) {
        float* plane = dx + (long) ci * H * W;
        for (int t = 0; t < KK; t++) {
            const int ky = t / KW, kx = t % KW;
            const float* row = cols + ((long) ci * KK + t) * nc;
            /* ox with 0 <= ox*s + kx - pad < W */
            const int olo = pad - kx <= 0 ? 0 : (pad - kx + s - 1) / s;
            const int ohi = W - 1 + pad - kx < 0 ? 0 : (W - 1 + pad - kx) / s + 1;   /* exclusive */
            long p = 0;
            int oy = (int) (n0 / Wo), ox0 = (int) (n0 % Wo);
            while (p < nc) {
                const int len = (int) (Wo - ox0 < nc - p ? Wo - ox0 : nc - p);
                const int iy = oy * s + ky - pad;
                if ((unsigned) iy < (unsigned) H) {
                    const int a = ox0 > olo ? ox0 : olo, b = ox0 + len < ohi ? ox0 + len : ohi;
                    if (a < b) {
                        float* dr = plane + (long) iy * W + ((long) a * s + kx - pad);   /* ix of ox = a */
                        const float* src = row + p + (a - ox0);
                        if (s == 1) {
                            #pragma omp simd
                            for (int i = 0; i < b - a; i++) dr[i] += src[i];
                        } else {
                            for (int i = 0; i < b - a; i++) dr[(long) i * s] += src[i];
                        }
                    }
                }
                p += len;
                oy++;
                ox0 = 0;
            }
        }
    }
}

/* Columns per col2im tile for M rows of columns (all HoWo at once when <= 1024: the weights are packed once). */
static long col_tile(long M, long HoWo)
{
    long nt = COL_TILE_FLOATS / M;
    nt = nt < 64 ? 64 : nt / 64 * 64;
    if (HoWo <= 1024) nt = HoWo;
    return nt > HoWo ? HoWo : nt;
}

static void zero_planes(float* dx, long planes, long HW)
{
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < planes; i++) memset(dx + i * HW, 0, (size_t) HW * sizeof(float));
}

/* dx = w^T dy per image for a 1x1 stride-1 convolution: the weights (fp32 w or bf16 w16) read transposed in place,
 * no copy and no col2im. Returns 0, or -1 when out of memory. */
static int grad_1x1(const float* dy, const float* w, const uint16_t* w16, float* dx, int B, int Cout, int Cin, long HW)
{
    for (int b = 0; b < B; b++) {
        const float* dyb = dy + (long) b * Cout * HW;
        float* dxb = dx + (long) b * Cin * HW;
        if (!w16) ie_sgemm(1, 0, Cin, (int) HW, Cout, 1.0f, w, Cin, dyb, (int) HW, 0.0f, dxb, (int) HW);
        else if (ie_gemm_bf16(1, 0, Cin, (int) HW, Cout, w16, Cin, dyb, (int) HW, 0.0f, dxb, (int) HW) != 0) return -1;
    }
    return 0;
}

/* Any convolution, as the small images (the 8x8 and 16x16 levels, with the largest weights) need it: per tile of
 * columns, cols [Cin*KK, nc] = w^T dy by one GEMM with the weights (fp32 w or bf16 w16, then dy rounded to bf16)
 * read transposed in place, then col2im. Returns 0, or -1 when out of memory. */
static int grad_small(const float* dy, const float* w, const uint16_t* w16, float* dx,
                      int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad)
{
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    const long KK = (long) KH * KW, HW = (long) H * W, HoWo = (long) Ho * Wo, M = (long) Cin * KK;
    const long nt = col_tile(M, HoWo);
    ie_scratch colsb = ie_scratch_take((size_t) M * nt, IE_SCRATCH_SHARED);   /* ADM-256 16x16 level: 19 MB */
    if (!colsb.p) return -1;
    float* cols = colsb.p;
    zero_planes(dx, (long) B * Cin, HW);
    for (int b = 0; b < B; b++) {
        const float* dyb = dy + (long) b * Cout * HoWo;
        float* dxb = dx + (long) b * Cin * HW;
        for (long n0 = 0; n0 < HoWo; n0 += nt) {
            const long nc = HoWo - n0 < nt ? HoWo - n0 : nt;
            /* cols[ci*KK + t, p] = sum_co w[co, ci*KK + t] dy[co, n0 + p] */
            if (!w16) {
                ie_sgemm(1, 0, (int) M, (int) nc, Cout, 1.0f, w, (int) M, dyb + n0, (int) HoWo, 0.0f, cols, (int) nc);
            } else if (ie_gemm_bf16(1, 0, (int) M, (int) nc, Cout, w16, (int) M, dyb + n0, (int) HoWo, 0.0f, cols,
                                    (int) nc) != 0) {
                ie_scratch_park(colsb);
                return -1;
            }
            col2im_add(cols, nc, n0, dxb, Cin, H, W, Wo, KH, KW, stride, pad);
        }
    }
    ie_scratch_park(colsb);
    return 0;
}

int ie_conv2d_grad_f32(const float* dy, const float* w, float* dx,
                       int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad)
{
    if (B <= 0 || Cin <= 0) return 0;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    const long KK = (long) KH * KW, HW = (long) H * W, HoWo = (long) Ho * Wo;
    /* Large images: the transposed convolution of a stride-1 conv is a stride-1 conv, w'[ci,co] = flip(w[co,ci]).
     * 3x3 where Winograd pays: Winograd with its weight transform reading w transposed and rotated in place.
     * 1x1: one GEMM per image, w read transposed in place. Otherwise the fast forward path on a flipped copy of the
     * weights. Small images (the 8x8 and 16x16 levels, with the largest weights): one GEMM with the weights read
     * transposed in place, then col2im. */
    if (ie_winograd_enabled && stride == 1 && KH == 3 && KW == 3 && pad == 1
            && ie_conv3x3_winograd_pays(B, Cout, Ho, Wo, Cin))
        return ie_conv3x3_winograd_transposed_f32(dy, w, dx, B, Cout, Ho, Wo, Cin);
    if (KH == 1 && KW == 1 && stride == 1 && pad == 0) return grad_1x1(dy, w, NULL, dx, B, Cout, Cin, HW);
    if (stride == 1 && KH == KW && pad <= KH - 1 && (long) B * HoWo >= 1024) {
        ie_scratch wt = ie_scratch_take((size_t) Cout * Cin * KK, IE_SCRATCH_SHARED);
        if (!wt.p) return -1;
        /* wt[ci, co] = flip(w[co, ci]) in blocks of 32x32 kernels: both sides move in runs of 32 kernels */
        #pragma omp parallel for schedule(static)
        for (int ci0 = 0; ci0 < Cin; ci0 += 32)
            for (int co0 = 0; co0 < Cout; co0 += 32)
                for (int co = co0; co < co0 + 32 && co < Cout; co++)
                    for (int ci = ci0; ci < ci0 + 32 && ci < Cin; ci++) {
                        const float* src = w + ((long) co * Cin + ci) * KK;
                        float* dst = wt.p + ((long) ci * Cout + co) * KK;
                        for (long t = 0; t < KK; t++) dst[t] = src[KK - 1 - t];
                    }
        ie_conv2d_auto_f32(dy, wt.p, NULL, NULL, dx, B, Cout, Ho, Wo, Cin, KH, KW, 1, KH - 1 - pad);
        ie_scratch_park(wt);
        return 0;
    }
    return grad_small(dy, w, NULL, dx, B, Cout, Cin, H, W, KH, KW, stride, pad);
}

int ie_conv2d_grad_bf16(const float* dy, const uint16_t* w, float* dx,
                        int B, int Cout, int Cin, int H, int W, int KH, int KW, int stride, int pad)
{
    if (B <= 0 || Cin <= 0) return 0;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    const long KK = (long) KH * KW;
    if (ie_winograd_enabled && stride == 1 && KH == 3 && KW == 3 && pad == 1
            && ie_conv3x3_winograd_pays(B, Cout, Ho, Wo, Cin))
        return ie_conv3x3_winograd_transposed_bf16(dy, w, dx, B, Cout, Ho, Wo, Cin);
    if (KH == 1 && KW == 1 && stride == 1 && pad == 0 && ie_has_bf16())
        return grad_1x1(dy, NULL, w, dx, B, Cout, Cin, (long) H * W);
    if (stride == 1 && KH == KW && pad <= KH - 1 && (long) B * Ho * Wo >= 1024) {
        /* other large images: the bf16 forward conv of dy with the flipped, channel-transposed bf16 kernel */
        ie_scratch wt = ie_scratch_take(((size_t) Cout * Cin * KK + 1) / 2, IE_SCRATCH_SHARED);
        if (!wt.p) return -1;
        uint16_t* t = (uint16_t*) wt.p;
        #pragma omp parallel for schedule(static)
        for (int ci0 = 0; ci0 < Cin; ci0 += 32)
            for (int co0 = 0; co0 < Cout; co0 += 32)
                for (int co = co0; co < co0 + 32 && co < Cout; co++)
                    for (int ci = ci0; ci < ci0 + 32 && ci < Cin; ci++) {
                        const uint16_t* src = w + ((long) co * Cin + ci) * KK;
                        uint16_t* dst = t + ((long) ci * Cout + co) * KK;
                        for (long k = 0; k < KK; k++) dst[k] = src[KK - 1 - k];
                    }
        const int r = ie_conv2d_auto_ex_bf16(dy, t, NULL, NULL, dx, B, Cout, Ho, Wo, Cin, KH, KW, 1, KH - 1 - pad, 0);
        ie_scratch_park(wt);
        return r;
    }
    if (ie_has_bf16()) return grad_small(dy, NULL, w, dx, B, Cout, Cin, H, W, KH, KW, stride, pad);
    /* no AVX-512 BF16: fp32 on the widened weights */
    ie_scratch wf = ie_scratch_take((size_t) Cout * Cin * KK, IE_SCRATCH_SHARED);
    if (!wf.p) return -1;
    ie_bf16_to_f32(w, wf.p, (size_t) Cout * Cin * KK);
    const int r = ie_conv2d_grad_f32(dy, wf.p, dx, B, Cout, Cin, H, W, KH, KW, stride, pad);
    ie_scratch_park(wf);
    return r;
}

/* ------------------------------------------------------------------------------------ linear */

void ie_linear_grad_f32(const float* dy, const float* w, float* dx, int N, int M, int K)
{
    if (N > IE_FEW_ROWS || ie_linear_grad_few_rows(dy, w, dx, N, M, K) != 0)
        ie_sgemm(0, 0, N, K, M, 1.0f, dy, M, w, K, 0.0f, dx, K);
}

/* -------------------------------------------------------------------------------- group norm */

/* Plane (sample b, channel c) of a [B, C, HW] tensor held as two parts along the channels: a [B, Ca, HW], b [B, C-Ca, HW]. */
static inline const float* cat_plane(const float* a, const float* b, int Ca, int C, int s, int c, long HW)
{
    return c < Ca ? a + ((long) s * Ca + c) * HW : b + ((long) s * (C - Ca) + (c - Ca)) * HW;
}

void ie_group_norm_grad_f32(const float* dy, const float* x, const float* gamma, const float* beta, const float* ss,
                            const double* stats, const float* add, float* dx, int B, int C, long HW, int G, float eps,
                            int silu)
{
    ie_group_norm_grad_cat_f32(dy, x, NULL, C, gamma, beta, ss, stats, add, dx, NULL, B, C, HW, G, eps, silu);
}

void ie_group_norm_grad_cat_f32(const float* dy, const float* xa, const float* xb, int Ca, const float* gamma,
                                const float* beta, const float* ss, const double* stats, const float* add, float* dxa,
                                float* dxb, int B, int C, long HW, int G, float eps, int silu)
{
    const int cg = C / G;
    const long n = (long) cg * HW;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int bg = 0; bg < B * G; bg++) {
        const int b = bg / G, g = bg % G;
        /* the forward's statistics, or recomputed exactly as the forward (ops.c) computes them (x in one part) */
        double mean, inv;
        if (stats) {
            mean = stats[2L * bg];
            inv = stats[2L * bg + 1];
        } else {
            ie_group_stats(cat_plane(xa, xb, Ca, C, b, g * cg, HW), n, eps, &mean, &inv);
        }
        const float invf = (float) inv, xo = (float) (-mean * inv);    /* xhat = x * invf + xo */
        /* pass 1: dxhat (kept in dx) and its two group means */
        double m1 = 0, m2 = 0;
        for (int cc = 0; cc < cg; cc++) {
            const int c = g * cg + cc;
            double a = inv * gamma[c], o = beta[c] - mean * a, sc = 1.0;
            if (ss) {
                sc = 1.0 + ss[(long) b * 2 * C + c];
                a *= sc;
                o = o * sc + ss[(long) b * 2 * C + C + c];
            }
            const float af = (float) a, of = (float) o, gf = (float) (sc * gamma[c]);
            const float* xc = cat_plane(xa, xb, Ca, C, b, c, HW);
            const float* dyc = dy + ((long) b * C + c) * HW;
            float* dxc = (float*) cat_plane(dxa, dxb, Ca, C, b, c, HW);
            double c1 = 0, c2 = 0;
            /* fp32 partial sums over blocks of IE_SUM_BLOCK, accumulated in float64 */
            for (long i0 = 0; i0 < HW; i0 += IE_SUM_BLOCK) {
                const long i1 = i0 + IE_SUM_BLOCK < HW ? i0 + IE_SUM_BLOCK : HW;
                float f1 = 0, f2 = 0;
                if (silu) {
                    #pragma omp simd reduction(+:f1, f2)
                    for (long i = i0; i < i1; i++) {
                        const float z = xc[i] * af + of;
                        const float sg = 1.0f / (1.0f + ie_expf(-z));
                        const float d = dyc[i] * (sg * (1.0f + z * (1.0f - sg))) * gf;
                        dxc[i] = d;
                        f1 += d;
                        f2 += d * (xc[i] * invf + xo);
                    }
                } else {
                    #pragma omp simd reduction(+:f1, f2)
                    for (long i = i0; i < i1; i++) {
                        const float d = dyc[i] * gf;
                        dxc[i] = d;
                        f1 += d;
                        f2 += d * (xc[i] * invf + xo);
                    }
                }
                c1 += f1;
                c2 += f2;
            }
            m1 += c1;
            m2 += c2;
        }
        const float m1f = (float) (m1 / n), m2f = (float) (m2 / n);
        /* pass 2: dx = inv (dxhat - m1 - xhat m2) [+ add] */
        for (int cc = 0; cc < cg; cc++) {
            const int c = g * cg + cc;
            const float* xc = cat_plane(xa, xb, Ca, C, b, c, HW);
            float* dxc = (float*) cat_plane(dxa, dxb, Ca, C, b, c, HW);
            if (add) {
                const float* ac = add + ((long) b * C + c) * HW;
                #pragma omp simd
                for (long i = 0; i < HW; i++) dxc[i] = invf * (dxc[i] - m1f - (xc[i] * invf + xo) * m2f) + ac[i];
            } else {
                #pragma omp simd
                for (long i = 0; i < HW; i++) dxc[i] = invf * (dxc[i] - m1f - (xc[i] * invf + xo) * m2f);
            }
        }
    }
}

/* ------------------------------------------------------------------------------- elementwise */

void ie_silu_grad_f32(const float* dy, const float* x, float* dx, long n)
{
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += CHUNK) {
        const long e = c + CHUNK < n ? c + CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) {
            const float sg = 1.0f / (1.0f + ie_expf(-x[i]));
            dx[i] = dy[i] * (sg * (1.0f + x[i] * (1.0f - sg)));
        }
    }
}

void ie_concat_grad_f32(const float* dy, float* da, float* db, int B, long ia, long ib)
{
    #pragma omp parallel for schedule(static)
    for (int s = 0; s < 2 * B; s++) {
        const int bb = s / 2;
        if (s % 2 == 0) memcpy(da + bb * ia, dy + bb * (ia + ib), (size_t) ia * sizeof(float));
        else memcpy(db + bb * ib, dy + bb * (ia + ib) + ia, (size_t) ib * sizeof(float));
    }
}

void ie_upsample2x_grad_f32(const float* dy, float* dx, long P, int H, int W)
{
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < P * H; p++) {
        const float* r0 = dy + p * 4 * W;     /* rows 2r and 2r+1 of the [2H, 2W] plane */
        const float* r1 = r0 + 2 * W;
        float* xr = dx + p * W;
        for (int i = 0; i < W; i++) xr[i] = (r0[2 * i] + r0[2 * i + 1]) + (r1[2 * i] + r1[2 * i + 1]);
    }
}

void ie_avgpool2x_grad_f32(const float* dy, float* dx, long P, int H, int W)
{
    #pragma omp parallel for schedule(static)
    for (long p = 0; p < P * H; p++) {
        const float* yr = dy + p * W;
        float* r0 = dx + p * 4 * W;
        for (int i = 0; i < W; i++) r0[2 * i] = r0[2 * i + 1] = yr[i] * 0.25f;
        memcpy(r0 + 2 * W, r0, 2 * (size_t) W * sizeof(float));
    }
}

/* --------------------------------------------------------------------------------- attention */

int ie_attention_grad_f32(const float* dy, const float* qkv, float* dqkv, int B, int heads, int ch, int T)
{
    const float scale2 = 1.0f / sqrtf((float) ch);
    const long C3 = 3L * heads * ch, CT = (long) ch * T;
    const int tb = ie_attention_rows(T);
    const size_t np = ie_packed_b_size(ch, T), nt = ie_packed_b_size(T, ch);
    int failed = 0;
    /* one parallel region over (sample, head) with serial GEMMs inside, query rows in blocks (see ie_attention_f32) */
    #pragma omp parallel reduction(|:failed)
    {
        /* per thread: P and dP of a block [tb, T]; k, v and k^T packed; a block of dq^T [tb, ch] */
        const size_t ns = ie_round16((size_t) tb * T);
        float* p = ie_alloc_floats(2 * ns + 2 * np + nt + (size_t) tb * ch);
        if (!p) failed = 1;
        #pragma omp for schedule(dynamic, 1)
        for (int u = 0; u < B * heads; u++) {
            if (!p) continue;
            float* dp = p + ns, *kp = dp + ns, *vp = kp + np, *ktp = vp + np, *dqt = ktp + nt;
            const int b = u / heads, n = u % heads;
            const long q0 = b * C3 * T + 3L * n * CT;                  /* q, k, v each [ch, T] */
            const float* q = qkv + q0, *k = q + CT, *v = k + CT;
            float* dq = dqkv + q0, *dk = dq + CT, *dv = dk + CT;
            const float* g = dy + ((long) b * heads + n) * CT;        /* dY [ch, T] */
            ie_pack_b(k, T, 0, ch, T, kp);
            ie_pack_b(v, T, 0, ch, T, vp);
            ie_pack_b(k, T, 1, T, ch, ktp);
            for (int t0 = 0; t0 < T; t0 += tb) {
                const int m = T - t0 < tb ? T - t0 : tb;
                const float beta = t0 > 0 ? 1.0f : 0.0f;   /* dv, dk: sums over the blocks */
                /* P[j, s] = softmax_s(sum_c q[c, t0 + j] k[c, s] / sqrt(ch)), as the forward */
                ie_gemm_packed_serial(1, m, T, ch, scale2, q + t0, T, kp, 0.0f, p, T);
                ie_softmax_rows_f32(p, m, T);
                /* dP[j, s] = sum_c dy[c, t0 + j] v[c, s];  dv[c, s] += sum_j dy[c, t0 + j] P[j, s] */
                ie_gemm_packed_serial(1, m, T, ch, 1.0f, g + t0, T, vp, 0.0f, dp, T);
                ie_sgemm_serial(0, 0, ch, T, m, 1.0f, g + t0, T, p, T, beta, dv, T);
                /* dS = P o (dP - rowsum(dP o P)) / sqrt(ch), in place of dP */
                for (int j = 0; j < m; j++) {
                    const float* pr = p + (long) j * T;
                    float* dr = dp + (long) j * T;
                    double r = 0;
                    #pragma omp simd reduction(+:r)
                    for (int s = 0; s < T; s++) r += dr[s] * pr[s];
                    const float rf = (float) r;
                    #pragma omp simd
                    for (int s = 0; s < T; s++) dr[s] = pr[s] * (dr[s] - rf) * scale2;
                }
                /* dq[c, t0 + j] = sum_s k[c, s] dS[j, s] (as dq^T);  dk[c, s] += sum_j q[c, t0 + j] dS[j, s] */
                ie_gemm_packed_serial(0, m, ch, T, 1.0f, dp, T, ktp, 0.0f, dqt, ch);
                ie_store_transposed(dqt, m, ch, dq + t0, T);
                ie_sgemm_serial(0, 0, ch, T, m, 1.0f, q + t0, T, dp, T, beta, dk, T);
            }
        }
        free(p);
    }
    return failed ? -1 : 0;
}
