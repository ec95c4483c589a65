package org.imagenete.ops;

import org.imagenete.gpucheck.CudaCheck;
import org.imagenete.ops.Tolerances.Tol;
import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Every op of the fast CPU backend against the scalar reference, on seeded uniform [-1, 1] inputs, at the
 * ADM's real channel counts (spatially reduced where the float64 reference would take minutes) and at
 * awkward sizes (odd widths, 1x1, batch 3, stride 2, sizes that are not multiples of 16 or of a block).
 * New allocations are poisoned with NaN so that an unwritten output element fails.
 */
class OpsAgreementTest {
    /** The one tolerance table ({@link Tolerances}), shared with the CUDA tests and the GPU check. */
    static final Map<Op, Tol> TOLERANCE = Tolerances.FP32;
    static final Tol CONV2D_WINOGRAD = Tolerances.CONV2D_WINOGRAD;

    static final Ops REF = new ReferenceOps();
    static Ops fast;

    @BeforeAll
    static void setUp() {
        fast = Backends.get("cpu");
        NativeMemory.setPoison(true);
    }

    @AfterAll
    static void tearDown() { NativeMemory.setPoison(false); }

    @Test
    void opSetIsClosedAndFullySupported() {
        System.out.println("op set: " + Op.values().length + " ops " + java.util.Arrays.toString(Op.values()));
        assertEquals(38, Op.values().length, "the op set grew: add a tolerance, a reference and agreement tests");
        assertEquals(TOLERANCE.keySet(), java.util.EnumSet.allOf(Op.class));
        assertEquals(java.util.EnumSet.allOf(Op.class), fast.supports());
        assertEquals(java.util.EnumSet.allOf(Op.class), REF.supports());
    }

    private static void agree(Op op, String what, Function<Ops, Tensor> f) {
        agree(TOLERANCE.get(op), op + " " + what, f);
    }

    private static void agree(Tol tol, String what, Function<Ops, Tensor> f) {
        try (Tensor r = f.apply(REF); Tensor a = f.apply(fast)) {
            Compare.assertClose(what, a, r, tol.atol(), tol.rtol());
        }
    }

