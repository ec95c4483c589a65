// pool: max pooling (k x k window, stride, padding that never wins, floor mode, ties to the first maximum in
// row-major order), global average pooling, and their input-gradients.
// Versions (v1):
//   max_pool_f32_v1           one thread per output
//   max_pool_grad_f32_v1      one thread per input pixel, gathering from the (at most ceil(k/s)^2) windows that
//                             contain it and whose first maximum it is: deterministic, no atomics
//   global_avg_pool_f32_v1    one block per plane, fp64 sum
//   global_avg_pool_grad_f32_v1  dx = dy / (h w) in fp64, rounded once (as the reference)
#include "common.cuh"

constexpr int GAP_THREADS = 256;
IE_CONSTANT_EXPORT(GAP_THREADS)

/** Flat index within the plane of the first maximum of window (oy, ox). */
static __device__ __forceinline__ int mp_argmax(const float* x, int H, int W, int oy, int ox, int k, int s, int p) {
    int best = -1;
    float bv = 0.f;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s + ky - p;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s + kx - p;
            if (ix < 0 || ix >= W) continue;
            float v = x[iy * W + ix];
            if (best < 0 || v > bv) {
                best = iy * W + ix;
                bv = v;
            }
        }
    }
    return best;
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
max_pool_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long planes, int H, int W, int k, int s, int p,
                int Ho, int Wo) {
    const long long n = planes * Ho * Wo;
    IE_GRID_STRIDE(i, n) {
        long long pl = i / ((long long) Ho * Wo);
        int r = (int) (i - pl * Ho * Wo), oy = r / Wo, ox = r - oy * Wo;
        const float* xp = x + pl * H * W;
        y[i] = xp[mp_argmax(xp, H, W, oy, ox, k, s, p)];
    }
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
max_pool_grad_f32_v1(const float* __restrict__ dy, const float* __restrict__ x, float* __restrict__ dx, long long planes,
                     int H, int W, int k, int s, int p, int Ho, int Wo) {
    const long long n = planes * H * W;
    IE_GRID_STRIDE(i, n) {
        long long pl = i / ((long long) H * W);
        int r = (int) (i - pl * H * W), iy = r / W, ix = r - iy * W;
        const float* xp = x + pl * H * W;
        const float* dp = dy + pl * Ho * Wo;
        // windows containing iy: oy s - p <= iy <= oy s - p + k - 1
        int oy_lo = iy + p - k + 1 <= 0 ? 0 : (iy + p - k + 1 + s - 1) / s, oy_hi = (iy + p) / s;
        int ox_lo = ix + p - k + 1 <= 0 ? 0 : (ix + p - k + 1 + s - 1) / s, ox_hi = (ix + p) / s;
        if (oy_hi >= Ho) oy_hi = Ho - 1;
        if (ox_hi >= Wo) ox_hi = Wo - 1;
        float acc = 0.f;
        for (int oy = oy_lo; oy <= oy_hi; oy++)
            for (int ox = ox_lo; ox <= ox_hi; ox++)
                if (mp_argmax(xp, H, W, oy, ox, k, s, p) == r) acc += dp[oy * Wo + ox];
        dx[i] = acc;
    }
}

/** x [planes, hw] -> y [planes]. Grid (planes). */
extern "C" __global__ void __launch_bounds__(GAP_THREADS)
global_avg_pool_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long hw) {
    __shared__ double scratch[32];
    const float* xp = x + (long long) blockIdx.x * hw;
    double s = 0;
    for (long long i = threadIdx.x; i < hw; i += GAP_THREADS) s += xp[i];
    s = ie_block_sum(s, scratch);
    if (threadIdx.x == 0) y[blockIdx.x] = (float) (s / (double) hw);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
global_avg_pool_grad_f32_v1(const float* __restrict__ dy, float* __restrict__ dx, long long planes, long long hw) {
    const long long n = planes * hw;
    IE_GRID_STRIDE(i, n) dx[i] = (float) ((double) dy[i / hw] / (double) hw);
}

IE_KERNEL_EXPORT(max_pool_f32_v1)
IE_KERNEL_EXPORT(max_pool_grad_f32_v1)
IE_KERNEL_EXPORT(global_avg_pool_f32_v1)
IE_KERNEL_EXPORT(global_avg_pool_grad_f32_v1)
