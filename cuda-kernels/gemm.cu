// gemm: linear (x W^T + b), its input-gradient (dy W), and a strided batched fp32 GEMM (attention's backward pass).
//
// Versions:
//   linear_f32_v1       one warp per output element: lanes stride over K, fp64 partial sums, shuffle reduction.
//                       The ADM runs linear on [B, 4C] embeddings (B <= 8), a GEMV in all but name; ResNet's fc
//                       at batch 256 is 0.5 GMAC, also fine this way.
//   linear_grad_f32_v1  one thread per dx element, coalesced over the input features, fp64 sum over outputs.
//   gemm_batched_f32_v1 C[z] = alpha A[z] B[z] with arbitrary element strides (so any transposition) and a two-
//                       level batch index z = (zo, zi); 64x64 block tile, K step 16, 256 threads with 4x4 each
//                       (the tiling of conv2d_f32_v1).
// Default: v1 for all.
#include "common.cuh"

constexpr int LINEAR_WARPS = 8;          // outputs per block of linear_f32_v1 (one warp each)
constexpr int LINEAR_GRAD_THREADS = 256;
constexpr int GEMM_BM = 64;
constexpr int GEMM_BN = 64;
constexpr int GEMM_BK = 16;
constexpr int GEMM_THREADS = 256;
IE_CONSTANT_EXPORT(LINEAR_WARPS)
IE_CONSTANT_EXPORT(LINEAR_GRAD_THREADS)
IE_CONSTANT_EXPORT(GEMM_BM)
IE_CONSTANT_EXPORT(GEMM_BN)
IE_CONSTANT_EXPORT(GEMM_THREADS)

/** x [N,K], w [M,K], bias [M] or null -> y [N,M]. Grid (ceil(M / LINEAR_WARPS), N), LINEAR_WARPS * 32 threads. */
extern "C" __global__ void __launch_bounds__(LINEAR_WARPS * 32)
linear_f32_v1(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
              float* __restrict__ y, int N, int K, int M) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int j = blockIdx.x * LINEAR_WARPS + warp, i = blockIdx.y;
    if (j >= M) return;   // whole warps leave together: the shuffles below stay convergent
    const float* xr = x + (long long) i * K;
    const float* wr = w + (long long) j * K;
    double s = 0;
    for (int k = lane; k < K; k += 32) s += (double) xr[k] * wr[k];
    s = ie_warp_sum(s);
    if (lane == 0) y[(long long) i * M + j] = (float) (bias ? s + bias[j] : s);
}

/** dy [N,M], w [M,K] -> dx [N,K] = dy W. Grid (ceil(K / LINEAR_GRAD_THREADS), N). */
extern "C" __global__ void __launch_bounds__(LINEAR_GRAD_THREADS)
linear_grad_f32_v1(const float* __restrict__ dy, const float* __restrict__ w, float* __restrict__ dx, int N, int M, int K) {
    int p = blockIdx.x * LINEAR_GRAD_THREADS + threadIdx.x, i = blockIdx.y;
    if (p >= K) return;
    const float* d = dy + (long long) i * M;
    double s = 0;
    for (int j = 0; j < M; j++) s += (double) d[j] * w[(long long) j * K + p];
    dx[(long long) i * K + p] = (float) s;
}

/**
 * For z in [0, Zo*Zi), zo = z / Zi, zi = z % Zi:
 *   C[zo,zi](m,n) = alpha * sum_k A[zo,zi](m,k) B[zo,zi](k,n)
 * with X[zo,zi](r,c) = X[zo*sXo + zi*sXi + r*sXr + c*sXc] (element strides). Grid (ceil(N/64), ceil(M/64), Zo*Zi).
 */
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
gemm_batched_f32_v1(const float* __restrict__ A, const float* __restrict__ Bm, float* __restrict__ C, int M, int N, int K,
                    int Zi, long long sAo, long long sAi, long long sAm, long long sAk, long long sBo, long long sBi,
                    long long sBk, long long sBn, long long sCo, long long sCi, long long sCm, long long sCn, float alpha) {
    constexpr int BM = GEMM_BM, BN = GEMM_BN, BK = GEMM_BK, T = GEMM_THREADS;
    __shared__ __align__(16) float As[BK][BM + 4];
    __shared__ __align__(16) float Bs[BK][BN + 4];
    const int z = blockIdx.z, zo = z / Zi, zi = z - zo * Zi;
    const float* a = A + zo * sAo + zi * sAi;
    const float* b = Bm + zo * sBo + zi * sBi;
    float* c = C + zo * sCo + zi * sCi;
    const int tid = threadIdx.x, m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int ty = tid / 16, tx = tid % 16;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        // A tile: consecutive threads walk m when A is column-major in (m, k), k otherwise, so loads coalesce
#pragma unroll
        for (int i = 0; i < BM * BK / T; i++) {
            int idx = tid + i * T, mm, kk;
            if (sAm == 1) { mm = idx % BM; kk = idx / BM; } else { kk = idx % BK; mm = idx / BK; }
            int m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < M && k < K) ? a[m * sAm + k * sAk] : 0.f;
        }
#pragma unroll
        for (int i = 0; i < BN * BK / T; i++) {
            int idx = tid + i * T, nn, kk;
            if (sBn == 1) { nn = idx % BN; kk = idx / BN; } else { kk = idx % BK; nn = idx / BK; }
            int n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < N && k < K) ? b[k * sBk + n * sBn] : 0.f;
        }
        __syncthreads();
        ie_tile_fma_4x4(As, Bs, ty, tx, acc);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) c[m * sCm + n * sCn] = alpha * acc[i][j];
        }
    }
}

IE_KERNEL_EXPORT(linear_f32_v1)
IE_KERNEL_EXPORT(linear_grad_f32_v1)
IE_KERNEL_EXPORT(gemm_batched_f32_v1)
