// elementwise: SiLU, add, ReLU and their input-gradients; GELU (exact, erf); fp32 -> bf16/f16 conversion of weights for the
// tensor-core convolutions. All grid-stride loops over 64-bit indices, EW_THREADS per block.
// Versions: *_v1 only.
#include "common.cuh"

/** y = x sigmoid(x). */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
silu_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v / (1.f + expf(-v));
    }
}

/** dx = dy s (1 + x (1 - s)), s = sigmoid(x); 1 - s is computed as e s (e = exp(-x)) to avoid cancellation. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
silu_grad_f32_v1(const float* __restrict__ dy, const float* __restrict__ x, float* __restrict__ dx, long long n) {
    IE_GRID_STRIDE(i, n) {
        float v = x[i], e = expf(-v), s = 1.f / (1.f + e);
        dx[i] = dy[i] * s * (1.f + v * (e * s));
    }
}

/** y = x (1 + erf(x / sqrt 2)) / 2, torch's exact GELU (erff: within 2 ulp). */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
gelu_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    }
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
add_f32_v1(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
relu_f32_v1(const float* __restrict__ x, float* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

/** dx = dy where the forward output y > 0, else 0 (NaN y gives 0, as the reference). */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
relu_grad_f32_v1(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) {
    IE_GRID_STRIDE(i, n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

/** Round-to-nearest-even fp32 -> bf16 bits. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
convert_f32_bf16_v1(const float* __restrict__ x, unsigned short* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) y[i] = __bfloat16_as_ushort(__float2bfloat16(x[i]));
}

/** Round-to-nearest-even fp32 -> IEEE half bits (overflow to inf). */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
convert_f32_f16_v1(const float* __restrict__ x, unsigned short* __restrict__ y, long long n) {
    IE_GRID_STRIDE(i, n) y[i] = __half_as_ushort(__float2half(x[i]));
}

IE_KERNEL_EXPORT(silu_f32_v1)
IE_KERNEL_EXPORT(silu_grad_f32_v1)
IE_KERNEL_EXPORT(gelu_f32_v1)
IE_KERNEL_EXPORT(add_f32_v1)
IE_KERNEL_EXPORT(relu_f32_v1)
IE_KERNEL_EXPORT(relu_grad_f32_v1)
IE_KERNEL_EXPORT(convert_f32_bf16_v1)
IE_KERNEL_EXPORT(convert_f32_f16_v1)
