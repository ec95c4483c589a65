package org.imagenete.ops;

import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Wraps a backend and times every op call by op and input shape, for finding where a model spends its time
 * ({@code -Dimagenete.profile=true} on the commands). Not thread-safe: one model at a time.
 */
public final class ProfilingOps implements Ops {
    private final Ops inner;
    private final Map<String, long[]> stats = new TreeMap<>();   // key -> {calls, nanos}

    public ProfilingOps(Ops inner) { this.inner = inner; }

    private <T> T time(String op, Tensor shapeOf, Supplier<T> f) {
        long t0 = System.nanoTime();
        T r = f.get();
        long[] s = stats.computeIfAbsent(op + " " + (shapeOf == null ? "" : shapeOf.shape().toString()), k -> new long[2]);
        s[0]++;
        s[1] += System.nanoTime() - t0;
        return r;
    }

    /** A table of the ops by total time, largest first. */
    public String report() {
        List<Map.Entry<String, long[]>> es = new ArrayList<>(stats.entrySet());
        es.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
        long total = es.stream().mapToLong(e -> e.getValue()[1]).sum();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-60s %6s %9s %6s%n", "op input-shape", "calls", "ms", "share"));
        for (var e : es)
            sb.append(String.format(Locale.ROOT, "%-60s %6d %9.1f %5.1f%%%n", e.getKey(), e.getValue()[0], e.getValue()[1] / 1e6,
                    100.0 * e.getValue()[1] / total));
        sb.append(String.format(Locale.ROOT, "total %.1f ms%n", total / 1e6));
        return sb.toString();
    }

    public void reset() { stats.clear(); }

    @Override public String name() { return inner.name(); }

    @Override public Set<Op> supports() { return inner.supports(); }

    @Override public DeviceSupport device() { return inner.device(); }

    @Override public Precision convPrecision() { return inner.convPrecision(); }

    @Override public org.imagenete.tensor.DType convWeightType() { return inner.convWeightType(); }

    @Override public Tensor conv2d(Tensor x, Tensor w, Tensor b, int s, int p, int groups, Tensor add, boolean relu) {
        return time("conv2d k" + w.dim(2) + " s" + s + " ->" + w.dim(0) + (groups > 1 ? " g" + groups : "") + (add != null ? " +add" : "")
                + (relu ? " +relu" : ""), x, () -> inner.conv2d(x, w, b, s, p, groups, add, relu));
    }

    @Override public Tensor linear(Tensor x, Tensor w, Tensor b) { return time("linear", x, () -> inner.linear(x, w, b)); }

    @Override public Tensor groupNorm(Tensor x, Tensor g, Tensor b, int groups, float eps, Tensor ss, boolean silu) {
        return time("group_norm", x, () -> inner.groupNorm(x, g, b, groups, eps, ss, silu));
    }

    @Override public Tensor[] groupNormWithStats(Tensor x, Tensor g, Tensor b, int groups, float eps, Tensor ss, boolean silu) {
        return time("group_norm +stats", x, () -> inner.groupNormWithStats(x, g, b, groups, eps, ss, silu));
    }

    @Override public Tensor silu(Tensor x) { return time("silu", x, () -> inner.silu(x)); }

    @Override public Tensor add(Tensor a, Tensor b) { return time("add", a, () -> inner.add(a, b)); }

    @Override public Tensor concat(Tensor a, Tensor b) { return time("concat", a, () -> inner.concat(a, b)); }

    @Override public Tensor upsampleNearest2x(Tensor x) { return time("upsample", x, () -> inner.upsampleNearest2x(x)); }

    @Override public Tensor avgPool2x(Tensor x) { return time("avg_pool", x, () -> inner.avgPool2x(x)); }

    @Override public Tensor attention(Tensor qkv, int heads) { return time("attention", qkv, () -> inner.attention(qkv, heads)); }

    @Override public Tensor timestepEmbedding(Tensor t, int dim) { return time("timestep_embedding", t, () -> inner.timestepEmbedding(t, dim)); }

    @Override public Tensor fft2(Tensor x) { return time("fft2", x, () -> inner.fft2(x)); }

    @Override public Tensor relu(Tensor x) { return time("relu", x, () -> inner.relu(x)); }

    @Override public Tensor maxPool2d(Tensor x, int k, int s, int p) { return time("max_pool", x, () -> inner.maxPool2d(x, k, s, p)); }

    @Override public Tensor globalAvgPool(Tensor x) { return time("global_avg_pool", x, () -> inner.globalAvgPool(x)); }

    @Override public Tensor affineComposite(Tensor bg, Tensor src, float[] inv) { return time("affine_composite", bg, () -> inner.affineComposite(bg, src, inv)); }

