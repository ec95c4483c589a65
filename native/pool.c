/* ReLU, max pooling, global average pooling and their input-gradients (the ResNet classifier's ops). */
#include "imagenete.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536L

void ie_relu_f32(const float* x, float* y, long n) {
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += CHUNK) {
        long e = c + CHUNK < n ? c + CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

/* dx = dy where y > 0 (y is the ReLU output). */
void ie_relu_grad_f32(const float* dy, const float* y, float* dx, long n) {
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += CHUNK) {
        long e = c + CHUNK < n ? c + CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

/* Index (within the plane) of the first maximum of output (oy, ox)'s window; padding never wins. */
static inline long window_argmax(const float* xp, int H, int W, int oy, int ox, int k, int s, int p) {
    long best = -1;
    float bv = 0;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s + ky - p;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s + kx - p;
            if (ix < 0 || ix >= W) continue;
            float v = xp[(long) iy * W + ix];
            if (best < 0 || v > bv) { best = (long) iy * W + ix; bv = v; }
        }
    }
    return best;
}

/* x [P, H, W] -> y [P, Ho, Wo]. The forward needs only the maximum, not where it is: per output row, the
 * vertical max of its k input rows goes into a row buffer framed by -inf (the padding, which never wins),
 * then each output is the max of k neighbours in that buffer at stride s. Both loops vectorise (s = 2 with
 * even/odd permutes), unlike the per-window argmax the gradient uses: ~20x faster on ResNet's stem. */
void ie_maxpool2d_f32(const float* x, float* y, long P, int H, int W, int k, int s, int p, int Ho, int Wo) {
    const int L = W + 2 * p + k + 64;           /* the frame plus slack for vector over-reads */
    #pragma omp parallel
    {
        float* t = malloc(sizeof(float) * (size_t) L);
        for (int i = 0; i < L; i++) t[i] = -INFINITY;
        float* r = t + p;                        /* r[ix] = column max of input column ix */
        #pragma omp for schedule(static)
        for (long pl = 0; pl < P; pl++) {
            const float* xp = x + pl * H * W;
            float* yp = y + pl * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++) {
                int y0 = oy * s - p, y1 = y0 + k;
                if (y0 < 0) y0 = 0;
                if (y1 > H) y1 = H;
                memcpy(r, xp + (long) y0 * W, (size_t) W * sizeof(float));
                for (int iy = y0 + 1; iy < y1; iy++) {
                    const float* xr = xp + (long) iy * W;
                    #pragma omp simd
                    for (int ix = 0; ix < W; ix++) r[ix] = xr[ix] > r[ix] ? xr[ix] : r[ix];
                }
                float* yr = yp + (long) oy * Wo;
                if (k == 3 && s == 2) {
                    #pragma omp simd
                    for (int ox = 0; ox < Wo; ox++) {
                        float a = t[2 * ox], b = t[2 * ox + 1], c = t[2 * ox + 2];
                        float m = b > a ? b : a;
                        yr[ox] = c > m ? c : m;
                    }
                } else {
                    for (int ox = 0; ox < Wo; ox++) {
                        const float* w = t + (long) ox * s;
                        float m = w[0];
                        for (int kx = 1; kx < k; kx++) m = w[kx] > m ? w[kx] : m;
                        yr[ox] = m;
                    }
                }
            }
        }
        free(t);
    }
}

/* dx [P, H, W] = scatter-add of dy [P, Ho, Wo] to each window's first maximum in x. */
void ie_maxpool2d_grad_f32(const float* dy, const float* x, float* dx, long P, int H, int W, int k, int s, int p, int Ho, int Wo) {
    #pragma omp parallel for schedule(static)
    for (long pl = 0; pl < P; pl++) {
        const float* xp = x + pl * H * W;
        const float* dyp = dy + pl * Ho * Wo;
        float* dxp = dx + pl * H * W;
        memset(dxp, 0, (size_t) H * W * sizeof(float));
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) dxp[window_argmax(xp, H, W, oy, ox, k, s, p)] += dyp[oy * Wo + ox];
    }
}

/* x [P, HW] -> y [P] (float64 sums). */
void ie_global_avgpool_f32(const float* x, float* y, long P, long HW) {
    #pragma omp parallel for schedule(static)
    for (long pl = 0; pl < P; pl++) {
        double acc = 0;
        const float* xp = x + pl * HW;
        #pragma omp simd reduction(+:acc)
        for (long i = 0; i < HW; i++) acc += xp[i];
        y[pl] = (float) (acc / HW);
    }
}

void ie_global_avgpool_grad_f32(const float* dy, float* dx, long P, long HW) {
    #pragma omp parallel for schedule(static)
    for (long pl = 0; pl < P; pl++) {
        const float v = (float) ((double) dy[pl] / HW);
        float* dxp = dx + pl * HW;
        for (long i = 0; i < HW; i++) dxp[i] = v;
    }
}
