// Shared by every cuda-kernels/*.cu: the CUDA headers (or, under IE_EMULATION, native/emu/cuda_emu.h, which the
// emulation build force-includes), the export macros, and small device helpers (reductions, grid-stride loops).
//
// Each .cu file has three layers: the kernels (extern "C", named <op>_<dtype>[_vN]); the launch shapes, as named
// constants exported with IE_CONSTANT_EXPORT (the Java launcher, org.imagenete.ops.cuda.Kernels, uses the same
// values and KernelConstantsTest checks them against the emulation build); and the export table at the end of the
// file (IE_KERNEL_EXPORT), the entries Java launches by name through JCudaDevice or EmulatedDevice.
#pragma once

#ifndef IE_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <type_traits>
#define IE_KERNEL_EXPORT(name)
#define IE_CONSTANT_EXPORT(name)
#endif

/** Threads per block of the element-wise and copy kernels (grid-stride loops over 64-bit indices). */
constexpr int EW_THREADS = 256;
IE_CONSTANT_EXPORT(EW_THREADS)

/** Grid-stride loop over [0, n) with 64-bit indices (tensors can exceed 2^31 elements at large batch). */
#define IE_GRID_STRIDE(i, n)                                                                                   \
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long) gridDim.x * blockDim.x)

/** Sum over the warp (every lane gets it). */
template <class T> static __device__ __forceinline__ T ie_warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/**
 * The FMA GEMM tiles' inner product (conv.cu, gemm.cu): acc[i][j] += sum over kk of As[kk][ty*4+i] Bs[kk][tx*4+j],
 * a 4x4 register tile per thread from the shared K-slices As [BK][>= BM] and Bs [BK][>= BN].
 */
template <int BK, int LDA, int LDB>
static __device__ __forceinline__ void ie_tile_fma_4x4(const float (&As)[BK][LDA], const float (&Bs)[BK][LDB], int ty, int tx,
                                                       float (&acc)[4][4]) {
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
        float av[4], bv[4];
#pragma unroll
        for (int i = 0; i < 4; i++) av[i] = As[kk][ty * 4 + i];
#pragma unroll
        for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx * 4 + j];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

/**
 * Sum over the block (its size a multiple of 32, at most 1024); every thread gets it. `scratch` holds 32 values
 * of shared memory; the trailing barrier lets the caller reuse it at once.
 */
template <class T> static __device__ __forceinline__ T ie_block_sum(T v, T* scratch) {
    int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int lane = t & 31, warp = t >> 5, nwarps = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    v = ie_warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T total = 0;
    for (int w = 0; w < nwarps; w++) total += scratch[w];   // same order in every thread: identical results
    __syncthreads();
    return total;
}
