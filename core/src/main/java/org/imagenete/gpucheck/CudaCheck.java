package org.imagenete.gpucheck;

import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Tolerances;
import org.imagenete.ops.Tolerances.Tol;
import org.imagenete.ops.cuda.CudaOps;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.SeededRandom;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;

/**
 * Every op of a fast backend (CUDA, and the CPU's sampler ops) against a reference backend, case by case, with the tolerance table of
 * {@link Tolerances}: the checks CI runs on the emulated device (small shapes: the emulator is slow) and
 * {@link GpuCheck} runs on a GPU (the ADM's real channel counts, spatially reduced, like the CPU agreement tests).
 * Inputs are seeded uniform [-1, 1] (scaled where an op needs it) plus awkward sizes: odd widths, 1x1 spatial,
 * batch 3, strides, several tiles in every GEMM dimension. Output memory, host and device, is poisoned by the
 * caller (NaN) so an unwritten element fails.
 *
 * <p>It lives in main code (not tests) so that a GPU node can run it from the jar alone.
 */
public final class CudaCheck {
    private CudaCheck() {}

    /** One comparison: errors, share of the tolerance used, and whether it passed (with the reason if not). */
    public record Result(String what, Op op, double maxAbs, double maxRel, double relL2, double used, long n, boolean pass, String detail) {
        public String line() {
            return String.format(Locale.ROOT, "%-4s %-52s max|d| %.3g, max rel %.3g, rel L2 %.3g, %.1f%% of tolerance, n=%d%s",
                    pass ? "ok" : "FAIL", what, maxAbs, maxRel, relL2, 100 * used, n, pass ? "" : "\n     " + detail);
        }
    }

    /** A group of comparisons sharing inputs. */
    public record Case(String name, Set<Op> ops, Body body) {
        @Override public String toString() { return name; }
    }

    @FunctionalInterface
    public interface Body {
        void run(Checker c);
    }

    /**
     * Runs comparisons of fast backends (CUDA in any precision, or the CPU's) against {@code ref}, collecting results.
     * The reference runs once per comparison; the 16-bit CUDA backends are compared only on the ops their precision
     * changes (the convolutions), every other op runs the same fp32 kernels in all of them.
     */
    public static final class Checker {
        final Ops ref;
        final List<Ops> fast;
        final List<Result> results = new ArrayList<>();

        public Checker(Ops ref, List<? extends Ops> fast) {
            this.ref = ref;
            this.fast = List.copyOf(fast);
        }

        public List<Result> results() { return results; }

        /** The operand dtype of a backend's convolutions (the tolerance table's key). */
        static DType operands(Ops o) { return o instanceof CudaOps c ? c.precision().operands() : DType.F32; }

        void agree(Op op, String what, Function<Ops, Tensor> f) { agree(op, what, 1, f); }

        /** Compares f(fast) with f(ref); atol is multiplied by atolScale (the FFT's sqrt(HW)). */
        void agree(Op op, String what, double atolScale, Function<Ops, Tensor> f) {
            List<Ops> todo = fast.stream().filter(c -> operands(c) == DType.F32 || Tolerances.lowPrecision(op, operands(c))).toList();
            if (todo.isEmpty()) return;
            String opName = op.name().toLowerCase(Locale.ROOT) + " " + what;
            Tensor r;
            try {
                r = f.apply(ref);
            } catch (RuntimeException e) {
                results.add(new Result(ref.name() + " " + opName, op, Double.NaN, Double.NaN, Double.NaN, Double.POSITIVE_INFINITY, 0, false,
                        "the reference failed: " + e));
                return;
            }
            try (r) {
                for (Ops c : todo) {
                    Tol tol = Tolerances.of(op, operands(c));
                    String name = c.name() + " " + opName;
                    try (Tensor a = f.apply(c)) {
                        results.add(compare(name, op, a, r, tol.atol() * atolScale, tol.rtol(), Tolerances.relL2(op, operands(c))));
                    } catch (RuntimeException e) {
                        results.add(new Result(name, op, Double.NaN, Double.NaN, Double.NaN, Double.POSITIVE_INFINITY, 0, false, e.toString()));
                    }
                }
            }
        }
    }

