package org.imagenete.ops.ref;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.util.EnumSet;
import java.util.Set;

/**
 * The definition of every op: plain loops over float arrays, float64 accumulation, one thread, never
 * optimised. Every other backend is tested against this one.
 */
public final class ReferenceOps implements Ops {

    @Override public String name() { return "reference"; }

    @Override public Set<Op> supports() { return EnumSet.allOf(Op.class); }

    private static Tensor out(float[] v, int... dims) { return Tensor.of(v, dims); }

    @Override
    public Tensor conv2d(Tensor xt, Tensor wt, Tensor bt, int stride, int pad, Tensor addt) {
        int[] o = Checks.conv2d(xt, wt, bt, stride, pad, addt);
        int bn = xt.dim(0), cin = xt.dim(1), h = xt.dim(2), w = xt.dim(3);
        int cout = o[1], ho = o[2], wo = o[3], kh = wt.dim(2), kw = wt.dim(3);
        float[] x = xt.toFloatArray(), wv = wt.toFloatArray();
        float[] bias = bt == null ? null : bt.toFloatArray();
        float[] add = addt == null ? null : addt.toFloatArray();
        float[] y = new float[bn * cout * ho * wo];
        for (int b = 0; b < bn; b++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        double acc = bias == null ? 0 : bias[co];
                        for (int ci = 0; ci < cin; ci++)
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * stride + ky - pad;
                                if (iy < 0 || iy >= h) continue;
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * stride + kx - pad;
                                    if (ix < 0 || ix >= w) continue;
                                    acc += (double) wv[((co * cin + ci) * kh + ky) * kw + kx]
                                            * x[((b * cin + ci) * h + iy) * w + ix];
                                }
                            }
                        int i = ((b * cout + co) * ho + oy) * wo + ox;
                        y[i] = (float) (add == null ? acc : acc + add[i]);
                    }
        return out(y, o);
    }

    @Override
    public Tensor linear(Tensor xt, Tensor wt, Tensor bt) {
        int[] o = Checks.linear(xt, wt, bt);
        int n = o[0], m = o[1], k = xt.dim(1);
        float[] x = xt.toFloatArray(), w = wt.toFloatArray();
        float[] bias = bt == null ? null : bt.toFloatArray();
        float[] y = new float[n * m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double acc = bias == null ? 0 : bias[j];
                for (int p = 0; p < k; p++) acc += (double) x[i * k + p] * w[j * k + p];
                y[i * m + j] = (float) acc;
            }
        return out(y, o);
    }

    @Override
    public Tensor groupNorm(Tensor xt, Tensor gt, Tensor bt, int groups, float eps, Tensor sst, boolean silu) {
        Checks.groupNorm(xt, gt, bt, groups, sst);
        int bn = xt.dim(0), c = xt.dim(1);
        int hw = (int) (xt.numel() / ((long) bn * c));
        int cg = c / groups;
        float[] x = xt.toFloatArray(), gamma = gt.toFloatArray(), beta = bt.toFloatArray();
        float[] ss = sst == null ? null : sst.toFloatArray();
        float[] y = new float[x.length];
        for (int b = 0; b < bn; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw, n = cg * hw;
                double sum = 0;
                for (int i = 0; i < n; i++) sum += x[base + i];
                double mean = sum / n, sq = 0;
                for (int i = 0; i < n; i++) {
                    double d = x[base + i] - mean;
                    sq += d * d;
                }
                double inv = 1.0 / Math.sqrt(sq / n + eps);
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc;
                    for (int i = 0; i < hw; i++) {
                        int idx = base + cc * hw + i;
                        double v = (x[idx] - mean) * inv * gamma[ch] + beta[ch];
                        if (ss != null) v = v * (1.0 + ss[b * 2 * c + ch]) + ss[b * 2 * c + c + ch];
                        if (silu) v = silu(v);
                        y[idx] = (float) v;
                    }
                }
            }
        return out(y, xt.shape().dims());
    }

    private static double silu(double v) { return v / (1.0 + Math.exp(-v)); }

    @Override
    public Tensor silu(Tensor xt) {
        Checks.f32("silu input", xt);
        float[] x = xt.toFloatArray();
        for (int i = 0; i < x.length; i++) x[i] = (float) silu(x[i]);
        return out(x, xt.shape().dims());
    }

    @Override
    public Tensor add(Tensor at, Tensor bt) {
        Checks.same("add", at, bt);
        float[] a = at.toFloatArray(), b = bt.toFloatArray();
        for (int i = 0; i < a.length; i++) a[i] = (float) ((double) a[i] + b[i]);
        return out(a, at.shape().dims());
    }

    @Override
    public Tensor concat(Tensor at, Tensor bt) {
        int[] o = Checks.concat(at, bt);
        int bn = o[0];
        int ia = (int) (at.numel() / bn), ib = (int) (bt.numel() / bn);
        float[] a = at.toFloatArray(), b = bt.toFloatArray(), y = new float[a.length + b.length];
        for (int s = 0; s < bn; s++) {
            System.arraycopy(a, s * ia, y, s * (ia + ib), ia);
            System.arraycopy(b, s * ib, y, s * (ia + ib) + ia, ib);
        }
        return out(y, o);
    }

    @Override
    public Tensor upsampleNearest2x(Tensor xt) {
        Checks.spatial("upsample", xt, false);
        int bc = xt.dim(0) * xt.dim(1), h = xt.dim(2), w = xt.dim(3);
        float[] x = xt.toFloatArray(), y = new float[x.length * 4];
        for (int p = 0; p < bc; p++)
            for (int oy = 0; oy < 2 * h; oy++)
                for (int ox = 0; ox < 2 * w; ox++)
                    y[(p * 2 * h + oy) * 2 * w + ox] = x[(p * h + oy / 2) * w + ox / 2];
        return out(y, xt.dim(0), xt.dim(1), 2 * h, 2 * w);
    }

    @Override
    public Tensor avgPool2x(Tensor xt) {
        Checks.spatial("avg_pool", xt, true);
        int bc = xt.dim(0) * xt.dim(1), h = xt.dim(2), w = xt.dim(3), ho = h / 2, wo = w / 2;
        float[] x = xt.toFloatArray(), y = new float[bc * ho * wo];
        for (int p = 0; p < bc; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    int i = (p * h + 2 * oy) * w + 2 * ox;
                    double s = (double) x[i] + x[i + 1] + x[i + w] + x[i + w + 1];
                    y[(p * ho + oy) * wo + ox] = (float) (s / 4);
                }
        return out(y, xt.dim(0), xt.dim(1), ho, wo);
    }

    @Override
    public Tensor attention(Tensor qkvt, int heads) {
        Checks.attention(qkvt, heads);
        int bn = qkvt.dim(0), c3 = qkvt.dim(1), t = qkvt.dim(2), c = c3 / 3, ch = c / heads;
        float[] qkv = qkvt.toFloatArray(), y = new float[bn * c * t];
        double scale2 = 1.0 / Math.sqrt(ch);
        double[] wts = new double[t];
        for (int b = 0; b < bn; b++)
            for (int n = 0; n < heads; n++) {
                int q0 = (b * c3 + 3 * ch * n) * t, k0 = q0 + ch * t, v0 = k0 + ch * t;
                for (int tq = 0; tq < t; tq++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s < t; s++) {
                        double dot = 0;
                        for (int cc = 0; cc < ch; cc++) dot += (double) qkv[q0 + cc * t + tq] * qkv[k0 + cc * t + s];
                        wts[s] = dot * scale2;
                        max = Math.max(max, wts[s]);
                    }
                    double z = 0;
                    for (int s = 0; s < t; s++) z += (wts[s] = Math.exp(wts[s] - max));
                    for (int cc = 0; cc < ch; cc++) {
                        double acc = 0;
                        for (int s = 0; s < t; s++) acc += wts[s] * qkv[v0 + cc * t + s];
                        y[(b * c + n * ch + cc) * t + tq] = (float) (acc / z);
                    }
                }
            }
        return out(y, bn, c, t);
    }

    @Override
    public Tensor timestepEmbedding(Tensor tt, int dim) {
        Checks.timestep(tt, dim);
        return timestepEmbeddingF32(tt, dim);
    }

    /**
     * Shared by all CPU backends (it is O(B*dim)): the float32 arithmetic of guided-diffusion's
     * {@code timestep_embedding}, step by step, so that the result matches PyTorch's float32 run up to
     * its exp/cos/sin rounding (see the golden README: ~5e-5 at t ~ 900, ~6e-6 at the UNet output).
     */
    public static Tensor timestepEmbeddingF32(Tensor tt, int dim) {
        int bn = tt.dim(0), half = dim / 2;
        float negLog = (float) -Math.log(10000.0);
        float[] y = new float[bn * dim];
        for (int b = 0; b < bn; b++) {
            float t = tt.dtype() == DType.F32 ? tt.getFloat(b) : (float) tt.getDouble(b);
            for (int j = 0; j < half; j++) {
                float f = (float) Math.exp((negLog * j) / half);
                float arg = t * f;
                y[b * dim + j] = (float) Math.cos(arg);
                y[b * dim + half + j] = (float) Math.sin(arg);
            }
        }
        return Tensor.of(y, bn, dim);
    }
}
