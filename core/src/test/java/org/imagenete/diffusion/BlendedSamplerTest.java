package org.imagenete.diffusion;

import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The blended sampler on the tiny golden ADM (32x32): determinism, batch independence, object kept, NaN stop. */
class BlendedSamplerTest {
    static final TinyAdmFixture TINY = new TinyAdmFixture("cpu");
    static final Adm model = TINY.model;
    static final Ops ops = TINY.ops;

    @AfterAll
    static void tearDown() { TINY.close(); }

    static Tensor in(Tensor t) { return TINY.in(t); }

    /** A disc mask of radius r at (cy, cx). */
    static Tensor disc(int cy, int cx, int r) {
        float[] m = new float[32 * 32];
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) m[y * 32 + x] = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r ? 1 : 0;
        return in(Tensor.of(m, 1, 32, 32));
    }

    static BlendedSampler.Job job(long seed, float lambda, int cy) {
        return new BlendedSampler.Job(in(Rand.uniform(seed, 0.8f, 3, 32, 32)), in(Rand.uniform(seed + 100, 0.9f, 3, 32, 32)),
                disc(cy, 16, 8), lambda, seed, -1);
    }

    static BlendedSampler.Options opts() { return BlendedSampler.Options.defaults().withSkip(4); }

    @Test
    void sameSeedSameBytesAndResultIndependentOfBatch() {
        BlendedSampler.Job a = job(1, 20f, 12), b = job(2, -20f, 20);
        List<Tensor> alone = BlendedSampler.sample(model, ops, List.of(a), opts());
        List<Tensor> again = BlendedSampler.sample(model, ops, List.of(a), opts());
        List<Tensor> batched = BlendedSampler.sample(model, ops, List.of(b, a), opts());
        try {
            assertEquals(-1L, alone.get(0).data().mismatch(again.get(0).data()), "same inputs and seed: identical bytes");
            double maxd = 0;
            for (long i = 0; i < alone.get(0).numel(); i++)
                maxd = Math.max(maxd, Math.abs(alone.get(0).getFloat(i) - batched.get(1).getFloat(i)));
            System.out.printf(Locale.ROOT, "batch of 1 vs batch of 2: max |d| %.3g%n", maxd);
            assertTrue(maxd <= 1e-5, "a sample's result must not depend on its batch (fp32 reassociation only): " + maxd);
            // the object pixels are the object image, exactly
            Tensor m = a.mask(), obj = a.object();
            int kept = 0;
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 1024; k++)
                    if (m.getFloat(k) == 1) {
                        assertEquals(obj.getFloat(c * 1024 + k), alone.get(0).getFloat(c * 1024 + k));
                        kept++;
                    }
            assertTrue(kept > 100);
            float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
            for (long i = 0; i < alone.get(0).numel(); i++) {
                lo = Math.min(lo, alone.get(0).getFloat(i));
                hi = Math.max(hi, alone.get(0).getFloat(i));
            }
            assertTrue(lo >= -1 && hi <= 1 && hi > lo, "clamped to [-1, 1] and not constant");
        } finally {
            alone.forEach(Tensor::close);
            again.forEach(Tensor::close);
            batched.forEach(Tensor::close);
        }
    }

    @Test
    void otherSeedOtherImage() {
        List<Tensor> x = BlendedSampler.sample(model, ops, List.of(job(1, 20f, 12)), opts());
        BlendedSampler.Job j = job(1, 20f, 12);
        List<Tensor> y = BlendedSampler.sample(model, ops, List.of(new BlendedSampler.Job(j.background(), j.object(), j.mask(), 20f, 99, -1)), opts());
        assertNotEquals(-1L, x.get(0).data().mismatch(y.get(0).data()));
        x.forEach(Tensor::close);
        y.forEach(Tensor::close);
    }

    /** g = -dLoss/dx_t: a small step along g lowers the loss by ~eps |g|^2 (finite difference of the whole chain). */
    @Test
    void guidanceGradientIsTheSteepestDescentOfTheLoss() {
        GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, "100"));
        int[] idx = {30, 30};
        Guidance.Terms terms = Guidance.Terms.complexity(new float[]{20f, -10f}, 50f, true);
        Tensor x = in(Rand.uniform(5, 1.5f, 2, 3, 32, 32));
        try (GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx, terms)) {
            double g2 = 0;
            for (long i = 0; i < r.g().numel(); i++) g2 += (double) r.g().getFloat(i) * r.g().getFloat(i);
            double eps = 1e-3 / Math.sqrt(g2 / r.g().numel());
            double lp = lossAt(d, x, r.g(), eps, idx, terms), lm = lossAt(d, x, r.g(), -eps, idx, terms);
            double slope = (lp - lm) / (2 * eps);
            System.out.printf(Locale.ROOT, "directional derivative along g: %.6g, -|g|^2 = %.6g%n", slope, -g2);
            assertEquals(-g2, slope, 2e-3 * g2);
        }
    }

    private double lossAt(GaussianDiffusion d, Tensor x, Tensor g, double eps, int[] idx, Guidance.Terms terms) {
        try (Tensor xe = x.copy()) {
            for (long i = 0; i < xe.numel(); i++) xe.setFloat(i, (float) (x.getFloat(i) + eps * g.getFloat(i)));
            try (Tensor t = d.modelTimesteps(idx); Tensor out = model.forward(ops, xe, t, null, null);
                 GaussianDiffusion.Pmv p = d.pMeanVariance(ops, out, xe, idx);
                 Guidance.Result lr = Guidance.lossGradient(ops, p.predX0(), terms)) {
                return lr.loss();
            }
        }
    }

    @Test
    void nanIsReportedWithStepAndTensor() {
        BlendedSampler.Job j = job(3, 20f, 16);
        j.background().setFloat(77, Float.NaN);
        var e = assertThrows(GuidedStep.NonFiniteException.class, () -> BlendedSampler.sample(model, ops, List.of(j), opts()));
        assertTrue(e.getMessage().contains("step index 3") && e.getMessage().contains("'x_t'"), e.getMessage());
    }

    @Test
    void ddimRunsAndIsDeterministic() {
        BlendedSampler.Options o = BlendedSampler.Options.defaults().withRespacing("ddim50").withSkip(5).withDdim(true);
        List<Tensor> a = BlendedSampler.sample(model, ops, List.of(job(4, 20f, 16)), o);
        List<Tensor> b = BlendedSampler.sample(model, ops, List.of(job(4, 20f, 16)), o);
        assertEquals(-1L, a.get(0).data().mismatch(b.get(0).data()));
        a.forEach(Tensor::close);
        b.forEach(Tensor::close);
    }

    /** RePaint resampling: deterministic, and it changes the result (each step is redone after diffusing back). */
    @Test
    void repaintResamplingRuns() {
        BlendedSampler.Options o1 = BlendedSampler.Options.defaults().withSkip(3).withRangeLambda(0f);
        List<Tensor> a = BlendedSampler.sample(model, ops, List.of(job(6, 0f, 16)), o1.withResample(3));
        List<Tensor> b = BlendedSampler.sample(model, ops, List.of(job(6, 0f, 16)), o1.withResample(3));
        List<Tensor> c = BlendedSampler.sample(model, ops, List.of(job(6, 0f, 16)), o1);
        try {
            assertEquals(-1L, a.get(0).data().mismatch(b.get(0).data()));
            assertNotEquals(-1L, a.get(0).data().mismatch(c.get(0).data()));
        } finally {
            a.forEach(Tensor::close);
            b.forEach(Tensor::close);
            c.forEach(Tensor::close);
        }
    }
}
