package org.imagenete.ops.ref;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Philox;
import org.imagenete.tensor.Tensor;

/**
 * The definition of the sampler's ops ({@link Ops#axpby} ... {@link Ops#nonFinite}): plain loops over float
 * arrays, float64 arithmetic as each op's contract spells it (the fast backends repeat it operation for operation,
 * so most of these agree bit for bit), one thread. Part of {@link ReferenceOps}.
 */
final class SamplerReference {
    private SamplerReference() {}

    /** coef[b, col + j]. */
    private static double c(float[] coef, int k, int b, int col, int j) { return coef[b * k + col + j]; }

    static Tensor axpby(Tensor xt, Tensor zt, Tensor ct, int col) {
        Checks.axpby(xt, zt, ct, col);
        int bn = xt.dim(0), k = ct.dim(1);
        int per = (int) (xt.numel() / bn);
        float[] x = xt.toFloatArray(), z = zt == null ? null : zt.toFloatArray(), coef = ct.toFloatArray(), y = new float[x.length];
        for (int b = 0; b < bn; b++) {
            double a = c(coef, k, b, col, 0), cz = c(coef, k, b, col, 1), d = c(coef, k, b, col, 2);
            for (int i = b * per; i < (b + 1) * per; i++) {
                double p = a != 0 ? a * x[i] : 0, q = cz != 0 && z != null ? cz * z[i] : 0;
                y[i] = (float) ((p + q) + d);
            }
        }
        return Tensor.of(y, xt.shape().dims());
    }

    static Tensor[] pMeanVariance(Tensor outt, Tensor xt, Tensor ct, int col) {
        int[] dims = Checks.pMeanVariance(outt, xt, ct, col);
        int bn = dims[0], k = ct.dim(1);
        int per = (int) (xt.numel() / bn);
        float[] o = outt.toFloatArray(), x = xt.toFloatArray(), coef = ct.toFloatArray();
        float[] mean = new float[x.length], var = new float[x.length], lv = new float[x.length], px = new float[x.length], eps = new float[x.length];
        for (int b = 0; b < bn; b++) {
            double lb = c(coef, k, b, col, 0), lp = c(coef, k, b, col, 1), ra = c(coef, k, b, col, 2), rm1 = c(coef, k, b, col, 3);
            double c1 = c(coef, k, b, col, 4), c2 = c(coef, k, b, col, 5);
            for (int i = 0; i < per; i++) {
                int j = b * per + i;
                double e = o[2 * b * per + i], v = o[2 * b * per + per + i], xv = x[j];
                double frac = (v + 1) / 2;
                double l = Math.fma(frac, lb, (1 - frac) * lp);
                double p = ra * xv - rm1 * e;
                eps[j] = (float) e;
                lv[j] = (float) l;
                var[j] = (float) Math.exp(l);
                px[j] = (float) p;
                mean[j] = (float) Math.fma(c1, p, c2 * xv);
            }
        }
        return new Tensor[]{Tensor.of(mean, dims), Tensor.of(var, dims), Tensor.of(lv, dims), Tensor.of(px, dims), Tensor.of(eps, dims)};
    }

    static Tensor posteriorSample(Tensor mt, Tensor vt, Tensor lvt, Tensor gt, Tensor zt, Tensor ct, int col) {
        Checks.posteriorSample(mt, vt, lvt, gt, zt, ct, col);
        int bn = mt.dim(0), k = ct.dim(1);
        int per = (int) (mt.numel() / bn);
        float[] m = mt.toFloatArray(), v = vt.toFloatArray(), lv = lvt.toFloatArray(), coef = ct.toFloatArray();
        float[] g = gt == null ? null : gt.toFloatArray(), z = zt == null ? null : zt.toFloatArray(), y = new float[m.length];
        for (int b = 0; b < bn; b++) {
            double s = c(coef, k, b, col, 0);
            for (int i = b * per; i < (b + 1) * per; i++) {
                float gm = g == null ? m[i] : (float) (m[i] + (double) v[i] * g[i]);
                y[i] = s != 0 && z != null ? (float) Math.fma(s * Math.exp(0.5 * lv[i]), z[i], gm) : gm;
            }
        }
        return Tensor.of(y, mt.shape().dims());
    }

