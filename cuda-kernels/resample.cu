// resample: nearest x2 upsampling, 2x2 average pooling, channel concatenation, and their input-gradients.
// Memory-bound copies: one thread per output element (grid-stride, 64-bit indices), EW_THREADS per block.
// Versions: *_v1 only.
#include "common.cuh"

/** x [planes, H, W] -> y [planes, 2H, 2W]. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
upsample_nearest_2x_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long planes, int H, int W) {
    const long long n = planes * 4 * H * W;
    const int W2 = 2 * W, H2 = 2 * H;
    IE_GRID_STRIDE(i, n) {
        long long p = i / ((long long) H2 * W2);
        int r = (int) (i - p * H2 * W2), oy = r / W2, ox = r - oy * W2;
        y[i] = x[(p * H + oy / 2) * W + ox / 2];
    }
}

/** dy [planes, 2H, 2W] -> dx [planes, H, W]: sums of 2x2 blocks. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
upsample_nearest_2x_grad_f32_v1(const float* __restrict__ dy, float* __restrict__ dx, long long planes, int H, int W) {
    const long long n = planes * H * W;
    const int W2 = 2 * W;
    IE_GRID_STRIDE(i, n) {
        long long p = i / ((long long) H * W);
        int r = (int) (i - p * H * W), y = r / W, x = r - y * W;
        const float* d = dy + (p * 2 * H + 2 * y) * W2 + 2 * x;
        dx[i] = d[0] + d[1] + d[W2] + d[W2 + 1];
    }
}

/** x [planes, H, W] (H, W even) -> y [planes, H/2, W/2]. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
avg_pool_2x_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long planes, int H, int W) {
    const int Ho = H / 2, Wo = W / 2;
    const long long n = planes * Ho * Wo;
    IE_GRID_STRIDE(i, n) {
        long long p = i / ((long long) Ho * Wo);
        int r = (int) (i - p * Ho * Wo), oy = r / Wo, ox = r - oy * Wo;
        const float* s = x + (p * H + 2 * oy) * W + 2 * ox;
        y[i] = (s[0] + s[1] + s[W] + s[W + 1]) * 0.25f;
    }
}

/** dy [planes, H, W] -> dx [planes, 2H, 2W] = dy / 4 over each 2x2 block. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
avg_pool_2x_grad_f32_v1(const float* __restrict__ dy, float* __restrict__ dx, long long planes, int H, int W) {
    const int W2 = 2 * W, H2 = 2 * H;
    const long long n = planes * H2 * W2;
    IE_GRID_STRIDE(i, n) {
        long long p = i / ((long long) H2 * W2);
        int r = (int) (i - p * H2 * W2), y = r / W2, x = r - y * W2;
        dx[i] = dy[(p * H + y / 2) * W + x / 2] * 0.25f;
    }
}

/** a [B, ia], b [B, ib] (ia, ib: elements per sample) -> y [B, ia + ib]. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
concat_f32_v1(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, long long B, long long ia,
              long long ib) {
    const long long per = ia + ib, n = B * per;
    IE_GRID_STRIDE(i, n) {
        long long s = i / per, j = i - s * per;
        y[i] = j < ia ? a[s * ia + j] : b[s * ib + (j - ia)];
    }
}

/** dy [B, ia + ib] -> da [B, ia], db [B, ib]. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
concat_grad_f32_v1(const float* __restrict__ dy, float* __restrict__ da, float* __restrict__ db, long long B, long long ia,
                   long long ib) {
    const long long per = ia + ib, n = B * per;
    IE_GRID_STRIDE(i, n) {
        long long s = i / per, j = i - s * per;
        if (j < ia) da[s * ia + j] = dy[i];
        else db[s * ib + (j - ia)] = dy[i];
    }
}

IE_KERNEL_EXPORT(upsample_nearest_2x_f32_v1)
IE_KERNEL_EXPORT(upsample_nearest_2x_grad_f32_v1)
IE_KERNEL_EXPORT(avg_pool_2x_f32_v1)
IE_KERNEL_EXPORT(avg_pool_2x_grad_f32_v1)
IE_KERNEL_EXPORT(concat_f32_v1)
IE_KERNEL_EXPORT(concat_grad_f32_v1)
