/* Philox4x32-10 and the IEEE-only Box-Muller transform of org.imagenete.ops.Philox, operation for operation: the one
 * C definition of Ops.philoxNormal, compiled into the CPU library (native/sampler.c) and into the CUDA kernels
 * (cuda-kernels/sampler.cu, for the GPU and the emulation), so that both draw the Java definition's bits.
 * Only correctly rounded IEEE operations in a fixed order: products, sums, divisions, square roots and explicit
 * fma(); no libm log/sin/cos (they differ by an ulp between libraries). Written in the common subset of C and CUDA
 * C++; a product that meets a sum outside an fma() is exact or feeds no sum, so an FMA contraction by the CUDA
 * compiler changes nothing. */
#ifndef IMAGENETE_PHILOX_H
#define IMAGENETE_PHILOX_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__) || defined(IE_EMULATION)
#define IE_PHILOX_FN static __device__ __forceinline__
#else
#define IE_PHILOX_FN static inline
#endif

/* Ten rounds on counter c[0..3] under key (k0, k1), in place. */
IE_PHILOX_FN void ie_philox_block(uint32_t c[4], uint32_t k0, uint32_t k1) {
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

/* (u + 1) / 2^32 in (0, 1], exact. */
IE_PHILOX_FN double ie_philox_unit(uint32_t u) { return ((double) u + 1.0) * 0x1p-32; }

/* ln(u), u in (0, 1] normal: u = m 2^e, m in [sqrt(1/2), sqrt(2)), 2 atanh((m - 1)/(m + 1)) by its series to s^21. */
IE_PHILOX_FN double ie_philox_log(double u) {
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

/* sin and cos of 2 pi v, v in [0, 1]: exact quadrant reduction, Taylor polynomials to t^19 / t^18 on [-pi/4, pi/4]. */
IE_PHILOX_FN void ie_philox_sincos(double v, double* sn, double* cs) {
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

/* The 4 normals of Philox block `blk` of stream (s0, s1) under key (k0, k1): Box-Muller on the word pairs, cos first. */
IE_PHILOX_FN void ie_philox_normals4(uint64_t blk, uint32_t s0, uint32_t s1, uint32_t k0, uint32_t k1, float out[4]) {
    uint32_t c[4] = {(uint32_t) blk, (uint32_t) (blk >> 32), s0, s1};
    ie_philox_block(c, k0, k1);
    for (int pair = 0; pair < 2; pair++) {
        const double r = sqrt(-2 * ie_philox_log(ie_philox_unit(c[2 * pair])));
        double sn, cs;
        ie_philox_sincos(ie_philox_unit(c[2 * pair + 1]), &sn, &cs);
        out[2 * pair] = (float) (r * cs);
        out[2 * pair + 1] = (float) (r * sn);
    }
}

#endif
