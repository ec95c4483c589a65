// selftest: kernels that exercise the execution model itself (barriers, warp shuffles and votes, atomics, 16-bit
// conversions). EmulatorSelfTest runs them on the emulator; CudaGpuTest runs the same on a GPU and compares, so
// that a difference between the emulation and the hardware shows up here rather than inside a model.
// Versions: selftest_*_v1 only.
#include "common.cuh"

/**
 * out[i] for every thread i of a 2-D block, grid of blocks: a value that needs every barrier kind.
 * stage 1: shared reverse through __syncthreads; stage 2: shfl_xor / shfl_down / shfl_up / shfl / ballot
 * within the warp; stage 3: a block sum through ie_block_sum.
 */
extern "C" __global__ void selftest_sync_v1(const int* in, int* out, int n) {
    __shared__ int buf[1024];
    __shared__ int scratch[32];
    int nt = blockDim.x * blockDim.y;
    int t = threadIdx.y * blockDim.x + threadIdx.x;
    int g = blockIdx.x * nt + t;
    int v = g < n ? in[g] : 0;
    buf[t] = v;
    __syncthreads();
    int rev = buf[nt - 1 - t];
    int x = __shfl_xor_sync(0xffffffffu, rev, 5);
    int d = __shfl_down_sync(0xffffffffu, rev, 3);
    int u = __shfl_up_sync(0xffffffffu, rev, 2, 16);
    int s = __shfl_sync(0xffffffffu, rev, 7, 8);
    unsigned bal = __ballot_sync(0xffffffffu, (rev & 1) != 0);
    int total = ie_block_sum(v, scratch);
    if (g < n) out[g] = rev * 3 + x * 5 + d * 7 + u * 11 + s * 13 + (int) (bal & 0xffff) * 17 + total;
}

/** Atomics from every block: counts[v % bins]++ and a float sum. */
extern "C" __global__ void selftest_atomic_v1(const int* in, int* counts, float* sum, int n, int bins) {
    IE_GRID_STRIDE(i, n) {
        atomicAdd(&counts[in[i] % bins], 1);
        atomicAdd(sum, 0.5f);
    }
}

/** bf16 and f16 round trips: out[4i..4i+3] = bits of bf16(x), float(bf16(x)), bits of f16(x), float(f16(x)). */
extern "C" __global__ void selftest_convert_v1(const float* x, float* out, int n) {
    IE_GRID_STRIDE(i, n) {
        __nv_bfloat16 b = __float2bfloat16(x[i]);
        __half h = __float2half(x[i]);
        out[4 * i] = (float) __bfloat16_as_ushort(b);
        out[4 * i + 1] = __bfloat162float(b);
        out[4 * i + 2] = (float) __half_as_ushort(h);
        out[4 * i + 3] = __half2float(h);
    }
}

/**
 * Emulator-only (undefined behaviour on a GPU, never launched there): half of each warp waits at a warp barrier,
 * the other half at the block barrier, so neither can complete. The emulator must report a deadlock, not hang.
 */
extern "C" __global__ void selftest_deadlock_v1(int* out) {
    if ((threadIdx.x & 31) < 16) __syncwarp();
    else __syncthreads();
    out[threadIdx.x] = 1;
}

/** Emulator-only (it would kill the GPU context): __trap() in block `which`; every other thread writes 1. */
extern "C" __global__ void selftest_trap_v1(int* out, int which) {
    if ((int) blockIdx.x == which && threadIdx.x == 0) __trap();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

IE_KERNEL_EXPORT(selftest_sync_v1)
IE_KERNEL_EXPORT(selftest_deadlock_v1)
IE_KERNEL_EXPORT(selftest_trap_v1)
IE_KERNEL_EXPORT(selftest_atomic_v1)
IE_KERNEL_EXPORT(selftest_convert_v1)
