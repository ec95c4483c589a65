package org.imagenete.diffusion;

import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.imagenete.diffusion.GaussianDiffusion.F;

/**
 * One model evaluation of a guided sampling step: UNet forward (with a tape when guiding), p_mean_variance,
 * the guidance loss on pred_x0, and g = -dLoss/dx_t through the UNet by one backward pass, plus the adversarial
 * term taken at pred_x0 and added as it is (the released {@code cond_fn}):
 * <pre>
 * pred_x0 = a_i x_t - b_i eps(x_t)            (a = sqrt(1/abar), b = sqrt(1/abar - 1))
 * dL/dx_t = a_i dL/dx0 + VJP_UNet([-b_i dL/dx0, 0])
 * g = -dL/dx_t + g_adv(pred_x0)
 * </pre>
 * Every output is checked for NaN/Inf; a non-finite value stops sampling with the step and the tensor named.
 */
public final class GuidedStep {
    private GuidedStep() {}

    /**
     * Everything one step computes; close to free. g is null when no guidance term is active; gAdv (the adversarial
     * part of g) is null without a classifier.
     */
    public record Result(Tensor modelOut, GaussianDiffusion.Pmv pmv, Tensor g, double complexity, double range,
                         double loss, float[] complexityPerSample, Tensor gAdv) implements AutoCloseable {
        @Override public void close() {
            modelOut.close();
            pmv.close();
            if (g != null) g.close();
            if (gAdv != null) gAdv.close();
        }
    }

    /** A NaN or Inf in a sampling step. */
    public static final class NonFiniteException extends RuntimeException {
        public NonFiniteException(String message) { super(message); }
    }

    public static Result run(Adm model, Ops ops, GaussianDiffusion diffusion, Tensor x, int[] idx, Guidance.Terms terms) {
        if (!model.config().learnSigma())
            throw new UnsupportedOperationException("the sampler needs a learned-sigma ADM (" + 2 * model.config().inChannels()
                    + " output channels: eps and the variance interpolation); this checkpoint has " + model.config().outChannels());
        if (model.config().numClasses() > 0)
            throw new UnsupportedOperationException("class-conditional ADM checkpoints are not supported by the sampler (ImageNet-E uses the unconditional model)");
        checkFinite("x_t", x, idx);
        boolean guided = terms != null && terms.active(), chained = guided && terms.throughUnet();
        List<Tensor> owned = new ArrayList<>();
        try (Tensor t = diffusion.modelTimesteps(idx); Adm.Tape tape = chained ? new Adm.Tape() : null) {
            Tensor out = model.forward(ops, x, t, null, null, tape);
            owned.add(out);
            checkFinite("model output", out, idx);
            GaussianDiffusion.Pmv pmv = diffusion.pMeanVariance(out, x, idx);
            owned.add(pmv.mean());
            owned.add(pmv.variance());
            owned.add(pmv.logVariance());
            owned.add(pmv.predX0());
            owned.add(pmv.eps());
            if (!guided) return new Result(out, pmv, null, Double.NaN, Double.NaN, Double.NaN, null, null);
            try (Guidance.Result lg = Guidance.lossGradient(ops, pmv.predX0(), terms)) {
                checkFinite("dLoss/dpred_x0", lg.dLossDx0(), idx);
                Tensor g = chained ? gradientThroughUnet(model, ops, diffusion, tape, lg.dLossDx0(), idx) : Tensor.zeros(DType.F32, x.shape().dims());
                owned.add(g);
                Tensor gAdv = null;
                if (terms.adversarial()) {
                    gAdv = Guidance.adversarial(ops, pmv.predX0(), terms);
                    owned.add(gAdv);
                    checkFinite("adversarial gradient g_adv", gAdv, idx);
                    MemorySegment gs = g.data(), as = gAdv.data();
                    for (long k = 0; k < g.numel(); k++) gs.setAtIndex(F, k, gs.getAtIndex(F, k) + as.getAtIndex(F, k));
                }
                checkFinite("guidance gradient g", g, idx);
                return new Result(out, pmv, g, lg.complexity(), lg.range(), lg.loss(), lg.complexityPerSample(), gAdv);
            }
        } catch (RuntimeException e) {
            owned.forEach(Tensor::close);
            throw e;
        }
    }

    /** g = -(a_i dL/dx0 + VJP_UNet([-b_i dL/dx0, 0])): the tape is consumed. */
    static Tensor gradientThroughUnet(Adm model, Ops ops, GaussianDiffusion diffusion, Adm.Tape tape, Tensor dx0, int[] idx) {
        Schedule s = diffusion.schedule();
        int b = dx0.dim(0), c = dx0.dim(1), h = dx0.dim(2), w = dx0.dim(3);
        long per = (long) c * h * w;
        try (Tensor v = Tensor.zeros(DType.F32, b, model.config().outChannels(), h, w)) {
            MemorySegment vs = v.data(), ds = dx0.data();
            long vPer = (long) model.config().outChannels() * h * w;
            for (int bi = 0; bi < b; bi++) {
                float rm1 = (float) s.sqrtRecipm1AlphasCumprod[idx[bi]];
                for (long k = 0; k < per; k++) vs.setAtIndex(F, bi * vPer + k, -rm1 * ds.getAtIndex(F, bi * per + k));
            }
            try (Tensor du = model.inputGradient(ops, tape, v)) {
                Tensor g = Tensor.allocate(DType.F32, dx0.shape());
                MemorySegment gs = g.data(), us = du.data();
                for (int bi = 0; bi < b; bi++) {
                    float ra = (float) s.sqrtRecipAlphasCumprod[idx[bi]];
                    for (long k = bi * per; k < (bi + 1) * per; k++)
                        gs.setAtIndex(F, k, -(ra * ds.getAtIndex(F, k) + us.getAtIndex(F, k)));
                }
                return g;
            }
        }
    }

    /** Throws with the step, the tensor and the sample when {@code t} holds NaN or Inf. */
    public static void checkFinite(String name, Tensor t, int[] idx) {
        MemorySegment d = t.data();
        long n = t.numel(), per = n / t.dim(0);
        for (long k = 0; k < n; k++) {
            float v = d.getAtIndex(F, k);
            if (!Float.isFinite(v)) {
                long bad = 0;
                for (long j = 0; j < n; j++) if (!Float.isFinite(d.getAtIndex(F, j))) bad++;
                int sample = (int) (k / per);
                throw new NonFiniteException(String.format(Locale.ROOT,
                        "non-finite values at step index %d (sample %d): tensor '%s' %s has %d NaN/Inf values (first: %s at element %d)",
                        idx[Math.min(sample, idx.length - 1)], sample, name, t.shape(), bad, v, k));
            }
        }
    }
}
