/* The sampler's arithmetic for the fast CPU backend (see imagenete.h, section 6). Memory-bound: one pass over each operand,
 * OpenMP over elements. The build's -std=c11 keeps gcc from contracting a*b+c into an fma on its own, so the
 * fma() calls below are the only fused operations, as in the reference and the CUDA kernels. */
#include "imagenete.h"
#include "philox.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* per-sample sums: blocks of this many elements, summed in block order (thread-count independent) */
#define IE_SAMPLER_CHUNK 4096L

static inline double coef_at(const float* coef, int K, int b, int col) { return coef[(long) b * K + col]; }

void ie_axpby_f32(const float* x, const float* z, const float* coef, float* y, int B, long per, int K, int col) {
    for (int b = 0; b < B; b++) {
        const double a = coef_at(coef, K, b, col), c = coef_at(coef, K, b, col + 1), d = coef_at(coef, K, b, col + 2);
        const float* xs = x + (long) b * per;
        const float* zs = z ? z + (long) b * per : NULL;
        float* ys = y + (long) b * per;
        const int ua = a != 0, uc = c != 0 && zs != NULL;
        #pragma omp parallel for simd schedule(static)
        for (long i = 0; i < per; i++) {
            const double p = ua ? a * xs[i] : 0, q = uc ? c * zs[i] : 0;
            ys[i] = (float) ((p + q) + d);
        }
    }
}

void ie_p_mean_variance_f32(const float* out, const float* x, const float* coef, float* mean, float* var, float* logvar,
                            float* pred_x0, float* eps, int B, long per, int K, int col) {
    for (int b = 0; b < B; b++) {
        const double lb = coef_at(coef, K, b, col), lp = coef_at(coef, K, b, col + 1), ra = coef_at(coef, K, b, col + 2),
                     rm1 = coef_at(coef, K, b, col + 3), c1 = coef_at(coef, K, b, col + 4), c2 = coef_at(coef, K, b, col + 5);
        const float* es = out + 2 * (long) b * per;
        const float* vs = es + per;
        const long o = (long) b * per;
        #pragma omp parallel for schedule(static)
        for (long i = 0; i < per; i++) {
            const double e = es[i], v = vs[i], xv = x[o + i];
            const double frac = (v + 1) / 2;
            const double l = fma(frac, lb, (1 - frac) * lp);
            const double p = ra * xv - rm1 * e;
            eps[o + i] = (float) e;
            logvar[o + i] = (float) l;
            var[o + i] = (float) exp(l);
            pred_x0[o + i] = (float) p;
            mean[o + i] = (float) fma(c1, p, c2 * xv);
        }
    }
}

void ie_posterior_sample_f32(const float* mean, const float* var, const float* logvar, const float* g, const float* z,
                             const float* coef, float* y, int B, long per, int K, int col) {
    for (int b = 0; b < B; b++) {
        const double s = coef_at(coef, K, b, col);
        const int noise = s != 0 && z != NULL;
        const long o = (long) b * per;
        #pragma omp parallel for schedule(static)
        for (long i = o; i < o + per; i++) {
            const float gm = g ? (float) (mean[i] + (double) var[i] * g[i]) : mean[i];
            y[i] = noise ? (float) fma(s * exp(0.5 * logvar[i]), z[i], gm) : gm;
        }
    }
}

void ie_blend_f32(const float* rest, const float* obj, const float* m, float* y, int B, int C, long HW, int clamp) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const long o = ((long) b * C + c) * HW;
            const float* ms = m + (long) b * HW;
            #pragma omp simd
            for (long i = 0; i < HW; i++) {
                const double mv = ms[i];
                double v = fma(rest[o + i], 1 - mv, obj[o + i] * mv);
                if (clamp) v = v < -1 ? -1 : v > 1 ? 1 : v;
                y[o + i] = (float) v;
            }
        }
}

