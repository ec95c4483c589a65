package org.imagenete.diffusion;

import org.imagenete.device.DeviceCounters;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Checks;
import org.imagenete.ops.DeviceSupport;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Philox;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

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
 *
 * <p>Every step is ops of the backend, noise included ({@link Ops#philoxNormal}). On a device ({@link Ops#device()})
 * the images go up once, the result comes back once, and a step moves only its scalars: the step table
 * ({@link StepScalars}), the timesteps and the Philox keys up, one [B, k] tensor of NaN/Inf counts and loss values
 * down. The first step runs eagerly (it puts the weights and constants on the device); the following steps are
 * captured once as a device graph and replayed ({@code -Dimagenete.cuda.graphs=false} keeps them eager). A step
 * whose guidance reads the host (a classifier that does its math there) cannot be captured and stays eager.
 */
public final class BlendedSampler {
    /** One edit: images [3,H,W] in [-1,1] at the model resolution, mask [1,H,W] (1 = object). */
    public record Job(Tensor background, Tensor object, Tensor mask, float lambda, long seed, int label) {}

    /**
     * Sampler settings. Built from {@link #defaults()} or {@link #imagenetE()} and changed with one {@code with} method
     * per setting, so that changing one setting never resets another; there is no positional constructor.
     * <ul>
     * <li>respacing: guided-diffusion respacing ("100", "ddim50", ...)
     * <li>skip: S, the number of steps run, from index S-1 (the released tool: 100 and 10)
     * <li>rangeLambda: weight of the range (complexity) term
     * <li>perSample: complexity normalised per sample (batch-independent) instead of over the batch
     * <li>ddim: DDIM steps with {@code eta} (guidance in score form) instead of DDPM
     * <li>classifier, adversarialScale: the adversarial guidance term (off without a classifier)
     * <li>listener: called after every step (may be null)
     * <li>resample: RePaint-style resampling (Lugmayr et al. 2022): each step is redone r times, diffusing back one
     *     step in between (1 = off)
     * </ul>
     */
    public static final class Options {
        private final String respacing;
        private final int skip;
        private final float rangeLambda;
        private final boolean perSample;
        private final boolean ddim;
        private final float eta;
        private final GuidanceClassifier classifier;
        private final float adversarialScale;
        private final StepListener listener;
        private final int resample;

        private Options(String respacing, int skip, float rangeLambda, boolean perSample, boolean ddim, float eta,
                        GuidanceClassifier classifier, float adversarialScale, StepListener listener, int resample) {
            if (resample < 1) throw new IllegalArgumentException("resample must be >= 1, got " + resample);
            this.respacing = respacing;
            this.skip = skip;
            this.rangeLambda = rangeLambda;
            this.perSample = perSample;
            this.ddim = ddim;
            this.eta = eta;
            this.classifier = classifier;
            this.adversarialScale = adversarialScale;
            this.listener = listener;
            this.resample = resample;
        }

        /** Respacing 100, S = 10, range lambda 50, per-sample DDPM steps; no classifier, no listener, no resampling. */
        public static Options defaults() { return new Options("100", 10, 50f, true, false, 0f, null, 0f, null, 1); }

        /** The released tool's settings; the adversarial scale (used when a classifier is set) is its classifier_scale, 10. */
        public static Options imagenetE() { return defaults().withAdversarialScale(10f); }

        public String respacing() { return respacing; }
        public int skip() { return skip; }
        public float rangeLambda() { return rangeLambda; }
        public boolean perSample() { return perSample; }
        public boolean ddim() { return ddim; }
        public float eta() { return eta; }
        public GuidanceClassifier classifier() { return classifier; }
        public float adversarialScale() { return adversarialScale; }
        public StepListener listener() { return listener; }
        public int resample() { return resample; }

        public Options withRespacing(String r) { return new Options(r, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, listener, resample); }
        public Options withSkip(int s) { return new Options(respacing, s, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, listener, resample); }
        public Options withRangeLambda(float l) { return new Options(respacing, skip, l, perSample, ddim, eta, classifier, adversarialScale, listener, resample); }
        public Options withPerSample(boolean p) { return new Options(respacing, skip, rangeLambda, p, ddim, eta, classifier, adversarialScale, listener, resample); }
        public Options withDdim(boolean d) { return new Options(respacing, skip, rangeLambda, perSample, d, eta, classifier, adversarialScale, listener, resample); }
        public Options withEta(float e) { return new Options(respacing, skip, rangeLambda, perSample, ddim, e, classifier, adversarialScale, listener, resample); }
        public Options withClassifier(GuidanceClassifier c) { return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, c, adversarialScale, listener, resample); }
        public Options withAdversarialScale(float a) { return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, a, listener, resample); }
        public Options withListener(StepListener l) { return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, l, resample); }
        public Options withResample(int r) { return new Options(respacing, skip, rangeLambda, perSample, ddim, eta, classifier, adversarialScale, listener, r); }
    }

    /** Called after every step (for progress and for tests). */
    @FunctionalInterface
    public interface StepListener {
        void step(int index, int stepsRun, int stepsTotal, double complexity);
    }

    /** Whether device steps are captured as graphs ({@code -Dimagenete.cuda.graphs}, default true). */
    static final boolean GRAPHS = Boolean.parseBoolean(System.getProperty("imagenete.cuda.graphs", "true"));

    private static final System.Logger LOG = System.getLogger("imagenete");

    private BlendedSampler() {}

    /** Runs the jobs as one batch; returns one [3,H,W] image per job, in [-1,1]. */
    public static List<Tensor> sample(Adm model, Ops ops, List<Job> jobs, Options o) { return sample(model, ops, jobs, o, GRAPHS); }

    /** As {@link #sample(Adm, Ops, List, Options)}; {@code graphs}: replay device steps as a captured graph. */
    public static List<Tensor> sample(Adm model, Ops ops, List<Job> jobs, Options o, boolean graphs) {
        if (jobs.isEmpty()) return List.of();
        GuidedStep.requireSampler(model);
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
        DeviceSupport dev = ops.device();
        int[] dims = {b, c, h, w};
        long per = (long) c * h * w;
        List<Tensor> owned = new ArrayList<>();
        try (Stepper stepper = new Stepper(model, ops, dev, terms, o, graphs)) {
            Tensor obj = keep(owned, place(dev, stack(jobs, Job::object)));
            Tensor m = keep(owned, place(dev, stack(jobs, Job::mask)));
            stepper.bind(obj, m);
            int[] idx = new int[b];
            Arrays.fill(idx, o.skip - 1);
            Tensor x;
            try (Tensor bg = place(dev, stack(jobs, Job::background)); Inputs in = Inputs.of(dev, d, idx, terms, o, keys(jobs, o.skip - 1), per);
                 Tensor z = ops.philoxNormal(in.keys, Philox.Purpose.START.ordinal(), dims)) {
                x = ops.axpby(bg, z, in.scal, StepScalars.Q_SAMPLE);
            }
            Tensor lastX0 = null;
            try {
                for (int i = o.skip - 1; i >= 0; i--) {
                    for (int u = 0; u < o.resample; u++) {
                        long stream = i + ((long) u << 20);   // repetition u > 0 draws fresh numbers
                        Arrays.fill(idx, i);
                        Tensor[] r;
                        StepStats.Read read;
                        DeviceCounters counters = dev == null ? null : dev.counters();
                        if (counters != null) counters.beginStep();
                        try (Tensor t = d.modelTimesteps(idx); Tensor scal = StepScalars.of(d.schedule(), idx, terms, o.eta, per);
                             Tensor keys = keys(jobs, stream)) {
                            r = stepper.step(x, t, scal, keys);
                        }
                        try (Tensor stats = r[2]) {
                            read = StepStats.read(stats, stepper.layout);
                            read.requireFinite(idx, stepper.shapes);
                        } catch (RuntimeException | Error e) {
                            r[0].close();
                            r[1].close();
                            throw e;
                        }
                        if (counters != null) counters.endStep();
                        x.close();
                        x = r[0];
                        if (lastX0 != null) lastX0.close();
                        lastX0 = r[1];
                        if (o.listener != null && u == o.resample - 1)
                            o.listener.step(i, o.skip - i, o.skip, stepper.guided
                                    ? Guidance.Values.of(read, terms, stepper.extra).complexity() : Double.NaN);
                        if (u < o.resample - 1 && i > 0) {
                            // back to the noise level of index i: x_i = sqrt(1 - beta'_i) x_{i-1} + sqrt(beta'_i) z
                            try (Inputs in = Inputs.of(dev, d, idx, terms, o, keys(jobs, stream), per);
                                 Tensor z = ops.philoxNormal(in.keys, Philox.Purpose.RESAMPLE.ordinal(), dims)) {
                                Tensor back = ops.axpby(x, z, in.scal, StepScalars.BACK);
                                x.close();
                                x = back;
                            }
                        } else if (u < o.resample - 1) {
                            break;   // the last step has no noisier level to return to
                        }
                    }
                }
                try (Tensor fin = ops.blend(lastX0, obj, m, true)) {
                    MemorySegment all = fin.read();                            // the one download of the result
                    long bytes = per * Float.BYTES;
                    List<Tensor> out = new ArrayList<>();
                    for (int s = 0; s < b; s++) {
                        Tensor img = Tensor.allocate(DType.F32, c, h, w);
                        MemorySegment.copy(all, s * bytes, img.data(), 0, bytes);
                        out.add(img);
                    }
                    return out;
                }
            } finally {
                x.close();
                if (lastX0 != null) lastX0.close();
            }
        } finally {
            owned.forEach(Tensor::close);
        }
    }

    private static Tensor keep(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    /** A host tensor made the backend's: uploaded once on a device (the host copy is closed), kept as is otherwise. */
    private static Tensor place(DeviceSupport dev, Tensor host) {
        if (dev == null) return host;
        try (host) {
            return dev.toDevice(host);
        }
    }

    /** A step's scalars and Philox keys placed on the backend (for the few ops outside the step body). */
    private record Inputs(Tensor scal, Tensor keys) implements AutoCloseable {
        static Inputs of(DeviceSupport dev, GaussianDiffusion d, int[] idx, Guidance.Terms terms, Options o, Tensor keys, long per) {
            Tensor s = StepScalars.of(d.schedule(), idx, terms, o.eta, per);
            return new Inputs(place(dev, s), place(dev, keys));
        }

        @Override public void close() {
            scal.close();
            keys.close();
        }
    }

    /**
     * Runs steps: eagerly, or as a captured graph replayed with new inputs. The step body is device work only (when
     * the guidance terms are), so the same body is what runs eagerly on any backend and what a graph records.
     */
    private static final class Stepper implements AutoCloseable {
        final Adm model;
        final Ops ops;
        final DeviceSupport dev;
        final Guidance.Terms terms;
        final Options o;
        final boolean guided;
        boolean graphs;
        Tensor obj, mask;
        DeviceSupport.Replay graph;
        int steps;
        StepStats.Layout layout;
        Map<String, Shape> shapes;
        float[] extra;

        Stepper(Adm model, Ops ops, DeviceSupport dev, Guidance.Terms terms, Options o, boolean graphs) {
            this.model = model;
            this.ops = ops;
            this.dev = dev;
            this.terms = terms;
            this.o = o;
            this.guided = terms.active();
            this.graphs = graphs && dev != null;
        }

        void bind(Tensor obj, Tensor mask) {
            this.obj = obj;
            this.mask = mask;
        }

        /** {x_{i-1}, pred_x0, stats} from x_i and the step's host inputs. */
        Tensor[] step(Tensor x, Tensor t, Tensor scal, Tensor keys) {
            try {
                if (dev == null) return body(new Tensor[]{x, t, scal, keys});
                if (graph == null && graphs && steps > 0) capture(x, t, scal, keys);
                if (graph != null) return graph.run(x, t, scal, keys);
                try (Tensor td = dev.toDevice(t); Tensor sd = dev.toDevice(scal); Tensor kd = dev.toDevice(keys)) {
                    return body(new Tensor[]{x, td, sd, kd});
                }
            } finally {
                steps++;
            }
        }

        private void capture(Tensor x, Tensor t, Tensor scal, Tensor keys) {
            try {
                graph = dev.capture(this::body, x, t, scal, keys);
            } catch (IllegalStateException e) {
                // guidance that computes on the host (a classifier reading pred_x0) cannot be part of a graph
                graphs = false;
                LOG.log(System.Logger.Level.INFO, "sampling steps run eagerly: the step cannot be captured as a graph (" + e.getMessage() + ")");
            }
        }

        /** The step: in = {x, t, scal, keys} -> {x_{i-1}, pred_x0, stats [B, k]}. */
        Tensor[] body(Tensor[] in) {
            Tensor x = in[0], t = in[1], scal = in[2], keys = in[3];
            int[] dims = x.shape().dims();
            StepStats stats = new StepStats(ops);
            GuidedStep.Evaluation ev;
            try {
                ev = GuidedStep.evaluate(model, ops, x, t, scal, terms, guided, stats);
            } catch (RuntimeException | Error e) {
                stats.close();
                throw e;
            }
            Tensor xn = null;
            try {
                GaussianDiffusion.Pmv p = ev.pmv();
                Tensor next;
                try (Tensor z = ops.philoxNormal(keys, Philox.Purpose.SAMPLE.ordinal(), dims)) {
                    next = o.ddim ? ddim(x, p.eps(), ev.g(), z, scal) : ops.posteriorSample(p.mean(), p.variance(), p.logVariance(), ev.g(), z,
                            scal, StepScalars.NOISE);
                }
                try (next; Tensor zo = ops.philoxNormal(keys, Philox.Purpose.OBJECT.ordinal(), dims);
                     Tensor q = ops.axpby(obj, zo, scal, StepScalars.Q_SAMPLE)) {
                    xn = ops.blend(next, q, mask, false);
                }
                stats.check("x after step", xn);
                layout = stats.layout();
                shapes = new java.util.LinkedHashMap<>(ev.shapes());
                shapes.put("x after step", xn.shape());
                extra = ev.extra();
                return new Tensor[]{xn, p.predX0(), stats.gather()};
            } catch (RuntimeException | Error e) {
                if (xn != null) xn.close();
                ev.pmv().predX0().close();
                stats.close();
                throw e;
            } finally {
                ev.modelOut().close();
                ev.pmv().mean().close();
                ev.pmv().variance().close();
                ev.pmv().logVariance().close();
                ev.pmv().eps().close();
                if (ev.g() != null) ev.g().close();
                if (ev.gAdv() != null) ev.gAdv().close();
            }
        }

        /** DDIM with score-form guidance: eps' = eps - sqrt(1 - abar_i) g, then the DDIM update from eps'. */
        private Tensor ddim(Tensor x, Tensor eps, Tensor g, Tensor z, Tensor scal) {
            try (Tensor e2 = g == null ? null : ops.axpby(eps, g, scal, StepScalars.DDIM_EPS)) {
                Tensor e = e2 != null ? e2 : eps;
                try (Tensor x0 = ops.axpby(x, e, scal, StepScalars.DDIM_X0); Tensor v = ops.axpby(x0, e, scal, StepScalars.DDIM_DIR)) {
                    return ops.axpby(v, z, scal, StepScalars.DDIM_NOISE);
                }
            }
        }

        @Override public void close() {
            if (graph != null) graph.close();
        }
    }

    private static Tensor stack(List<Job> jobs, Function<Job, Tensor> f) {
        Tensor first = f.apply(jobs.getFirst());
        int[] d = first.shape().dims();
        int[] sd = new int[d.length + 1];
        sd[0] = jobs.size();
        System.arraycopy(d, 0, sd, 1, d.length);
        Tensor out = Tensor.allocate(DType.F32, sd);
        for (int i = 0; i < jobs.size(); i++)
            MemorySegment.copy(f.apply(jobs.get(i)).read(), 0, out.data(), i * first.byteSize(), first.byteSize());
        return out;
    }

    /** Philox keys [B,4] I32 of a step: (seed lo, seed hi, step lo, step hi) per job ({@link Ops#philoxNormal}). */
    static Tensor keys(List<Job> jobs, long step) {
        Tensor k = Tensor.allocate(DType.I32, jobs.size(), 4);
        MemorySegment s = k.data();
        for (int i = 0; i < jobs.size(); i++) {
            long seed = jobs.get(i).seed;
            s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, 4L * i, (int) seed);
            s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, 4L * i + 1, (int) (seed >>> 32));
            s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, 4L * i + 2, (int) step);
            s.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, 4L * i + 3, (int) (step >>> 32));
        }
        return k;
    }
}
