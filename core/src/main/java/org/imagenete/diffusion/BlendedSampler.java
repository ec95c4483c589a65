package org.imagenete.diffusion;

import org.imagenete.nn.Adm;
import org.imagenete.ops.Checks;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.imagenete.diffusion.GaussianDiffusion.F;

/**
 * Blended diffusion as ImageNet-E runs it: keep the object, regenerate the background with complexity (and
 * optionally adversarial) guidance. Start from the filled background noised to index S-1 of the respaced
 * chain; each step i = S-1..0: x = guided p_sample(x, i), then x = x (1 - m) + q_sample(x_obj, i) m (the
 * object is noised to the current level i, as in the original); the result is
 * clamp(x_obj m + pred_x0_last (1 - m), -1, 1). A batch may mix images, masks, lambdas and seeds; every
 * random draw comes from Philox keyed by the sample's own seed, so a sample's result does not depend on
 * what it is batched with (with per-sample complexity normalisation, the default). Optional RePaint-style
 * resampling repeats each step, diffusing back one step in between, so the regenerated part harmonises with the
 * kept one (for inpainting).
 */
public final class BlendedSampler {
    /** One edit: images [3,H,W] in [-1,1] at the model resolution, mask [1,H,W] (1 = object). */
    public record Job(Tensor background, Tensor object, Tensor mask, float lambda, long seed, int label) {}

    /**
     * @param respacing  guided-diffusion respacing ("100", "ddim50", ...)
     * @param skip       S: the number of steps run, from index S-1 (the released tool: 100 and 10)
     * @param perSample  complexity normalised per sample (batch-independent) instead of over the batch
     * @param ddim       DDIM steps with {@code eta} (guidance in score form) instead of DDPM
     */
    public record Options(String respacing, int skip, float rangeLambda, boolean perSample, boolean ddim, float eta,
                          GuidanceClassifier classifier, float adversarialScale, StepListener listener, int resample) {
        public Options {
            if (resample < 1) throw new IllegalArgumentException("resample must be >= 1, got " + resample);
        }

        public Options(String respacing, int skip, float rangeLambda, boolean perSample, boolean ddim, float eta,
                       GuidanceClassifier classifier, float adversarialScale, StepListener listener) {
            this(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, listener, 1);
        }

        /** The released tool's settings; the adversarial scale (used when a classifier is set) is its classifier_scale, 10. */
        public static Options imagenetE() { return new Options("100", 10, 50f, true, false, 0f, null, 10f, null); }

        public Options withListener(StepListener l) {
            return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, l, resample);
        }

