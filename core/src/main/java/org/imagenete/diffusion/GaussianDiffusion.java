package org.imagenete.diffusion;

import org.imagenete.ops.Checks;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * guided-diffusion's {@code GaussianDiffusion} math for an eps-predicting model with learned-range variance,
 * on [B,C,H,W] F32 tensors. Like the float32 reference, every schedule coefficient is rounded to float32 and
 * the arithmetic is float32. Each sample may sit at its own respaced index.
 */
public final class GaussianDiffusion {
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final Schedule schedule;

    public GaussianDiffusion(Schedule schedule) { this.schedule = schedule; }

    public Schedule schedule() { return schedule; }

    /** p_mean_variance outputs, [B,C,H,W] each; close to free. */
    public record Pmv(Tensor mean, Tensor variance, Tensor logVariance, Tensor predX0, Tensor eps) implements AutoCloseable {
        @Override public void close() {
            mean.close();
            variance.close();
            logVariance.close();
            predX0.close();
            eps.close();
        }
    }

    /** Model timesteps [B] for the given respaced indices. */
    public Tensor modelTimesteps(int[] idx) {
        float[] t = new float[idx.length];
        for (int b = 0; b < idx.length; b++) t[b] = schedule.modelTimestep(idx[b]);
        return Tensor.of(t, idx.length);
    }

    /**
     * out [B,2C,H,W] = [eps, v] of the model at x [B,C,H,W] and indices idx:
     * frac = (v+1)/2, log_var = frac log(beta_i) + (1-frac) log_posterior_var_clipped_i, var = exp(log_var),
     * pred_x0 = sqrt(1/abar_i) x - sqrt(1/abar_i - 1) eps (not clipped), mean = coef1_i pred_x0 + coef2_i x.
     */
    public Pmv pMeanVariance(Tensor out, Tensor x, int[] idx) {
        Checks.rank("x", x, 4);
        int b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        Checks.shape("model output", out, b, 2 * c, x.dim(2), x.dim(3));
        if (idx.length != b) throw new IllegalArgumentException(idx.length + " indices for a batch of " + b);
        Tensor mean = Tensor.allocate(DType.F32, x.shape()), var = Tensor.allocate(DType.F32, x.shape()),
                logVar = Tensor.allocate(DType.F32, x.shape()), x0 = Tensor.allocate(DType.F32, x.shape()),
                eps = Tensor.allocate(DType.F32, x.shape());
        MemorySegment o = out.data(), xs = x.data(), m = mean.data(), v = var.data(), lv = logVar.data(), p = x0.data(), e = eps.data();
        for (int s = 0; s < b; s++) {
            int i = idx[s];
            float minLog = (float) schedule.posteriorLogVarianceClipped[i], maxLog = (float) schedule.logBetas[i];
            float ra = (float) schedule.sqrtRecipAlphasCumprod[i], rm1 = (float) schedule.sqrtRecipm1AlphasCumprod[i];
            float c1 = (float) schedule.posteriorMeanCoef1[i], c2 = (float) schedule.posteriorMeanCoef2[i];
            for (int ch = 0; ch < c; ch++)
                for (int k = 0; k < hw; k++) {
                    long j = ((long) s * c + ch) * hw + k;
                    float ep = o.getAtIndex(F, ((long) s * 2 * c + ch) * hw + k);
                    float vv = o.getAtIndex(F, ((long) s * 2 * c + c + ch) * hw + k);
                    float frac = (vv + 1) / 2;
                    float l = frac * maxLog + (1 - frac) * minLog;
                    float xv = xs.getAtIndex(F, j);
                    float px = ra * xv - rm1 * ep;
                    e.setAtIndex(F, j, ep);
                    lv.setAtIndex(F, j, l);
                    v.setAtIndex(F, j, (float) Math.exp(l));
                    p.setAtIndex(F, j, px);
                    m.setAtIndex(F, j, c1 * px + c2 * xv);
                }
        }
        return new Pmv(mean, var, logVar, x0, eps);
    }

