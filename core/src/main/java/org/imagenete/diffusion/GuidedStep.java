package org.imagenete.diffusion;

import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One model evaluation of a guided sampling step: UNet forward (with a tape when guiding), p_mean_variance,
 * the guidance loss on pred_x0, and g = -dLoss/dx_t through the UNet by one backward pass, plus the adversarial
 * term taken at pred_x0 and added as it is (the released {@code cond_fn}):
 * <pre>
 * pred_x0 = a_i x_t - b_i eps(x_t)            (a = sqrt(1/abar), b = sqrt(1/abar - 1))
 * dL/dx_t = a_i dL/dx0 + VJP_UNet([-b_i dL/dx0, 0])
 * g = -dL/dx_t + g_adv(pred_x0)
 * </pre>
 * plus an optional {@link GradientTerm} added to g. All of it is ops of the backend ({@link #evaluate}): on a
 * device nothing image-sized comes back to the host. Every output is counted for NaN/Inf on the device
 * ({@link Ops#nonFinite}); a non-finite value stops sampling with the step, the sample and the tensor named.
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

    /** The device part of a step; {@code stats} collects its checks and values; gAdv: the adversarial part of g or null; extra: host values or null. */
    record Evaluation(Tensor modelOut, GaussianDiffusion.Pmv pmv, Tensor g, Tensor gAdv, float[] extra,
                      Map<String, Shape> shapes) implements AutoCloseable {
        @Override public void close() {
            modelOut.close();
            pmv.close();
            if (g != null) g.close();
            if (gAdv != null) gAdv.close();
        }
    }

    static void requireSampler(Adm model) {
        if (!model.config().learnSigma())
            throw new UnsupportedOperationException("the sampler needs a learned-sigma ADM (" + 2 * model.config().inChannels()
                    + " output channels: eps and the variance interpolation); this checkpoint has " + model.config().outChannels());
        if (model.config().numClasses() > 0)
            throw new UnsupportedOperationException("class-conditional ADM checkpoints are not supported by the sampler (ImageNet-E uses the unconditional model)");
    }

    /**
     * Forward, p_mean_variance and (when {@code guided}) g at x [B,C,H,W] with model timesteps t [B] and the step
     * scalars {@code scal} ({@link StepScalars}); the NaN/Inf counts and the loss values go to {@code stats}. Device
     * work only, unless the classifier or the extra term reads back.
     */
    static Evaluation evaluate(Adm model, Ops ops, Tensor x, Tensor t, Tensor scal, Guidance.Terms terms, boolean guided,
                               StepStats stats) {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        List<Tensor> owned = new ArrayList<>();
        boolean chained = guided && terms.throughUnet();
        try (Adm.Tape tape = chained ? new Adm.Tape() : null) {
            check(stats, shapes, "x_t", x);
            Tensor out = keep(owned, model.forward(ops, x, t, null, null, tape));
            check(stats, shapes, "model output", out);
            GaussianDiffusion.Pmv pmv = GaussianDiffusion.Pmv.of(ops.pMeanVariance(out, x, scal, StepScalars.PMV));
            owned.add(pmv.mean());
            owned.add(pmv.variance());
            owned.add(pmv.logVariance());
            owned.add(pmv.predX0());
            owned.add(pmv.eps());
            if (!guided) return new Evaluation(out, pmv, null, null, null, shapes);
            Guidance.OnDevice lg = Guidance.lossGradient(ops, pmv.predX0(), scal, terms);
            stats.values("loss", lg.values());
            Tensor g;
            try (Tensor dl = lg.grad()) {
                check(stats, shapes, "dLoss/dpred_x0", dl);
                // only the adversarial term (lambda and range 0): no backward through the UNet, g starts at 0
                g = keep(owned, chained ? gradientThroughUnet(model, ops, tape, dl, scal) : ops.axpby(dl, null, scal, StepScalars.ZERO));
            }
            Tensor gAdv = null;
            if (terms.adversarial()) {
                gAdv = keep(owned, Guidance.adversarial(ops, pmv.predX0(), scal, terms).g());
                check(stats, shapes, "adversarial gradient g_adv", gAdv);
                Tensor g0 = g;
                g = keep(owned, ops.axpby(g0, gAdv, scal, StepScalars.SUM));
                owned.remove(g0);
                g0.close();
            }
            float[] extra = null;
            if (terms.extra() != null) {
                try (GradientTerm.Addend a = terms.extra().at(ops, pmv.predX0(), terms.labels()); Tensor g0 = g) {
                    owned.remove(g0);
                    g = keep(owned, ops.axpby(g0, a.toG(), scal, StepScalars.SUM));
                    extra = a.loss();
                }
            }
            check(stats, shapes, "guidance gradient g", g);
            return new Evaluation(out, pmv, g, gAdv, extra, shapes);
        } catch (RuntimeException | Error e) {
            owned.forEach(Tensor::close);
            throw e;
        }
    }

    private static Tensor keep(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    private static void check(StepStats stats, Map<String, Shape> shapes, String name, Tensor t) {
        stats.check(name, t);
        shapes.put(name, t.shape());
    }

    /** g = -(a_i dL/dx0 + VJP_UNet([-b_i dL/dx0, 0])): the tape is consumed. */
    static Tensor gradientThroughUnet(Adm model, Ops ops, Adm.Tape tape, Tensor dx0, Tensor scal) {
        Tensor v;
        try (Tensor eps = ops.axpby(dx0, null, scal, StepScalars.SEED);          // [B, C, H, W]: -b_i dL/dx0
             Tensor zero = ops.axpby(dx0, null, scal, StepScalars.ZERO)) {       // the variance channels get none
            v = ops.concat(eps, zero);                                           // [B, 2C, H, W]
        }
        try (v; Tensor du = model.inputGradient(ops, tape, v)) {                 // [B, C, H, W]
            return ops.axpby(dx0, du, scal, StepScalars.GRAD);
        }
    }

    /**
     * One step's model evaluation at respaced indices {@code idx}, with its values read back: the checking path
     * (the {@code step} command, the golden test, benchmarks). Throws {@link NonFiniteException} on NaN/Inf.
     */
    public static Result run(Adm model, Ops ops, GaussianDiffusion diffusion, Tensor x, int[] idx, Guidance.Terms terms) {
        requireSampler(model);
        boolean guided = terms != null && terms.active();
        Guidance.Terms tm = terms != null ? terms : Guidance.Terms.complexity(new float[x.dim(0)], 0, true);
        StepStats stats = new StepStats(ops);
        Evaluation ev;
        try (Tensor t = diffusion.modelTimesteps(idx); Tensor scal = StepScalars.of(diffusion.schedule(), idx, tm, 0, x.numel() / x.dim(0))) {
            ev = evaluate(model, ops, x, t, scal, tm, guided, stats);
        } catch (RuntimeException | Error e) {
            stats.close();
            throw e;
        }
        StepStats.Layout layout = stats.layout();
        StepStats.Read read;
        try (Tensor s = stats.gather()) {
            read = StepStats.read(s, layout);
        } catch (RuntimeException | Error e) {
            ev.close();
            throw e;
        }
        try {
            read.requireFinite(idx, ev.shapes());
        } catch (NonFiniteException e) {
            ev.close();
            throw e;
        }
        if (!guided) return new Result(ev.modelOut(), ev.pmv(), null, Double.NaN, Double.NaN, Double.NaN, null, null);
        Guidance.Values v = Guidance.Values.of(read, tm, ev.extra());
        return new Result(ev.modelOut(), ev.pmv(), ev.g(), v.complexity(), v.range(), v.loss(), v.complexityPerSample(), ev.gAdv());
    }
}
