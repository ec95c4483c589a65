// embedding: guided-diffusion's sinusoidal timestep embedding, with the float32 arithmetic of the reference
// (ReferenceOps.timestepEmbeddingF32) step by step: f_j = (float) exp((double) ((negLog * j) / half)) with negLog
// the float -ln(10000) passed in by the caller, arg = t f_j in float, then cos / sin in double rounded to float.
// Versions: timestep_embedding_f32_v1 only.
#include "common.cuh"

/** t [B] -> y [B, dim] = [cos(t f_j) | sin(t f_j)], j < dim / 2. */
extern "C" __global__ void __launch_bounds__(EW_THREADS)
timestep_embedding_f32_v1(const float* __restrict__ t, float* __restrict__ y, int B, int dim, float negLog) {
    const int half = dim / 2;
    const long long n = (long long) B * half;
    IE_GRID_STRIDE(i, n) {
        int b = (int) (i / half), j = (int) (i - (long long) b * half);
        float e = __fdiv_rn(__fmul_rn(negLog, (float) j), (float) half);   // no contraction, as Java computes it
        float f = (float) exp((double) e);
        float arg = __fmul_rn(t[b], f);
        y[(long long) b * dim + j] = (float) cos((double) arg);
        y[(long long) b * dim + half + j] = (float) sin((double) arg);
    }
}

IE_KERNEL_EXPORT(timestep_embedding_f32_v1)