    @Override public Tensor layerNorm(Tensor x, Tensor g, Tensor b, float eps) {
        return time("layer_norm " + x.dim(1), x, () -> inner.layerNorm(x, g, b, eps));
    }

    @Override public Tensor gelu(Tensor x) { return time("gelu", x, () -> inner.gelu(x)); }

    @Override public Tensor conv2dGrad(Tensor dy, Tensor w, int s, int p, int groups, int h, int wd) {
        return time("conv2d_grad k" + w.dim(2) + " s" + s + " ->" + w.dim(1) * groups + (groups > 1 ? " g" + groups : ""), dy,
                () -> inner.conv2dGrad(dy, w, s, p, groups, h, wd));
    }

    @Override public Tensor linearGrad(Tensor dy, Tensor w) { return time("linear_grad", dy, () -> inner.linearGrad(dy, w)); }

    @Override public Tensor[] groupNormGradConcat(Tensor dy, Tensor xa, Tensor xb, Tensor g, Tensor b, int groups, float eps, Tensor ss,
                                                 boolean silu, Tensor stats, Tensor add) {
        return time("group_norm_grad concat" + (stats != null ? " +stats" : "") + (add != null ? " +add" : ""), dy,
                () -> inner.groupNormGradConcat(dy, xa, xb, g, b, groups, eps, ss, silu, stats, add));
    }

    @Override public Tensor groupNormGrad(Tensor dy, Tensor x, Tensor g, Tensor b, int groups, float eps, Tensor ss, boolean silu,
                                          Tensor stats, Tensor add) {
        return time("group_norm_grad" + (stats != null ? " +stats" : "") + (add != null ? " +add" : ""), x,
                () -> inner.groupNormGrad(dy, x, g, b, groups, eps, ss, silu, stats, add));
    }

    @Override public Tensor siluGrad(Tensor dy, Tensor x) { return time("silu_grad", x, () -> inner.siluGrad(dy, x)); }

    @Override public Tensor[] concatGrad(Tensor dy, int ca) { return time("concat_grad", dy, () -> inner.concatGrad(dy, ca)); }

    @Override public Tensor upsampleNearest2xGrad(Tensor dy) { return time("upsample_grad", dy, () -> inner.upsampleNearest2xGrad(dy)); }

    @Override public Tensor avgPool2xGrad(Tensor dy) { return time("avg_pool_grad", dy, () -> inner.avgPool2xGrad(dy)); }

    @Override public Tensor attentionGrad(Tensor dy, Tensor qkv, int heads) { return time("attention_grad", qkv, () -> inner.attentionGrad(dy, qkv, heads)); }

    @Override public Tensor fft2Grad(Tensor g) { return time("fft2_grad", g, () -> inner.fft2Grad(g)); }

    @Override public Tensor reluGrad(Tensor dy, Tensor y) { return time("relu_grad", y, () -> inner.reluGrad(dy, y)); }

    @Override public Tensor maxPool2dGrad(Tensor dy, Tensor x, int k, int s, int p) { return time("max_pool_grad", x, () -> inner.maxPool2dGrad(dy, x, k, s, p)); }

    @Override public Tensor globalAvgPoolGrad(Tensor dy, int h, int w) { return time("global_avg_pool_grad", dy, () -> inner.globalAvgPoolGrad(dy, h, w)); }

    @Override public Tensor axpby(Tensor x, Tensor z, Tensor coef, int col) { return time("axpby", x, () -> inner.axpby(x, z, coef, col)); }

    @Override public Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) {
        return time("p_mean_variance", x, () -> inner.pMeanVariance(out, x, coef, col));
    }

    @Override public Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        return time("posterior_sample", mean, () -> inner.posteriorSample(mean, variance, logVariance, g, z, coef, col));
    }

    @Override public Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp) { return time("blend", rest, () -> inner.blend(rest, obj, mask, clamp)); }

    @Override public Tensor philoxNormal(Tensor keys, int purpose, int... dims) { return time("philox_normal", keys, () -> inner.philoxNormal(keys, purpose, dims)); }

    @Override public Tensor spectrumMeanAbs(Tensor f) { return time("spectrum_mean_abs", f, () -> inner.spectrumMeanAbs(f)); }

    @Override public Tensor spectrumScale(Tensor f, Tensor coef, int col) { return time("spectrum_scale", f, () -> inner.spectrumScale(f, coef, col)); }

    @Override public Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col) { return time("range_grad", x, () -> inner.rangeGrad(x, g, coef, col)); }

    @Override public Tensor nonFinite(Tensor x) { return time("non_finite", x, () -> inner.nonFinite(x)); }
}
