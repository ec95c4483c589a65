package org.imagenete.diffusion;

import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

/**
 * guided-diffusion's {@code GaussianDiffusion} math for an eps-predicting model with learned-range variance, on
 * [B,C,H,W] F32 tensors, as ops of the backend ({@link Ops#pMeanVariance}, {@link Ops#axpby},
 * {@link Ops#posteriorSample}): nothing here loops over image data. Like the float32 reference, every schedule
 * coefficient is rounded to float32 ({@link StepScalars}). Each sample may sit at its own respaced index.
 */
public final class GaussianDiffusion {
    private final Schedule schedule;

    public GaussianDiffusion(Schedule schedule) { this.schedule = schedule; }

    public Schedule schedule() { return schedule; }

    /** p_mean_variance outputs, [B,C,H,W] each; close to free. */
    public record Pmv(Tensor mean, Tensor variance, Tensor logVariance, Tensor predX0, Tensor eps) implements AutoCloseable {
        /** From {@link Ops#pMeanVariance}'s array. */
        static Pmv of(Tensor[] t) { return new Pmv(t[0], t[1], t[2], t[3], t[4]); }

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

    /** The step scalars of a batch at indices {@code idx} without guidance terms. */
    Tensor scalars(int[] idx, long per) {
        return StepScalars.of(schedule, idx, Guidance.Terms.complexity(new float[idx.length], 0, true), 0, per);
    }

    private static long per(Tensor x) { return x.numel() / x.dim(0); }

    /**
     * out [B,2C,H,W] = [eps, v] of the model at x [B,C,H,W] and indices idx: frac = (v+1)/2,
     * log_var = frac log(beta_i) + (1-frac) log_posterior_var_clipped_i, var = exp(log_var),
     * pred_x0 = sqrt(1/abar_i) x - sqrt(1/abar_i - 1) eps (not clipped), mean = coef1_i pred_x0 + coef2_i x.
     */
    public Pmv pMeanVariance(Ops ops, Tensor out, Tensor x, int[] idx) {
        try (Tensor s = scalars(idx, per(x))) {
            return Pmv.of(ops.pMeanVariance(out, x, s, StepScalars.PMV));
        }
    }

    /** q_sample(x0, i, z) = sqrt(abar_i) x0 + sqrt(1 - abar_i) z, per sample index. */
    public Tensor qSample(Ops ops, Tensor x0, int[] idx, Tensor z) {
        try (Tensor s = scalars(idx, per(x0))) {
            return ops.axpby(x0, z, s, StepScalars.Q_SAMPLE);
        }
    }

    /** The DDPM step from the mean guided by g (null: unguided): mean + variance g + [i > 0] exp(log_var / 2) z. */
    public Tensor sample(Ops ops, Pmv pmv, Tensor g, int[] idx, Tensor z) {
        try (Tensor s = scalars(idx, per(pmv.mean()))) {
            return ops.posteriorSample(pmv.mean(), pmv.variance(), pmv.logVariance(), g, z, s, StepScalars.NOISE);
        }
    }
}
