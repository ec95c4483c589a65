/* Grouped convolution (ResNeXt's 3x3: 32 groups of 4 to 32 channels) and its input-gradient, direct. The implicit
 * GEMM of conv.c wants tens of channels per GEMM row and column block; a group has a handful, so a group's GEMM
 * would be mostly padding. Here one output plane (b, co) is one task: for each of the group's input channels and
 * kernel taps, a whole row of the plane gets w * (the input row shifted by the tap), a loop gcc vectorises along the
 * row at stride 1. fp32 accumulation, in the order (ci, ky, kx), as the direct convolution sums. */
#include "imagenete.h"

#include <string.h>

/* The output columns ox whose tap kx lands inside the input row: 0 <= ox*stride + kx - pad < W. */
static inline void tap_range(int kx, int stride, int pad, int W, int Wo, int* lo, int* hi) {
    int a = pad - kx, b = W - 1 + pad - kx;           /* need a <= ox*stride <= b */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride, h = b < 0 ? -1 : b / stride;
    *lo = l;
    *hi = h + 1 < Wo ? h + 1 : Wo;
}

void ie_conv2d_grouped_f32(const float* x, const float* w, const float* bias, const float* add, float* y,
                           int B, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad, int groups, int relu) {
    const int cinG = Cin / groups, coutG = Cout / groups;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    const long plane = (long) Ho * Wo;
    #pragma omp parallel for schedule(dynamic, 4)
    for (long bc = 0; bc < (long) B * Cout; bc++) {
        const int b = (int) (bc / Cout), co = (int) (bc % Cout), g = co / coutG;
        float* yp = y + bc * plane;
        const float b0 = bias ? bias[co] : 0.f;
        for (long i = 0; i < plane; i++) yp[i] = b0;
        for (int cg = 0; cg < cinG; cg++) {
            const float* xp = x + ((long) b * Cin + (long) g * cinG + cg) * H * W;
            const float* wp = w + ((long) co * cinG + cg) * KH * KW;
            for (int ky = 0; ky < KH; ky++)
                for (int kx = 0; kx < KW; kx++) {
                    const float wv = wp[ky * KW + kx];
                    int lo, hi;
                    tap_range(kx, stride, pad, W, Wo, &lo, &hi);
                    for (int oy = 0; oy < Ho; oy++) {
                        const int iy = oy * stride + ky - pad;
                        if (iy < 0 || iy >= H) continue;
                        const float* xr = xp + (long) iy * W;
                        float* yr = yp + (long) oy * Wo;
                        const int off = kx - pad;
                        if (stride == 1) {
                            #pragma omp simd
                            for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + off];
                        } else {
                            for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * stride + off];
                        }
                    }
                }
        }
        if (add) {
            const float* ap = add + bc * plane;
            for (long i = 0; i < plane; i++) yp[i] += ap[i];
        }
        if (relu)
            for (long i = 0; i < plane; i++) yp[i] = yp[i] > 0.f ? yp[i] : 0.f;
    }
}

void ie_conv2d_grouped_grad_f32(const float* dy, const float* w, float* dx, int B, int Cin, int H, int W, int Cout,
                                int KH, int KW, int stride, int pad, int groups) {
    const int cinG = Cin / groups, coutG = Cout / groups;
    const int Ho = (H + 2 * pad - KH) / stride + 1, Wo = (W + 2 * pad - KW) / stride + 1;
    /* one input plane (b, ci) per task: the outputs of its group scatter into it (no other task writes it) */
    #pragma omp parallel for schedule(dynamic, 4)
    for (long bc = 0; bc < (long) B * Cin; bc++) {
        const int b = (int) (bc / Cin), ci = (int) (bc % Cin), g = ci / cinG, cg = ci % cinG;
        float* dp = dx + bc * (long) H * W;
        memset(dp, 0, sizeof(float) * (size_t) H * W);
        for (int k = 0; k < coutG; k++) {
            const int co = g * coutG + k;
            const float* yp = dy + ((long) b * Cout + co) * Ho * Wo;
            const float* wp = w + ((long) co * cinG + cg) * KH * KW;
            for (int ky = 0; ky < KH; ky++)
                for (int kx = 0; kx < KW; kx++) {
                    const float wv = wp[ky * KW + kx];
                    int lo, hi;
                    tap_range(kx, stride, pad, W, Wo, &lo, &hi);
                    for (int oy = 0; oy < Ho; oy++) {
                        const int iy = oy * stride + ky - pad;
                        if (iy < 0 || iy >= H) continue;
                        float* dr = dp + (long) iy * W;
                        const float* yr = yp + (long) oy * Wo;
                        const int off = kx - pad;
                        if (stride == 1) {
                            #pragma omp simd
                            for (int ox = lo; ox < hi; ox++) dr[ox + off] += wv * yr[ox];
                        } else {
                            for (int ox = lo; ox < hi; ox++) dr[ox * stride + off] += wv * yr[ox];
                        }
                    }
                }
        }
    }
}
