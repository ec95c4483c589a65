/* The vision transformers' own ops for the fast CPU backend: LayerNorm over the channels of channel-major tokens
 * and the exact (erf) GELU. fp32 in and out, contiguous. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

/* Positions per block of one sample: the per-position sums live on the stack. */
#define LN_POS_BLOCK 256

/* x, y [B, C, S]: for each (b, s) normalise the C values x[b, :, s] (stride S) with their mean and biased variance,
 * y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]. The sums run over c for a block of positions at once, so
 * every pass reads rows of S contiguous floats (vectorised across positions); they are float64 (two passes: mean,
 * then squared deviations), so C up to thousands adds no error beyond the final fp32 rounding. y may alias x. */
void ie_layer_norm_f32(const float* x, const float* gamma, const float* beta, float* y, int B, int C, long S, float eps) {
    const long blocks = (S + LN_POS_BLOCK - 1) / LN_POS_BLOCK;
    #pragma omp parallel for schedule(dynamic, 1)
    for (long bb = 0; bb < (long) B * blocks; bb++) {
        const long b = bb / blocks, s0 = (bb % blocks) * LN_POS_BLOCK;
        const int n = (int) (S - s0 < LN_POS_BLOCK ? S - s0 : LN_POS_BLOCK);
        const float* xs = x + b * C * S + s0;
        float* ys = y + b * C * S + s0;
        double mean[LN_POS_BLOCK], inv[LN_POS_BLOCK];
        for (int i = 0; i < n; i++) mean[i] = 0;
        for (int c = 0; c < C; c++) {
            const float* r = xs + c * S;
            #pragma omp simd
            for (int i = 0; i < n; i++) mean[i] += r[i];
        }
        for (int i = 0; i < n; i++) {
            mean[i] /= C;
            inv[i] = 0;
        }
        for (int c = 0; c < C; c++) {
            const float* r = xs + c * S;
            #pragma omp simd
            for (int i = 0; i < n; i++) {
                const double d = r[i] - mean[i];
                inv[i] += d * d;
            }
        }
        for (int i = 0; i < n; i++) inv[i] = 1.0 / sqrt(inv[i] / C + eps);
        for (int c = 0; c < C; c++) {
            const float* r = xs + c * S;
            float* o = ys + c * S;
            const double g = gamma[c], be = beta[c];
            #pragma omp simd
            for (int i = 0; i < n; i++) o[i] = (float) ((r[i] - mean[i]) * inv[i] * g + be);
        }
    }
}

/* erf(x) as PyTorch's vectorised CPU erf computes it (Abramowitz and Stegun 7.1.26): t = 1 / (1 + p|x|),
 * erf = sign(x) (1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-x^2)); |error| <= 1.5e-7. Vectorises (ie_expf). */
static inline float ie_erff(float x) {
    const float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
    const float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float r = 1.0f - p * ie_expf(-a * a);
    return x < 0 ? -r : r;
}

#define GELU_CHUNK 65536L

/* y = x (1 + erf(x / sqrt 2)) / 2. */
void ie_gelu_f32(const float* x, float* y, long n) {
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < n; c += GELU_CHUNK) {
        const long e = c + GELU_CHUNK < n ? c + GELU_CHUNK : n;
        #pragma omp simd
        for (long i = c; i < e; i++) y[i] = 0.5f * x[i] * (1.0f + ie_erff(x[i] * 0.70710678118654752f));
    }
}
