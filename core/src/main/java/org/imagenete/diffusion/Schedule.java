package org.imagenete.diffusion;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * A Gaussian diffusion noise schedule in float64, guided-diffusion's {@code GaussianDiffusion} arrays, for the
 * base linear schedule or a respacing of it ({@code SpacedDiffusion}). Index i runs over the kept steps;
 * {@link #timestep(int)} maps it to the original timestep the model is called with.
 */
public final class Schedule {
    public final int steps;
    /** Original timestep of each index (ascending); for the base schedule i -> i. */
    public final int[] timesteps;
    public final double[] betas, alphasCumprod, alphasCumprodPrev, alphasCumprodNext, sqrtAlphasCumprod,
            sqrtOneMinusAlphasCumprod, logOneMinusAlphasCumprod, sqrtRecipAlphasCumprod, sqrtRecipm1AlphasCumprod,
            posteriorVariance, posteriorLogVarianceClipped, posteriorMeanCoef1, posteriorMeanCoef2, logBetas;
    /** Timesteps of the base schedule. */
    public final int originalSteps;

    private Schedule(double[] betas, int[] timesteps, int originalSteps) {
        int n = betas.length;
        this.steps = n;
        this.timesteps = timesteps;
        this.originalSteps = originalSteps;
        this.betas = betas;
        alphasCumprod = new double[n];
        double p = 1;
        for (int i = 0; i < n; i++) alphasCumprod[i] = p *= 1 - betas[i];
        alphasCumprodPrev = new double[n];
        alphasCumprodNext = new double[n];
        sqrtAlphasCumprod = new double[n];
        sqrtOneMinusAlphasCumprod = new double[n];
        logOneMinusAlphasCumprod = new double[n];
        sqrtRecipAlphasCumprod = new double[n];
        sqrtRecipm1AlphasCumprod = new double[n];
        posteriorVariance = new double[n];
        posteriorLogVarianceClipped = new double[n];
        posteriorMeanCoef1 = new double[n];
        posteriorMeanCoef2 = new double[n];
        logBetas = new double[n];
        for (int i = 0; i < n; i++) {
            double ac = alphasCumprod[i];
            alphasCumprodPrev[i] = i == 0 ? 1 : alphasCumprod[i - 1];
            alphasCumprodNext[i] = i == n - 1 ? 0 : alphasCumprod[i + 1];
            sqrtAlphasCumprod[i] = Math.sqrt(ac);
            sqrtOneMinusAlphasCumprod[i] = Math.sqrt(1 - ac);
            logOneMinusAlphasCumprod[i] = Math.log(1 - ac);
            sqrtRecipAlphasCumprod[i] = Math.sqrt(1 / ac);
            sqrtRecipm1AlphasCumprod[i] = Math.sqrt(1 / ac - 1);
            posteriorVariance[i] = betas[i] * (1 - alphasCumprodPrev[i]) / (1 - ac);
            posteriorMeanCoef1[i] = betas[i] * Math.sqrt(alphasCumprodPrev[i]) / (1 - ac);
            posteriorMeanCoef2[i] = (1 - alphasCumprodPrev[i]) * Math.sqrt(1 - betas[i]) / (1 - ac);
            logBetas[i] = Math.log(betas[i]);
        }
        // the posterior variance is 0 at i = 0: the clipped log repeats element 1
        for (int i = 0; i < n; i++) posteriorLogVarianceClipped[i] = Math.log(posteriorVariance[i == 0 && n > 1 ? 1 : i]);
    }

    /** numpy.linspace(scale*1e-4, scale*0.02, T) with scale = 1000/T (the last element exactly the stop value). */
    public static Schedule linear(int t) {
        if (t < 2) throw new IllegalArgumentException("need at least 2 diffusion steps, got " + t);
        double scale = 1000.0 / t, start = scale * 0.0001, stop = scale * 0.02, step = (stop - start) / (t - 1);
        double[] b = new double[t];
        int[] ts = new int[t];
        for (int i = 0; i < t; i++) {
            b[i] = start + i * step;
            ts[i] = i;
        }
        b[t - 1] = stop;
        return new Schedule(b, ts, t);
    }

    /**
     * Respacing as guided-diffusion's {@code space_timesteps}: "ddimN" keeps every stride-th step (the first
     * stride with exactly N steps); otherwise a comma list of counts, one per equal section, each kept at
     * {@code round(k * stride)} with an accumulated float64 stride and Python's round-half-to-even.
     */
    public static Schedule respaced(int t, String spec) {
        Schedule base = linear(t);
        if (spec == null || spec.isBlank()) return base;
        TreeSet<Integer> keep = new TreeSet<>(spaceTimesteps(t, spec.trim()));
        int[] map = keep.stream().mapToInt(Integer::intValue).toArray();
        double[] nb = new double[map.length];
        double last = 1;
        for (int i = 0; i < map.length; i++) {
            double ac = base.alphasCumprod[map[i]];
            nb[i] = 1 - ac / last;
            last = ac;
        }
        return new Schedule(nb, map, t);
    }

    static List<Integer> spaceTimesteps(int t, String spec) {
        List<Integer> out = new ArrayList<>();
        if (spec.startsWith("ddim")) {
            int n = Integer.parseInt(spec.substring(4));
            for (int stride = 1; stride < t; stride++) {
                if ((t + stride - 1) / stride == n) {
                    for (int i = 0; i < t; i += stride) out.add(i);
                    return out;
                }
            }
            throw new IllegalArgumentException("cannot create exactly " + n + " steps with an integer stride from " + t);
        }
        String[] parts = spec.split(",");
        int[] counts = new int[parts.length];
        for (int i = 0; i < parts.length; i++) counts[i] = Integer.parseInt(parts[i].trim());
        int size = t / counts.length, extra = t % counts.length, start = 0;
        for (int j = 0; j < counts.length; j++) {
            int sec = size + (j < extra ? 1 : 0);
            int n = counts[j];
            if (sec < n) throw new IllegalArgumentException("cannot divide a section of " + sec + " steps into " + n);
            double stride = n <= 1 ? 1 : (double) (sec - 1) / (n - 1);
            double cur = 0;
            for (int k = 0; k < n; k++) {
                out.add(start + (int) Math.rint(cur));
                cur += stride;
            }
            start += sec;
        }
        return out;
    }

    /** The timestep the model receives at index i (rescale_timesteps keeps original 0..T-1 units). */
    public float modelTimestep(int i) { return (float) timesteps[i] * (1000.0f / originalSteps); }

    public int timestep(int i) { return timesteps[i]; }
}
