// sampler: the diffusion arithmetic around the UNet, so that a sampling step stays on the device (Ops.axpby ...
// Ops.nonFinite document each contract). Tensors [B, ...] with a sample's `per` elements contiguous; per-sample
// scalars from a table coef [B, K] read at column `col` (a step's scalars are device memory: a captured graph
// reads the table the host refreshes before each replay).
//
// Arithmetic: float64 from fp32 inputs, rounded once, with the contract's fma()s written out. Products of two
// fp32 values are exact in float64, so where nvcc contracts such a product and a sum into an FMA the result is
// unchanged; every other product that meets a sum is an explicit fma. The reference (SamplerReference) and the C
// kernels (native/sampler.c) do the same operations, so the element-wise results agree bit for bit except where
// libm's exp enters (variance, sample: within an ulp). Philox normals are bit-identical everywhere: only IEEE
// operations (native/philox.h, shared with the C kernels; org.imagenete.ops.Philox is the definition).
//
// Versions (v1):
//   axpby, p_mean_variance, posterior_sample, blend, spectrum_scale   grid-stride, one thread per element
//   philox_normal            grid-stride, one thread per Philox block (4 normals)
//   spectrum_mean_abs, range_grad, non_finite   one block of SAMPLER_REDUCE_THREADS per sample, fp64 (or exact
//                            integer) block sums in a fixed order: deterministic, independent of the batch
#include "common.cuh"

constexpr int SAMPLER_REDUCE_THREADS = 256;
IE_CONSTANT_EXPORT(SAMPLER_REDUCE_THREADS)

static __device__ __forceinline__ double ie_coef(const float* coef, int K, long long b, int col) { return coef[b * K + col]; }

