package org.imagenete.gpucheck;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * cuBLAS as "kernel 0" of the GPU benchmarks, where the node has it: a plain GEMM with the M, N, K of a
 * convolution's implicit GEMM is what a convolution kernel can at best reach. Called through FFM on the device
 * pointers of the driver-API primary context (cuBLAS's runtime shares it), so neither JCublas (which needs
 * libcublas.so.12) nor JavaCPP presets are needed; nothing here is a dependency of the backend.
 * Work goes to the legacy default stream: time it with {@link #time} (synchronising), not with stream events.
 */
public final class CublasBaseline implements AutoCloseable {
    private static final int OP_N = 0, CUDA_R_32F = 0, CUDA_R_16BF = 14, CUDA_R_16F = 2, COMPUTE_32F = 68, GEMM_DEFAULT = -1;
    private final Arena arena = Arena.ofShared();
    private final MethodHandle gemmEx, sgemm, destroy, sync;
    private final MemorySegment handle;
    private final String library;

    private CublasBaseline(SymbolLookup lib, SymbolLookup cudart, String library) throws Throwable {
        Linker l = Linker.nativeLinker();
        MethodHandle create = l.downcallHandle(lib.find("cublasCreate_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = l.downcallHandle(lib.find("cublasDestroy_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        sgemm = l.downcallHandle(lib.find("cublasSgemm_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        gemmEx = l.downcallHandle(lib.find("cublasGemmEx").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT));
        sync = l.downcallHandle(cudart.find("cudaDeviceSynchronize").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
        MemorySegment h = arena.allocate(ADDRESS);
        int rc = (int) create.invokeExact(h);
        if (rc != 0) throw new IllegalStateException("cublasCreate failed: status " + rc);
        handle = h.get(ADDRESS, 0);
        this.library = library;
    }

    /** cuBLAS and the CUDA runtime when the node has them (CUDA 13 or 12), else empty with nothing loaded. */
    public static Optional<CublasBaseline> open() {
        for (String v : new String[]{"13", "12"}) {
            try {
                SymbolLookup lib = SymbolLookup.libraryLookup("libcublas.so." + v, Arena.global());
                SymbolLookup rt = SymbolLookup.libraryLookup("libcudart.so." + v, Arena.global());
                return Optional.of(new CublasBaseline(lib, rt, "libcublas.so." + v));
            } catch (Throwable t) {
                // not this version
            }
        }
        return Optional.empty();
    }

    public String library() { return library; }

    /**
     * C[M,N] = A[M,K] B[K,N], all row-major on the device (cuBLAS sees the transposed, column-major problem
     * C^T = B^T A^T). {@code lowp}: null for SGEMM (fp32), "bf16" or "f16" for GemmEx with 16-bit A and B, fp32
     * C and fp32 accumulation, as the tensor-core convolutions.
     */
    public void gemm(long a, long b, long c, int m, int n, int k, String lowp) {
        try {
            MemorySegment one = arena.allocateFrom(JAVA_FLOAT, 1f), zero = arena.allocateFrom(JAVA_FLOAT, 0f);
            int rc;
            if (lowp == null) {
                rc = (int) sgemm.invokeExact(handle, OP_N, OP_N, n, m, k, one, MemorySegment.ofAddress(b), n, MemorySegment.ofAddress(a), k,
                        zero, MemorySegment.ofAddress(c), n);
            } else {
                int t = lowp.equals("bf16") ? CUDA_R_16BF : CUDA_R_16F;
                rc = (int) gemmEx.invokeExact(handle, OP_N, OP_N, n, m, k, one, MemorySegment.ofAddress(b), t, n, MemorySegment.ofAddress(a),
                        t, k, zero, MemorySegment.ofAddress(c), CUDA_R_32F, n, COMPUTE_32F, GEMM_DEFAULT);
            }
            if (rc != 0) throw new IllegalStateException("cuBLAS gemm failed: status " + rc);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Median milliseconds of {@code reps} runs of {@code work}, each synchronised, after one warm-up. */
    public double time(int reps, Runnable work) {
        double[] ms = new double[reps];
        work.run();
        synchronize();
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            work.run();
            synchronize();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        java.util.Arrays.sort(ms);
        return ms[reps / 2];
    }

    private void synchronize() {
        try {
            int rc = (int) sync.invokeExact();
            if (rc != 0) throw new IllegalStateException("cudaDeviceSynchronize: " + rc);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override public void close() {
        try {
            int rc = (int) destroy.invokeExact(handle);
        } catch (Throwable ignored) {
            // best effort
        }
        arena.close();
    }
}