    /** |a - r| <= atol + rtol |r| everywhere, relative L2 error <= relL2, a finite non-zero output, a non-zero reference. */
    public static Result compare(String what, Op op, Tensor actual, Tensor ref, double atol, double rtol, double relL2Max) {
        if (!actual.shape().equals(ref.shape()))
            return new Result(what, op, Double.NaN, Double.NaN, Double.NaN, Double.POSITIVE_INFINITY, 0, false,
                    "shape " + actual.shape() + ", want " + ref.shape());
        long n = ref.numel();
        double maxAbs = 0, maxRel = 0, used = 0, num = 0, den = 0, norm = 0;
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (long i = 0; i < n; i++) {
            double a = actual.getFloat(i), r = ref.getFloat(i);
            if (!Double.isFinite(a)) {
                if (bad++ < 5) first.append(String.format(Locale.ROOT, " [%d] got %s want %.7g;", i, a, r));
                used = Double.POSITIVE_INFINITY;
                continue;
            }
            double d = Math.abs(a - r), tol = atol + rtol * Math.abs(r);
            maxAbs = Math.max(maxAbs, d);
            if (r != 0) maxRel = Math.max(maxRel, d / Math.abs(r));
            used = Math.max(used, d == 0 ? 0 : d / tol);
            num += d * d;
            den += r * r;
            norm += a * a;
            if (d > tol && bad++ < 5) first.append(String.format(Locale.ROOT, " [%d] got %.7g want %.7g (|d| %.3g > %.3g);", i, a, r, d, tol));
        }
        double relL2 = den == 0 ? (num == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(num / den);
        String why = null;
        if (bad > 0) why = bad + " elements outside atol " + atol + " + rtol " + rtol + ":" + first;
        else if (n > 0 && den == 0) why = "reference is all zeros: the comparison would prove nothing";
        else if (n > 0 && !(norm > 0)) why = "output norm is zero";
        else if (relL2 > relL2Max) why = String.format(Locale.ROOT, "relative L2 error %.3g > %.3g", relL2, relL2Max);
        return new Result(what, op, maxAbs, maxRel, relL2, used, n, why == null, why);
    }

    // ---------------------------------------------------------------------------------------------- inputs
    /** Seeded uniform [-scale, scale) floats (the same stream as the tests' Rand). */
    public static Tensor uniform(long seed, float scale, int... dims) { return SeededRandom.uniform(seed, scale, dims); }

    static Tensor affine(Tensor x, float scale, float off) {
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        for (long i = 0; i < x.numel(); i++) y.setFloat(i, x.getFloat(i) * scale + off);
        return y;
    }

    /** x rounded to multiples of 0.5: many ties within pooling windows. */
    static Tensor quantised(Tensor x) {
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        for (long i = 0; i < x.numel(); i++) y.setFloat(i, Math.round(x.getFloat(i) * 2) / 2f);
        return y;
    }

    // ---------------------------------------------------------------------------------------------- cases
    /**
     * Every case. {@code full}: the ADM's channel counts (spatially reduced) and ResNet's strided shapes, as the CPU
     * agreement tests use; otherwise small shapes with the same awkward edges, for the emulator.
     */
    public static List<Case> cases(boolean full) {
        List<Case> cs = new ArrayList<>();
        String[] conv = full ? new String[]{
                "3,256,32,32,3,1,1,1,1,0", "256,256,32,32,3,1,1,1,1,1", "512,256,16,16,3,1,1,1,1,0", "512,256,16,16,1,1,0,1,1,1",
                "1024,1024,8,8,3,1,1,1,1,1", "2048,1024,4,4,3,1,1,1,1,0", "256,6,24,24,3,1,1,1,1,0", "256,256,16,16,3,2,1,1,1,0",
                "3,64,29,31,7,2,3,1,0,0", "64,128,9,9,3,2,1,2,1,0", "128,128,28,28,3,2,1,1,0,0", "256,512,14,14,1,2,0,1,1,0",
                "7,13,17,13,3,1,1,3,1,1", "5,6,1,1,3,1,1,2,0,0", "65,33,6,7,1,2,0,3,1,0", "17,31,33,35,3,1,1,1,1,1"}
                : new String[]{
                "3,32,16,16,3,1,1,1,1,0", "32,64,8,8,3,1,1,2,1,1", "64,32,9,7,1,1,0,3,0,1", "5,6,1,1,3,1,1,2,0,0",
                "3,8,29,31,7,2,3,1,0,0", "16,24,9,9,3,2,1,2,1,0", "17,31,13,11,3,1,1,1,1,1", "96,64,8,8,3,1,1,1,1,1",
                "33,65,5,5,1,2,0,3,1,0", "6,4,8,9,3,3,1,1,1,0", "4,5,9,8,5,1,1,1,0,0"};
        for (String s : conv) {
            int[] v = java.util.Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
            int cin = v[0], cout = v[1], h = v[2], w = v[3], k = v[4], st = v[5], p = v[6], b = v[7];
            boolean bias = v[8] == 1, add = v[9] == 1;
            String name = "conv " + cin + "->" + cout + " k" + k + " s" + st + " p" + p + " @" + h + "x" + w + " b" + b
                    + (bias ? " bias" : "") + (add ? " add" : "");
            cs.add(new Case(name, EnumSet.of(Op.CONV2D, Op.CONV2D_GRAD), c -> {
                long seed = 31L * cin + 7L * cout + h * 3L + w + k + st + b;
                int ho = (h + 2 * p - k) / st + 1, wo = (w + 2 * p - k) / st + 1;
                try (Tensor x = uniform(seed, 1, b, cin, h, w);
                     Tensor wt = uniform(seed + 1, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k);
                     Tensor bt = bias ? uniform(seed + 2, 0.05f, cout) : null;
                     Tensor at = add ? uniform(seed + 3, 1, b, cout, ho, wo) : null;
                     Tensor dy = uniform(seed + 4, 1, b, cout, ho, wo)) {
                    c.agree(Op.CONV2D, name.substring(5), ops -> ops.conv2d(x, wt, bt, st, p, at));
                    // the fused ReLU (ResNet's conv-BN-ReLU) on the cases with a bias
                    if (bias) c.agree(Op.CONV2D, name.substring(5) + " relu", ops -> ops.conv2d(x, wt, bt, st, p, at, true));
                    c.agree(Op.CONV2D_GRAD, name.substring(5), ops -> ops.conv2dGrad(dy, wt, st, p, h, w));
                }
            }));
        }
        // grouped convolutions (ResNeXt's 3x3, depthwise, awkward group sizes): cin, cout, h, w, stride, b, groups
        int[][] grouped = full ? new int[][]{{128, 128, 28, 28, 1, 2, 32}, {256, 256, 15, 15, 2, 1, 32}, {512, 512, 7, 7, 1, 2, 32},
                {64, 64, 9, 7, 1, 3, 64}, {12, 18, 11, 13, 2, 2, 3}}
                : new int[][]{{32, 32, 8, 8, 1, 2, 8}, {64, 64, 7, 9, 2, 1, 32}, {16, 16, 5, 7, 1, 3, 16}, {12, 18, 11, 13, 2, 2, 3}, {10, 15, 6, 5, 1, 1, 5}};
        for (int[] v : grouped) {
            int cin = v[0], cout = v[1], h = v[2], w = v[3], st = v[4], b = v[5], groups = v[6];
            String name = "grouped conv " + cin + "->" + cout + " g" + groups + " s" + st + " @" + h + "x" + w + " b" + b;
            cs.add(new Case(name, EnumSet.of(Op.CONV2D, Op.CONV2D_GRAD), c -> {
                long seed = 71L * cin + 13L * cout + h + groups;
                int ho = (h + 2 - 3) / st + 1, wo = (w + 2 - 3) / st + 1;
                try (Tensor x = uniform(seed, 1, b, cin, h, w);
                     Tensor wt = uniform(seed + 1, (float) Math.sqrt(3.0 * groups / (cin * 9)), cout, cin / groups, 3, 3);
                     Tensor bt = uniform(seed + 2, 0.05f, cout); Tensor at = uniform(seed + 3, 1, b, cout, ho, wo);
                     Tensor dy = uniform(seed + 4, 1, b, cout, ho, wo)) {
                    String d = name.substring(13);
                    c.agree(Op.CONV2D, d, ops -> ops.conv2d(x, wt, bt, st, 1, groups, null, false));
                    c.agree(Op.CONV2D, d + " add relu", ops -> ops.conv2d(x, wt, bt, st, 1, groups, at, true));
                    c.agree(Op.CONV2D_GRAD, d, ops -> ops.conv2dGrad(dy, wt, st, 1, groups, h, w));
                }
            }));
        }
        cs.add(new Case("conv non-square kernels", EnumSet.of(Op.CONV2D, Op.CONV2D_GRAD), c -> {
            try (Tensor x = uniform(10, 1, 2, 5, 9, 9); Tensor dy = uniform(11, 1, 2, 6, 9, 7); Tensor wt = uniform(12, 0.3f, 6, 5, 1, 3)) {
                c.agree(Op.CONV2D, "5->6 k1x3 @9x9 b2", ops -> ops.conv2d(x, wt, null, 1, 0, null));
                c.agree(Op.CONV2D_GRAD, "5->6 k1x3 @9x9 b2", ops -> ops.conv2dGrad(dy, wt, 1, 0, 9, 9));
            }
        }));
        int[][] lin = full ? new int[][]{{1, 256, 1024}, {1, 1024, 2048}, {2, 1024, 512}, {3, 128, 128}, {32, 2048, 1000}, {5, 7, 3}}
                : new int[][]{{1, 32, 128}, {2, 128, 64}, {3, 7, 5}, {5, 300, 70}, {1, 1, 1}, {9, 64, 33}};
        for (int[] l : lin) {
            int n = l[0], in = l[1], out = l[2];
            cs.add(new Case("linear " + n + "x" + in + "->" + out, EnumSet.of(Op.LINEAR, Op.LINEAR_GRAD), c -> {
                try (Tensor x = uniform(n + in, 1, n, in); Tensor w = uniform(out, (float) Math.sqrt(3.0 / in), out, in);
                     Tensor b = uniform(7, 0.05f, out); Tensor dy = uniform(n + out, 1, n, out)) {
                    String s = n + "x" + in + "->" + out;
                    c.agree(Op.LINEAR, s, ops -> ops.linear(x, w, b));
                    c.agree(Op.LINEAR, s + " no bias", ops -> ops.linear(x, w, null));
                    c.agree(Op.LINEAR_GRAD, s, ops -> ops.linearGrad(dy, w));
                }
            }));
        }
        String[] gn = full ? new String[]{"1,256,64,64,1,1", "1,512,32,32,0,1", "2,1024,8,8,1,1", "1,2048,8,8,0,1", "3,64,5,7,1,0",
                "1,256,1,1,0,0", "2,96,13,11,1,1"}
                : new String[]{"1,64,8,8,1,1", "2,32,5,7,1,0", "1,256,1,1,0,0", "2,96,13,11,1,1", "1,64,64,64,0,1", "1,32,128,96,1,1"};
        for (String s : gn) {
            int[] v = java.util.Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
            int b = v[0], ch = v[1], h = v[2], w = v[3];
            boolean ss = v[4] == 1, silu = v[5] == 1;
            String name = "group_norm " + b + "x" + ch + "x" + h + "x" + w + (ss ? " ss" : "") + (silu ? " silu" : "");
            cs.add(new Case(name, EnumSet.of(Op.GROUP_NORM, Op.GROUP_NORM_GRAD), c -> {
                try (Tensor x0 = uniform(ch + h, 1, b, ch, h, w); Tensor x = affine(x0, 1, 0.5f);
                     Tensor g0 = uniform(2, 0.2f, ch); Tensor g = affine(g0, 1, 1);
                     Tensor be = uniform(3, 0.2f, ch); Tensor sst = ss ? uniform(4, 0.5f, b, 2 * ch) : null;
                     Tensor dy = uniform(5 + ch, 1, b, ch, h, w); Tensor r = uniform(6 + ch, 1, b, ch, h, w)) {
                    String d = name.substring(11);
                    c.agree(Op.GROUP_NORM, d, ops -> ops.groupNorm(x, g, be, 32, 1e-5f, sst, silu));
                    c.agree(Op.GROUP_NORM_GRAD, d, ops -> ops.groupNormGrad(dy, x, g, be, 32, 1e-5f, sst, silu));
                    c.agree(Op.GROUP_NORM_GRAD, d + " +add, saved stats", ops -> {
                        Tensor[] fwd = ops.groupNormWithStats(x, g, be, 32, 1e-5f, sst, silu);
                        fwd[0].close();
                        try (Tensor st = fwd[1]) {
                            return ops.groupNormGrad(dy, x, g, be, 32, 1e-5f, sst, silu, st, r);
                        }
                    });
                }
            }));
        }
        int[][] ew = full ? new int[][]{{1, 256, 64, 64}, {2, 64, 7, 9}, {1, 3, 1, 1}, {3, 5, 17, 1}, {3, 5, 6, 10}}
                : new int[][]{{1, 16, 16, 16}, {2, 3, 7, 9}, {1, 3, 1, 1}, {3, 5, 17, 1}, {3, 5, 6, 10}, {1, 1, 2, 2}};
        for (int[] e : ew) {
            int b = e[0], ch = e[1], h = e[2], w = e[3];
            String s = b + "x" + ch + "x" + h + "x" + w;
            cs.add(new Case("elementwise " + s, EnumSet.of(Op.SILU, Op.SILU_GRAD, Op.ADD, Op.CONCAT, Op.CONCAT_GRAD,
                    Op.UPSAMPLE_NEAREST_2X, Op.UPSAMPLE_NEAREST_2X_GRAD, Op.AVG_POOL_2X, Op.AVG_POOL_2X_GRAD), c -> {
                try (Tensor a0 = uniform(1, 1, b, ch, h, w); Tensor a = affine(a0, 12, 0); Tensor bb = uniform(2, 1, b, ch, h, w);
                     Tensor c2 = uniform(3, 1, b, 2 * ch + 1, h, w); Tensor dy = uniform(4, 1, b, ch, h, w)) {
                    c.agree(Op.SILU, s, ops -> ops.silu(a));
                    c.agree(Op.SILU_GRAD, s, ops -> ops.siluGrad(dy, a));
                    c.agree(Op.ADD, s, ops -> ops.add(a, bb));
                    c.agree(Op.CONCAT, s, ops -> ops.concat(a, c2));
                    for (int ca : java.util.stream.IntStream.of(ch, 1, 2 * ch).distinct().toArray()) {
                        c.agree(Op.CONCAT_GRAD, s + " split " + ca + " a", ops -> first(ops.concatGrad(c2, ca), 0));
                        c.agree(Op.CONCAT_GRAD, s + " split " + ca + " b", ops -> first(ops.concatGrad(c2, ca), 1));
                    }
                    c.agree(Op.UPSAMPLE_NEAREST_2X, s, ops -> ops.upsampleNearest2x(a));
                    c.agree(Op.AVG_POOL_2X_GRAD, s, ops -> ops.avgPool2xGrad(dy));
                    if (h % 2 == 0 && w % 2 == 0) {
                        c.agree(Op.AVG_POOL_2X, s, ops -> ops.avgPool2x(a));
                        c.agree(Op.UPSAMPLE_NEAREST_2X_GRAD, s, ops -> ops.upsampleNearest2xGrad(dy));
                    }
                }
            }));
        }
        int[][] att = full ? new int[][]{{1, 8, 64, 1024}, {1, 16, 64, 256}, {1, 16, 64, 64}, {2, 8, 8, 64}, {3, 2, 8, 17}, {1, 1, 64, 1},
                {1, 3, 5, 33}, {1, 2, 96, 200}}
                : new int[][]{{1, 4, 8, 64}, {2, 2, 8, 17}, {1, 1, 64, 1}, {1, 3, 5, 33}, {1, 2, 64, 130}, {1, 1, 80, 40}, {2, 8, 8, 256}};
        for (int[] a : att) {
            int b = a[0], heads = a[1], ch = a[2], t = a[3];
            String s = b + "x" + heads + "x" + ch + " T" + t + (ch > 64 ? " (materialised)" : "");
            cs.add(new Case("attention " + s, EnumSet.of(Op.ATTENTION, Op.ATTENTION_GRAD), c -> {
                try (Tensor qkv = uniform(heads * 31L + t, 1.7f, b, 3 * heads * ch, t); Tensor dy = uniform(heads * 17L + t, 1, b, heads * ch, t)) {
                    c.agree(Op.ATTENTION, s, ops -> ops.attention(qkv, heads));
                    c.agree(Op.ATTENTION_GRAD, s, ops -> ops.attentionGrad(dy, qkv, heads));
                }
            }));
        }
        // the vision transformers' ops: b, channels, tokens (0: a [B, C] matrix)
        int[][] vit = full ? new int[][]{{2, 768, 197}, {1, 3072, 197}, {3, 192, 198}, {2, 768, 0}, {5, 7, 300}, {2, 33, 257}}
                : new int[][]{{2, 192, 17}, {1, 768, 5}, {3, 7, 33}, {2, 64, 0}, {1, 1, 3}};
        for (int[] v : vit) {
            int b = v[0], ch = v[1], t = v[2];
            int[] dims = t == 0 ? new int[]{b, ch} : new int[]{b, ch, t};
            String s = java.util.Arrays.toString(dims);
            cs.add(new Case("layer_norm / gelu " + s, EnumSet.of(Op.LAYER_NORM, Op.GELU), c -> {
                try (Tensor x0 = uniform(ch * 3L + t, 3, dims); Tensor x = affine(x0, 1, 0.7f); Tensor wide = affine(x0, 4, 0);
                     Tensor g0 = uniform(5, 0.2f, ch); Tensor g = affine(g0, 1, 1); Tensor be = uniform(6, 0.1f, ch)) {
                    c.agree(Op.LAYER_NORM, s, ops -> ops.layerNorm(x, g, be, 1e-6f));
                    c.agree(Op.GELU, s, ops -> ops.gelu(x0));
                    c.agree(Op.GELU, s + " x12", ops -> ops.gelu(wide));
                }
            }));
        }
        cs.add(new Case("timestep embedding", EnumSet.of(Op.TIMESTEP_EMBEDDING), c -> {
            try (Tensor t = Tensor.of(new float[]{0, 37, 404, 912, 999}, 5)) {
                c.agree(Op.TIMESTEP_EMBEDDING, "t x5 dim 256", ops -> ops.timestepEmbedding(t, 256));
                c.agree(Op.TIMESTEP_EMBEDDING, "t x5 dim 6", ops -> ops.timestepEmbedding(t, 6));
            }
        }));
        String[] fft = full ? new String[]{"1,1", "7,7", "16,16", "30,30", "32,20", "1,1,256,256", "1,13,250", "2,3,7,16", "3,255,3", "2,45,24", "1,64,48"}
                : new String[]{"1,1", "2,2", "3,3", "7,7", "16,16", "2,3,7,16", "1,13,25", "5,1", "1,17,64", "3,20,32"};
        for (String s : fft) {
            int[] d = java.util.Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
            cs.add(new Case("fft2 " + s, EnumSet.of(Op.FFT2, Op.FFT2_GRAD), c -> {
                int h = d[d.length - 2], w = d[d.length - 1];
                double scale = Math.sqrt((double) h * w);
                int[] gd = java.util.Arrays.copyOf(d, d.length + 1);
                gd[d.length] = 2;
                try (Tensor x = uniform(h * 131L + w, 1, d); Tensor g = uniform(h * 17L + w, 1, gd)) {
                    c.agree(Op.FFT2, s, scale, ops -> ops.fft2(x));
                    c.agree(Op.FFT2_GRAD, s, scale, ops -> ops.fft2Grad(g));
                }
            }));
        }
        int[][] rn = full ? new int[][]{{2, 64, 112, 112}, {1, 2048, 7, 7}, {3, 5, 9, 11}, {1, 6, 1, 1}, {2, 3, 2, 3}}
                : new int[][]{{2, 16, 20, 20}, {1, 64, 7, 7}, {3, 5, 9, 11}, {1, 6, 1, 1}, {2, 3, 2, 3}};
        for (int[] r : rn) {
            int b = r[0], ch = r[1], h = r[2], w = r[3];
            String s = b + "x" + ch + "x" + h + "x" + w;
            cs.add(new Case("resnet ops " + s, EnumSet.of(Op.RELU, Op.RELU_GRAD, Op.MAX_POOL, Op.MAX_POOL_GRAD, Op.GLOBAL_AVG_POOL,
                    Op.GLOBAL_AVG_POOL_GRAD), c -> {
                int ho = (h + 2 - 3) / 2 + 1, wo = (w + 2 - 3) / 2 + 1;
                try (Tensor x = uniform(ch * 7L + h, 1, b, ch, h, w); Tensor q = quantised(x); Tensor y = affine(x, 1, 0.1f);
                     Tensor dy = uniform(5, 1, b, ch, h, w); Tensor dyp = uniform(6, 1, b, ch, ho, wo); Tensor dg = uniform(7, 1, b, ch)) {
                    c.agree(Op.RELU, s, ops -> ops.relu(x));
                    c.agree(Op.RELU_GRAD, s, ops -> ops.reluGrad(dy, y));
                    c.agree(Op.GLOBAL_AVG_POOL, s, ops -> ops.globalAvgPool(x));
                    c.agree(Op.GLOBAL_AVG_POOL_GRAD, s, ops -> ops.globalAvgPoolGrad(dg, h, w));
                    c.agree(Op.MAX_POOL, s + " k3s2p1", ops -> ops.maxPool2d(x, 3, 2, 1));
                    c.agree(Op.MAX_POOL, s + " k3s2p1 ties", ops -> ops.maxPool2d(q, 3, 2, 1));
                    c.agree(Op.MAX_POOL, s + " k1s1p0", ops -> ops.maxPool2d(x, 1, 1, 0));
                    c.agree(Op.MAX_POOL_GRAD, s + " k3s2p1", ops -> ops.maxPool2dGrad(dyp, x, 3, 2, 1));
                    c.agree(Op.MAX_POOL_GRAD, s + " k3s2p1 ties", ops -> ops.maxPool2dGrad(dyp, q, 3, 2, 1));
                }
            }));
        }
        for (String kind : new String[]{"identity", "rotate", "shrink", "outside", "odd"}) {
            cs.add(new Case("affine_composite " + kind, EnumSet.of(Op.AFFINE_COMPOSITE), c -> {
                boolean odd = kind.equals("odd");
                int b = 2, hs = odd ? 37 : (full ? 64 : 24), ws = odd ? 23 : (full ? 48 : 20), h = odd ? 31 : (full ? 64 : 28), w = odd ? 29 : (full ? 80 : 36);
                float[] inv = new float[12];
                for (int s = 0; s < b; s++) {
                    double a = kind.equals("rotate") ? 0.3 + s : 0, sc = kind.equals("shrink") ? 2.5 : 1, tx = kind.equals("outside") ? -40 + 70 * s : 3.25 * s;
                    float[] m = {(float) (sc * Math.cos(a)), (float) (-sc * Math.sin(a)), (float) tx, (float) (sc * Math.sin(a)),
                            (float) (sc * Math.cos(a)), (float) (1.5 - s)};
                    System.arraycopy(m, 0, inv, 6 * s, 6);
                }
                try (Tensor bg = uniform(1, 1, b, 3, h, w); Tensor rgba = uniform(2, 1, b, 4, hs, ws); Tensor src = premultiplied(rgba)) {
                    c.agree(Op.AFFINE_COMPOSITE, kind, ops -> ops.affineComposite(bg, src, inv));
                }
            }));
        }
        cs.addAll(samplerCases(full));
        return cs;
    }

    /**
     * The sampler's ops ({@link Ops#axpby} ... {@link Ops#nonFinite}) at batch 1-3 and awkward sizes: 1x1, odd sides,
     * element counts that are not multiples of 4 (Philox blocks) and cross the CPU's 4096-element reduction chunks, zero
     * coefficients next to NaN operands (the zero-coefficient rule), clamped values, zero spectra, and NaN/Inf in some
     * samples only. {@code full} adds the ADM-256 image size. The CPU agreement test (SamplerOpsAgreementTest) runs these
     * same cases against the native kernels.
     */
    public static List<Case> samplerCases(boolean full) {
        List<Case> cs = new ArrayList<>();
        List<int[]> shapes = new ArrayList<>(List.of(new int[]{1, 3, 1, 1}, new int[]{3, 3, 7, 5}, new int[]{2, 3, 32, 32},
                new int[]{1, 3, 40, 37}, new int[]{2, 1, 3, 2}));
        if (full) {
            shapes.add(new int[]{2, 3, 256, 256});
            shapes.add(new int[]{1, 3, 255, 257});
        }
        EnumSet<Op> ops = EnumSet.of(Op.AXPBY, Op.P_MEAN_VARIANCE, Op.POSTERIOR_SAMPLE, Op.BLEND, Op.PHILOX_NORMAL, Op.SPECTRUM_MEAN_ABS,
                Op.SPECTRUM_SCALE, Op.RANGE_GRAD, Op.NONFINITE_COUNT);
        for (int[] d : shapes) {
            int b = d[0], ch = d[1], h = d[2], w = d[3];
            long seed = 1000L * b + 100L * ch + 10L * h + w;
            String s = b + "x" + ch + "x" + h + "x" + w;
            cs.add(new Case("sampler ops " + s, ops, c -> {
                int[] img = {b, ch, h, w}, twice = {b, 2 * ch, h, w}, spec = {b, ch, h, w, 2};
                try (Tensor x = uniform(seed, 1.6f, img); Tensor z0 = uniform(seed + 1, 1, img); Tensor z = withNaN(z0);
                     Tensor out = uniform(seed + 2, 1, twice); Tensor coef = samplerCoefficients(seed + 3, b);
                     Tensor mean = uniform(seed + 4, 1, img); Tensor v0 = uniform(seed + 5, 0.01f, img); Tensor var = affine(v0, 1, 0.011f);
                     Tensor lv = uniform(seed + 6, 2, img); Tensor g = uniform(seed + 7, 1, img);
                     Tensor m0 = uniform(seed + 8, 0.5f, b, 1, h, w); Tensor mask = affine(m0, 1, 0.5f);
                     Tensor f0 = uniform(seed + 9, 30, spec); Tensor f = withZeros(f0); Tensor keys = philoxKeys(seed + 10, b);
                     Tensor bad0 = uniform(seed + 11, 1, img); Tensor bad = withNonFinite(bad0)) {
                    c.agree(Op.AXPBY, s + " a x + c z + d", o -> o.axpby(x, z, coef, 0));
                    c.agree(Op.AXPBY, s + " no z", o -> o.axpby(x, null, coef, 3));
                    for (int k = 0; k < 5; k++) {
                        int out_ = k;
                        c.agree(Op.P_MEAN_VARIANCE, s + " output " + k, o -> pick(o.pMeanVariance(out, x, coef, 6), out_));
                    }
                    c.agree(Op.POSTERIOR_SAMPLE, s + " guided, noise", o -> o.posteriorSample(mean, var, lv, g, z0, coef, 12));
                    c.agree(Op.POSTERIOR_SAMPLE, s + " unguided", o -> o.posteriorSample(mean, var, lv, null, z0, coef, 12));
                    c.agree(Op.POSTERIOR_SAMPLE, s + " guided mean", o -> o.posteriorSample(mean, var, lv, g, null, coef, 12));
                    c.agree(Op.BLEND, s, o -> o.blend(x, g, mask, false));
                    c.agree(Op.BLEND, s + " clamped", o -> o.blend(x, g, mask, true));
                    c.agree(Op.PHILOX_NORMAL, s + " purpose 1", o -> o.philoxNormal(keys, 1, img));
                    c.agree(Op.PHILOX_NORMAL, s + " purpose 5, other shape", o -> o.philoxNormal(keys, 5, b, h * w * ch + 3));
                    c.agree(Op.SPECTRUM_MEAN_ABS, s, o -> o.spectrumMeanAbs(f));
                    c.agree(Op.SPECTRUM_SCALE, s, o -> o.spectrumScale(f, coef, 13));
                    c.agree(Op.RANGE_GRAD, s + " gradient", o -> pick(o.rangeGrad(x, g, coef, 14), 0));
                    c.agree(Op.RANGE_GRAD, s + " mean square", o -> pick(o.rangeGrad(x, g, coef, 14), 1));
                    c.agree(Op.RANGE_GRAD, s + " no g", o -> pick(o.rangeGrad(x, null, coef, 14), 0));
                    c.agree(Op.NONFINITE_COUNT, s, o -> o.nonFinite(bad));
                }
            }));
        }
        return cs;
    }

    /** Output k of a multi-output op; the others are closed. */
    private static Tensor pick(Tensor[] outs, int k) {
        for (int i = 0; i < outs.length; i++) if (i != k) outs[i].close();
        return outs[k];
    }

    /**
     * A coefficient table [B, 16] for {@link #samplerCases}: columns 0-2 (a, c, d) with c = 0 in sample 0 (whose z holds
     * a NaN: the zero-coefficient rule must keep it out), 3-5 another axpby with a = 0 in the last sample, 6-11
     * p_mean_variance's scalars near the schedule's values, 12 the noise flag (0 in sample 0), 13 a spectrum weight,
     * 14 a range weight (0 in the last sample of a batch), 15 unused.
     */
    static Tensor samplerCoefficients(long seed, int b) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] t = new float[16 * b];
        for (int s = 0; s < b; s++) {
            float[] row = {(float) r.nextDouble(-1, 1), s == 0 ? 0 : (float) r.nextDouble(-1, 1), (float) r.nextDouble(-1, 1),
                    s == b - 1 ? 0 : (float) r.nextDouble(-2, 2), (float) r.nextDouble(-2, 2), (float) r.nextDouble(-0.5, 0.5),
                    (float) r.nextDouble(-7, -3), (float) r.nextDouble(-9, -5), (float) r.nextDouble(1, 3), (float) r.nextDouble(0.1, 2.5),
                    (float) r.nextDouble(0.01, 0.5), (float) r.nextDouble(0.5, 1), s == 0 ? 0 : 1, (float) r.nextDouble(-1e-3, 1e-3),
                    s == b - 1 && b > 1 ? 0 : (float) r.nextDouble(1e-3, 1e-2), 0};
            System.arraycopy(row, 0, t, 16 * s, 16);
        }
        return Tensor.of(t, b, 16);
    }

    /** Philox keys [B, 4] I32: seeds with both halves set, steps past 2^32 (the stream's high word). */
    static Tensor philoxKeys(long seed, int b) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        Tensor k = Tensor.allocate(DType.I32, b, 4);
        java.lang.foreign.MemorySegment m = k.data();
        for (int i = 0; i < 4 * b; i++) m.setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, i, i % 4 == 3 ? r.nextInt(0, 3) : r.nextInt());
        return k;
    }

    /** A copy with a NaN at element 0 (sample 0). */
    static Tensor withNaN(Tensor x) {
        Tensor y = x.copy();
        y.setFloat(0, Float.NaN);
        return y;
    }

    /** A copy with every 7th complex value exactly zero (|F| = 0: the scaled spectrum must be 0 there). */
    static Tensor withZeros(Tensor f) {
        Tensor y = f.copy();
        for (long i = 0; i < y.numel() / 2; i += 7) {
            y.setFloat(2 * i, 0);
            y.setFloat(2 * i + 1, 0);
        }
        return y;
    }

    /** A copy with NaN and +-Inf in every sample but the first. */
    static Tensor withNonFinite(Tensor x) {
        Tensor y = x.copy();
        long per = y.numel() / y.dim(0);
        for (int s = 1; s < y.dim(0); s++) {
            y.setFloat(s * per + per - 1, Float.NaN);
            if (per > 2) y.setFloat(s * per + per / 2, s % 2 == 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY);
            if (per > 4) y.setFloat(s * per + 3, Float.NaN);
        }
        return y;
    }

    private static Tensor first(Tensor[] pair, int keep) {
        pair[1 - keep].close();
        return pair[keep];
    }

    /** Random RGBA with alpha in [0, 1] and colour premultiplied by it (also the CPU agreement test's layer). */
    public static Tensor premultiplied(Tensor rgba) {
        Tensor y = Tensor.allocate(DType.F32, rgba.shape());
        int b = y.dim(0), hw = y.dim(2) * y.dim(3);
        for (int s = 0; s < b; s++)
            for (int i = 0; i < hw; i++) {
                float a = (rgba.getFloat((s * 4L + 3) * hw + i) + 1) / 2;
                y.setFloat((s * 4L + 3) * hw + i, a);
                for (int c = 0; c < 3; c++) y.setFloat((s * 4L + c) * hw + i, rgba.getFloat((s * 4L + c) * hw + i) * a);
            }
        return y;
    }

    /** The ops a case list covers (a test checks it is every op). */
    public static Set<Op> covered(List<Case> cases) {
        EnumSet<Op> s = EnumSet.noneOf(Op.class);
        cases.forEach(c -> s.addAll(c.ops()));
        return s;
    }
}
