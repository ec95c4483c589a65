package org.imagenete.ops;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.util.Arrays;

/** Argument checks shared by every backend, so that all of them reject the same inputs the same way. */
public final class Checks {
    private Checks() {}

    public static void f32(String what, Tensor t) {
        if (t == null) throw new IllegalArgumentException(what + " is missing");
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(what + " must be F32, got " + t.dtype());
    }

    public static void rank(String what, Tensor t, int rank) {
        f32(what, t);
        if (t.rank() != rank)
            throw new IllegalArgumentException(what + " must have rank " + rank + ", got shape " + t.shape());
    }

    public static void shape(String what, Tensor t, int... dims) {
        f32(what, t);
        if (!t.shape().equals(Shape.of(dims)))
            throw new IllegalArgumentException(what + " must have shape " + Arrays.toString(dims) + ", got " + t.shape());
    }

    /** A conv weight [Cout,Cin,KH,KW]: F32, or also BF16 when the backend takes bf16 weights. */
    private static void convWeight(String what, Tensor w, boolean bf16) {
        if (w == null) throw new IllegalArgumentException(what + " is missing");
        if (w.dtype() != DType.F32 && !(bf16 && w.dtype() == DType.BF16))
            throw new IllegalArgumentException(what + " must be F32" + (bf16 ? " or BF16" : " (BF16 weights are for the cpu backend)")
                    + ", got " + w.dtype());
        if (w.rank() != 4) throw new IllegalArgumentException(what + " must have rank 4, got shape " + w.shape());
    }

