package org.imagenete.ops;

import org.imagenete.ops.Tolerances.Tol;
import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend's bf16 convolutions (BF16 weights: the activations rounded to bf16 as they are packed, products
 * exact, sums in fp32) against the scalar reference on the same operands rounded to bf16: what is left is the
 * fp32 summation, so the tolerances are the fp32 ones. Every path: the direct implicit GEMM (stride 1 masked
 * packing, strided and batched-column packing, odd K), the few-output-channel path, the fp32 Winograd on rounded
 * operands, and the gradient's flipped-kernel and small-image paths. The default Winograd of bf16 mode (a bf16 GEMM
 * on the transformed operands) rounds after the transforms, so it is checked by its relative L2 instead. On a CPU
 * without AVX-512 BF16 the backend widens the weights and computes in fp32 on x as it is: the reference then leaves x
 * unrounded.
 */
class Bf16AgreementTest {
    /** Tolerances of the bf16 paths (fp32 summation of exact products; Winograd-paying shapes: fp32 transforms). */
    static final Tol CONV2D_BF16 = new Tol(2e-5, 1e-4, "fp32 sums of exact bf16 products, as the fp32 CONV2D entry");
    static final Tol CONV2D_BF16_WINOGRAD = new Tol(5e-5, 1e-4, "fp32 Winograd F(4x4,3x3) on bf16-rounded operands: as CONV2D_WINOGRAD");
    /**
     * Relative L2 bound of the bf16-GEMM Winograd against the reference on the rounded operands, for white inputs
     * (the worst case): measured 0.98-1.5% on these shapes (the gradient included), Lavin's points all in bf16 ~2%;
     * the native tests use the same bound (WINO_BF16_TOL in native/test/ie_test.c).
     */
    static final double WINOGRAD_BF16_GEMM_REL_L2 = 1.8e-2;

    static final Ops REF = new ReferenceOps();
    static CpuOps fast;
    static boolean rounds;

    @BeforeAll
    static void setUp() {
        fast = (CpuOps) Backends.get("cpu", Precision.BF16);
        rounds = CpuOps.bf16Supported();
        NativeMemory.setPoison(true);
    }

    @AfterAll
    static void tearDown() { NativeMemory.setPoison(false); }

    /** x rounded to bf16 (as the kernels round it), as F32; x itself without AVX-512 BF16. */
    static Tensor rounded(Tensor x) {
        if (!rounds) return x.copy();
        try (Tensor b = x.convert(DType.BF16)) {
            return b.toF32();
        }
    }

    /** The fast op on (x, BF16 w) against the reference on (bf16(x), w widened). */
    private static void agree(Tol tol, String what, Tensor x, Tensor w, Function<Tensor[], Function<Ops, Tensor>> op) {
        try (Tensor w16 = w.convert(DType.BF16); Tensor wr = w16.toF32(); Tensor xr = rounded(x);
             Tensor r = op.apply(new Tensor[]{xr, wr}).apply(REF); Tensor a = op.apply(new Tensor[]{x, w16}).apply(fast)) {
            Compare.assertClose(what, a, r, tol.atol(), tol.rtol());
        }
    }

