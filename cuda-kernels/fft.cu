// fft: the unnormalised 2-D DFT over the last two dims, and its adjoint (fft2's input-gradient), as two separable
// passes of direct DFTs accumulated in fp64: rows, then columns, exactly the order and the twiddles of the
// reference (ReferenceOps.dft2): twiddle tables tw[m] = (cos a, sin a), a = sign 2 pi m / n, are computed on the
// host in double by the same expression and uploaded once per (length, sign). O(HW (H + W)) work: for the 256x256
// planes of a guided step that is ~0.1 GFLOP of fp64, well under a millisecond on a data-centre GPU, and exact to
// fp64 rounding for any H and W (no power-of-two or Bluestein special cases).
// Versions (v1):
//   fft2_rows_f32_v1   in [rows, W] real (complexIn 0) or [rows, W, 2] complex f32 -> tmp [rows, W] complex f64
//   fft2_cols_f32_v1   tmp [planes, H, W] complex f64 -> out [planes, H, W, 2] complex f32 (realOut 0), or the
//                      real parts only [planes, H, W] (realOut 1: the adjoint's output)
#include "common.cuh"

constexpr int FFT_THREADS = 128;
IE_CONSTANT_EXPORT(FFT_THREADS)

/** Grid (rows, ceil(W / FFT_THREADS)): thread k of row r computes bin k of that row. */
extern "C" __global__ void __launch_bounds__(FFT_THREADS)
fft2_rows_f32_v1(const float* __restrict__ in, int complexIn, double* __restrict__ tmp, const double* __restrict__ tw, int W) {
    const long long r = blockIdx.x;
    const int k = blockIdx.y * FFT_THREADS + threadIdx.x;
    if (k >= W) return;
    double sr = 0, si = 0;
    int m = 0;   // (k j) mod W, advanced by k per step
    if (complexIn) {
        const float* row = in + r * W * 2;
        for (int j = 0; j < W; j++) {
            double c = tw[2 * m], s = tw[2 * m + 1], xr = row[2 * j], xi = row[2 * j + 1];
            sr += xr * c - xi * s;
            si += xr * s + xi * c;
            m += k;
            if (m >= W) m -= W;
        }
    } else {
        const float* row = in + r * W;
        for (int j = 0; j < W; j++) {
            double xr = row[j];
            sr += xr * tw[2 * m];
            si += xr * tw[2 * m + 1];
            m += k;
            if (m >= W) m -= W;
        }
    }
    tmp[(r * W + k) * 2] = sr;
    tmp[(r * W + k) * 2 + 1] = si;
}

/** Grid (planes * H, ceil(W / FFT_THREADS)): thread c of block (p, k) computes bin k of column c of plane p. */
extern "C" __global__ void __launch_bounds__(FFT_THREADS)
fft2_cols_f32_v1(const double* __restrict__ tmp, float* __restrict__ out, int realOut, const double* __restrict__ tw, int H,
                 int W) {
    const long long pk = blockIdx.x, p = pk / H;
    const int k = (int) (pk - p * H), c = blockIdx.y * FFT_THREADS + threadIdx.x;
    if (c >= W) return;
    const double* col = tmp + (p * H * W + c) * 2;
    double sr = 0, si = 0;
    int m = 0;
    for (int j = 0; j < H; j++) {
        double tc = tw[2 * m], ts = tw[2 * m + 1], xr = col[(long long) j * W * 2], xi = col[(long long) j * W * 2 + 1];
        sr += xr * tc - xi * ts;
        si += xr * ts + xi * tc;
        m += k;
        if (m >= H) m -= H;
    }
    long long o = (p * H + k) * W + c;
    if (realOut) {
        out[o] = (float) sr;
    } else {
        out[2 * o] = (float) sr;
        out[2 * o + 1] = (float) si;
    }
}

IE_KERNEL_EXPORT(fft2_rows_f32_v1)
IE_KERNEL_EXPORT(fft2_cols_f32_v1)