    @ParameterizedTest(name = "conv {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7} bias {8} add {9}")
    @CsvSource({
            // ADM channel counts (spatially reduced): input conv, 3x3 at each width, 1x1 skips, the 6-channel head
            "3, 256, 32, 32, 3, 1, 1, 1, true, false",
            "256, 256, 32, 32, 3, 1, 1, 1, true, true",
            "512, 256, 16, 16, 3, 1, 1, 1, true, false",
            "512, 256, 16, 16, 1, 1, 0, 1, true, true",
            "768, 512, 8, 8, 3, 1, 1, 1, true, false",
            "1024, 1024, 8, 8, 3, 1, 1, 1, true, true",
            "2048, 1024, 4, 4, 3, 1, 1, 1, true, false",
            "2048, 1024, 8, 8, 1, 1, 0, 1, true, true",
            "256, 6, 24, 24, 3, 1, 1, 1, true, false",
            "64, 192, 16, 16, 1, 1, 0, 2, true, false",
            // awkward: batch 3, odd sizes, 1x1 spatial, no bias, ResNet strides and kernels
            "7, 13, 17, 13, 3, 1, 1, 3, true, true",
            "5, 6, 1, 1, 3, 1, 1, 2, false, false",
            "65, 33, 5, 7, 1, 1, 0, 1, false, true",
            "3, 64, 29, 31, 7, 2, 3, 1, false, false",
            "64, 128, 9, 9, 3, 2, 1, 2, true, false",
            "65, 33, 6, 7, 1, 2, 0, 3, true, false",
            "17, 31, 33, 35, 3, 1, 1, 1, true, true",
            "128, 64, 66, 66, 3, 1, 1, 1, true, false",
            // shapes where the backend takes Winograd F(4x4,3x3) (>= 256 tiles of 4x4, >= 8 tiles across, >= 8 channels)
            "128, 128, 64, 64, 3, 1, 1, 1, true, true",
            "96, 200, 67, 45, 3, 1, 1, 1, true, false",
            "8, 8, 64, 36, 3, 1, 1, 2, false, true",
    })
    void conv2d(int cin, int cout, int h, int w, int k, int stride, int pad, int b, boolean bias, boolean add) {
        long seed = 31L * cin + 7L * cout + h * 3L + w + k + stride + b;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k);
             Tensor bt = bias ? Rand.uniform(seed + 2, 0.05f, cout) : null;
             Tensor at = add ? Rand.uniform(seed + 3, b, cout, ho, wo) : null) {
            agree(Op.CONV2D, cin + "->" + cout + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b,
                    ops -> ops.conv2d(x, wt, bt, stride, pad, at));
        }
    }

    /**
     * ResNet's convolutions with the fused ReLU, and the paths the CPU backend takes for them: small images as one
     * GEMM over the batch (14x14, 7x7 and odd sizes whose positions are not a multiple of the 64-column panel),
     * stride-2 packing, Winograd with tiles of several images in one block (>= 64 tiles of 4x4). Real ResNet-50
     * channel counts where the float64 reference stays under a second, reduced otherwise.
     */
    @ParameterizedTest(name = "conv {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7} add {8} relu {9} winograd {10}")
    @CsvSource({
            "256, 1024, 14, 14, 1, 1, 0, 2, true, true, false",     // layer3 conv3: columns across images, residual, ReLU
            "1024, 256, 14, 14, 1, 1, 0, 2, false, true, false",    // layer3 conv1
            "2048, 512, 7, 7, 1, 1, 0, 2, false, true, false",      // layer4 conv1
            "512, 1024, 28, 28, 1, 2, 0, 2, false, false, false",   // layer3 downsample: stride 2 into 14x14
            "512, 512, 14, 14, 3, 2, 1, 2, false, true, false",     // layer4 conv2: 3x3 stride 2 into 7x7
            "128, 128, 56, 56, 3, 2, 1, 1, false, true, false",     // layer2 conv2
            "3, 64, 224, 224, 7, 2, 3, 1, false, true, false",      // stem
            "64, 256, 56, 56, 1, 1, 0, 1, true, true, false",       // layer1 conv3
            "128, 128, 28, 28, 3, 1, 1, 3, false, true, true",      // layer2 conv2: Winograd, 147 tiles of 3 images
            "64, 64, 14, 14, 3, 1, 1, 9, true, true, true",         // layer3 conv2 (channels / 4): 16 tiles per image
            "128, 128, 7, 7, 3, 1, 1, 32, false, true, true",       // layer4 conv2 (channels / 4): 4 tiles per image
            "16, 16, 13, 11, 3, 1, 1, 11, true, true, true",        // Winograd, tiles cut by the image edge
            "13, 17, 7, 7, 1, 1, 0, 3, true, true, false",
            "9, 5, 5, 4, 1, 1, 0, 3, true, false, false",           // 20 positions per image
            "200, 7, 5, 4, 1, 1, 0, 3, false, true, false",         // K over one block
            "7, 9, 11, 9, 3, 2, 1, 3, true, true, false",           // 6x5 after stride 2
            "5, 6, 37, 41, 5, 2, 2, 2, false, true, false",         // stride 2, odd sizes, pad 2
            "6, 5, 3, 5, 1, 1, 0, 3, true, true, false",            // 15 positions: per image
            "7, 13, 17, 13, 3, 1, 1, 3, true, true, false",         // stride-1 masked packing (60 tiles: direct)
            "8, 3, 15, 15, 3, 1, 1, 2, true, true, false",          // <= 6 output channels: unpacked path
    })
    void conv2dResNetPaths(int cin, int cout, int h, int w, int k, int stride, int pad, int b, boolean add, boolean relu,
                           boolean winograd) {
        long seed = 131L * cin + 17L * cout + h * 5L + w + k + stride + b;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k);
             Tensor bt = Rand.uniform(seed + 2, 0.05f, cout);
             Tensor at = add ? Rand.uniform(seed + 3, b, cout, ho, wo) : null) {
            String what = cin + "->" + cout + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b + (add ? " +add" : "")
                    + (relu ? " +relu" : "");
            agree(winograd ? CONV2D_WINOGRAD : TOLERANCE.get(Op.CONV2D), "CONV2D" + (winograd ? " (winograd) " : " ") + what,
                    ops -> ops.conv2d(x, wt, bt, stride, pad, at, relu));
        }
    }

    /**
     * Grouped convolutions: ResNeXt's 3x3 (32 groups of 4 channels at layer1's width, 8 groups here to keep the
     * reference quick; stride 2 as in each stage's first block), depthwise (groups = channels), and awkward group
     * sizes with a bias, a residual and the fused ReLU.
     */
    @ParameterizedTest(name = "grouped conv {0}->{1} g{8} k{4} s{5} p{6} @ {2}x{3} b{7}")
    @CsvSource({
            "128, 128, 14, 14, 3, 1, 1, 2, 32, false",    // resnext50_32x4d layer1 conv2 (spatially reduced)
            "256, 256, 15, 15, 3, 2, 1, 1, 32, true",     // layer2's first block: stride 2, odd size
            "64, 64, 9, 7, 3, 1, 1, 3, 64, true",         // depthwise
            "12, 18, 11, 13, 3, 1, 1, 2, 3, true",        // 4 -> 6 channels per group
            "10, 15, 6, 5, 1, 1, 0, 3, 5, false",         // 1x1
            "6, 4, 9, 9, 5, 2, 2, 1, 2, true",
    })
    void groupedConv2d(int cin, int cout, int h, int w, int k, int stride, int pad, int b, int groups, boolean fused) {
        long seed = 71L * cin + 13L * cout + h + k + groups;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 * groups / (cin * k * k)), cout, cin / groups, k, k);
             Tensor bt = Rand.uniform(seed + 2, 0.05f, cout);
             Tensor at = fused ? Rand.uniform(seed + 3, b, cout, ho, wo) : null) {
            agree(Op.CONV2D, cin + "->" + cout + " g" + groups + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b + (fused ? " +add +relu" : ""),
                    ops -> ops.conv2d(x, wt, bt, stride, pad, groups, at, fused));
        }
    }

    /** A grouped convolution equals the plain convolutions of its groups, concatenated (reference and fast). */
    @Test
    void groupedConv2dIsConvPerGroup() {
        int b = 2, cin = 6, cout = 4, groups = 2;
        try (Tensor x = Rand.uniform(41, b, cin, 7, 6); Tensor w = Rand.uniform(42, 0.4f, cout, cin / groups, 3, 3);
             Tensor bias = Rand.uniform(43, 0.05f, cout)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                try (Tensor y = ops.conv2d(x, w, bias, 1, 1, groups, null, false)) {
                    for (int g = 0; g < groups; g++) {
                        Tensor xg = Tensor.allocate(org.imagenete.tensor.DType.F32, b, cin / groups, 7, 6);
                        for (int s = 0; s < b; s++)
                            for (long i = 0; i < (long) cin / groups * 42; i++)
                                xg.setFloat(s * (cin / groups) * 42L + i, x.getFloat((s * cin + (long) g * cin / groups) * 42 + i));
                        try (xg; Tensor wg = w.slice0(g * cout / groups, cout / groups); Tensor bg = bias.slice0(g * cout / groups, cout / groups);
                             Tensor yg = ops.conv2d(xg, wg, bg, 1, 1)) {
                            for (int s = 0; s < b; s++)
                                for (long i = 0; i < (long) cout / groups * 42; i++)
                                    assertEquals(yg.getFloat(s * (cout / groups) * 42L + i), y.getFloat((s * cout + (long) g * cout / groups) * 42 + i),
                                            1e-6, ops.name() + " group " + g + " element " + i);
                        }
                    }
                }
            }
        }
    }

    /** The fused ReLU is max(0, .) of exactly what the plain convolution returns, on both backends. */
    @Test
    void conv2dReluIsReluOfConv2d() {
        try (Tensor x = Rand.uniform(5, 3, 16, 14, 14); Tensor w = Rand.uniform(6, 0.25f, 24, 16, 3, 3);
             Tensor b = Rand.uniform(7, 0.05f, 24); Tensor a = Rand.uniform(8, 3, 24, 14, 14)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                try (Tensor y = ops.conv2d(x, w, b, 1, 1, a); Tensor r = ops.relu(y); Tensor f = ops.conv2d(x, w, b, 1, 1, a, true)) {
                    long zeros = 0;
                    for (long i = 0; i < f.numel(); i++) {
                        assertEquals(r.getFloat(i), f.getFloat(i), 0f, ops.name() + " element " + i);
                        if (f.getFloat(i) == 0f) zeros++;
                    }
                    org.junit.jupiter.api.Assertions.assertTrue(zeros > f.numel() / 4 && zeros < 3 * f.numel() / 4,
                            "about half the outputs clamped, got " + zeros + " of " + f.numel());
                }
            }
        }
    }

    @ParameterizedTest(name = "linear {0}x{1} -> {2}")
    // up to 4 rows the cpu backend streams the weights (no GEMM): K and M off the 16-lane vector and the thread split
    @CsvSource({"1, 256, 1024", "1, 1024, 2048", "2, 1024, 512", "3, 128, 128", "4, 1000, 37", "4, 33, 2049",
                "32, 2048, 1000", "5, 7, 3"})
    void linear(int n, int in, int out) {
        try (Tensor x = Rand.uniform(n + in, n, in);
             Tensor w = Rand.uniform(out, (float) Math.sqrt(3.0 / in), out, in);
             Tensor b = Rand.uniform(7, 0.05f, out)) {
            agree(Op.LINEAR, n + "x" + in + "->" + out, ops -> ops.linear(x, w, b));
            agree(Op.LINEAR, n + "x" + in + "->" + out + " no bias", ops -> ops.linear(x, w, null));
        }
    }

    @ParameterizedTest(name = "group_norm b{0} c{1} {2}x{3} ss {4} silu {5}")
    @CsvSource({"1, 256, 64, 64, true, true", "1, 512, 32, 32, false, true", "2, 1024, 8, 8, true, true",
            "1, 2048, 8, 8, false, true", "3, 64, 5, 7, true, false", "1, 32, 1, 1, false, false",
            "2, 96, 13, 11, true, true"})
    void groupNorm(int b, int c, int h, int w, boolean ss, boolean silu) {
        try (Tensor x0 = Rand.uniform(c + h, b, c, h, w);
             Tensor x = addOffset(x0, 0.5f);
             Tensor g = Rand.uniform(2, 0.1f, c);
             Tensor be = Rand.uniform(3, 0.05f, c);
             Tensor s = ss ? Rand.uniform(4, 0.5f, b, 2 * c) : null) {
            agree(Op.GROUP_NORM, b + "x" + c + "x" + h + "x" + w, ops -> ops.groupNorm(x, g, be, 32, 1e-5f, s, silu));
            // with statistics (for the gradient): the same output bit for bit, and the reference's mean and 1/sqrt(var + eps)
            Tensor[] f = fast.groupNormWithStats(x, g, be, 32, 1e-5f, s, silu), r = REF.groupNormWithStats(x, g, be, 32, 1e-5f, s, silu);
            try (Tensor fy = f[0]; Tensor fs = f[1]; Tensor ry = r[0]; Tensor rs = r[1];
                 Tensor y = fast.groupNorm(x, g, be, 32, 1e-5f, s, silu)) {
                assertArrayEquals(y.toFloatArray(), fy.toFloatArray(), "group_norm with statistics changed y");
                double[] sf = fs.toDoubleArray(), sr = rs.toDoubleArray();
                assertEquals(b * 32 * 2, sf.length);
                // The cpu backend sums x and x^2 in one pass (fp32 partial sums of 1024 values, float64 across them):
                // mean and variance are good to ~1e-7 of E[x^2]. Compared as variances, since 1/sqrt(var + eps) of a
                // group with (near) zero variance magnifies that ~1e-11 absolute difference against eps = 1e-5.
                for (int i = 0; i < sf.length; i += 2) {
                    double varR = 1 / (sr[i + 1] * sr[i + 1]) - 1e-5, varF = 1 / (sf[i + 1] * sf[i + 1]) - 1e-5;
                    double ex2 = varR + sr[i] * sr[i];
                    assertEquals(sr[i], sf[i], 1e-6 * Math.sqrt(ex2), "mean of group " + i / 2);
                    assertEquals(varR, varF, 1e-6 * ex2, "variance of group " + i / 2);
                }
            }
        }
    }

    /** x + offset (GroupNorm must cope with a mean that is not zero). */
    private static Tensor addOffset(Tensor x, float off) {
        Tensor y = x.copy();
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, y.getFloat(i) + off);
        return y;
    }

    @ParameterizedTest(name = "elementwise {0}")
    @CsvSource({"1, 256, 64, 64", "2, 64, 7, 9", "1, 3, 1, 1", "3, 5, 17, 1"})
    void elementwise(int b, int c, int h, int w) {
        try (Tensor a0 = Rand.uniform(1, b, c, h, w); Tensor a = scale(a0, 12f); Tensor bb = Rand.uniform(2, b, c, h, w);
             Tensor c2 = Rand.uniform(3, b, 2 * c + 1, h, w)) {
            String s = b + "x" + c + "x" + h + "x" + w;
            agree(Op.SILU, s, ops -> ops.silu(a));
            agree(Op.ADD, s, ops -> ops.add(a, bb));
            agree(Op.CONCAT, s, ops -> ops.concat(a, c2));
            agree(Op.UPSAMPLE_NEAREST_2X, s, ops -> ops.upsampleNearest2x(a));
            if (h % 2 == 0 && w % 2 == 0) agree(Op.AVG_POOL_2X, s, ops -> ops.avgPool2x(a));
        }
    }

    @Test
    void avgPoolOddShapes() {
        try (Tensor a = Rand.uniform(5, 3, 5, 6, 10)) {
            agree(Op.AVG_POOL_2X, "3x5x6x10", ops -> ops.avgPool2x(a));
        }
        try (Tensor a = Rand.uniform(6, 1, 1, 2, 2)) {
            agree(Op.AVG_POOL_2X, "1x1x2x2", ops -> ops.avgPool2x(a));
        }
    }

    private static Tensor scale(Tensor x, float s) {
        Tensor y = x.copy();
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, y.getFloat(i) * s);
        return y;
    }

    @ParameterizedTest(name = "attention b{0} heads{1} ch{2} T{3}")
    @CsvSource({"1, 8, 64, 1024", "1, 16, 64, 256", "1, 16, 64, 64", "2, 8, 8, 64", "3, 2, 8, 17", "1, 1, 64, 1", "1, 3, 5, 33",
            // query rows in several blocks, the last one shorter (the CPU backend's blocks of ~64K scores)
            "1, 2, 24, 777", "1, 1, 7, 2500"})
    void attention(int b, int heads, int ch, int t) {
        // qkv of unit-ish scale: logits of order 1-5, as after GroupNorm + qkv conv
        try (Tensor qkv = Rand.uniform(heads * 31L + t, 1.7f, b, 3 * heads * ch, t)) {
            agree(Op.ATTENTION, b + "x" + heads + "x" + ch + " T" + t, ops -> ops.attention(qkv, heads));
        }
    }

    /**
     * The vision transformers' ops at ViT-B/16's shapes (768 channels, 197 tokens; 3072-wide MLP), DeiT-tiny's (192),
     * the head's [B, C] rows, and awkward ones (odd channel counts, one position, token counts not a multiple of the
     * CPU kernel's 256-position block); inputs with a non-zero mean and scales up to 12 (GELU's tails).
     */
    @ParameterizedTest(name = "layer_norm / gelu {0}")
    @CsvSource({"2, 768, 197", "1, 3072, 197", "3, 192, 198", "2, 768, 1", "5, 7, 300", "1, 1, 5", "2, 33, 257", "4, 1000, 0"})
    void transformerOps(int b, int c, int t) {
        int[] dims = t == 0 ? new int[]{b, c} : new int[]{b, c, t};
        try (Tensor x0 = Rand.uniform(c * 3L + t, dims); Tensor x = scale(x0, 3f); Tensor xo = addOffset(x, 0.7f);
             Tensor g0 = Rand.uniform(5, 0.2f, c); Tensor g = addOffset(g0, 1f); Tensor be = Rand.uniform(6, 0.1f, c);
             Tensor wide = scale(x0, 12f)) {
            String s = java.util.Arrays.toString(dims);
            agree(Op.LAYER_NORM, s, ops -> ops.layerNorm(xo, g, be, 1e-6f));
            agree(Op.LAYER_NORM, s + " eps 1e-5", ops -> ops.layerNorm(x, g, be, 1e-5f));
            agree(Op.GELU, s, ops -> ops.gelu(x));
            agree(Op.GELU, s + " x12", ops -> ops.gelu(wide));
        }
    }

    /** The reference GELU against values of torch.nn.functional.gelu in float64 (Debian's python3-torch 1.13.0a0), and LayerNorm by hand. */
    @Test
    void transformerOpsByHand() {
        float[] x = {-6, -3, -1, -0.5f, 0, 0.25f, 1, 2.5f, 5};
        double[] torch = {-5.9195258695e-09, -4.0496940949e-03, -1.5865525393e-01, -1.5426876936e-01, 0, 1.4967658142e-01, 8.4134474607e-01,
                2.4844758367, 4.9999985667};
        try (Tensor t = Tensor.of(x, x.length); Tensor y = REF.gelu(t)) {
            for (int i = 0; i < x.length; i++) assertEquals(torch[i], y.getFloat(i), 1e-7 * Math.max(1, Math.abs(torch[i])) + 1e-15, "gelu(" + x[i] + ")");
        }
        // one position, channels {1, 2, 3, 6}: mean 3, biased variance 3.5
        try (Tensor t = Tensor.of(new float[]{1, 2, 3, 6}, 1, 4); Tensor g = Tensor.of(new float[]{1, 1, 2, 1}, 4);
             Tensor b = Tensor.of(new float[]{0, 0, 0, 1}, 4)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                try (Tensor y = ops.layerNorm(t, g, b, 0)) {
                    double inv = 1 / Math.sqrt(3.5);
                    double[] want = {-2 * inv, -inv, 0, 3 * inv + 1};
                    for (int i = 0; i < 4; i++) assertEquals(want[i], y.getFloat(i), 1e-6, ops.name() + " element " + i);
                }
            }
        }
    }

    @ParameterizedTest(name = "resnet ops b{0} c{1} {2}x{3}")
    @CsvSource({"2, 64, 112, 112", "1, 2048, 7, 7", "3, 5, 9, 11", "1, 6, 1, 1", "2, 3, 2, 3"})
    void resnetOps(int b, int c, int h, int w) {
        try (Tensor x = Rand.uniform(c * 7L + h, b, c, h, w); Tensor q = quantised(x)) {
            String s = b + "x" + c + "x" + h + "x" + w;
            agree(Op.RELU, s, ops -> ops.relu(x));
            agree(Op.GLOBAL_AVG_POOL, s, ops -> ops.globalAvgPool(x));
            if (h + 2 >= 3 && w + 2 >= 3) {
                agree(Op.MAX_POOL, s + " k3s2p1", ops -> ops.maxPool2d(x, 3, 2, 1));
                // ties (small integers) must pick the same first maximum in both
                agree(Op.MAX_POOL, s + " k3s2p1 ties", ops -> ops.maxPool2d(q, 3, 2, 1));
            }
            agree(Op.MAX_POOL, s + " k1s1p0", ops -> ops.maxPool2d(x, 1, 1, 0));
        }
    }

    /** Other windows than ResNet's 3x3/2: the separable (rows, then columns) forward for any k, stride, pad. */
    @ParameterizedTest(name = "max_pool b{0} c{1} {2}x{3} k{4} s{5} p{6}")
    @CsvSource({"2, 3, 8, 8, 2, 2, 0", "1, 4, 9, 7, 3, 1, 1", "2, 2, 17, 19, 5, 3, 2", "1, 3, 5, 33, 4, 2, 2",
            "3, 2, 112, 112, 3, 2, 1", "1, 1, 1, 1, 1, 1, 0", "1, 2, 2, 40, 3, 2, 1"})
    void maxPoolWindows(int b, int c, int h, int w, int k, int s, int p) {
        try (Tensor x = Rand.uniform(k * 100L + h, b, c, h, w); Tensor q = quantised(x)) {
            String what = b + "x" + c + "x" + h + "x" + w + " k" + k + "s" + s + "p" + p;
            agree(Op.MAX_POOL, what, ops -> ops.maxPool2d(x, k, s, p));
            agree(Op.MAX_POOL, what + " ties", ops -> ops.maxPool2d(q, k, s, p));
        }
    }

    /** x rounded to multiples of 0.5: many ties within pooling windows. */
    static Tensor quantised(Tensor x) {
        Tensor y = x.copy();
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, Math.round(y.getFloat(i) * 2) / 2f);
        return y;
    }

    @ParameterizedTest(name = "affine_composite {0}")
    @CsvSource({"identity", "rotate", "shrink", "outside", "odd"})
    void affineComposite(String kind) {
        int b = 2, hs = kind.equals("odd") ? 37 : 64, ws = kind.equals("odd") ? 23 : 48, h = kind.equals("odd") ? 31 : 64, w = kind.equals("odd") ? 29 : 80;
        float[] inv = new float[12];
        for (int s = 0; s < b; s++) {
            double a = kind.equals("rotate") ? 0.3 + s : 0, sc = kind.equals("shrink") ? 2.5 : 1, tx = kind.equals("outside") ? -40 + 70 * s : 3.25 * s;
            float[] m = {(float) (sc * Math.cos(a)), (float) (-sc * Math.sin(a)), (float) tx, (float) (sc * Math.sin(a)), (float) (sc * Math.cos(a)), (float) (1.5 - s)};
            System.arraycopy(m, 0, inv, 6 * s, 6);
        }
        try (Tensor bg = Rand.uniform(1, b, 3, h, w); Tensor src = CudaCheck.premultiplied(Rand.uniform(2, b, 4, hs, ws))) {
            agree(Op.AFFINE_COMPOSITE, kind, ops -> ops.affineComposite(bg, src, inv));
        }
    }

    /** An opaque layer placed with the identity map reproduces its colours exactly; a transparent one the background. */
    @Test
    void affineCompositeIdentityIsExact() {
        try (Tensor bg = Rand.uniform(3, 1, 3, 8, 9); Tensor layer = Rand.uniform(4, 1, 4, 8, 9)) {
            for (int i = 0; i < 72; i++) layer.setFloat(3 * 72 + i, i % 2);   // alpha: 0 or 1 alternating
            for (int c = 0; c < 3; c++) for (int i = 0; i < 72; i++) layer.setFloat(c * 72 + i, layer.getFloat(c * 72 + i) * (i % 2));
            for (Ops ops : new Ops[]{REF, fast}) {
                try (Tensor y = ops.affineComposite(bg, layer, new float[]{1, 0, 0, 0, 1, 0})) {
                    for (int c = 0; c < 3; c++)
                        for (int i = 0; i < 72; i++)
                            assertEquals(i % 2 == 1 ? layer.getFloat(c * 72 + i) : bg.getFloat(c * 72 + i), y.getFloat(c * 72 + i), ops.name());
                    for (int i = 0; i < 72; i++) assertEquals(i % 2, y.getFloat(3 * 72 + i));
                }
            }
        }
    }

    @Test
    void timestepEmbedding() {
        try (Tensor t = Tensor.of(new float[]{0, 37, 404, 912, 999}, 5)) {
            agree(Op.TIMESTEP_EMBEDDING, "t x5", ops -> ops.timestepEmbedding(t, 256));
        }
    }

    @Test
    void bothBackendsRejectBadShapesAlike() {
        try (Tensor x = Rand.uniform(1, 1, 4, 8, 8); Tensor w = Rand.uniform(2, 8, 5, 3, 3); Tensor wg = Rand.uniform(3, 6, 2, 3, 3)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                var e = assertThrows(IllegalArgumentException.class, () -> ops.conv2d(x, w, null, 1, 1));
                assertEquals("conv2d weight [8, 5, 3, 3] expects 5 input channels, input [1, 4, 8, 8] has 4", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> ops.conv2d(x, wg, null, 1, 1, 4, null, false));
                assertEquals("conv2d: 4 groups do not divide the 6 output channels of weight [6, 2, 3, 3]", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> ops.conv2d(x, wg, null, 1, 1, 3, null, false));
                assertEquals("conv2d weight [6, 2, 3, 3] expects 6 input channels (3 groups of 2), input [1, 4, 8, 8] has 4", e.getMessage());
            }
        }
        assertEquals(CpuOps.class, fast.getClass());
    }
}