extern "C" __global__ void __launch_bounds__(EW_THREADS)
axpby_f32_v1(const float* __restrict__ x, const float* __restrict__ z, const float* __restrict__ coef, float* __restrict__ y,
             long long per, int B, int K, int col) {
    const long long n = per * B;
    IE_GRID_STRIDE(i, n) {
        long long b = i / per;
        double a = ie_coef(coef, K, b, col), c = ie_coef(coef, K, b, col + 1), d = ie_coef(coef, K, b, col + 2);
        double p = a != 0 ? a * x[i] : 0, q = c != 0 && z != nullptr ? c * z[i] : 0;
        y[i] = (float) ((p + q) + d);
    }
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
p_mean_variance_f32_v1(const float* __restrict__ out, const float* __restrict__ x, const float* __restrict__ coef,
                       float* __restrict__ mean, float* __restrict__ var, float* __restrict__ logvar,
                       float* __restrict__ pred_x0, float* __restrict__ eps, long long per, int B, int K, int col) {
    const long long n = per * B;
    IE_GRID_STRIDE(i, n) {
        long long b = i / per, k = i - b * per;
        double lb = ie_coef(coef, K, b, col), lp = ie_coef(coef, K, b, col + 1), ra = ie_coef(coef, K, b, col + 2),
               rm1 = ie_coef(coef, K, b, col + 3), c1 = ie_coef(coef, K, b, col + 4), c2 = ie_coef(coef, K, b, col + 5);
        double e = out[2 * b * per + k], v = out[2 * b * per + per + k], xv = x[i];
        double frac = (v + 1) / 2;
        double l = fma(frac, lb, (1 - frac) * lp);
        double p = ra * xv - rm1 * e;
        eps[i] = (float) e;
        logvar[i] = (float) l;
        var[i] = (float) exp(l);
        pred_x0[i] = (float) p;
        mean[i] = (float) fma(c1, p, c2 * xv);
    }
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
posterior_sample_f32_v1(const float* __restrict__ mean, const float* __restrict__ var, const float* __restrict__ logvar,
                        const float* __restrict__ g, const float* __restrict__ z, const float* __restrict__ coef,
                        float* __restrict__ y, long long per, int B, int K, int col) {
    const long long n = per * B;
    IE_GRID_STRIDE(i, n) {
        double s = ie_coef(coef, K, i / per, col);
        float gm = g != nullptr ? (float) (mean[i] + (double) var[i] * g[i]) : mean[i];
        y[i] = s != 0 && z != nullptr ? (float) fma(s * exp(0.5 * logvar[i]), (double) z[i], (double) gm) : gm;
    }
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
blend_f32_v1(const float* __restrict__ rest, const float* __restrict__ obj, const float* __restrict__ m, float* __restrict__ y,
             long long hw, int C, int B, int clamp) {
    const long long n = hw * C * B;
    IE_GRID_STRIDE(i, n) {
        long long plane = i / hw, b = plane / C, k = i - plane * hw;
        double mv = m[b * hw + k];
        double v = fma((double) rest[i], 1 - mv, (double) obj[i] * mv);
        if (clamp) v = v < -1 ? -1 : v > 1 ? 1 : v;
        y[i] = (float) v;
    }
}

// Philox4x32-10 and the IEEE-only Box-Muller: the one C definition, shared with the CPU kernels (native/sampler.c)
#include "../native/philox.h"

/** keys [B, 4] = (seed lo, seed hi, step lo, step hi); stream = (step << 8) | purpose; 4 normals per thread. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
philox_normal_f32_v1(const int* __restrict__ keys, float* __restrict__ y, long long per, int B, int purpose) {
    const long long blocks = (per + 3) / 4, n = blocks * B;
    IE_GRID_STRIDE(i, n) {
        long long b = i / blocks, blk = i - b * blocks;
        unsigned long long step = (unsigned long long) (unsigned) keys[4 * b + 2] | ((unsigned long long) (unsigned) keys[4 * b + 3] << 32);
        unsigned long long stream = (step << 8) | (unsigned) purpose;
        float four[4];
        ie_philox_normals4((uint64_t) blk, (uint32_t) stream, (uint32_t) (stream >> 32), (uint32_t) keys[4 * b], (uint32_t) keys[4 * b + 1],
                           four);
        float* ys = y + b * per;
        long long e = 4 * blk;
        for (int j = 0; j < 4 && e + j < per; j++) ys[e + j] = four[j];
    }
}

// ---- spectra ----

/** y[b] = mean |f| over the `per` complex values of sample b: one block per sample. */
extern "C" __global__ void __launch_bounds__(SAMPLER_REDUCE_THREADS)
spectrum_mean_abs_f32_v1(const float* __restrict__ f, float* __restrict__ y, long long per) {
    __shared__ double scratch[32];
    const float* fs = f + 2 * (long long) blockIdx.x * per;
    double s = 0;
    for (long long i = threadIdx.x; i < per; i += blockDim.x) {
        double re = fs[2 * i], im = fs[2 * i + 1];
        s += sqrt(re * re + im * im);
    }
    s = ie_block_sum(s, scratch);
    if (threadIdx.x == 0) y[blockIdx.x] = (float) (s / per);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
spectrum_scale_f32_v1(const float* __restrict__ f, const float* __restrict__ coef, float* __restrict__ y, long long per, int B,
                      int K, int col) {
    const long long n = per * B;
    IE_GRID_STRIDE(i, n) {
        double w = ie_coef(coef, K, i / per, col);
        double re = f[2 * i], im = f[2 * i + 1], mag = sqrt(re * re + im * im);
        double q = mag == 0 ? 0 : w / mag;
        y[2 * i] = (float) (re * q);
        y[2 * i + 1] = (float) (im * q);
    }
}

// ---- range loss, finite check ----

/** y = fma(r, x - clamp(x), g), sq[b] = mean (x - clamp(x))^2: one block per sample. */
extern "C" __global__ void __launch_bounds__(SAMPLER_REDUCE_THREADS)
range_grad_f32_v1(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ coef, float* __restrict__ y,
                  float* __restrict__ sq, long long per, int K, int col) {
    __shared__ double scratch[32];
    const long long o = (long long) blockIdx.x * per;
    double r = ie_coef(coef, K, blockIdx.x, col), s = 0;
    for (long long i = o + threadIdx.x; i < o + per; i += blockDim.x) {
        double v = x[i], cl = v < -1 ? -1 : v > 1 ? 1 : v, over = v - cl, gv = g != nullptr ? (double) g[i] : 0;
        s += over * over;
        y[i] = (float) (r != 0 ? fma(r, over, gv) : gv);
    }
    s = ie_block_sum(s, scratch);
    if (threadIdx.x == 0) sq[blockIdx.x] = (float) (s / per);
}

/** y[b] = (number of NaN/Inf in sample b, index of the first or -1): one block per sample (per < 2^31). */
extern "C" __global__ void __launch_bounds__(SAMPLER_REDUCE_THREADS)
non_finite_f32_v1(const float* __restrict__ x, float* __restrict__ y, int per) {
    __shared__ double scratch[32];
    __shared__ int first;
    if (threadIdx.x == 0) first = per;
    __syncthreads();
    const float* xs = x + (long long) blockIdx.x * per;
    double count = 0;
    int mine = per;
    for (int i = threadIdx.x; i < per; i += blockDim.x)
        if (!isfinite(xs[i])) {
            count += 1;
            if (i < mine) mine = i;
        }
    if (mine < per) atomicMin(&first, mine);
    count = ie_block_sum(count, scratch);
    if (threadIdx.x == 0) {
        y[2 * blockIdx.x] = (float) count;
        y[2 * blockIdx.x + 1] = count > 0 ? (float) first : -1.f;
    }
}

IE_KERNEL_EXPORT(axpby_f32_v1)
IE_KERNEL_EXPORT(p_mean_variance_f32_v1)
IE_KERNEL_EXPORT(posterior_sample_f32_v1)
IE_KERNEL_EXPORT(blend_f32_v1)
IE_KERNEL_EXPORT(philox_normal_f32_v1)
IE_KERNEL_EXPORT(spectrum_mean_abs_f32_v1)
IE_KERNEL_EXPORT(spectrum_scale_f32_v1)
IE_KERNEL_EXPORT(range_grad_f32_v1)
IE_KERNEL_EXPORT(non_finite_f32_v1)