    static Tensor blend(Tensor rt, Tensor ot, Tensor mt, boolean clamp) {
        Checks.blend(rt, ot, mt);
        int bn = rt.dim(0), ch = rt.dim(1), hw = rt.dim(2) * rt.dim(3);
        float[] r = rt.toFloatArray(), o = ot.toFloatArray(), m = mt.toFloatArray(), y = new float[r.length];
        for (int b = 0; b < bn; b++)
            for (int c = 0; c < ch; c++)
                for (int i = 0; i < hw; i++) {
                    int j = (b * ch + c) * hw + i;
                    double mv = m[b * hw + i];
                    double v = Math.fma(r[j], 1 - mv, o[j] * mv);
                    y[j] = (float) (clamp ? Math.max(-1, Math.min(1, v)) : v);
                }
        return Tensor.of(y, rt.shape().dims());
    }

    static Tensor philoxNormal(Tensor keys, int purpose, int[] dims) {
        Checks.philoxNormal(keys, purpose, dims);
        Tensor out = Tensor.allocate(org.imagenete.tensor.DType.F32, dims);
        int bn = dims[0], per = (int) (out.numel() / bn);
        float[] buf = new float[per];
        for (int b = 0; b < bn; b++) {
            long seed = (keys.getLong(4L * b) & 0xffffffffL) | (keys.getLong(4L * b + 1) << 32);
            long step = (keys.getLong(4L * b + 2) & 0xffffffffL) | (keys.getLong(4L * b + 3) << 32);
            Philox.normals(seed, (step << 8) | purpose, buf, 0, per);
            java.lang.foreign.MemorySegment.copy(buf, 0, out.data(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * b * per, per);
        }
        return out;
    }

    static Tensor spectrumMeanAbs(Tensor ft) {
        Checks.spectrum("spectrum_mean_abs", ft);
        int bn = ft.dim(0), per = (int) (ft.numel() / bn / 2);
        float[] f = ft.toFloatArray(), y = new float[bn];
        for (int b = 0; b < bn; b++) {
            double sum = 0;
            for (int i = 0; i < per; i++) {
                double re = f[2 * (b * per + i)], im = f[2 * (b * per + i) + 1];
                sum += Math.sqrt(re * re + im * im);
            }
            y[b] = (float) (sum / per);
        }
        return Tensor.of(y, bn);
    }

    static Tensor spectrumScale(Tensor ft, Tensor ct, int col) {
        Checks.spectrum("spectrum_scale", ft);
        int bn = ft.dim(0), per = (int) (ft.numel() / bn / 2), k;
        Checks.coef("spectrum_scale", ct, col, 1, bn);
        k = ct.dim(1);
        float[] f = ft.toFloatArray(), coef = ct.toFloatArray(), y = new float[f.length];
        for (int b = 0; b < bn; b++) {
            double w = c(coef, k, b, col, 0);
            for (int i = b * per; i < (b + 1) * per; i++) {
                double re = f[2 * i], im = f[2 * i + 1], mag = Math.sqrt(re * re + im * im);
                double q = mag == 0 ? 0 : w / mag;
                y[2 * i] = (float) (re * q);
                y[2 * i + 1] = (float) (im * q);
            }
        }
        return Tensor.of(y, ft.shape().dims());
    }

    static Tensor[] rangeGrad(Tensor xt, Tensor gt, Tensor ct, int col) {
        Checks.rangeGrad(xt, gt, ct, col);
        int bn = xt.dim(0), k = ct.dim(1), per = (int) (xt.numel() / bn);
        float[] x = xt.toFloatArray(), g = gt == null ? null : gt.toFloatArray(), coef = ct.toFloatArray(), y = new float[x.length],
                sq = new float[bn];
        for (int b = 0; b < bn; b++) {
            double r = c(coef, k, b, col, 0), sum = 0;
            for (int i = b * per; i < (b + 1) * per; i++) {
                double v = x[i], over = v - Math.max(-1, Math.min(1, v)), gv = g == null ? 0 : g[i];
                sum += over * over;
                y[i] = (float) (r != 0 ? Math.fma(r, over, gv) : gv);
            }
            sq[b] = (float) (sum / per);
        }
        return new Tensor[]{Tensor.of(y, xt.shape().dims()), Tensor.of(sq, bn)};
    }

    static Tensor nonFinite(Tensor xt) {
        int bn = Checks.batched("non_finite input", xt);
        int per = (int) (xt.numel() / bn);
        float[] x = xt.toFloatArray(), y = new float[2 * bn];
        for (int b = 0; b < bn; b++) {
            int count = 0, first = -1;
            for (int i = 0; i < per; i++)
                if (!Float.isFinite(x[b * per + i])) {
                    if (count++ == 0) first = i;
                }
            y[2 * b] = count;
            y[2 * b + 1] = first;
        }
        return Tensor.of(y, bn, 2);
    }
}
