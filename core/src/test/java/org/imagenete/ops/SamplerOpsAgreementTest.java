package org.imagenete.ops;

import org.imagenete.gpucheck.CudaCheck;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.NativeMemory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The sampler's ops of the fast CPU backend (native/sampler.c) against the reference, on the same cases the CUDA
 * kernels are checked with ({@link CudaCheck#samplerCases}: batch 1-3, 1x1 and odd sizes, zero coefficients next to
 * NaN operands, clamping, zero spectra, NaN/Inf in some samples), with the one tolerance table ({@link Tolerances}).
 * New allocations are poisoned with NaN so that an unwritten output element fails.
 */
class SamplerOpsAgreementTest {
    @BeforeAll
    static void setUp() { NativeMemory.setPoison(true); }

    @AfterAll
    static void tearDown() { NativeMemory.setPoison(false); }

    @TestFactory
    Stream<DynamicTest> samplerOpsAgreeWithTheReference() {
        Ops cpu = Backends.get("cpu");
        return CudaCheck.samplerCases(false).stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            CudaCheck.Checker k = new CudaCheck.Checker(new ReferenceOps(), List.of(cpu));
            c.body().run(k);
            assertFalse(k.results().isEmpty(), "nothing compared");
            StringBuilder bad = new StringBuilder();
            for (CudaCheck.Result r : k.results()) {
                System.out.println(r.line());
                if (!r.pass()) bad.append('\n').append(r.line());
            }
            if (!bad.isEmpty()) fail(bad.toString());
        }));
    }
}
