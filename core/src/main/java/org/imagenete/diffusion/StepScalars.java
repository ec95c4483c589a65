package org.imagenete.diffusion;

import org.imagenete.tensor.Tensor;

/**
 * The per-sample scalars of one sampling step, as the sampler's ops read them: a table [B, COLUMNS] (F32) whose
 * columns below are fixed, so that a step captured as a CUDA graph reads its scalars from device memory and
 * the host only refreshes the table (180 bytes per sample) before each replay. Schedule values are rounded to float32,
 * as guided-diffusion applies its float64 schedule to float32 tensors.
 */
public final class StepScalars {
    /** p_mean_variance: log beta, clipped log posterior variance, sqrt(1/abar), sqrt(1/abar - 1), coef1, coef2. */
    public static final int PMV = 0;
    /** 1 where the DDPM step adds noise (index > 0), else 0. */
    public static final int NOISE = 6;
    /** q_sample(x0, i, z) = sqrt(abar) x0 + sqrt(1 - abar) z. */
    public static final int Q_SAMPLE = 7;
    /** The UNet VJP's cotangent for the eps channels: -sqrt(1/abar - 1) dL/dpred_x0. */
    public static final int SEED = 10;
    /** All zero: the cotangent of the variance channels. */
    public static final int ZERO = 13;
    /** g = -(sqrt(1/abar) dL/dpred_x0 + VJP). */
    public static final int GRAD = 16;
    /** Complexity gradient weight -lambda/2 / N (N = C H W per sample, or B C H W over the batch). */
    public static final int SPECTRUM = 19;
    /** Range loss gradient weight 2 rangeLambda / (C H W). */
    public static final int RANGE = 20;
    /** (x0 + 1) / 2: the complexity is taken on the image in [0, 1]. */
    public static final int HALF = 21;
    /** g_adv = -scale dlog p/dpred_x0 (the adversarial classifier term, added to g). */
    public static final int ADVERSARIAL = 24;
    /** DDIM: eps' = eps - sqrt(1 - abar) g; pred_x0 = sqrt(1/abar) x - sqrt(1/abar - 1) eps'; x' = sqrt(abar_prev) pred_x0
     *  + sqrt(1 - abar_prev - sigma^2) eps'; + sigma z where the step adds noise. */
    public static final int DDIM_EPS = 27, DDIM_X0 = 30, DDIM_DIR = 33, DDIM_NOISE = 36;
    /** RePaint's diffusion back to the index's level: sqrt(1 - beta) x + sqrt(beta) z. */
    public static final int BACK = 39;
    /** (1, 1, 0): a plain sum (g + a {@link GradientTerm}'s addend). */
    public static final int SUM = 42;
    public static final int COLUMNS = 45;

    private StepScalars() {}

    /**
     * The table for a batch at respaced indices {@code idx} (null: the loss columns only, for a loss gradient
     * outside a step), with {@code per} = C H W elements per sample.
     */
    public static Tensor of(Schedule s, int[] idx, Guidance.Terms terms, float eta, long per) {
        int b = terms.lambda().length;
        if (idx != null && idx.length != b) throw new IllegalArgumentException(idx.length + " indices for a batch of " + b);
        float[] t = new float[b * COLUMNS];
        for (int r = 0; r < b; r++) {
            int o = r * COLUMNS;
            if (idx != null) {
                int i = idx[r];
                double ab = s.alphasCumprod[i], abp = s.alphasCumprodPrev[i];
                float ra = (float) s.sqrtRecipAlphasCumprod[i], rm1 = (float) s.sqrtRecipm1AlphasCumprod[i];
                set(t, o + PMV, (float) s.logBetas[i], (float) s.posteriorLogVarianceClipped[i], ra, rm1,
                        (float) s.posteriorMeanCoef1[i], (float) s.posteriorMeanCoef2[i]);
                t[o + NOISE] = i > 0 ? 1 : 0;
                set(t, o + Q_SAMPLE, (float) s.sqrtAlphasCumprod[i], (float) s.sqrtOneMinusAlphasCumprod[i], 0);
                set(t, o + SEED, -rm1, 0, 0);
                set(t, o + GRAD, -ra, -1, 0);
                double sigma = eta * Math.sqrt((1 - abp) / (1 - ab)) * Math.sqrt(1 - ab / abp);
                set(t, o + DDIM_EPS, 1, -(float) s.sqrtOneMinusAlphasCumprod[i], 0);
                set(t, o + DDIM_X0, ra, -rm1, 0);
                set(t, o + DDIM_DIR, (float) Math.sqrt(abp), (float) Math.sqrt(Math.max(0, 1 - abp - sigma * sigma)), 0);
                set(t, o + DDIM_NOISE, 1, i > 0 ? (float) sigma : 0, 0);
                set(t, o + BACK, (float) Math.sqrt(1 - s.betas[i]), (float) Math.sqrt(s.betas[i]), 0);
            }
            double n = terms.perSample() ? per : (double) per * b;
            t[o + SPECTRUM] = (float) (-terms.lambda()[r] * 0.5 / n);
            t[o + RANGE] = (float) (terms.rangeLambda() * 2.0 / per);
            set(t, o + HALF, 0.5f, 0, 0.5f);
            set(t, o + ADVERSARIAL, -terms.adversarialScale(), 0, 0);
            set(t, o + SUM, 1, 1, 0);
        }
        return Tensor.of(t, b, COLUMNS);
    }

    private static void set(float[] t, int at, float... v) { System.arraycopy(v, 0, t, at, v.length); }
}
