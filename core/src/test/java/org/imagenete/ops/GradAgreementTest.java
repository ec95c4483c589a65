package org.imagenete.ops;

import org.imagenete.ops.Tolerances.Tol;
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

import java.util.Arrays;
import java.util.Locale;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * fft2 and the input-gradients of the fast CPU backend against the scalar reference (tolerances in
 * {@link Tolerances}), at the ADM's real channel counts (spatially reduced where the float64
 * reference would be slow), ResNet's strided shapes, and awkward sizes (odd widths, 1x1, batch 3, FFT lengths
 * that need Bluestein). New allocations are poisoned with NaN so that an unwritten output element fails.
 * {@link #timings()} prints (does not assert) the speed of the two kernels the sampler runs most.
 */
class GradAgreementTest {
    static final Ops REF = new ReferenceOps();
    static Ops fast;

    @BeforeAll
    static void setUp() {
        fast = Backends.get("cpu");
        NativeMemory.setPoison(true);
    }

    @AfterAll
    static void tearDown() { NativeMemory.setPoison(false); }

    /** Compares with the op's tolerance, atol multiplied by {@code atolScale} (1 except for the FFT). */
    private static void agree(Op op, String what, double atolScale, Function<Ops, Tensor> f) {
        agree(Tolerances.FP32.get(op), op + " " + what, atolScale, f);
    }

    private static void agree(Tol tol, String what, double atolScale, Function<Ops, Tensor> f) {
        try (Tensor r = f.apply(REF); Tensor a = f.apply(fast)) {
            Compare.assertClose(what, a, r, tol.atol() * atolScale, tol.rtol());
        }
    }

    private static void agree(Op op, String what, Function<Ops, Tensor> f) { agree(op, what, 1, f); }

    @ParameterizedTest(name = "conv_grad {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7}")
    @CsvSource({
            // ADM channel counts (spatially reduced): 3x3 at each width, 1x1 skips, the input and output convs
            "256, 256, 32, 32, 3, 1, 1, 1",
            "512, 256, 16, 16, 3, 1, 1, 1",
            "256, 512, 16, 16, 3, 1, 1, 1",
            "512, 256, 16, 16, 1, 1, 0, 1",
            "768, 512, 8, 8, 3, 1, 1, 1",
            "1024, 1024, 8, 8, 3, 1, 1, 1",
            "2048, 1024, 4, 4, 3, 1, 1, 1",
            "3, 256, 32, 32, 3, 1, 1, 1",
            "256, 6, 24, 24, 3, 1, 1, 1",
            "256, 256, 16, 16, 3, 2, 1, 1",
            // ResNet-50: 7x7 stride-2 stem (odd sizes), 3x3 and 1x1 stride 2, bottleneck 1x1
            "3, 64, 29, 31, 7, 2, 3, 1",
            "3, 64, 32, 32, 7, 2, 3, 2",
            "64, 128, 9, 9, 3, 2, 1, 2",
            "128, 128, 28, 28, 3, 2, 1, 1",
            "256, 512, 14, 14, 1, 2, 0, 1",
            "65, 33, 6, 7, 1, 2, 0, 3",
            "64, 256, 14, 14, 1, 1, 0, 1",
            "13, 7, 5, 9, 1, 1, 0, 3",          // 1x1 at stride 1: w^T dy per image, odd sizes
            // col2im in several column tiles, tiles ending mid-row (Wo = 31)
            "512, 64, 62, 62, 3, 2, 1, 1",
            // awkward: batch 3, odd sizes, 1x1 spatial, K = 5, pad 0, pad > K-1 (general path at stride 1), stride 3
            "7, 13, 17, 13, 3, 1, 1, 3",
            "5, 6, 1, 1, 3, 1, 1, 2",
            "17, 31, 33, 35, 3, 1, 1, 1",
            "4, 5, 9, 8, 5, 1, 1, 1",
            "4, 5, 6, 7, 3, 1, 0, 2",
            "3, 4, 5, 5, 3, 1, 3, 1",
            "6, 4, 8, 9, 3, 3, 1, 1",
            "6, 4, 2, 2, 3, 2, 1, 1",
    })
    void conv2dGrad(int cin, int cout, int h, int w, int k, int stride, int pad, int b) {
        long seed = 31L * cin + 7L * cout + h * 3L + w + k + stride + b;
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Tensor dy = Rand.uniform(seed, b, cout, ho, wo);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k)) {
            agree(Op.CONV2D_GRAD, cin + "->" + cout + " k" + k + "s" + stride + "p" + pad + " @" + h + "x" + w + " b" + b,
                    ops -> ops.conv2dGrad(dy, wt, stride, pad, h, w));
        }
    }

    /** Where the CPU backend takes Winograd (>= 64 4x4 tiles): its weight transform reads w transposed and rotated
     *  in place. Channel counts and sizes off the 16-lane and 4x4-tile grids too. Tolerance as Winograd's forward. */
    @ParameterizedTest(name = "conv_grad winograd {0}->{1} @ {2}x{3} b{4}")
    @CsvSource({"128, 256, 48, 48, 1", "256, 128, 64, 64, 1", "20, 37, 45, 47, 2", "16, 17, 13, 11, 11"})
    void conv2dGradWinograd(int cin, int cout, int h, int w, int b) {
        try (Tensor dy = Rand.uniform(5L * cin + cout + h, b, cout, h, w);
             Tensor wt = Rand.uniform(7L * cout + w, (float) Math.sqrt(3.0 / (cin * 9)), cout, cin, 3, 3)) {
            agree(Tolerances.CONV2D_WINOGRAD, "CONV2D_GRAD (winograd) " + cin + "->" + cout + " @" + h + "x" + w + " b" + b, 1,
                    ops -> ops.conv2dGrad(dy, wt, 1, 1, h, w));
        }
    }

    /** Grouped convolutions' input-gradient (ResNeXt's 3x3 with stride, depthwise, awkward group sizes). */
    @ParameterizedTest(name = "grouped conv_grad {0}->{1} g{7} k{4} s{5} @ {2}x{3} b{6}")
    @CsvSource({"128, 128, 14, 14, 3, 1, 2, 32", "256, 256, 15, 15, 3, 2, 1, 32", "64, 64, 9, 7, 3, 1, 3, 64", "12, 18, 11, 13, 3, 2, 2, 3",
            "10, 15, 6, 5, 1, 1, 3, 5"})
    void groupedConv2dGrad(int cin, int cout, int h, int w, int k, int stride, int b, int groups) {
        int pad = k / 2, ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        long seed = 53L * cin + cout + h + groups;
        try (Tensor dy = Rand.uniform(seed, b, cout, ho, wo);
             Tensor wt = Rand.uniform(seed + 1, (float) Math.sqrt(3.0 * groups / (cin * k * k)), cout, cin / groups, k, k)) {
            agree(Op.CONV2D_GRAD, cin + "->" + cout + " g" + groups + " k" + k + "s" + stride + " @" + h + "x" + w + " b" + b,
                    ops -> ops.conv2dGrad(dy, wt, stride, pad, groups, h, w));
        }
    }

    @Test
    void conv2dGradNonSquareKernel() {
        // KH != KW takes the GEMM + col2im path even at stride 1
        try (Tensor dy = Rand.uniform(11, 2, 6, 9, 7); Tensor wt = Rand.uniform(12, 0.3f, 6, 5, 1, 3)) {
            agree(Op.CONV2D_GRAD, "5->6 k1x3 @9x7 b2", ops -> ops.conv2dGrad(dy, wt, 1, 0, 9, 9));
        }
        try (Tensor dy = Rand.uniform(13, 1, 4, 5, 4); Tensor wt = Rand.uniform(14, 0.3f, 4, 3, 3, 1)) {
            agree(Op.CONV2D_GRAD, "3->4 k3x1 s2 @9x7", ops -> ops.conv2dGrad(dy, wt, 2, 0, 11, 7));
        }
    }

    @ParameterizedTest(name = "linear_grad {0}x{2} <- {1}")
    // up to 4 rows the cpu backend streams the weights, with per-thread partial sums above 64K weights
    @CsvSource({"1, 256, 1024", "1, 1024, 2048", "2, 1024, 512", "3, 128, 128", "4, 1000, 37", "4, 33, 2049",
                "32, 2048, 1000", "5, 7, 3", "1, 1, 1"})
    void linearGrad(int n, int in, int out) {
        try (Tensor dy = Rand.uniform(n + in, n, out); Tensor w = Rand.uniform(out, (float) Math.sqrt(3.0 / in), out, in)) {
            agree(Op.LINEAR_GRAD, n + "x" + out + " -> " + in, ops -> ops.linearGrad(dy, w));
        }
    }

    @ParameterizedTest(name = "group_norm_grad b{0} c{1} {2}x{3} ss {4} silu {5} add {6} saved stats {7}")
    @CsvSource({"1, 256, 64, 64, true, true, false, false", "1, 512, 32, 32, false, true, true, true",
            "2, 1024, 8, 8, true, true, false, true", "1, 2048, 8, 8, false, true, false, false",
            "3, 64, 5, 7, true, false, true, true", "1, 256, 1, 1, false, false, false, false",
            "2, 96, 13, 11, true, true, true, false", "1, 128, 16, 16, false, false, true, true",
            "1, 256, 64, 64, false, true, true, true", "2, 96, 13, 11, true, true, false, true"})
    void groupNormGrad(int b, int c, int h, int w, boolean ss, boolean silu, boolean add, boolean saved) {
        // 1x1 spatial with 256 channels: 8 values per group. With 2 (64 channels) a group can have a variance
        // of ~1e-6, where inv ~ 300 amplifies the fp32 rounding of x itself (the problem is ill-conditioned in
        // fp32 input precision, not the kernel); real groups hold >= 512 values.
        try (Tensor x0 = Rand.uniform(c + h, b, c, h, w);
             Tensor x = offset(x0, 1f, 0.5f);
             Tensor g0 = Rand.uniform(2, 0.2f, c);
             Tensor g = offset(g0, 1f, 1f);
             Tensor be = Rand.uniform(3, 0.2f, c);
             Tensor s = ss ? Rand.uniform(4, 0.5f, b, 2 * c) : null;
             Tensor dy = Rand.uniform(5 + c, b, c, h, w);
             Tensor r = add ? Rand.uniform(6 + c, b, c, h, w) : null) {
            // saved: each backend's own forward statistics (groupNormWithStats), as the ADM's tape holds them
            agree(Op.GROUP_NORM_GRAD, b + "x" + c + "x" + h + "x" + w + (ss ? " ss" : "") + (silu ? " silu" : "") + (add ? " +add" : "")
                            + (saved ? " saved stats" : ""), ops -> {
                if (!saved) return ops.groupNormGrad(dy, x, g, be, 32, 1e-5f, s, silu, null, r);
                Tensor[] fwd = ops.groupNormWithStats(x, g, be, 32, 1e-5f, s, silu);
                fwd[0].close();
                try (Tensor st = fwd[1]) {
                    return ops.groupNormGrad(dy, x, g, be, 32, 1e-5f, s, silu, st, r);
                }
            });
        }
    }

    @ParameterizedTest(name = "group_norm_grad of concat b{0} c{1}+{2} {3}x{4} ss {5} add {6} saved stats {7}")
    @CsvSource({"2, 40, 56, 5, 7, true, true, true",        // groups of 3 channels: group 13 straddles the split
            "1, 512, 256, 16, 16, false, true, true", "1, 256, 256, 8, 8, false, false, true",
            "3, 64, 32, 3, 1, true, true, true", "2, 40, 56, 5, 7, true, true, false"})
    void groupNormGradConcat(int b, int ca, int cb, int h, int w, boolean ss, boolean add, boolean saved) {
        int c = ca + cb;
        try (Tensor xa0 = Rand.uniform(ca + h, b, ca, h, w); Tensor xa = offset(xa0, 1f, 0.5f);
             Tensor xb0 = Rand.uniform(cb + w, b, cb, h, w); Tensor xb = offset(xb0, 1.5f, -0.25f);
             Tensor g0 = Rand.uniform(2, 0.2f, c); Tensor g = offset(g0, 1f, 1f);
             Tensor be = Rand.uniform(3, 0.2f, c);
             Tensor s = ss ? Rand.uniform(4, 0.5f, b, 2 * c) : null;
             Tensor dy = Rand.uniform(5 + c, b, c, h, w);
             Tensor r = add ? Rand.uniform(6 + c, b, c, h, w) : null) {
            // both parts, compared as their concatenation: the gradient of GN over cat([xa, xb])
            agree(Op.GROUP_NORM_GRAD, b + "x(" + ca + "+" + cb + ")x" + h + "x" + w + (ss ? " ss" : "") + (add ? " +add" : "")
                    + (saved ? " saved stats" : ""), ops -> {
                Tensor st = null;
                if (saved) {
                    try (Tensor x = ops.concat(xa, xb)) {
                        Tensor[] fwd = ops.groupNormWithStats(x, g, be, 32, 1e-5f, s, true);
                        fwd[0].close();
                        st = fwd[1];
                    }
                }
                try (Tensor stats = st) {
                    Tensor[] parts = ops.groupNormGradConcat(dy, xa, xb, g, be, 32, 1e-5f, s, true, stats, r);
                    try (Tensor da = parts[0]; Tensor db = parts[1]) {
                        assertEquals(xa.shape(), da.shape());
                        assertEquals(xb.shape(), db.shape());
                        return REF.concat(da, db);
                    }
                }
            });
        }
    }

    /** x * scale + off. */
    private static Tensor offset(Tensor x, float scale, float off) {
        Tensor y = x.copy();
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, y.getFloat(i) * scale + off);
        return y;
    }

    @ParameterizedTest(name = "elementwise grads {0}x{1}x{2}x{3}")
    @CsvSource({"1, 256, 64, 64", "2, 64, 7, 9", "1, 3, 1, 1", "3, 5, 17, 1", "3, 5, 6, 10", "1, 1, 2, 2"})
    void elementwiseGrads(int b, int c, int h, int w) {
        String s = b + "x" + c + "x" + h + "x" + w;
        try (Tensor x0 = Rand.uniform(1, b, c, h, w); Tensor x = offset(x0, 12f, 0f); Tensor dy = Rand.uniform(2, b, c, h, w);
             Tensor dcat = Rand.uniform(3, b, 2 * c + 1, h, w)) {
            agree(Op.SILU_GRAD, s, ops -> ops.siluGrad(dy, x));
            agree(Op.AVG_POOL_2X_GRAD, s, ops -> ops.avgPool2xGrad(dy));
            if (h % 2 == 0 && w % 2 == 0) agree(Op.UPSAMPLE_NEAREST_2X_GRAD, s, ops -> ops.upsampleNearest2xGrad(dy));
            for (int ca : java.util.stream.IntStream.of(c, 1, 2 * c).distinct().toArray()) {
                agree(Op.CONCAT_GRAD, s + " split " + ca + " a", ops -> ops.concatGrad(dcat, ca)[0]);
                agree(Op.CONCAT_GRAD, s + " split " + ca + " b", ops -> ops.concatGrad(dcat, ca)[1]);
            }
        }
    }

    @Test
    void concatGradEmptyHalf() {
        // one side empty: the other is the whole tensor, the empty one has no elements
        try (Tensor dy = Rand.uniform(9, 2, 3, 4, 5)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                Tensor[] r = ops.concatGrad(dy, 0);
                try (Tensor a = r[0]; Tensor bb = r[1]) {
                    assertEquals(0, a.numel());
                    Compare.assertClose(ops.name() + " concat_grad split 0", bb, dy, 0, 0);
                }
            }
        }
    }

    @ParameterizedTest(name = "attention_grad b{0} heads{1} ch{2} T{3}")
    @CsvSource({
            // ADM-256 (64 channels per head): 256 ch at 32x32, 512 at 16x16, 1024 at 8x8
            "1, 4, 64, 1024", "1, 8, 64, 256", "1, 16, 64, 64",
            // awkward: batch, tiny heads, T = 1, odd T
            "2, 8, 8, 64", "3, 2, 8, 17", "1, 1, 64, 1", "1, 3, 5, 33",
            // query rows in several blocks, the last one shorter: dk and dv sum over the blocks
            "1, 2, 24, 777", "1, 1, 7, 2500"})
    void attentionGrad(int b, int heads, int ch, int t) {
        try (Tensor qkv = Rand.uniform(heads * 31L + t, 1.7f, b, 3 * heads * ch, t);
             Tensor dy = Rand.uniform(heads * 17L + t, b, heads * ch, t)) {
            agree(Op.ATTENTION_GRAD, b + "x" + heads + "x" + ch + " T" + t, ops -> ops.attentionGrad(dy, qkv, heads));
        }
    }

    @ParameterizedTest(name = "fft2 {0}")
    @CsvSource(delimiter = ';', value = {"1, 1", "2, 2", "3, 3", "7, 7", "16, 16", "30, 30", "32, 20", "20, 32",
            "1, 1, 256, 256", "1, 13, 250", "2, 3, 7, 16", "3, 255, 3", "1, 1, 9", "5, 1", "2, 45, 24", "1, 17, 64", "1, 64, 48"})
    void fft2(String dims) {
        int[] d = Arrays.stream(dims.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        int h = d[d.length - 2], w = d[d.length - 1];
        double scale = Math.sqrt((double) h * w);
        int[] gd = Arrays.copyOf(d, d.length + 1);
        gd[d.length] = 2;
        try (Tensor x = Rand.uniform(h * 131L + w, d); Tensor g = Rand.uniform(h * 17L + w, gd)) {
            agree(Op.FFT2, dims, scale, ops -> ops.fft2(x));
            agree(Op.FFT2_GRAD, dims, scale, ops -> ops.fft2Grad(g));
        }
    }

    @ParameterizedTest(name = "resnet grads b{0} c{1} {2}x{3}")
    @CsvSource({"2, 64, 112, 112", "1, 2048, 7, 7", "3, 5, 9, 11", "1, 6, 1, 1", "2, 3, 2, 3"})
    void resnetGrads(int b, int c, int h, int w) {
        int ho = (h + 2 - 3) / 2 + 1, wo = (w + 2 - 3) / 2 + 1;
        try (Tensor x = Rand.uniform(c * 3L + h, b, c, h, w); Tensor q = OpsAgreementTest.quantised(x);
             Tensor y = new org.imagenete.ops.ref.ReferenceOps().relu(x); Tensor dy = Rand.uniform(5, b, c, h, w);
             Tensor dyp = Rand.uniform(6, b, c, ho, wo); Tensor dg = Rand.uniform(7, b, c)) {
            String s = b + "x" + c + "x" + h + "x" + w;
            agree(Op.RELU_GRAD, s, ops -> ops.reluGrad(dy, y));
            agree(Op.MAX_POOL_GRAD, s + " k3s2p1", ops -> ops.maxPool2dGrad(dyp, x, 3, 2, 1));
            agree(Op.MAX_POOL_GRAD, s + " k3s2p1 ties", ops -> ops.maxPool2dGrad(dyp, q, 3, 2, 1));
            agree(Op.GLOBAL_AVG_POOL_GRAD, s, ops -> ops.globalAvgPoolGrad(dg, h, w));
        }
    }

    @Test
    void bothBackendsRejectBadGradShapesAlike() {
        try (Tensor dy = Rand.uniform(1, 1, 8, 8, 8); Tensor w = Rand.uniform(2, 8, 4, 3, 3);
             Tensor dl = Rand.uniform(3, 2, 5); Tensor wl = Rand.uniform(4, 6, 3)) {
            for (Ops ops : new Ops[]{REF, fast}) {
                var e = assertThrows(IllegalArgumentException.class, () -> ops.conv2dGrad(dy, w, 2, 1, 8, 8));
                assertEquals("conv2d_grad: dy [1, 8, 8, 8] is not the output of a 8x8 input (expected 4x4)", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> ops.linearGrad(dl, wl));
                assertEquals("linear_grad: dy [2, 5] vs weight [6, 3]", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> ops.concatGrad(dl, 6));
                assertEquals("concat_grad: cannot split [2, 5] at channel 6", e.getMessage());
                e = assertThrows(IllegalArgumentException.class, () -> ops.fft2Grad(dl));
                assertEquals("fft2_grad cotangent needs [..., H, W, 2], got [2, 5]", e.getMessage());
            }
        }
    }

    /**
     * Not an assertion: wall-clock of conv2dGrad 256->256 3x3 at 256x256 next to the forward conv of the same
     * shape (the same GEMM does both), and of fft2 / fft2Grad on [1,3,256,256] (every guided sampling step).
     * Medians of a few runs after a warm-up; poisoning is off so that allocation is not timed as work.
     */
    @Test
    void timings() {
        NativeMemory.setPoison(false);
        try (Tensor x = Rand.uniform(1, 1, 256, 256, 256); Tensor dy = Rand.uniform(2, 1, 256, 256, 256);
             Tensor w = Rand.uniform(3, (float) Math.sqrt(3.0 / (256 * 9)), 256, 256, 3, 3);
             Tensor img = Rand.uniform(4, 1, 3, 256, 256); Tensor spec = fast.fft2(img)) {
            double gflop = 2.0 * 256 * 256 * 9 * 256 * 256 / 1e9;
            double fwd = median(3, () -> fast.conv2d(x, w, null, 1, 1));
            double bwd = median(3, () -> fast.conv2dGrad(dy, w, 1, 1, 256, 256));
            System.out.printf(Locale.ROOT, "timing conv2d      256->256 3x3 @256x256: %8.1f ms (%.0f GFLOP/s)%n", fwd * 1e3, gflop / fwd);
            System.out.printf(Locale.ROOT, "timing conv2d_grad 256->256 3x3 @256x256: %8.1f ms (%.0f GFLOP/s), %.2fx the forward%n",
                    bwd * 1e3, gflop / bwd, bwd / fwd);
            double f = median(20, () -> fast.fft2(img));
            double fg = median(20, () -> fast.fft2Grad(spec));
            System.out.printf(Locale.ROOT, "timing fft2      [1,3,256,256]: %.3f ms%ntiming fft2_grad [1,3,256,256]: %.3f ms%n", f * 1e3, fg * 1e3);
        } finally {
            NativeMemory.setPoison(true);
        }
    }

    /** Median seconds of {@code reps} runs after one warm-up run. */
    private static double median(int reps, java.util.function.Supplier<Tensor> op) {
        op.get().close();
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            Tensor y = op.get();
            t[i] = (System.nanoTime() - t0) * 1e-9;
            y.close();
        }
        Arrays.sort(t);
        return t[reps / 2];
    }
}
