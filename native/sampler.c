/* The sampler's arithmetic for the fast CPU backend (see sampler.h). Memory-bound: one pass over each operand,
 * OpenMP over elements. The build's -std=c11 keeps gcc from contracting a*b+c into an fma on its own, so the
 * fma() calls below are the only fused operations, as in the reference and the CUDA kernels. */
#include "sampler.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---- Philox4x32-10 and the Box-Muller transform: org.imagenete.ops.Philox, operation for operation ---- */

static inline void philox_block(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        const uint64_t p0 = (uint64_t) 0xD2511F53u * c[0], p1 = (uint64_t) 0xCD9E8D57u * c[2];
        const uint32_t hi0 = (uint32_t) (p0 >> 32), lo0 = (uint32_t) p0, hi1 = (uint32_t) (p1 >> 32), lo1 = (uint32_t) p1;
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

static inline double philox_unit(uint32_t u) { return ((double) u + 1.0) * 0x1p-32; }

static inline double philox_log(double u) {
    uint64_t bits;
    memcpy(&bits, &u, 8);
    int e = (int) ((bits >> 52) & 0x7ff) - 1023;
    const uint64_t mb = (bits & 0xfffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;
    memcpy(&m, &mb, 8);
    if (m > 1.4142135623730951) {
        m = m * 0.5;
        e = e + 1;
    }
    const double s = (m - 1) / (m + 1), s2 = s * s;
    double p = 1.0 / 21;
    p = fma(p, s2, 1.0 / 19);
    p = fma(p, s2, 1.0 / 17);
    p = fma(p, s2, 1.0 / 15);
    p = fma(p, s2, 1.0 / 13);
    p = fma(p, s2, 1.0 / 11);
    p = fma(p, s2, 1.0 / 9);
    p = fma(p, s2, 1.0 / 7);
    p = fma(p, s2, 1.0 / 5);
    p = fma(p, s2, 1.0 / 3);
    p = fma(p, s2, 1.0);
    return fma((double) e, 0.6931471805599453, (2 * s) * p);
}

static inline void philox_sincos(double v, double* sn, double* cs) {
    const int k = (int) floor(4 * v + 0.5);
    const double t = (v - k * 0.25) * 6.283185307179586, t2 = t * t;
    double ps = -1.0 / 121645100408832000.0;
    ps = fma(ps, t2, 1.0 / 355687428096000.0);
    ps = fma(ps, t2, -1.0 / 1307674368000.0);
    ps = fma(ps, t2, 1.0 / 6227020800.0);
    ps = fma(ps, t2, -1.0 / 39916800.0);
    ps = fma(ps, t2, 1.0 / 362880.0);
    ps = fma(ps, t2, -1.0 / 5040.0);
    ps = fma(ps, t2, 1.0 / 120.0);
    ps = fma(ps, t2, -1.0 / 6.0);
    const double s = fma(t * t2, ps, t);
    double pc = -1.0 / 6402373705728000.0;
    pc = fma(pc, t2, 1.0 / 20922789888000.0);
    pc = fma(pc, t2, -1.0 / 87178291200.0);
    pc = fma(pc, t2, 1.0 / 479001600.0);
    pc = fma(pc, t2, -1.0 / 3628800.0);
    pc = fma(pc, t2, 1.0 / 40320.0);
    pc = fma(pc, t2, -1.0 / 720.0);
    pc = fma(pc, t2, 1.0 / 24.0);
    pc = fma(pc, t2, -0.5);
    const double c = fma(t2, pc, 1.0);
    switch (k & 3) {
        case 0: *sn = s; *cs = c; break;
        case 1: *sn = c; *cs = -s; break;
        case 2: *sn = -s; *cs = -c; break;
        default: *sn = -c; *cs = s; break;
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
            uint32_t c[4] = {(uint32_t) blk, (uint32_t) ((uint64_t) blk >> 32), s0, s1};
            philox_block(c, k0, k1);
            float four[4];
            for (int pair = 0; pair < 2; pair++) {
                const double r = sqrt(-2 * philox_log(philox_unit(c[2 * pair])));
                double sn, cs;
                philox_sincos(philox_unit(c[2 * pair + 1]), &sn, &cs);
                four[2 * pair] = (float) (r * cs);
                four[2 * pair + 1] = (float) (r * sn);
            }
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
