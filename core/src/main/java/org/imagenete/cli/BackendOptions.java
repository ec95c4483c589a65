package org.imagenete.cli;

import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Precision;
import picocli.CommandLine.Option;

/** {@code --backend}, {@code --precision} and {@code --threads}, shared by every command that computes. */
public final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = {"reference | cpu | cuda | cuda-emulated (default: the fastest available: cuda on a GPU, else cpu;",
                    "also -Dimagenete.backend). cuda-emulated runs the same CUDA kernels on the CPU, slowly, to check them",
                    "without a GPU. cuda-bf16, cuda-fp16 (and cuda-emulated-bf16/-fp16): --backend cuda --precision bf16|fp16."})
    String backend;

    @Option(names = "--precision", paramLabel = "P",
            description = {"fp32 | bf16 | fp16: the convolutions' arithmetic (default fp32; also -Dimagenete.precision).",
                    "bf16: 16-bit operands, fp32 sums -- on the cpu backend with AVX-512 BF16 (weights converted once at",
                    "load; a CPU without it runs fp32 and says so), on cuda the tensor cores; fp16: cuda only.",
                    "Normalisation, softmax, the FFT guidance and the diffusion arithmetic stay fp32."})
    String precision;

    @Option(names = "--threads", paramLabel = "N", description = "threads for the native kernels (default: all cores; at most 4 per core)")
    Integer threads;

    /**
     * The most threads {@code --threads} accepts: 4 per core. The kernels split work into one part per thread, so
     * threads beyond the cores only add switching; and thousands of OpenMP threads exhaust the memory for their
     * stacks, which ends the process in native code without a message.
     */
    static int maxThreads() { return 4 * Runtime.getRuntime().availableProcessors(); }

    /** {@code --threads} checked against 1..{@link #maxThreads()}; a usage error otherwise. */
    static Integer checkedThreads(String option, Integer n) {
        if (n == null) return null;
        UsageException.require(n >= 1, option + " " + n + ": must be at least 1");
        UsageException.require(n <= maxThreads(), option + " " + n + ": at most " + maxThreads() + " on this machine (4 per core, "
                + Runtime.getRuntime().availableProcessors() + " cores): more threads than cores only slow the work down, and "
                + "thousands exhaust the memory for their stacks");
        return n;
    }

    /** The checked {@code --threads}, or 0 for the default (ONNX Runtime's own threads). */
    int threadCount() {
        Integer n = checkedThreads("--threads", threads);
        return n == null ? 0 : n;
    }

    public Ops ops() {
        if (checkedThreads("--threads", threads) != null) System.setProperty("imagenete.threads", threads.toString());
        return Backends.get(backend, precision == null ? null : Precision.parse(precision));
    }
}
