package org.imagenete.ops.cuda;

import org.imagenete.gpucheck.CudaCheck;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Tolerances;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.NativeMemory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.EnumSet;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every op of the CUDA backend, run by the CUDA kernels on the emulated device, against the scalar reference
 * ({@link CudaCheck#cases}, small shapes; the one tolerance table, {@link Tolerances}). fp32 for every op; the
 * tensor-core convolutions in bf16 and f16 (on the emulator their mma.sync is the warp-cooperative twin that
 * follows the PTX fragment layout). Host and device allocations are poisoned with NaN, so an output element a
 * kernel leaves unwritten fails the comparison.
 */
class CudaEmulatedOpsTest {
    static final Ops REF = new ReferenceOps();
    static CudaContext ctx;

    @BeforeAll
    static void setUp() {
        ctx = CudaContext.emulated();
        NativeMemory.setPoison(true);
        ctx.allocator().setPoison(true);
    }

    @AfterAll
    static void tearDown() {
        NativeMemory.setPoison(false);
        ctx.allocator().setPoison(false);
    }

    @Test
    void everyOpIsSupportedAndChecked() {
        for (CudaOps.Precision p : CudaOps.Precision.values()) {
            CudaOps ops = new CudaOps(ctx, p);
            assertEquals(EnumSet.allOf(Op.class), ops.supports(), ops.name() + " lacks " + ops.unsupported());
        }
        assertEquals(EnumSet.allOf(Op.class), CudaCheck.covered(CudaCheck.cases(false)), "an op without an emulated check");
        assertEquals(EnumSet.allOf(Op.class), CudaCheck.covered(CudaCheck.cases(true)), "an op without a GPU check");
        assertEquals(EnumSet.allOf(Op.class), Tolerances.FP32.keySet(), "an op without a tolerance");
        assertEquals("cuda-emulated", Backends.get("cuda-emulated").name());
        assertEquals("cuda-emulated-bf16", Backends.get("cuda-emulated-bf16").name());
    }

    /** Every case in fp32; the convolution cases also in bf16 and f16 (tensor-core kernels, emulated mma). */
    @TestFactory
    Stream<DynamicTest> everyOpAgainstTheReference() {
        return tests(List.of(new CudaOps(ctx, CudaOps.Precision.FP32), new CudaOps(ctx, CudaOps.Precision.BF16),
                new CudaOps(ctx, CudaOps.Precision.FP16)));
    }

    private static Stream<DynamicTest> tests(List<CudaOps> cudas) {
        return CudaCheck.cases(false).stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            CudaCheck.Checker k = new CudaCheck.Checker(REF, cudas);
            c.body().run(k);
            assertTrue(!k.results().isEmpty(), "nothing compared");
            StringBuilder bad = new StringBuilder();
            for (CudaCheck.Result r : k.results()) {
                System.out.println(r.line());
                if (!r.pass()) bad.append('\n').append(r.line());
            }
            if (!bad.isEmpty()) fail(bad.toString());
        }));
    }
}
