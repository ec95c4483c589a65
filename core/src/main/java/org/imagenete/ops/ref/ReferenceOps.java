package org.imagenete.ops.ref;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
    public Tensor conv2d(Tensor xt, Tensor wt, Tensor bt, int stride, int pad, int groups, Tensor addt, boolean relu) {
        int[] o = Checks.conv2d(xt, wt, bt, stride, pad, groups, addt);
        int bn = xt.dim(0), cin = xt.dim(1), h = xt.dim(2), w = xt.dim(3);
        int cout = o[1], ho = o[2], wo = o[3], kh = wt.dim(2), kw = wt.dim(3);
        int cinG = cin / groups, coutG = cout / groups;
        float[] x = xt.toFloatArray(), wv = wt.toFloatArray();
        float[] bias = bt == null ? null : bt.toFloatArray();
        float[] add = addt == null ? null : addt.toFloatArray();
        float[] y = new float[bn * cout * ho * wo];
        for (int b = 0; b < bn; b++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        double acc = bias == null ? 0 : bias[co];
                        int c0 = co / coutG * cinG;                  // the group's first input channel
                        for (int cg = 0; cg < cinG; cg++)
                            for (int ky = 0; ky < kh; ky++) {
                                int iy = oy * stride + ky - pad;
                                if (iy < 0 || iy >= h) continue;
                                for (int kx = 0; kx < kw; kx++) {
                                    int ix = ox * stride + kx - pad;
                                    if (ix < 0 || ix >= w) continue;
                                    acc += (double) wv[((co * cinG + cg) * kh + ky) * kw + kx]
                                            * x[((b * cin + c0 + cg) * h + iy) * w + ix];
                                }
                            }
                        int i = ((b * cout + co) * ho + oy) * wo + ox;
                        double v = add == null ? acc : acc + add[i];
                        y[i] = (float) (relu && !(v > 0) ? 0 : v);
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
        return groupNorm(xt, gt, bt, groups, eps, sst, silu, null);
    }

    @Override
    public Tensor[] groupNormWithStats(Tensor xt, Tensor gt, Tensor bt, int groups, float eps, Tensor sst, boolean silu) {
        Checks.groupNorm(xt, gt, bt, groups, sst);
        double[] stats = new double[xt.dim(0) * groups * 2];
        Tensor y = groupNorm(xt, gt, bt, groups, eps, sst, silu, stats);
        Tensor st = Tensor.allocate(DType.F64, xt.dim(0), groups, 2);
        MemorySegment.copy(stats, 0, st.data(), ValueLayout.JAVA_DOUBLE_UNALIGNED, 0, stats.length);
        return new Tensor[]{y, st};
    }

    /** Mean and 1/sqrt(var + eps) (biased variance, two passes in float64) of x[base .. base + n). */
    private static double[] groupStats(float[] x, int base, int n, float eps) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x[base + i];
        double mean = sum / n, sq = 0;
        for (int i = 0; i < n; i++) {
            double d = x[base + i] - mean;
            sq += d * d;
        }
        return new double[]{mean, 1.0 / Math.sqrt(sq / n + eps)};
    }

    /** stats: null, or [B * groups * 2] to receive each group's mean and 1/sqrt(var + eps). */
    private Tensor groupNorm(Tensor xt, Tensor gt, Tensor bt, int groups, float eps, Tensor sst, boolean silu, double[] stats) {
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
                double[] st = groupStats(x, base, n, eps);
                double mean = st[0], inv = st[1];
                if (stats != null) {
                    stats[2 * (b * groups + g)] = mean;
                    stats[2 * (b * groups + g) + 1] = inv;
                }
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

    @Override
    public Tensor fft2(Tensor xt) {
        int[] o = Checks.fft2(xt);
        int h = xt.dim(-2), w = xt.dim(-1);
        int planes = (int) (xt.numel() / ((long) h * w));
        float[] x = xt.toFloatArray(), y = new float[x.length * 2];
        double[] re = new double[h * w], im = new double[h * w];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < h * w; i++) {
                re[i] = x[p * h * w + i];
                im[i] = 0;
            }
            dft2(re, im, h, w, -1);
            for (int i = 0; i < h * w; i++) {
                y[2 * (p * h * w + i)] = (float) re[i];
                y[2 * (p * h * w + i) + 1] = (float) im[i];
            }
        }
        return out(y, o);
    }

    /**
     * In-place separable 2-D DFT with sign -1 (forward) or +1 (unnormalised inverse), float64, twiddles
     * e^{sign 2 pi i (k n mod N) / N} computed exactly per index pair: O(HW (H + W)).
     */
    private static void dft2(double[] re, double[] im, int h, int w, int sign) {
        double[] tr = new double[Math.max(h, w)], ti = new double[Math.max(h, w)];
        for (int r = 0; r < h; r++) dft1(re, im, r * w, 1, w, sign, tr, ti);
        for (int c = 0; c < w; c++) dft1(re, im, c, w, h, sign, tr, ti);
    }

    private static void dft1(double[] re, double[] im, int off, int stride, int n, int sign, double[] tr, double[] ti) {
        for (int k = 0; k < n; k++) {
            double sr = 0, si = 0;
            for (int j = 0; j < n; j++) {
                double a = sign * 2 * Math.PI * (((long) k * j) % n) / n;
                double c = Math.cos(a), s = Math.sin(a);
                double xr = re[off + j * stride], xi = im[off + j * stride];
                sr += xr * c - xi * s;
                si += xr * s + xi * c;
            }
            tr[k] = sr;
            ti[k] = si;
        }
        for (int k = 0; k < n; k++) {
            re[off + k * stride] = tr[k];
            im[off + k * stride] = ti[k];
        }
    }

    @Override
    public Tensor fft2Grad(Tensor gt) {
        int[] o = Checks.fft2Grad(gt);
        int h = gt.dim(-3), w = gt.dim(-2);
        int planes = (int) (gt.numel() / (2L * h * w));
        float[] g = gt.toFloatArray(), y = new float[planes * h * w];
        double[] re = new double[h * w], im = new double[h * w];
        for (int p = 0; p < planes; p++) {
            for (int i = 0; i < h * w; i++) {
                re[i] = g[2 * (p * h * w + i)];
                im[i] = g[2 * (p * h * w + i) + 1];
            }
            dft2(re, im, h, w, +1);
            for (int i = 0; i < h * w; i++) y[p * h * w + i] = (float) re[i];
        }
        return out(y, o);
    }

    @Override
    public Tensor conv2dGrad(Tensor dyt, Tensor wt, int stride, int pad, int groups, int h, int w) {
        Checks.conv2dGrad(dyt, wt, stride, pad, groups, h, w);
        int bn = dyt.dim(0), cout = dyt.dim(1), ho = dyt.dim(2), wo = dyt.dim(3);
        int cinG = wt.dim(1), cin = cinG * groups, coutG = cout / groups, kh = wt.dim(2), kw = wt.dim(3);
        float[] dy = dyt.toFloatArray(), wv = wt.toFloatArray();
        float[] dx = new float[bn * cin * h * w];
        double[] acc = new double[h * w];
        for (int b = 0; b < bn; b++)
            for (int ci = 0; ci < cin; ci++) {
                java.util.Arrays.fill(acc, 0);
                int g = ci / cinG, cg = ci - g * cinG;               // only the group's output channels see ci
                for (int co = g * coutG; co < (g + 1) * coutG; co++)
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            double wk = wv[((co * cinG + cg) * kh + ky) * kw + kx];
                            for (int oy = 0; oy < ho; oy++) {
                                int iy = oy * stride + ky - pad;
                                if (iy < 0 || iy >= h) continue;
                                for (int ox = 0; ox < wo; ox++) {
                                    int ix = ox * stride + kx - pad;
                                    if (ix < 0 || ix >= w) continue;
                                    acc[iy * w + ix] += wk * dy[((b * cout + co) * ho + oy) * wo + ox];
                                }
                            }
                        }
                for (int i = 0; i < h * w; i++) dx[(b * cin + ci) * h * w + i] = (float) acc[i];
            }
        return out(dx, bn, cin, h, w);
    }

    @Override
    public Tensor linearGrad(Tensor dyt, Tensor wt) {
        Checks.linearGrad(dyt, wt);
        int n = dyt.dim(0), m = wt.dim(0), k = wt.dim(1);
        float[] dy = dyt.toFloatArray(), w = wt.toFloatArray(), dx = new float[n * k];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < k; p++) {
                double acc = 0;
                for (int j = 0; j < m; j++) acc += (double) dy[i * m + j] * w[j * k + p];
                dx[i * k + p] = (float) acc;
            }
        return out(dx, n, k);
    }

    @Override
    public Tensor groupNormGrad(Tensor dyt, Tensor xt, Tensor gt, Tensor bt, int groups, float eps, Tensor sst, boolean silu,
                                Tensor statst, Tensor addt) {
        Checks.groupNorm(xt, gt, bt, groups, sst);
        Checks.same("group_norm_grad", dyt, xt);
        Checks.groupNormStats(statst, xt, groups);
        if (addt != null) Checks.same("group_norm_grad", addt, xt);
        float[] add = addt == null ? null : addt.toFloatArray();
        double[] stats = statst == null ? null : statst.toDoubleArray();
        int bn = xt.dim(0), c = xt.dim(1);
        int hw = (int) (xt.numel() / ((long) bn * c));
        int cg = c / groups, n = cg * hw;
        float[] x = xt.toFloatArray(), dy = dyt.toFloatArray(), gamma = gt.toFloatArray(), beta = bt.toFloatArray();
        float[] ss = sst == null ? null : sst.toFloatArray();
        float[] dx = new float[x.length];
        double[] dxhat = new double[n], xhat = new double[n];
        for (int b = 0; b < bn; b++)
            for (int g = 0; g < groups; g++) {
                int base = (b * c + g * cg) * hw;
                double[] st = stats == null ? groupStats(x, base, n, eps)
                        : new double[]{stats[2 * (b * groups + g)], stats[2 * (b * groups + g) + 1]};
                double mean = st[0], inv = st[1];
                double m1 = 0, m2 = 0;
                for (int cc = 0; cc < cg; cc++) {
                    int ch = g * cg + cc;
                    double sc = ss == null ? 1 : 1.0 + ss[b * 2 * c + ch], sh = ss == null ? 0 : ss[b * 2 * c + c + ch];
                    for (int i = 0; i < hw; i++) {
                        int j = cc * hw + i;
                        xhat[j] = (x[base + j] - mean) * inv;
                        double z = (xhat[j] * gamma[ch] + beta[ch]) * sc + sh;
                        double dz = dy[base + j];
                        if (silu) {
                            double sig = 1.0 / (1.0 + Math.exp(-z));
                            dz *= sig * (1 + z * (1 - sig));
                        }
                        dxhat[j] = dz * sc * gamma[ch];
                        m1 += dxhat[j];
                        m2 += dxhat[j] * xhat[j];
                    }
                }
                m1 /= n;
                m2 /= n;
                for (int j = 0; j < n; j++)
                    dx[base + j] = (float) (inv * (dxhat[j] - m1 - xhat[j] * m2) + (add == null ? 0 : add[base + j]));
            }
        return out(dx, xt.shape().dims());
    }

    @Override
    public Tensor siluGrad(Tensor dyt, Tensor xt) {
        Checks.same("silu_grad", dyt, xt);
        float[] dy = dyt.toFloatArray(), x = xt.toFloatArray();
        for (int i = 0; i < x.length; i++) {
            double sig = 1.0 / (1.0 + Math.exp(-(double) x[i]));
            dy[i] = (float) (dy[i] * sig * (1 + x[i] * (1 - sig)));
        }
        return out(dy, xt.shape().dims());
    }

    @Override
    public Tensor[] concatGrad(Tensor dyt, int ca) {
        int[][] shapes = Checks.concatGrad(dyt, ca);
        int[] d = dyt.shape().dims(), da = shapes[0], db = shapes[1];
        int bn = d[0];
        int inner = (int) (dyt.numel() / ((long) bn * d[1]));
        float[] dy = dyt.toFloatArray();
        int cb = d[1] - ca;
        float[] a = new float[bn * ca * inner], b = new float[bn * cb * inner];
        for (int s = 0; s < bn; s++) {
            System.arraycopy(dy, s * d[1] * inner, a, s * ca * inner, ca * inner);
            System.arraycopy(dy, (s * d[1] + ca) * inner, b, s * cb * inner, cb * inner);
        }
        return new Tensor[]{out(a, da), out(b, db)};
    }

    @Override
    public Tensor upsampleNearest2xGrad(Tensor dyt) {
        Checks.spatial("upsample_grad", dyt, true);
        int bc = dyt.dim(0) * dyt.dim(1), h2 = dyt.dim(2), w2 = dyt.dim(3), h = h2 / 2, w = w2 / 2;
        float[] dy = dyt.toFloatArray(), dx = new float[bc * h * w];
        for (int p = 0; p < bc; p++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int i = (p * h2 + 2 * y) * w2 + 2 * x;
                    dx[(p * h + y) * w + x] = (float) ((double) dy[i] + dy[i + 1] + dy[i + w2] + dy[i + w2 + 1]);
                }
        return out(dx, dyt.dim(0), dyt.dim(1), h, w);
    }

    @Override
    public Tensor avgPool2xGrad(Tensor dyt) {
        Checks.spatial("avg_pool_grad", dyt, false);
        int bc = dyt.dim(0) * dyt.dim(1), h = dyt.dim(2), w = dyt.dim(3);
        float[] dy = dyt.toFloatArray(), dx = new float[bc * 4 * h * w];
        for (int p = 0; p < bc; p++)
            for (int y = 0; y < 2 * h; y++)
                for (int x = 0; x < 2 * w; x++) dx[(p * 2 * h + y) * 2 * w + x] = dy[(p * h + y / 2) * w + x / 2] * 0.25f;
        return out(dx, dyt.dim(0), dyt.dim(1), 2 * h, 2 * w);
    }

    @Override
    public Tensor attentionGrad(Tensor dyt, Tensor qkvt, int heads) {
        Checks.attention(qkvt, heads);
        int bn = qkvt.dim(0), c3 = qkvt.dim(1), t = qkvt.dim(2), c = c3 / 3, ch = c / heads;
        Checks.shape("attention_grad dy", dyt, bn, c, t);
        float[] qkv = qkvt.toFloatArray(), dy = dyt.toFloatArray(), dq = new float[qkv.length];
        double scale2 = 1.0 / Math.sqrt(ch);
        double[] p = new double[t * t], dp = new double[t * t];
        for (int b = 0; b < bn; b++)
            for (int n = 0; n < heads; n++) {
                int q0 = (b * c3 + 3 * ch * n) * t, k0 = q0 + ch * t, v0 = k0 + ch * t, y0 = (b * c + n * ch) * t;
                for (int tq = 0; tq < t; tq++) {           // P = softmax(Q^T K / sqrt(ch)) row by row
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s < t; s++) {
                        double dot = 0;
                        for (int cc = 0; cc < ch; cc++) dot += (double) qkv[q0 + cc * t + tq] * qkv[k0 + cc * t + s];
                        p[tq * t + s] = dot * scale2;
                        max = Math.max(max, p[tq * t + s]);
                    }
                    double z = 0;
                    for (int s = 0; s < t; s++) z += (p[tq * t + s] = Math.exp(p[tq * t + s] - max));
                    for (int s = 0; s < t; s++) p[tq * t + s] /= z;
                }
                for (int tq = 0; tq < t; tq++)               // dP[t,s] = sum_c dy[c,t] v[c,s]
                    for (int s = 0; s < t; s++) {
                        double acc = 0;
                        for (int cc = 0; cc < ch; cc++) acc += (double) dy[y0 + cc * t + tq] * qkv[v0 + cc * t + s];
                        dp[tq * t + s] = acc;
                    }
                for (int cc = 0; cc < ch; cc++)               // dv[c,s] = sum_t dy[c,t] P[t,s]
                    for (int s = 0; s < t; s++) {
                        double acc = 0;
                        for (int tq = 0; tq < t; tq++) acc += (double) dy[y0 + cc * t + tq] * p[tq * t + s];
                        dq[v0 + cc * t + s] = (float) acc;
                    }
                for (int tq = 0; tq < t; tq++) {             // dS = P o (dP - rowsum(dP o P)) / sqrt(ch)
                    double r = 0;
                    for (int s = 0; s < t; s++) r += dp[tq * t + s] * p[tq * t + s];
                    for (int s = 0; s < t; s++) dp[tq * t + s] = p[tq * t + s] * (dp[tq * t + s] - r) * scale2;
                }
                for (int cc = 0; cc < ch; cc++) {
                    for (int tq = 0; tq < t; tq++) {          // dq[c,t] = sum_s dS[t,s] k[c,s]
                        double acc = 0;
                        for (int s = 0; s < t; s++) acc += dp[tq * t + s] * qkv[k0 + cc * t + s];
                        dq[q0 + cc * t + tq] = (float) acc;
                    }
                    for (int s = 0; s < t; s++) {             // dk[c,s] = sum_t dS[t,s] q[c,t]
                        double acc = 0;
                        for (int tq = 0; tq < t; tq++) acc += dp[tq * t + s] * qkv[q0 + cc * t + tq];
                        dq[k0 + cc * t + s] = (float) acc;
                    }
                }
            }
        return out(dq, bn, c3, t);
    }

    @Override
    public Tensor layerNorm(Tensor xt, Tensor gt, Tensor bt, float eps) {
        Checks.layerNorm(xt, gt, bt);
        int bn = xt.dim(0), c = xt.dim(1);
        int s = (int) (xt.numel() / ((long) bn * c));          // positions per sample
        float[] x = xt.toFloatArray(), gamma = gt.toFloatArray(), beta = bt.toFloatArray(), y = new float[x.length];
        for (int b = 0; b < bn; b++)
            for (int p = 0; p < s; p++) {
                int base = b * c * s + p;                        // element (b, ch, p) at base + ch s
                double sum = 0;
                for (int ch = 0; ch < c; ch++) sum += x[base + ch * s];
                double mean = sum / c, sq = 0;
                for (int ch = 0; ch < c; ch++) {
                    double d = x[base + ch * s] - mean;
                    sq += d * d;
                }
                double inv = 1.0 / Math.sqrt(sq / c + eps);
                for (int ch = 0; ch < c; ch++) y[base + ch * s] = (float) ((x[base + ch * s] - mean) * inv * gamma[ch] + beta[ch]);
            }
        return out(y, xt.shape().dims());
    }

    @Override
    public Tensor gelu(Tensor xt) {
        Checks.f32("gelu input", xt);
        float[] x = xt.toFloatArray();
        for (int i = 0; i < x.length; i++) x[i] = (float) gelu(x[i]);
        return out(x, xt.shape().dims());
    }

    /** x Phi(x) = 0.5 x erfc(-x / sqrt 2) in float64. */
    static double gelu(double x) { return 0.5 * x * erfc(-x / Math.sqrt(2)); }

    /**
     * erfc(z) to float64 accuracy (measured against Python's math.erfc: within 5e-16 relative): 1 - erf(z) from the
     * series below where that loses at most ~2 digits (z < 2), else the continued fraction
     * e^(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))), 80 terms, evaluated from the tail.
     */
    static double erfc(double z) {
        if (z < 2) return 1 - erf(z);
        double f = z;
        for (int n = 80; n >= 1; n--) f = z + n / 2.0 / f;
        return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
    }

    /**
     * erf(z) to float64 accuracy: for |z| < 6 the series (2 / sqrt(pi)) e^(-z^2) sum_n (2z^2)^n z / (1 3 5 ... (2n+1))
     * (all terms positive: no cancellation; ~z^2 + 40 terms), +-1 beyond (1 - erf(6) = 2e-17).
     */
    static double erf(double z) {
        double a = Math.abs(z);
        if (a >= 6) return Math.signum(z);
        double term = a, sum = a, z2 = 2 * a * a;
        for (int n = 1; term > 1e-17 * sum; n++) {
            term *= z2 / (2 * n + 1);
            sum += term;
        }
        return Math.copySign(2 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum, z);
    }

    @Override
    public Tensor relu(Tensor xt) {
        Checks.f32("relu input", xt);
        float[] x = xt.toFloatArray();
        for (int i = 0; i < x.length; i++) x[i] = x[i] > 0 ? x[i] : 0f;
        return out(x, xt.shape().dims());
    }

    @Override
    public Tensor reluGrad(Tensor dyt, Tensor yt) {
        Checks.same("relu_grad", dyt, yt);
        float[] dy = dyt.toFloatArray(), y = yt.toFloatArray();
        for (int i = 0; i < dy.length; i++) if (!(y[i] > 0)) dy[i] = 0f;
        return out(dy, yt.shape().dims());
    }

    @Override
    public Tensor maxPool2d(Tensor xt, int k, int stride, int pad) {
        int[] o = Checks.maxPool(xt, k, stride, pad);
        int bc = o[0] * o[1], h = xt.dim(2), w = xt.dim(3), ho = o[2], wo = o[3];
        float[] x = xt.toFloatArray(), y = new float[bc * ho * wo];
        for (int p = 0; p < bc; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) y[(p * ho + oy) * wo + ox] = x[argmax(x, p, h, w, oy, ox, k, stride, pad)];
        return out(y, o);
    }

    /** Index in x of the first maximum of output (oy, ox)'s window of plane p (the window always holds a pixel). */
    private static int argmax(float[] x, int p, int h, int w, int oy, int ox, int k, int stride, int pad) {
        int best = -1;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride + ky - pad;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride + kx - pad;
                if (ix < 0 || ix >= w) continue;
                int i = (p * h + iy) * w + ix;
                if (best < 0 || x[i] > x[best]) best = i;
            }
        }
        return best;
    }

    @Override
    public Tensor maxPool2dGrad(Tensor dyt, Tensor xt, int k, int stride, int pad) {
        Checks.maxPoolGrad(dyt, xt, k, stride, pad);
        int bc = dyt.dim(0) * dyt.dim(1), h = xt.dim(2), w = xt.dim(3), ho = dyt.dim(2), wo = dyt.dim(3);
        float[] x = xt.toFloatArray(), dy = dyt.toFloatArray();
        double[] dx = new double[x.length];
        for (int p = 0; p < bc; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) dx[argmax(x, p, h, w, oy, ox, k, stride, pad)] += dy[(p * ho + oy) * wo + ox];
        float[] r = new float[x.length];
        for (int i = 0; i < r.length; i++) r[i] = (float) dx[i];
        return out(r, xt.shape().dims());
    }

    @Override
    public Tensor globalAvgPool(Tensor xt) {
        Checks.rank("global_avg_pool input", xt, 4);
        int bc = xt.dim(0) * xt.dim(1), hw = xt.dim(2) * xt.dim(3);
        float[] x = xt.toFloatArray(), y = new float[bc];
        for (int p = 0; p < bc; p++) {
            double s = 0;
            for (int i = 0; i < hw; i++) s += x[p * hw + i];
            y[p] = (float) (s / hw);
        }
        return out(y, xt.dim(0), xt.dim(1));
    }

    @Override
    public Tensor globalAvgPoolGrad(Tensor dyt, int h, int w) {
        Checks.globalAvgPoolGrad(dyt, h, w);
        int bc = dyt.dim(0) * dyt.dim(1);
        float[] dy = dyt.toFloatArray(), dx = new float[bc * h * w];
        for (int p = 0; p < bc; p++) java.util.Arrays.fill(dx, p * h * w, (p + 1) * h * w, (float) ((double) dy[p] / (h * w)));
        return out(dx, dyt.dim(0), dyt.dim(1), h, w);
    }

    @Override
    public Tensor affineComposite(Tensor bgt, Tensor srct, float[] inv) {
        Checks.affineComposite(bgt, srct, inv);
        int bn = bgt.dim(0), c = bgt.dim(1), h = bgt.dim(2), w = bgt.dim(3), hs = srct.dim(2), ws = srct.dim(3);
        float[] bg = bgt.toFloatArray(), src = srct.toFloatArray(), y = new float[bn * (c + 1) * h * w];
        double[] px = new double[c + 1];
        for (int b = 0; b < bn; b++)
            for (int oy = 0; oy < h; oy++)
                for (int ox = 0; ox < w; ox++) {
                    double sx = (double) inv[6 * b] * ox + (double) inv[6 * b + 1] * oy + inv[6 * b + 2];
                    double sy = (double) inv[6 * b + 3] * ox + (double) inv[6 * b + 4] * oy + inv[6 * b + 5];
                    java.util.Arrays.fill(px, 0);
                    int x0 = (int) Math.floor(sx), y0 = (int) Math.floor(sy);
                    double fx = sx - x0, fy = sy - y0;
                    for (int t = 0; t < 4; t++) {
                        int xi = x0 + (t & 1), yi = y0 + (t >> 1);
                        if (xi < 0 || xi >= ws || yi < 0 || yi >= hs) continue;       // transparent outside
                        double wt = ((t & 1) == 1 ? fx : 1 - fx) * ((t >> 1) == 1 ? fy : 1 - fy);
                        for (int ch = 0; ch <= c; ch++) px[ch] += wt * src[((b * (c + 1) + ch) * hs + yi) * ws + xi];
                    }
                    double a = px[c];
                    for (int ch = 0; ch < c; ch++)
                        y[((b * (c + 1) + ch) * h + oy) * w + ox] = (float) (px[ch] + bg[((b * c + ch) * h + oy) * w + ox] * (1 - a));
                    y[((b * (c + 1) + c) * h + oy) * w + ox] = (float) a;
                }
        return out(y, bn, c + 1, h, w);
    }

    // ---- the sampler's arithmetic: SamplerReference ----
    @Override public Tensor axpby(Tensor x, Tensor z, Tensor coef, int col) { return SamplerReference.axpby(x, z, coef, col); }

    @Override public Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) { return SamplerReference.pMeanVariance(out, x, coef, col); }

    @Override public Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        return SamplerReference.posteriorSample(mean, variance, logVariance, g, z, coef, col);
    }

    @Override public Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp) { return SamplerReference.blend(rest, obj, mask, clamp); }

    @Override public Tensor philoxNormal(Tensor keys, int purpose, int... dims) { return SamplerReference.philoxNormal(keys, purpose, dims); }

    @Override public Tensor spectrumMeanAbs(Tensor f) { return SamplerReference.spectrumMeanAbs(f); }

    @Override public Tensor spectrumScale(Tensor f, Tensor coef, int col) { return SamplerReference.spectrumScale(f, coef, col); }

    @Override public Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col) { return SamplerReference.rangeGrad(x, g, coef, col); }

    @Override public Tensor nonFinite(Tensor x) { return SamplerReference.nonFinite(x); }
}