        /** RePaint-style resampling (Lugmayr et al. 2022): each step is redone r times, diffusing back one step in between. */
        public Options withResample(int r) {
            return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, listener, r);
        }
    }

    /** Called after every step (for progress and for tests). */
    @FunctionalInterface
    public interface StepListener {
        void step(int index, int stepsRun, int stepsTotal, double complexity);
    }

    private BlendedSampler() {}

    /** Runs the jobs as one batch; returns one [3,H,W] image per job, in [-1,1]. */
    public static List<Tensor> sample(Adm model, Ops ops, List<Job> jobs, Options o) {
        if (jobs.isEmpty()) return List.of();
        int b = jobs.size();
        Tensor bg0 = jobs.getFirst().background;
        int c = bg0.dim(0), h = bg0.dim(1), w = bg0.dim(2);
        for (Job j : jobs) {
            Checks.shape("background", j.background, c, h, w);
            Checks.shape("object image", j.object, c, h, w);
            Checks.shape("object mask", j.mask, 1, h, w);
        }
        GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, o.respacing));
        if (o.skip < 1 || o.skip > d.schedule().steps)
            throw new IllegalArgumentException("skip " + o.skip + " outside 1.." + d.schedule().steps + " for respacing " + o.respacing);
        float[] lambda = new float[b];
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) {
            lambda[i] = jobs.get(i).lambda;
            labels[i] = jobs.get(i).label;
        }
        Guidance.Terms terms = new Guidance.Terms(lambda, o.rangeLambda, o.perSample, o.classifier, o.adversarialScale, labels);
        try (Tensor bg = stack(jobs, Job::background); Tensor obj = stack(jobs, Job::object); Tensor m = stack(jobs, Job::mask)) {
            int[] idx = new int[b];
            java.util.Arrays.fill(idx, o.skip - 1);
            Tensor x;
            try (Tensor z = noise(jobs, Philox.Purpose.START, o.skip - 1, bg.shape().dims())) {
                x = d.qSample(bg, idx, z);
            }
            Tensor lastX0 = null;
            try {
                for (int i = o.skip - 1; i >= 0; i--) {
                    for (int u = 0; u < o.resample; u++) {
                        long stream = i + ((long) u << 20);   // repetition u > 0 draws fresh numbers
                        java.util.Arrays.fill(idx, i);
                        try (GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx, terms)) {
                            Tensor next;
                            try (Tensor z = noise(jobs, Philox.Purpose.SAMPLE, stream, x.shape().dims())) {
                                next = o.ddim ? ddim(d, x, r, idx, o.eta, z) : ddpm(d, r, idx, z);
                            }
                            try (next; Tensor zo = noise(jobs, Philox.Purpose.OBJECT, stream, x.shape().dims());
                                 Tensor qObj = d.qSample(obj, idx, zo)) {
                                x.close();
                                x = blend(next, qObj, m);
                            }
                            GuidedStep.checkFinite("x after step", x, idx);
                            if (lastX0 != null) lastX0.close();
                            lastX0 = r.pmv().predX0().copy();
                            if (o.listener != null && u == o.resample - 1) o.listener.step(i, o.skip - i, o.skip, r.complexity());
                        }
                        if (u < o.resample - 1 && i > 0) {
                            // back to the noise level of index i: x_i = sqrt(1 - beta'_i) x_{i-1} + sqrt(beta'_i) z
                            try (Tensor z = noise(jobs, Philox.Purpose.RESAMPLE, stream, x.shape().dims())) {
                                Tensor back = d.diffuseOneStep(x, idx, z);
                                x.close();
                                x = back;
                            }
                        } else if (u < o.resample - 1) {
                            break;   // the last step has no noisier level to return to
                        }
                    }
                }
                try (Tensor fin = blend(obj, lastX0, m, true)) {
                    List<Tensor> out = new java.util.ArrayList<>();
                    for (int s = 0; s < b; s++) out.add(fin.slice0(s, 1).view(c, h, w).copy());
                    return out;
                }
            } finally {
                x.close();
                if (lastX0 != null) lastX0.close();
            }
        }
    }

    private static Tensor ddpm(GaussianDiffusion d, GuidedStep.Result r, int[] idx, Tensor z) {
        Tensor mean = r.pmv().mean();
        if (r.g() == null) return d.sample(mean, r.pmv().logVariance(), idx, z);
        try (Tensor gm = guidedMean(r.pmv(), r.g())) {
            return d.sample(gm, r.pmv().logVariance(), idx, z);
        }
    }

    /** DDIM with score-form guidance: eps' = eps - sqrt(1 - abar_i) g. */
    private static Tensor ddim(GaussianDiffusion d, Tensor x, GuidedStep.Result r, int[] idx, float eta, Tensor z) {
        Tensor eps = r.pmv().eps();
        if (r.g() == null) return d.ddimStep(x, eps, idx, eta, z);
        try (Tensor e2 = eps.copy()) {
            MemorySegment es = e2.data(), gs = r.g().data();
            long per = e2.numel() / e2.dim(0);
            for (int s = 0; s < e2.dim(0); s++) {
                float k = (float) d.schedule().sqrtOneMinusAlphasCumprod[idx[s]];
                for (long j = s * per; j < (s + 1) * per; j++) es.setAtIndex(F, j, es.getAtIndex(F, j) - k * gs.getAtIndex(F, j));
            }
            return d.ddimStep(x, e2, idx, eta, z);
        }
    }

    /** mean + variance * g (guided-diffusion's condition_mean). */
    public static Tensor guidedMean(GaussianDiffusion.Pmv pmv, Tensor g) {
        Tensor out = Tensor.allocate(DType.F32, g.shape());
        MemorySegment m = pmv.mean().data(), v = pmv.variance().data(), gs = g.data(), o = out.data();
        for (long k = 0; k < g.numel(); k++) o.setAtIndex(F, k, m.getAtIndex(F, k) + v.getAtIndex(F, k) * gs.getAtIndex(F, k));
        return out;
    }

    /** a (1 - m) + b m with m [B,1,H,W] broadcast over channels. */
    public static Tensor blend(Tensor a, Tensor b, Tensor m) { return blend(b, a, m, false); }

    /** obj m + rest (1 - m), optionally clamped to [-1, 1]. */
    static Tensor blend(Tensor obj, Tensor rest, Tensor m, boolean clamp) {
        Checks.same("blend", obj, rest);
        int bn = obj.dim(0), c = obj.dim(1);
        long hw = (long) obj.dim(2) * obj.dim(3);
        Checks.shape("blend mask", m, bn, 1, obj.dim(2), obj.dim(3));
        Tensor out = Tensor.allocate(DType.F32, obj.shape());
        MemorySegment os = obj.data(), rs = rest.data(), ms = m.data(), ys = out.data();
        for (int s = 0; s < bn; s++)
            for (int ch = 0; ch < c; ch++)
                for (long k = 0; k < hw; k++) {
                    long j = ((long) s * c + ch) * hw + k;
                    float mv = ms.getAtIndex(F, s * hw + k);
                    float v = rs.getAtIndex(F, j) * (1 - mv) + os.getAtIndex(F, j) * mv;
                    ys.setAtIndex(F, j, clamp ? Math.max(-1f, Math.min(1f, v)) : v);
                }
        return out;
    }

    private static Tensor stack(List<Job> jobs, java.util.function.Function<Job, Tensor> f) {
        Tensor first = f.apply(jobs.getFirst());
        int[] d = first.shape().dims();
        int[] sd = new int[d.length + 1];
        sd[0] = jobs.size();
        System.arraycopy(d, 0, sd, 1, d.length);
        Tensor out = Tensor.allocate(DType.F32, sd);
        for (int i = 0; i < jobs.size(); i++)
            MemorySegment.copy(f.apply(jobs.get(i)).data(), 0, out.data(), i * first.byteSize(), first.byteSize());
        return out;
    }

    /** Per-sample Philox noise for a step and purpose, [B, ...] like {@code dims}. */
    static Tensor noise(List<Job> jobs, Philox.Purpose purpose, long step, int[] dims) {
        Tensor z = Tensor.allocate(DType.F32, dims);
        int per = (int) (z.numel() / dims[0]);
        float[] buf = new float[per];
        for (int s = 0; s < jobs.size(); s++) {
            Philox.normals(jobs.get(s).seed, Philox.stream(step, purpose), buf, 0, per);
            MemorySegment.copy(buf, 0, z.data(), F, (long) s * per * 4, per);
        }
        return z;
    }
}