    @ParameterizedTest(name = "conv bf16 {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7} add {8} relu {9}")
    @CsvSource({
            // ADM channel counts (spatially reduced, direct): 3x3 at each width, 1x1 skips, the input conv
            "3, 256, 32, 32, 3, 1, 1, 1, false, false",
            "256, 256, 16, 16, 3, 1, 1, 1, true, false",
            "512, 256, 16, 16, 1, 1, 0, 1, true, false",
            "1024, 1024, 8, 8, 3, 1, 1, 1, true, false",
            "2048, 1024, 4, 4, 3, 1, 1, 2, false, false",
            // ResNet paths: columns across images, strides, the stem
            "256, 1024, 14, 14, 1, 1, 0, 2, true, true",
            "2048, 512, 7, 7, 1, 1, 0, 2, false, true",
            "512, 1024, 28, 28, 1, 2, 0, 2, false, false",
            "128, 128, 56, 56, 3, 2, 1, 1, false, true",
            "3, 64, 61, 67, 7, 2, 3, 2, false, true",
            // awkward: odd K (pairs end on a half), K over several blocks, 1x1 spatial, batch 3, 20 positions
            "7, 13, 17, 13, 3, 1, 1, 3, true, true",
            "13, 9, 11, 9, 1, 1, 0, 3, true, false",
            "129, 70, 20, 20, 3, 1, 1, 1, true, true",
            "5, 6, 1, 1, 3, 1, 1, 2, false, false",
            "9, 5, 5, 4, 1, 1, 0, 3, true, false",
            "5, 6, 37, 41, 5, 2, 2, 2, false, true",
            // few output channels (the ADM head 256 -> 6): fp32 kernel on widened weights and rounded x
            "256, 6, 24, 24, 3, 1, 1, 1, true, false",
            "8, 3, 15, 15, 3, 1, 1, 2, true, true",
    })
    void conv2d(int cin, int cout, int h, int w, int k, int stride, int pad, int b, boolean add, boolean relu) {
        long seed = 71L * cin + 13L * cout + h * 3L + w + k + stride + b;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k);
             Tensor bt = Rand.uniform(seed + 2, 0.05f, cout);
             Tensor at = add ? Rand.uniform(seed + 3, b, cout, ho, wo) : null) {
            agree(CONV2D_BF16, "CONV2D bf16 " + cin + "->" + cout + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b, x, wt,
                    t -> ops -> ops.conv2d(t[0], t[1], bt, stride, pad, at, relu));
        }
    }

    /** The bf16-GEMM Winograd: relative L2 <= WINOGRAD_BF16_GEMM_REL_L2, and above 1e-4 (that path did run). */
    private static void agreeRelL2(String what, Tensor x, Tensor w, Function<Tensor[], Function<Ops, Tensor>> op) {
        try (Tensor w16 = w.convert(DType.BF16); Tensor wr = w16.toF32(); Tensor xr = rounded(x);
             Tensor r = op.apply(new Tensor[]{xr, wr}).apply(REF); Tensor a = op.apply(new Tensor[]{x, w16}).apply(fast)) {
            double e = Compare.assertClose(what, a, r, Double.POSITIVE_INFINITY, 0).relL2();
            assertTrue(e <= WINOGRAD_BF16_GEMM_REL_L2, what + ": rel L2 " + e + " > " + WINOGRAD_BF16_GEMM_REL_L2);
            if (rounds) assertTrue(e > 1e-4, what + ": rel L2 " + e + ": the fp32 transforms ran, not the bf16 GEMM");
        }
    }

    /**
     * Both Winograd paths of bf16 mode on one op: the bf16 GEMM (the default) by its relative L2, then the fp32
     * transforms on the rounded operands ({@code setWinogradBf16(false)}) to the CONV2D_BF16_WINOGRAD tolerance.
     */
    private static void agreeBothWinograds(String what, Tensor x, Tensor w, Function<Tensor[], Function<Ops, Tensor>> op) {
        agreeRelL2(what, x, w, op);
        CpuOps.setWinogradBf16(false);
        try {
            agree(CONV2D_BF16_WINOGRAD, what + " fp32-winograd", x, w, op);
        } finally {
            CpuOps.setWinogradBf16(true);
        }
    }

    /** Shapes where the backend takes Winograd F(4x4,3x3): with a bf16 GEMM (the default), and with fp32 transforms
     * on the rounded operands ({@code setWinogradBf16(false)}). */
    @ParameterizedTest(name = "conv bf16 winograd {0}->{1} @ {2}x{3} b{4}")
    @CsvSource({
            "128, 128, 64, 64, 1",
            "96, 200, 67, 45, 1",
            "256, 96, 32, 32, 1",    // 64 tiles, one GEMM panel: the threads share the block
            "45, 37, 29, 31, 1",     // the same off the 16-lane grid (64 tiles), odd input channels
            "64, 64, 14, 14, 9",     // tiles of several images
            "16, 16, 13, 11, 11",    // tiles cut by the image edge
    })
    void conv2dWinograd(int cin, int cout, int h, int w, int b) {
        long seed = 5L * cin + cout + h + w + b;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * 9)), cout, cin, 3, 3);
             Tensor at = Rand.uniform(seed + 3, b, cout, h, w)) {
            agreeBothWinograds("CONV2D bf16 winograd " + cin + "->" + cout + " @" + h + "x" + w + " b" + b, x, wt,
                    t -> ops -> ops.conv2d(t[0], t[1], null, 1, 1, at, true));
        }
    }

    /** The input-gradient: dy rounded, w bf16, on the Winograd path (large images: weights transformed from w as it
     *  is), the flipped-kernel path and the small-image path. */
    @ParameterizedTest(name = "conv_grad bf16 {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7}")
    @CsvSource({
            "256, 256, 28, 28, 3, 1, 1, 1",      // flipped kernel, direct bf16 (49 tiles: Winograd takes 64)
            "256, 256, 32, 32, 3, 1, 1, 1",      // Winograd at 64 tiles, the threads sharing one block
            "64, 96, 64, 64, 3, 1, 1, 1",        // Winograd, transposed weight transform
            "37, 45, 40, 44, 3, 1, 1, 2",        // the same off the 16-lane grid, odd input channels (45, padded to even)
            "512, 256, 16, 16, 3, 1, 1, 1",      // small image: the bf16 GEMM w^T dy (w read transposed in place) + col2im
            "256, 512, 32, 32, 1, 1, 0, 1",      // 1x1: the bf16 GEMM w^T dy per image
            "96, 45, 8, 8, 1, 1, 0, 2",          // the same, odd output channels (an odd GEMM K)
            "7, 13, 17, 13, 3, 1, 1, 3",
            "64, 128, 9, 9, 3, 2, 1, 2",
            "3, 64, 29, 31, 7, 2, 3, 1",
            "512, 8, 66, 70, 3, 2, 1, 1",        // small-image path in column tiles (33 x 35 outputs, 192 a tile)
    })
    void conv2dGrad(int cin, int cout, int h, int w, int k, int stride, int pad, int b) {
        long seed = 17L * cin + 3L * cout + h + w + k + stride + b;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        boolean winograd = k == 3 && stride == 1 && (long) b * ((ho + 3) / 4) * ((wo + 3) / 4) >= 64 && cin >= 8 && cout >= 8;
        try (Tensor dy = Rand.uniform(seed, b, cout, ho, wo);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k)) {
            String what = "CONV2D_GRAD bf16 " + cin + "->" + cout + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b;
            Function<Tensor[], Function<Ops, Tensor>> op = t -> ops -> ops.conv2dGrad(t[0], t[1], stride, pad, h, w);
            if (winograd) agreeBothWinograds(what, dy, wt, op);
            else agree(CONV2D_BF16, what, dy, wt, op);
        }
    }

    @Test
    void bf16WeightsOnlyWhereTheBackendTakesThem() {
        try (Tensor x = Rand.uniform(1, 1, 4, 5, 5); Tensor w = Rand.uniform(2, 6, 4, 3, 3); Tensor w16 = w.convert(DType.BF16)) {
            var e = assertThrows(IllegalArgumentException.class, () -> REF.conv2d(x, w16, null, 1, 1));
            assertEquals("conv2d weight must be F32 (BF16 weights are for the cpu backend), got BF16", e.getMessage());
            try (Tensor y = fast.conv2d(x, w16, null, 1, 1)) {
                assertEquals(DType.F32, y.dtype());
            }
        }
    }

    @Test
    void precisionFlagsAndFallbacks() {
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.get("reference", Precision.BF16));
        assertEquals("--precision bf16: the reference backend computes in fp32/fp64 only (use --backend cpu or cuda)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Backends.get("cpu", Precision.FP16));
        assertTrue(e.getMessage().contains("fp16 is for the CUDA backend"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Backends.get("cuda-bf16", Precision.FP16));
        assertEquals("--backend cuda-bf16 computes in bf16, not --precision fp16", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp8"));
        assertEquals("--precision fp8: choose from [fp32, bf16, fp16]", e.getMessage());
        Ops cpu = Backends.get("cpu", Precision.BF16);
        // what the CPU can run: bf16 with AVX-512 BF16, else fp32 (logged as a warning)
        assertEquals(CpuOps.bf16Supported() ? Precision.BF16 : Precision.FP32, cpu.convPrecision());
        assertEquals(CpuOps.bf16Supported() ? DType.BF16 : DType.F32, cpu.convWeightType());
        assertEquals(Precision.FP32, Backends.get("cpu").convPrecision());
    }
}