    /** q_sample(x0, i, z) = sqrt(abar_i) x0 + sqrt(1 - abar_i) z, per sample index. */
    public Tensor qSample(Tensor x0, int[] idx, Tensor z) {
        return combine(x0, z, idx, i -> schedule.sqrtAlphasCumprod[i], i -> schedule.sqrtOneMinusAlphasCumprod[i]);
    }

    /** a(i_s) x + b(i_s) z for every sample s, with the coefficients rounded to float as the reference does. */
    private static Tensor combine(Tensor x, Tensor z, int[] idx, java.util.function.IntToDoubleFunction a,
                                  java.util.function.IntToDoubleFunction b) {
        Checks.same("diffusion", x, z);
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        int n = x.dim(0);
        long per = x.numel() / n;
        MemorySegment xs = x.data(), zs = z.data(), ys = y.data();
        for (int s = 0; s < n; s++) {
            float ca = (float) a.applyAsDouble(idx[s]), cb = (float) b.applyAsDouble(idx[s]);
            for (long k = s * per; k < (s + 1) * per; k++) ys.setAtIndex(F, k, ca * xs.getAtIndex(F, k) + cb * zs.getAtIndex(F, k));
        }
        return y;
    }

    /**
     * The DDPM step from a (guided) mean: x_{i-1} = mean + [i > 0] exp(log_var / 2) z, per sample.
     */
    public Tensor sample(Tensor mean, Tensor logVar, int[] idx, Tensor z) {
        Tensor y = Tensor.allocate(DType.F32, mean.shape());
        int b = mean.dim(0);
        long per = mean.numel() / b;
        MemorySegment ms = mean.data(), ls = logVar.data(), zs = z.data(), ys = y.data();
        for (int s = 0; s < b; s++) {
            boolean noise = idx[s] > 0;
            for (long k = s * per; k < (s + 1) * per; k++) {
                float v = ms.getAtIndex(F, k);
                if (noise) v += (float) Math.exp(0.5f * ls.getAtIndex(F, k)) * zs.getAtIndex(F, k);
                ys.setAtIndex(F, k, v);
            }
        }
        return y;
    }

    /**
     * DDIM step (Song et al.) from eps (already guided in score form when guidance is on): pred_x0 from eps,
     * sigma = eta sqrt((1-abar_prev)/(1-abar)) sqrt(1 - abar/abar_prev),
     * x_prev = sqrt(abar_prev) pred_x0 + sqrt(1 - abar_prev - sigma^2) eps + [i > 0] sigma z.
     */
    public Tensor ddimStep(Tensor x, Tensor eps, int[] idx, float eta, Tensor z) {
        Checks.same("ddim", x, eps);
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        int b = x.dim(0);
        long per = x.numel() / b;
        MemorySegment xs = x.data(), es = eps.data(), ys = y.data(), zs = z == null ? null : z.data();
        for (int s = 0; s < b; s++) {
            int i = idx[s];
            double ab = schedule.alphasCumprod[i], abp = schedule.alphasCumprodPrev[i];
            double sigma = eta * Math.sqrt((1 - abp) / (1 - ab)) * Math.sqrt(1 - ab / abp);
            float ra = (float) schedule.sqrtRecipAlphasCumprod[i], rm1 = (float) schedule.sqrtRecipm1AlphasCumprod[i];
            float sp = (float) Math.sqrt(abp), dir = (float) Math.sqrt(Math.max(0, 1 - abp - sigma * sigma)), sg = (float) sigma;
            for (long k = s * per; k < (s + 1) * per; k++) {
                float e = es.getAtIndex(F, k);
                float x0 = ra * xs.getAtIndex(F, k) - rm1 * e;
                float v = sp * x0 + dir * e;
                if (i > 0 && sg != 0) v += sg * zs.getAtIndex(F, k);
                ys.setAtIndex(F, k, v);
            }
        }
        return y;
    }

    /** One forward diffusion step from index i-1 to i: sqrt(1 - beta_i) x + sqrt(beta_i) z (RePaint's "jump back"). */
    public Tensor diffuseOneStep(Tensor x, int[] idx, Tensor z) {
        return combine(x, z, idx, i -> Math.sqrt(1 - schedule.betas[i]), i -> Math.sqrt(schedule.betas[i]));
    }
}
