/* imagenete native kernels: the sampler's arithmetic around the UNet (sampler.c), the fast CPU backend of
 * Ops.axpby ... Ops.nonFinite (org.imagenete.ops.Ops documents each contract). fp32 tensors [B, ...] with a
 * sample's `per` elements contiguous; per-sample scalars from a table coef [B, K] read at column `col`.
 * Element-wise results are computed in float64 and rounded once, with the fma()s of the contract written out:
 * the same operations as the reference (org.imagenete.ops.ref.SamplerReference) and the CUDA kernels
 * (cuda-kernels/sampler.cu), so most results agree bit for bit. Per-sample sums run over fixed blocks of
 * IE_SAMPLER_CHUNK elements, summed in block order: the result does not depend on the thread count. */
#ifndef IMAGENETE_SAMPLER_H
#define IMAGENETE_SAMPLER_H

#include "imagenete.h"

#define IE_SAMPLER_CHUNK 4096L

/* y = (a x + c z) + d per sample, (a, c, d) = coef[b, col..col+2]; z may be NULL; a zero coefficient's term is not read. */
void ie_axpby_f32(const float* x, const float* z, const float* coef, float* y, int B, long per, int K, int col);

/* p_mean_variance: out [B, 2, per] = [eps, v], x [B, per] -> mean, var, logvar, pred_x0, eps [B, per];
 * coef[b, col..col+5] = (log beta, clipped log posterior variance, sqrt(1/abar), sqrt(1/abar - 1), coef1, coef2). */
void ie_p_mean_variance_f32(const float* out, const float* x, const float* coef, float* mean, float* var, float* logvar,
                            float* pred_x0, float* eps, int B, long per, int K, int col);

/* y = fma(s exp(logvar/2), z, fp32(mean + var g)) with s = coef[b, col]; g, z may be NULL; s == 0 does not read z. */
void ie_posterior_sample_f32(const float* mean, const float* var, const float* logvar, const float* g, const float* z,
                             const float* coef, float* y, int B, long per, int K, int col);

/* y = fma(rest, 1 - m, obj m), m [B, 1, HW] broadcast over C channels; clamped to [-1, 1] when clamp. */
void ie_blend_f32(const float* rest, const float* obj, const float* m, float* y, int B, int C, long HW, int clamp);

/* Standard normals [B, per]: keys [B, 4] = (seed lo, seed hi, step lo, step hi), stream (step << 8) | purpose. */
void ie_philox_normal_f32(const int* keys, int purpose, float* y, int B, long per);

/* Mean |f| of the `per` complex values (re, im interleaved) of each sample -> y [B]. */
void ie_spectrum_mean_abs_f32(const float* f, float* y, int B, long per);

/* y = f / |f| * coef[b, col] (0 where f = 0) over the `per` complex values of each sample. */
void ie_spectrum_scale_f32(const float* f, const float* coef, float* y, int B, long per, int K, int col);

/* y = fma(r, x - clamp(x, -1, 1), g) (g may be NULL: 0; r == 0 gives g), r = coef[b, col]; sq[b] = mean of (x - clamp(x))^2. */
void ie_range_grad_f32(const float* x, const float* g, const float* coef, float* y, float* sq, int B, long per, int K, int col);

/* y [B, 2] = (number of NaN/Inf in sample b, index of the first or -1). */
void ie_non_finite_f32(const float* x, float* y, int B, long per);

#endif