void ie_philox_normal_f32(const int* keys, int purpose, float* y, int B, long per) {
    for (int b = 0; b < B; b++) {
        const uint32_t k0 = (uint32_t) keys[4 * b], k1 = (uint32_t) keys[4 * b + 1];
        const uint64_t step = (uint64_t) (uint32_t) keys[4 * b + 2] | ((uint64_t) (uint32_t) keys[4 * b + 3] << 32);
        const uint64_t stream = (step << 8) | (uint32_t) purpose;
        const uint32_t s0 = (uint32_t) stream, s1 = (uint32_t) (stream >> 32);
        float* ys = y + (long) b * per;
        const long blocks = (per + 3) / 4;
        #pragma omp parallel for schedule(static)
        for (long blk = 0; blk < blocks; blk++) {
            float four[4];
            ie_philox_normals4((uint64_t) blk, s0, s1, k0, k1, four);
            const long e = 4 * blk;
            for (int j = 0; j < 4 && e + j < per; j++) ys[e + j] = four[j];
        }
    }
}

/* ---- per-sample reductions: fixed chunks summed in chunk order (independent of the thread count) ---- */

void ie_spectrum_mean_abs_f32(const float* f, float* y, int B, long per) {
    const long chunks = (per + IE_SAMPLER_CHUNK - 1) / IE_SAMPLER_CHUNK;
    for (int b = 0; b < B; b++) {
        const float* fs = f + 2 * (long) b * per;
        double total = 0;
        #pragma omp parallel for ordered schedule(static)
        for (long ch = 0; ch < chunks; ch++) {
            const long i1 = (ch + 1) * IE_SAMPLER_CHUNK < per ? (ch + 1) * IE_SAMPLER_CHUNK : per;
            double s = 0;
            for (long i = ch * IE_SAMPLER_CHUNK; i < i1; i++) {
                const double re = fs[2 * i], im = fs[2 * i + 1];
                s += sqrt(re * re + im * im);
            }
            #pragma omp ordered
            total += s;
        }
        y[b] = (float) (total / per);
    }
}

void ie_spectrum_scale_f32(const float* f, const float* coef, float* y, int B, long per, int K, int col) {
    for (int b = 0; b < B; b++) {
        const double w = coef_at(coef, K, b, col);
        const long o = 2 * (long) b * per;
        #pragma omp parallel for simd schedule(static)
        for (long i = 0; i < per; i++) {
            const double re = f[o + 2 * i], im = f[o + 2 * i + 1], mag = sqrt(re * re + im * im);
            const double q = mag == 0 ? 0 : w / mag;
            y[o + 2 * i] = (float) (re * q);
            y[o + 2 * i + 1] = (float) (im * q);
        }
    }
}

void ie_range_grad_f32(const float* x, const float* g, const float* coef, float* y, float* sq, int B, long per, int K, int col) {
    const long chunks = (per + IE_SAMPLER_CHUNK - 1) / IE_SAMPLER_CHUNK;
    for (int b = 0; b < B; b++) {
        const double r = coef_at(coef, K, b, col);
        const long o = (long) b * per;
        double total = 0;
        #pragma omp parallel for ordered schedule(static)
        for (long ch = 0; ch < chunks; ch++) {
            const long i1 = (ch + 1) * IE_SAMPLER_CHUNK < per ? (ch + 1) * IE_SAMPLER_CHUNK : per;
            double s = 0;
            for (long i = o + ch * IE_SAMPLER_CHUNK; i < o + i1; i++) {
                const double v = x[i], cl = v < -1 ? -1 : v > 1 ? 1 : v, over = v - cl, gv = g ? g[i] : 0;
                s += over * over;
                y[i] = (float) (r != 0 ? fma(r, over, gv) : gv);
            }
            #pragma omp ordered
            total += s;
        }
        sq[b] = (float) (total / per);
    }
}

void ie_non_finite_f32(const float* x, float* y, int B, long per) {
    for (int b = 0; b < B; b++) {
        const float* xs = x + (long) b * per;
        long count = 0, first = per;
        #pragma omp parallel for reduction(+:count) reduction(min:first) schedule(static)
        for (long i = 0; i < per; i++)
            if (!isfinite(xs[i])) {
                count++;
                if (i < first) first = i;
            }
        y[2 * b] = (float) count;
        y[2 * b + 1] = count ? (float) first : -1.0f;
    }
}
