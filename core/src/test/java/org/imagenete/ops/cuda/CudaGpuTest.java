package org.imagenete.ops.cuda;

import org.imagenete.device.Devices;
import org.imagenete.gpucheck.GpuCheck;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a GPU only (skipped, with the reason, everywhere else): everything {@link GpuCheck} checks -- the self-test
 * kernels against CUDA's semantics, every op including the tensor-core convolutions against the reference at the
 * ADM's channel counts, the tensor-core kernels against their emulated twin (which is what makes the emulated CI
 * runs of those kernels count), the golden ADM-tiny and ResNet-50, a graph replay. The same checks run without
 * JUnit from the jar ({@code bench/gpu-check.sh}).
 */
class CudaGpuTest {
    private static CudaContext gpu() {
        Optional<CudaContext> g = CudaContext.gpu();
        assumeTrue(g.isPresent(), "no CUDA device: " + Devices.gpuError());
        return g.get();
    }

    @Test
    void everyCheckPassesOnTheGpu() {
        CudaContext ctx = gpu();
        assertEquals(0, GpuCheck.checksOnly(ctx, Golden.testdata(), false), "failed GPU checks: see the [gpu-check] lines above");
    }
}
