package org.imagenete.bench.gpu;

import org.imagenete.device.Devices;
import org.imagenete.nn.AdmConfig;
import org.imagenete.ops.Backends;
import org.imagenete.ops.cuda.CudaOps;


/**
 * What the GPU benchmarks share: the backend and a synchronise that makes a measurement include the device work.
 * Without a GPU the setup fails at once with the reason, so JMH records no result for them (a CPU run of all
 * benchmarks, bench/run.sh, only pays a JVM start per configuration); {@code -Dimagenete.gpubench.emulate=true}
 * runs them on the emulated device at toy sizes instead, to check the benchmark code itself (numbers meaningless).
 */
final class GpuBenchState {
    private GpuBenchState() {}

    /** True when a real GPU runs the benchmarks. */
    static boolean onGpu() { return Devices.gpu().isPresent(); }

    /** The named CUDA backend ("cuda", "cuda-bf16"), or its emulated counterpart without a GPU. */
    static CudaOps backend(String name) {
        if (onGpu()) return (CudaOps) Backends.get(name);
        if (!Boolean.getBoolean("imagenete.gpubench.emulate"))
            throw new IllegalStateException("no CUDA device (" + Devices.gpuError() + "): GPU benchmark not run"
                    + " (on a GPU node: bench/gpu-check.sh --jmh; -Dimagenete.gpubench.emulate=true checks it on the emulator)");
        String emulated = name.replace("cuda", "cuda-emulated");
        System.err.println("GPU benchmark: no GPU: smoke run on " + emulated + " at toy sizes (numbers meaningless)");
        return (CudaOps) Backends.get(emulated);
    }

    /** ADM-256 on a GPU, ADM-tiny's configuration otherwise. */
    static AdmConfig adm() {
        return onGpu() ? AdmConfig.adm256() : AdmConfig.tiny();
    }

    /** Image side for the ADM: 256 on a GPU, 32 otherwise. */
    static int admRes() { return onGpu() ? 256 : 32; }

    /** Waits for the device, so that the measured time covers the work, not only its launch. */
    static void sync(CudaOps ops) { ops.context().device().synchronize(); }
}
