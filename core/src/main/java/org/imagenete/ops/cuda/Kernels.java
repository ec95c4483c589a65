package org.imagenete.ops.cuda;

/**
 * Launch-shape constants of cuda-kernels/*.cu, as the Java launcher uses them. The kernel sources export the same
 * names (IE_CONSTANT_EXPORT); KernelConstantsTest compares the two through the emulation library, so a block size
 * changed on one side only fails a test instead of launching a kernel with the wrong shape.
 */
final class Kernels {
    private Kernels() {}

    // common.cuh: element-wise and copy kernels (grid-stride loops)
    static final int EW_THREADS = 256;
    /** Grid cap of the grid-stride kernels: enough blocks to fill any current GPU several times over. */
    static final int EW_MAX_BLOCKS = 8192;
    // conv.cu
    static final int CONV_F32_BM = 64, CONV_F32_BN = 64, CONV_F32_THREADS = 256;
    static final int CONV_MMA_BM = 64, CONV_MMA_BN = 64, CONV_MMA_THREADS = 128;
    static final int CONV_DEFAULT_LOWP_VERSION = 2;
    // gemm.cu
    static final int LINEAR_WARPS = 8, LINEAR_GRAD_THREADS = 256;
    static final int GEMM_BM = 64, GEMM_BN = 64, GEMM_THREADS = 256;
    // norm.cu
    static final int GN_THREADS = 256, GN_APPLY_PER_BLOCK = 1024, GN_MAX_CHUNKS = 64, GN_CHUNK_MIN = 4096;
    // attention.cu
    static final int ATTN_BQ = 64, ATTN_MAX_CH = 64, ATTN_ROW_WARPS = 8;
    // pool.cu
    static final int GAP_THREADS = 256;
    // fft.cu
    static final int FFT_THREADS = 128;
    // sampler.cu
    static final int SAMPLER_REDUCE_THREADS = 256;

    /** Every constant above that the kernel sources export, by its C++ name. */
    static java.util.Map<String, Long> exported() {
        java.util.Map<String, Long> m = new java.util.TreeMap<>();
        m.put("EW_THREADS", (long) EW_THREADS);
        m.put("CONV_F32_BM", (long) CONV_F32_BM);
        m.put("CONV_F32_BN", (long) CONV_F32_BN);
        m.put("CONV_F32_THREADS", (long) CONV_F32_THREADS);
        m.put("CONV_MMA_BM", (long) CONV_MMA_BM);
        m.put("CONV_MMA_BN", (long) CONV_MMA_BN);
        m.put("CONV_MMA_THREADS", (long) CONV_MMA_THREADS);
        m.put("CONV_DEFAULT_LOWP_VERSION", (long) CONV_DEFAULT_LOWP_VERSION);
        m.put("LINEAR_WARPS", (long) LINEAR_WARPS);
        m.put("LINEAR_GRAD_THREADS", (long) LINEAR_GRAD_THREADS);
        m.put("GEMM_BM", (long) GEMM_BM);
        m.put("GEMM_BN", (long) GEMM_BN);
        m.put("GEMM_THREADS", (long) GEMM_THREADS);
        m.put("GN_THREADS", (long) GN_THREADS);
        m.put("GN_APPLY_PER_BLOCK", (long) GN_APPLY_PER_BLOCK);
        m.put("GN_MAX_CHUNKS", (long) GN_MAX_CHUNKS);
        m.put("GN_CHUNK_MIN", (long) GN_CHUNK_MIN);
        m.put("ATTN_BQ", (long) ATTN_BQ);
        m.put("ATTN_MAX_CH", (long) ATTN_MAX_CH);
        m.put("ATTN_ROW_WARPS", (long) ATTN_ROW_WARPS);
        m.put("GAP_THREADS", (long) GAP_THREADS);
        m.put("FFT_THREADS", (long) FFT_THREADS);
        m.put("SAMPLER_REDUCE_THREADS", (long) SAMPLER_REDUCE_THREADS);
        return m;
    }
}
