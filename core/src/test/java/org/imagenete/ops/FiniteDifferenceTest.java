package org.imagenete.ops;

import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Locale;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every reference input-gradient against central finite differences of the reference forward op, on tiny
 * shapes. For a scalar loss L(x) (mostly L = &lt;c, f(x)&gt; with a random cotangent c, so that grad L = the VJP
 * of c) and random directions d, it checks
 * <pre>  L(x+) - L(x-)  ==  &lt;grad L(x), x+ - x-&gt;,   x+- = fp32(x +- h d)</pre>
 * i.e. the directional derivative, with the perturbation actually applied after rounding x +- h d to fp32
 * (so input rounding is no error source). Losses are summed in float64 from the fp32 outputs.
 * <p>
 * Tolerance: |lhs - rhs| <= {@value #TOL} ||grad L|| ||x+ - x-|| (the Cauchy-Schwarz bound of rhs, so the
 * test is scale-free). Error sources at h = {@value #H}: the fp32 rounding of the outputs, ~6e-8 |y| per
 * element, random-walking to ~1e-5 of the bound; the O(h^2) truncation of the central difference, ~1e-6 for
 * the smooth ops (zero for the linear ones). A wrong gradient (a missing term, a transposed index) gives
 * errors of order 1e-1..1 of the bound.
 */
class FiniteDifferenceTest {
    static final double H = 1e-3;
    static final double TOL = 2e-4;
    static final int DIRECTIONS = 4;
    static final Ops REF = new ReferenceOps();

    /** Checks grad (the gradient of loss at x) along {@link #DIRECTIONS} random directions; returns the worst error. */
    static double check(String what, Tensor x, Function<Tensor, Double> loss, Tensor grad, long seed) {
        assertTrue(grad.shape().equals(x.shape()), what + ": gradient shape " + grad.shape() + " vs input " + x.shape());
        double gnorm = 0;
        for (long i = 0; i < grad.numel(); i++) gnorm += grad.getDouble(i) * grad.getDouble(i);
        gnorm = Math.sqrt(gnorm);
        if (!(gnorm > 0) || !Double.isFinite(gnorm)) fail(what + ": gradient norm " + gnorm);
        double worst = 0;
        for (int k = 0; k < DIRECTIONS; k++) {
            try (Tensor d = Rand.uniform(seed * 101 + k, x.shape().dims()); Tensor xp = x.copy(); Tensor xm = x.copy()) {
                double an = 0, dn = 0;
                for (long i = 0; i < x.numel(); i++) {
                    float p = (float) (x.getDouble(i) + H * d.getDouble(i)), m = (float) (x.getDouble(i) - H * d.getDouble(i));
                    xp.setFloat(i, p);
                    xm.setFloat(i, m);
                    an += grad.getDouble(i) * ((double) p - m);
                    dn += ((double) p - m) * ((double) p - m);
                }
                double fd = loss.apply(xp) - loss.apply(xm);
                double err = Math.abs(fd - an) / (gnorm * Math.sqrt(dn));
                worst = Math.max(worst, err);
                System.out.printf(Locale.ROOT, "%-46s dir %d: fd %+.8e  vjp %+.8e  err %.2e of bound (%.1f%% of tolerance)%n",
                        what, k, fd / (2 * H), an / (2 * H), err, 100 * err / TOL);
                if (err > TOL) fail(what + " direction " + k + ": finite difference " + fd / (2 * H) + " vs VJP " + an / (2 * H)
                        + ", error " + err + " of ||g|| ||dx|| > " + TOL);
            }
        }
        return worst;
    }

    /** L(x) = &lt;c, f(x)&gt; in float64; its gradient is vjp(c). */
    static void checkVjp(String what, Tensor x, Function<Tensor, Tensor> f, Function<Tensor, Tensor> vjp, long seed) {
        Tensor c;
        try (Tensor y = f.apply(x)) {
            c = Rand.uniform(seed + 7, y.shape().dims());
        }
        try (c; Tensor g = vjp.apply(c)) {
            check(what, x, xx -> {
                try (Tensor y = f.apply(xx)) {
                    return dot(c, y);
                }
            }, g, seed);
        }
    }

    static double dot(Tensor a, Tensor b) {
        double s = 0;
        for (long i = 0; i < a.numel(); i++) s += a.getDouble(i) * b.getDouble(i);
        return s;
    }

    @ParameterizedTest(name = "conv_grad {0}->{1} k{4} s{5} p{6} @ {2}x{3} b{7}")
    @CsvSource({"3, 4, 7, 6, 3, 1, 1, 2", "4, 3, 9, 8, 3, 2, 1, 1", "2, 3, 11, 10, 7, 2, 3, 1", "5, 4, 6, 7, 1, 2, 0, 2",
            "3, 2, 5, 5, 5, 1, 2, 1", "2, 3, 4, 5, 3, 1, 3, 1", "3, 3, 1, 1, 3, 1, 1, 1", "2, 2, 8, 9, 3, 3, 1, 1"})
    void conv2d(int cin, int cout, int h, int w, int k, int stride, int pad, int b) {
        long seed = 100L * cin + 10L * k + stride;
        try (Tensor x = Rand.uniform(seed, b, cin, h, w); Tensor wt = Rand.uniform(seed + 1, 0.5f, cout, cin, k, k);
             Tensor bias = Rand.uniform(seed + 2, 0.1f, cout)) {
            checkVjp("conv2d " + cin + "->" + cout + " k" + k + "s" + stride + "p" + pad + " @" + h + "x" + w + " b" + b, x,
                    xx -> REF.conv2d(xx, wt, bias, stride, pad),
                    c -> REF.conv2dGrad(c, wt, stride, pad, h, w), seed);
        }
    }

    /** The grouped convolution's gradient is its adjoint: each group's input channels get only that group's outputs. */
    @ParameterizedTest(name = "grouped conv_grad {0}->{1} g{4} s{3}")
    @CsvSource({"4, 6, 7, 1, 2", "6, 6, 8, 2, 3", "3, 3, 5, 1, 3"})
    void groupedConv2d(int cin, int cout, int h, int stride, int groups) {
        long seed = 300L * cin + groups;
        try (Tensor x = Rand.uniform(seed, 2, cin, h, h + 1); Tensor wt = Rand.uniform(seed + 1, 0.5f, cout, cin / groups, 3, 3);
             Tensor bias = Rand.uniform(seed + 2, 0.1f, cout)) {
            checkVjp("grouped conv2d " + cin + "->" + cout + " g" + groups + " s" + stride, x,
                    xx -> REF.conv2d(xx, wt, bias, stride, 1, groups, null, false),
                    c -> REF.conv2dGrad(c, wt, stride, 1, groups, h, h + 1), seed);
        }
    }

    @Test
    void linear() {
        try (Tensor x = Rand.uniform(1, 3, 5); Tensor w = Rand.uniform(2, 4, 5); Tensor b = Rand.uniform(3, 4)) {
            checkVjp("linear 3x5 -> 4", x, xx -> REF.linear(xx, w, b), c -> REF.linearGrad(c, w), 4);
        }
    }

    @ParameterizedTest(name = "group_norm_grad ss {0} silu {1}")
    @CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void groupNorm(boolean ss, boolean silu) {
        // 2 samples, 8 channels in 2 groups, 3x3 spatial; non-zero mean, gamma around 1, scale-shift of size 0.5
        try (Tensor x0 = Rand.uniform(11, 2, 8, 3, 3); Tensor x = shift(x0, 0.3f);
             Tensor g0 = Rand.uniform(12, 0.3f, 8); Tensor g = shift(g0, 1f); Tensor be = Rand.uniform(13, 0.3f, 8);
             Tensor s = ss ? Rand.uniform(14, 0.5f, 2, 16) : null) {
            checkVjp("group_norm 2x8x3x3 g2" + (ss ? " ss" : "") + (silu ? " silu" : ""), x,
                    xx -> REF.groupNorm(xx, g, be, 2, 1e-5f, s, silu),
                    c -> REF.groupNormGrad(c, x, g, be, 2, 1e-5f, s, silu), 15 + (ss ? 1 : 0) + (silu ? 2 : 0));
        }
    }

    private static Tensor shift(Tensor t, float off) {
        Tensor y = t.copy();
        for (long i = 0; i < y.numel(); i++) y.setFloat(i, y.getFloat(i) + off);
        return y;
    }

    @Test
    void resnetOps() {
        // away from kinks and ties: |x| >= 0.05 so that h = 1e-3 never crosses 0 or reorders a pooling window
        try (Tensor x0 = Rand.uniform(41, 2, 3, 7, 6); Tensor x = awayFromZero(x0)) {
            checkVjp("relu 2x3x7x6", x, REF::relu, c -> {
                try (Tensor y = REF.relu(x)) {
                    return REF.reluGrad(c, y);
                }
            }, 42);
            checkVjp("max_pool k3s2p1 2x3x7x6", x, xx -> REF.maxPool2d(xx, 3, 2, 1), c -> REF.maxPool2dGrad(c, x, 3, 2, 1), 43);
            checkVjp("global_avg_pool 2x3x7x6", x, REF::globalAvgPool, c -> REF.globalAvgPoolGrad(c, 7, 6), 44);
        }
    }

    /** Values spaced at least 0.05 from zero and from each other (distinct, sorted by a permutation). */
    private static Tensor awayFromZero(Tensor t) {
        Tensor y = t.copy();
        int n = (int) y.numel();
        java.util.List<Integer> perm = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) perm.add(i);
        java.util.Collections.shuffle(perm, new java.util.Random(5));
        for (int i = 0; i < n; i++) y.setFloat(perm.get(i), (float) ((i - n / 2 + (i >= n / 2 ? 1 : 0)) * 0.05));
        return y;
    }

    @Test
    void silu() {
        try (Tensor x = Rand.uniform(21, 3f, 2, 3, 4, 5)) {
            checkVjp("silu 2x3x4x5", x, REF::silu, c -> REF.siluGrad(c, x), 22);
        }
    }

    @Test
    void concat() {
        try (Tensor a = Rand.uniform(31, 2, 3, 2, 2); Tensor b = Rand.uniform(32, 2, 2, 2, 2)) {
            checkVjp("concat a", a, aa -> REF.concat(aa, b), c -> first(REF.concatGrad(c, 3), 0), 33);
            checkVjp("concat b", b, bb -> REF.concat(a, bb), c -> first(REF.concatGrad(c, 3), 1), 34);
        }
    }

    /** Keeps element i of a tensor pair, closing the other. */
    private static Tensor first(Tensor[] ts, int i) {
        ts[1 - i].close();
        return ts[i];
    }

    @Test
    void upsampleAndPool() {
        try (Tensor x = Rand.uniform(41, 2, 3, 3, 5); Tensor x2 = Rand.uniform(42, 2, 3, 4, 6)) {
            checkVjp("upsample_nearest_2x 2x3x3x5", x, REF::upsampleNearest2x, REF::upsampleNearest2xGrad, 43);
            checkVjp("avg_pool_2x 2x3x4x6", x2, REF::avgPool2x, REF::avgPool2xGrad, 44);
        }
    }

    @ParameterizedTest(name = "attention b{0} heads{1} ch{2} T{3}")
    @CsvSource({"2, 2, 3, 5", "1, 1, 4, 1", "1, 3, 2, 7"})
    void attention(int b, int heads, int ch, int t) {
        try (Tensor qkv = Rand.uniform(51L + t, 1.7f, b, 3 * heads * ch, t)) {
            checkVjp("attention b" + b + " heads" + heads + " ch" + ch + " T" + t, qkv,
                    q -> REF.attention(q, heads), c -> REF.attentionGrad(c, qkv, heads), 52L + t);
        }
    }

    @ParameterizedTest(name = "fft2 {0}x{1}x{2}")
    @CsvSource({"2, 5, 6", "1, 7, 3", "1, 1, 4", "1, 4, 1"})
    void fft2(int p, int h, int w) {
        try (Tensor x = Rand.uniform(61L + h, p, h, w)) {
            // linear loss <c, F> with a random complex cotangent: grad = fft2Grad(c)
            checkVjp("fft2 <c, F> " + p + "x" + h + "x" + w, x, REF::fft2, REF::fft2Grad, 62L + h);
            // the complexity objective's shape: L = sum_k a_k |F_k| with random weights a > 0,
            // grad = fft2Grad(a F / |F|)
            try (Tensor f = REF.fft2(x); Tensor a = Rand.uniform(63L + h, p, h, w)) {
                float[] g = new float[(int) f.numel()];
                for (int i = 0; i < a.numel(); i++) {
                    double re = f.getDouble(2L * i), im = f.getDouble(2L * i + 1), mag = Math.hypot(re, im);
                    double ai = 1.5 + a.getDouble(i);
                    g[2 * i] = (float) (ai * re / mag);
                    g[2 * i + 1] = (float) (ai * im / mag);
                }
                try (Tensor gc = Tensor.of(g, f.shape().dims()); Tensor grad = REF.fft2Grad(gc)) {
                    check("fft2 sum a|F| " + p + "x" + h + "x" + w, x, xx -> {
                        try (Tensor ff = REF.fft2(xx)) {
                            double s = 0;
                            for (int i = 0; i < a.numel(); i++)
                                s += (1.5 + a.getDouble(i)) * Math.hypot(ff.getDouble(2L * i), ff.getDouble(2L * i + 1));
                            return s;
                        }
                    }, grad, 64L + h);
                }
            }
        }
    }
}