    /** Output shape of {@link Ops#conv2d}, after checking every argument (F32 weights). */
    public static int[] conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, Tensor add) {
        return conv2d(x, w, bias, stride, pad, 1, add, false);
    }

    /** Output shape of a grouped {@link Ops#conv2d}, after checking every argument (F32 weights). */
    public static int[] conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, int groups, Tensor add) {
        return conv2d(x, w, bias, stride, pad, groups, add, false);
    }

    /** The same, also accepting BF16 weights when {@code bf16}. */
    public static int[] conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, int groups, Tensor add, boolean bf16) {
        rank("conv2d input", x, 4);
        convWeight("conv2d weight", w, bf16);
        int b = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        groups(w, groups);
        if ((long) w.dim(1) * groups != cin)
            throw new IllegalArgumentException("conv2d weight " + w.shape() + " expects " + (long) w.dim(1) * groups
                    + " input channels" + (groups > 1 ? " (" + groups + " groups of " + w.dim(1) + ")" : "") + ", input " + x.shape() + " has " + cin);
        if (stride < 1 || pad < 0) throw new IllegalArgumentException("conv2d stride " + stride + " pad " + pad);
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
        if (h + 2 * pad < kh || wd + 2 * pad < kw || ho < 1 || wo < 1)
            throw new IllegalArgumentException("conv2d kernel " + kh + "x" + kw + " larger than padded input " + x.shape());
        if (bias != null) shape("conv2d bias", bias, cout);
        int[] out = {b, cout, ho, wo};
        if (add != null) shape("conv2d residual", add, out);
        return out;
    }

    public static int[] linear(Tensor x, Tensor w, Tensor bias) {
        rank("linear input", x, 2);
        rank("linear weight", w, 2);
        if (w.dim(1) != x.dim(1))
            throw new IllegalArgumentException("linear weight " + w.shape() + " expects " + w.dim(1)
                    + " features, input " + x.shape() + " has " + x.dim(1));
        if (bias != null) shape("linear bias", bias, w.dim(0));
        return new int[]{x.dim(0), w.dim(0)};
    }

    public static void groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, Tensor scaleShift) {
        f32("group_norm input", x);
        if (x.rank() < 2) throw new IllegalArgumentException("group_norm input must be [B,C,...], got " + x.shape());
        int c = x.dim(1);
        if (groups < 1 || c % groups != 0)
            throw new IllegalArgumentException("group_norm: " + c + " channels not divisible into " + groups + " groups");
        shape("group_norm weight", gamma, c);
        shape("group_norm bias", beta, c);
        if (scaleShift != null) shape("group_norm scale-shift", scaleShift, x.dim(0), 2 * c);
    }

    /** GroupNorm statistics saved by {@code groupNormWithStats} for x: F64 [B, groups, 2]. */
    public static void groupNormStats(Tensor stats, Tensor x, int groups) {
        if (stats == null) return;
        if (stats.dtype() != DType.F64 || !stats.shape().equals(Shape.of(x.dim(0), groups, 2)))
            throw new IllegalArgumentException("group_norm statistics must be F64 [" + x.dim(0) + ", " + groups + ", 2], got "
                    + stats.dtype() + stats.shape());
    }

    public static void layerNorm(Tensor x, Tensor gamma, Tensor beta) {
        f32("layer_norm input", x);
        if (x.rank() < 2) throw new IllegalArgumentException("layer_norm input must be [B,C,...], got " + x.shape());
        shape("layer_norm weight", gamma, x.dim(1));
        shape("layer_norm bias", beta, x.dim(1));
    }

    public static void same(String op, Tensor a, Tensor b) {
        f32(op + " lhs", a);
        f32(op + " rhs", b);
        if (!a.shape().equals(b.shape()))
            throw new IllegalArgumentException(op + ": shapes differ: " + a.shape() + " vs " + b.shape());
    }

    public static int[] concat(Tensor a, Tensor b) {
        f32("concat lhs", a);
        f32("concat rhs", b);
        int[] da = a.shape().dims(), db = b.shape().dims();
        boolean ok = da.length == db.length && da.length >= 2 && da[0] == db[0];
        for (int i = 2; ok && i < da.length; i++) ok = da[i] == db[i];
        if (!ok) throw new IllegalArgumentException("concat along channels needs equal batch and spatial dims: "
                + a.shape() + " vs " + b.shape());
        da[1] += db[1];
        return da;
    }

    public static void spatial(String op, Tensor x, boolean even) {
        rank(op + " input", x, 4);
        if (even && (x.dim(2) % 2 != 0 || x.dim(3) % 2 != 0))
            throw new IllegalArgumentException(op + " needs even height and width, got " + x.shape());
    }

    public static void attention(Tensor qkv, int heads) {
        rank("attention qkv", qkv, 3);
        int c3 = qkv.dim(1);
        if (heads < 1 || c3 % (3 * heads) != 0)
            throw new IllegalArgumentException("attention: qkv has " + c3 + " channels, not 3 x heads(" + heads + ") x ch");
    }

    public static void timestep(Tensor t, int dim) {
        rank("timesteps", t, 1);
        if (dim < 2 || dim % 2 != 0) throw new IllegalArgumentException("timestep embedding width must be even, got " + dim);
    }

    /** Groups must divide the output channels of w [Cout, Cin/groups, KH, KW]. */
    private static void groups(Tensor w, int groups) {
        if (groups < 1 || w.dim(0) % groups != 0)
            throw new IllegalArgumentException("conv2d: " + groups + " groups do not divide the " + w.dim(0) + " output channels of weight " + w.shape());
    }

    public static void conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int h, int wdt) {
        conv2dGrad(dy, w, stride, pad, 1, h, wdt, false);
    }

    public static void conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int groups, int h, int wdt) {
        conv2dGrad(dy, w, stride, pad, groups, h, wdt, false);
    }

    /** The same, also accepting BF16 weights when {@code bf16}. */
    public static void conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int groups, int h, int wdt, boolean bf16) {
        rank("conv2d_grad dy", dy, 4);
        convWeight("conv2d_grad weight", w, bf16);
        groups(w, groups);
        if (dy.dim(1) != w.dim(0))
            throw new IllegalArgumentException("conv2d_grad: dy " + dy.shape() + " has " + dy.dim(1) + " channels, weight " + w.shape() + " makes " + w.dim(0));
        if (stride < 1 || pad < 0 || h < 1 || wdt < 1) throw new IllegalArgumentException("conv2d_grad stride " + stride + " pad " + pad + " size " + h + "x" + wdt);
        int ho = (h + 2 * pad - w.dim(2)) / stride + 1, wo = (wdt + 2 * pad - w.dim(3)) / stride + 1;
        if (dy.dim(2) != ho || dy.dim(3) != wo)
            throw new IllegalArgumentException("conv2d_grad: dy " + dy.shape() + " is not the output of a " + h + "x" + wdt
                    + " input (expected " + ho + "x" + wo + ")");
    }

    /** Checks an fft2 input [..., H, W]; returns the output's dims [..., H, W, 2]. */
    public static int[] fft2(Tensor x) {
        f32("fft2 input", x);
        if (x.rank() < 2) throw new IllegalArgumentException("fft2 input needs [..., H, W], got " + x.shape());
        int[] d = x.shape().dims(), o = java.util.Arrays.copyOf(d, d.length + 1);
        o[d.length] = 2;
        return o;
    }

    /** Checks an fft2_grad cotangent [..., H, W, 2]; returns the input-gradient's dims [..., H, W]. */
    public static int[] fft2Grad(Tensor g) {
        f32("fft2_grad cotangent", g);
        if (g.rank() < 3 || g.dim(-1) != 2) throw new IllegalArgumentException("fft2_grad cotangent needs [..., H, W, 2], got " + g.shape());
        return java.util.Arrays.copyOf(g.shape().dims(), g.rank() - 1);
    }

    public static void linearGrad(Tensor dy, Tensor w) {
        rank("linear_grad dy", dy, 2);
        rank("linear_grad weight", w, 2);
        if (dy.dim(1) != w.dim(0)) throw new IllegalArgumentException("linear_grad: dy " + dy.shape() + " vs weight " + w.shape());
    }

    /** The two output shapes of {@link Ops#concatGrad}. */
    public static int[][] concatGrad(Tensor dy, int channelsA) {
        f32("concat_grad dy", dy);
        int[] d = dy.shape().dims();
        if (d.length < 2 || channelsA < 0 || channelsA > d[1])
            throw new IllegalArgumentException("concat_grad: cannot split " + dy.shape() + " at channel " + channelsA);
        int[] da = d.clone(), db = d.clone();
        da[1] = channelsA;
        db[1] = d[1] - channelsA;
        return new int[][]{da, db};
    }

    /** Output shape of {@link Ops#maxPool2d}. */
    public static int[] maxPool(Tensor x, int k, int stride, int pad) {
        rank("max_pool input", x, 4);
        if (k < 1 || stride < 1 || pad < 0 || 2 * pad > k)
            throw new IllegalArgumentException("max_pool window " + k + " stride " + stride + " pad " + pad + " (pad at most k/2)");
        int ho = (x.dim(2) + 2 * pad - k) / stride + 1, wo = (x.dim(3) + 2 * pad - k) / stride + 1;
        if (ho < 1 || wo < 1) throw new IllegalArgumentException("max_pool window " + k + " larger than padded input " + x.shape());
        return new int[]{x.dim(0), x.dim(1), ho, wo};
    }

    public static void maxPoolGrad(Tensor dy, Tensor x, int k, int stride, int pad) {
        shape("max_pool_grad dy", dy, maxPool(x, k, stride, pad));
    }

    public static void globalAvgPoolGrad(Tensor dy, int h, int w) {
        rank("global_avg_pool_grad dy", dy, 2);
        if (h < 1 || w < 1) throw new IllegalArgumentException("global_avg_pool_grad size " + h + "x" + w);
    }

    public static void affineComposite(Tensor bg, Tensor src, float[] inverse) {
        rank("affine_composite background", bg, 4);
        rank("affine_composite layer", src, 4);
        if (src.dim(0) != bg.dim(0) || src.dim(1) != bg.dim(1) + 1)
            throw new IllegalArgumentException("affine_composite: layer " + src.shape() + " must be [" + bg.dim(0) + ","
                    + (bg.dim(1) + 1) + ",h,w] (premultiplied colour + alpha) for background " + bg.shape());
        if (inverse == null || inverse.length != 6 * bg.dim(0))
            throw new IllegalArgumentException("affine_composite needs 6 coefficients per sample, got "
                    + (inverse == null ? 0 : inverse.length) + " for " + bg.dim(0));
        for (float v : inverse) if (!Float.isFinite(v)) throw new IllegalArgumentException("affine_composite: non-finite transform " + java.util.Arrays.toString(inverse));
    }

    // ---- the sampler's ops ----

    /** A per-sample scalar table coef [B,K] with columns col..col+n-1 for a batch of b. */
    public static void coef(String op, Tensor coef, int col, int n, int b) {
        rank(op + " coefficients", coef, 2);
        if (coef.dim(0) != b || col < 0 || col + n > coef.dim(1))
            throw new IllegalArgumentException(op + ": coefficients " + coef.shape() + " need " + b + " rows and columns "
                    + col + ".." + (col + n - 1));
    }

    /** x [B,...] (rank >= 1, B >= 1) for a per-sample op; returns B. */
    public static int batched(String what, Tensor x) {
        f32(what, x);
        if (x.rank() < 1 || x.dim(0) < 1) throw new IllegalArgumentException(what + " must be [B,...] with B >= 1, got " + x.shape());
        return x.dim(0);
    }

    public static void axpby(Tensor x, Tensor z, Tensor coef, int col) {
        int b = batched("axpby x", x);
        if (z != null) same("axpby", x, z);
        coef("axpby", coef, col, 3, b);
    }

    /** Checks p_mean_variance's arguments; returns the dims of each output (x's). */
    public static int[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) {
        int b = batched("p_mean_variance x", x);
        if (x.rank() < 2) throw new IllegalArgumentException("p_mean_variance x must be [B,C,...], got " + x.shape());
        int[] want = x.shape().dims();
        want[1] *= 2;
        shape("p_mean_variance model output", out, want);
        coef("p_mean_variance", coef, col, 6, b);
        return x.shape().dims();
    }

    public static void posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        int b = batched("posterior_sample mean", mean);
        same("posterior_sample variance", mean, variance);
        same("posterior_sample log variance", mean, logVariance);
        if (g != null) same("posterior_sample g", mean, g);
        if (z != null) same("posterior_sample noise", mean, z);
        coef("posterior_sample", coef, col, 1, b);
    }

    public static void blend(Tensor rest, Tensor obj, Tensor mask) {
        rank("blend image", rest, 4);
        same("blend", rest, obj);
        shape("blend mask", mask, rest.dim(0), 1, rest.dim(2), rest.dim(3));
    }

    public static void philoxNormal(Tensor keys, int purpose, int[] dims) {
        if (keys == null) throw new IllegalArgumentException("philox keys are missing");
        if (keys.dtype() != org.imagenete.tensor.DType.I32 || keys.rank() != 2 || keys.dim(1) != 4)
            throw new IllegalArgumentException("philox keys must be I32 [B,4] (seed lo, seed hi, step lo, step hi), got " + keys.dtype() + keys.shape());
        if (dims == null || dims.length < 1 || dims[0] != keys.dim(0))
            throw new IllegalArgumentException("philox_normal dims " + Arrays.toString(dims) + " must start with the batch " + keys.dim(0));
        Shape.of(dims);
        if (purpose < 0 || purpose > 255) throw new IllegalArgumentException("philox purpose " + purpose + " outside 0..255");
    }

    /** A complex spectrum [B,...,2]. */
    public static void spectrum(String op, Tensor f) {
        batched(op + " spectrum", f);
        if (f.rank() < 2 || f.dim(-1) != 2) throw new IllegalArgumentException(op + " needs a spectrum [B,...,2], got " + f.shape());
    }

    public static void rangeGrad(Tensor x, Tensor g, Tensor coef, int col) {
        int b = batched("range_grad x", x);
        if (g != null) same("range_grad", x, g);
        coef("range_grad", coef, col, 1, b);
    }
}
