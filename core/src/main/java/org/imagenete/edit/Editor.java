package org.imagenete.edit;

import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidanceClassifier;
import org.imagenete.image.Filter;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskOps;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Applies edits to images, many at once. Per image: resize to the working size (image Lanczos, mask nearest,
 * as ImageNet-E), remove the object and fill its (slightly dilated) hole, move/scale/rotate the object and
 * composite it over the filled background ({@link Ops#affineComposite}, premultiplied alpha, antialiased
 * when shrinking), then regenerate the background around the object with guided blended diffusion, as the released
 * pipeline does for every edit: background edits with their lambda, size, position and direction edits with
 * lambda 0 (the harmonising pass, {@link Config#harmonizeSteps}; skipped without a model). The diffusion stages
 * run batched across all tasks: the UNet sees batches of edits of different images.
 */
public final class Editor {
    /** Where the hole the object leaves gets its pixels: a classical {@link HoleFiller}, diffusion inpainting (starting from
     * the classical fill), or a given background image. */
    public enum HoleSource { FAST, DIFFUSION, IMAGE }

    /**
     * Editor settings, built from {@link #defaults()} and changed with one {@code with} method per setting (no positional
     * constructor, so that changing one setting never resets another).
     * <ul>
     * <li>size: working resolution (the diffusion model's, 256 for ADM-256)
     * <li>holeSource: how the hole an object leaves is filled
     * <li>holeDilation: pixels added around the object before filling, so that its fringe leaves too
     * <li>background: sampler options of background edits (ImageNet-E: respacing 100, 10 steps)
     * <li>fillOptions: sampler options of diffusion hole filling (no guidance; more steps)
     * <li>batch: edits per UNet batch
     * <li>harmonizeSteps: S of the harmonising blended-diffusion pass that size, position and direction edits get when a
     *     model is present (lambda 0; 0 = off). The released pipeline ({@code run.sh}) runs {@code main.py} for every
     *     edit with the same S, so the default is the background edits' S.
     * </ul>
     */
    public static final class Config {
        private final int size;
        private final HoleSource holeSource;
        private final int holeDilation;
        private final BlendedSampler.Options background;
        private final BlendedSampler.Options fillOptions;
        private final int batch;
        private final int harmonizeSteps;

        private Config(int size, HoleSource holeSource, int holeDilation, BlendedSampler.Options background,
                       BlendedSampler.Options fillOptions, int batch, int harmonizeSteps) {
            if (harmonizeSteps < 0) throw new IllegalArgumentException("harmonize steps must be >= 0, got " + harmonizeSteps);
            this.size = size;
            this.holeSource = holeSource;
            this.holeDilation = holeDilation;
            this.background = background;
            this.fillOptions = fillOptions;
            this.batch = batch;
            this.harmonizeSteps = harmonizeSteps;
        }

        public static Config defaults() {
            BlendedSampler.Options background = BlendedSampler.Options.imagenetE();
            return new Config(256, HoleSource.FAST, 2, background, BlendedSampler.Options.defaults().withSkip(50).withRangeLambda(0f), 4,
                    background.skip());
        }

        public int size() { return size; }
        public HoleSource holeSource() { return holeSource; }
        public int holeDilation() { return holeDilation; }
        public BlendedSampler.Options background() { return background; }
        public BlendedSampler.Options fillOptions() { return fillOptions; }
        public int batch() { return batch; }
        public int harmonizeSteps() { return harmonizeSteps; }

        public Config withSize(int s) { return new Config(s, holeSource, holeDilation, background, fillOptions, batch, harmonizeSteps); }

        public Config withHoleSource(HoleSource f) { return new Config(size, f, holeDilation, background, fillOptions, batch, harmonizeSteps); }

        public Config withHoleDilation(int d) { return new Config(size, holeSource, d, background, fillOptions, batch, harmonizeSteps); }

        /** Sampler options of background edits (the harmonising pass keeps its own S). */
        public Config withBackground(BlendedSampler.Options o) { return new Config(size, holeSource, holeDilation, o, fillOptions, batch, harmonizeSteps); }

        public Config withFillOptions(BlendedSampler.Options o) { return new Config(size, holeSource, holeDilation, background, o, batch, harmonizeSteps); }

        public Config withBatch(int b) { return new Config(size, holeSource, holeDilation, background, fillOptions, b, harmonizeSteps); }

        public Config withHarmonizeSteps(int s) { return new Config(size, holeSource, holeDilation, background, fillOptions, batch, s); }

        /** S of the background edits (the harmonising pass keeps its own S). */
        public Config withBackgroundSteps(int s) { return withBackground(background.withSkip(s)); }

        /** The scale of the adversarial classifier term of "-adv" edits (the released classifier_scale: 10). */
        public Config withAdversarialScale(float scale) { return withBackground(background.withAdversarialScale(scale)); }

        /** Every diffusion step (background edits, the harmonising pass, the diffusion fill) reported to {@code l} (may be null). */
        public Config withListener(BlendedSampler.StepListener l) {
            return withBackground(background.withListener(l)).withFillOptions(fillOptions.withListener(l));
        }

        /** S and RePaint-style resampling of the diffusion hole fill. */
        public Config withFillSteps(int s, int resample) { return withFillOptions(fillOptions.withSkip(s).withResample(resample)); }
    }

    /** An image to edit: its object mask (same size), ImageNet label, and optionally a user background. */
    public record Source(String id, RgbImage image, Mask mask, int label, RgbImage background) {}

    public record Task(Source source, List<Edit> edits, long seed) {
        public String variant() { return Edit.name(edits); }
    }

    /**
     * An edited image and its object mask at the working size, the achieved values, or the reason the edit
     * could not be made ({@code image} null).
     */
    public record Result(Task task, RgbImage image, Mask mask, Map<String, Object> values, String unreachable) {
        public boolean ok() { return unreachable == null; }
    }

    private final Config config;
    private final Adm model;
    private final Ops ops;
    private final HoleFiller fastFill;
    private final GuidanceClassifier adversarial;
    private final Map<String, Double> stageSeconds = new LinkedHashMap<>();

    /**
     * model may be null (geometric edits with the fast fill only, not harmonised); adversarial may be null (no "-adv"
     * edits).
     */
    public Editor(Config config, Adm model, Ops ops, HoleFiller fastFill, GuidanceClassifier adversarial) {
        this.config = config;
        this.model = model;
        this.ops = ops;
        this.fastFill = fastFill;
        this.adversarial = adversarial;
    }

    /** Per-task working state. */
    private static final class Work {
        final Task task;
        RgbImage image, filled, result;
        Mask mask, hole, resultMask;
        final Map<String, Object> values = new LinkedHashMap<>();
        String unreachable;
        int steps;   // S of the blended-diffusion pass (0: none)

        Work(Task t) { task = t; }

        boolean geometric() { return task.edits.stream().anyMatch(e -> !(e instanceof Edit.Background)); }

        Edit.Background background() {
            return task.edits.stream().filter(e -> e instanceof Edit.Background).map(e -> (Edit.Background) e).findFirst().orElse(null);
        }
    }

    public Config config() { return config; }

    /** Whether geometric edits skip the harmonising pass that the configuration asks for, for lack of a model. */
    public boolean harmonizeSkipped() { return model == null && config.harmonizeSteps > 0; }

    /** Seconds spent per stage over all runs: prepare, fill, diffusion_fill, place, blended_diffusion. */
    public Map<String, Double> stageSeconds() { return Map.copyOf(stageSeconds); }

    private long stage(String name, long t0) {
        long now = System.nanoTime();
        stageSeconds.merge(name, (now - t0) / 1e9, Double::sum);
        return now;
    }

    public List<Result> run(List<Task> tasks) {
        long t = System.nanoTime();
        List<Work> work = new ArrayList<>();
        for (Task task : tasks) work.add(prepare(task));
        t = stage("prepare", t);
        List<Work> diffusionFill = new ArrayList<>();
        Map<Source, RgbImage> fastFills = new java.util.IdentityHashMap<>();   // one fill per source image, shared by its edits
        for (Work w : work) {
            if (w.unreachable != null || (!w.geometric() && w.background() == null)) continue;
            w.filled = fastFills.computeIfAbsent(w.task.source, s -> fill(w));
            if (config.holeSource == HoleSource.DIFFUSION) diffusionFill.add(w);
        }
        t = stage("fill", t);
        if (!diffusionFill.isEmpty()) diffusionFill(diffusionFill);
        t = stage("diffusion_fill", t);
        for (Work w : work) {
            if (w.unreachable != null) continue;
            if (w.geometric()) place(w);
            else {
                w.result = w.image;
                w.resultMask = w.mask;
            }
        }
        t = stage("place", t);
        List<Work> diffuse = new ArrayList<>();
        for (Work w : work) {
            if (w.unreachable != null) continue;
            // ImageNet-E runs blended diffusion for every edit (run.sh -> main.py): a background edit with its lambda
            // and its S, a pure geometric one with lambda 0 to harmonise the filled background around the placed object
            if (w.background() != null) w.steps = config.background.skip();
            else if (w.geometric() && model != null) w.steps = config.harmonizeSteps;
            if (w.geometric()) {
                w.values.put("harmonize_steps", w.steps);
                if (model == null && config.harmonizeSteps > 0) w.values.put("harmonize_skipped", "no ADM weights");
            }
            if (w.steps > 0) diffuse.add(w);
        }
        if (!diffuse.isEmpty()) blendedDiffusion(diffuse);
        stage("blended_diffusion", t);
        List<Result> out = new ArrayList<>();
        for (Work w : work) {
            if (w.unreachable == null) {
                w.values.put("complexity_before", complexity(w.image));
                w.values.put("complexity_after", complexity(w.result));
                w.values.put("ratio_after", w.resultMask.areaRatio());
            }
            out.add(new Result(w.task, w.unreachable == null ? w.result : null, w.unreachable == null ? w.resultMask : null,
                    w.values, w.unreachable));
        }
        return out;
    }

    private Work prepare(Task t) {
        Work w = new Work(t);
        Source s = t.source;
        if (s.mask.width() != s.image.width() || s.mask.height() != s.image.height())
            throw new IllegalArgumentException(s.id + ": mask is " + s.mask.width() + "x" + s.mask.height() + ", image is "
                    + s.image.width() + "x" + s.image.height());
        int n = config.size;
        w.image = s.image.width() == n && s.image.height() == n ? s.image : Resize.resize(s.image, n, n, Filter.LANCZOS);
        w.mask = s.mask.width() == n && s.mask.height() == n ? s.mask : s.mask.resizeNearest(n, n);
        w.values.put("seed", t.seed);
        w.values.put("ratio_before", w.mask.areaRatio());
        if (w.mask.isEmpty()) w.unreachable = "the object mask is empty at " + n + "x" + n;
        Edit.Background b = w.background();
        if (b != null && model == null) throw new IllegalStateException("background edits need the ADM diffusion model (--weights)");
        if (b != null && b.adversarial() && adversarial == null)
            throw new IllegalStateException("adversarial background edits need a classifier (--classifier resnet50.pth)");
        if (b != null && b.adversarial() && s.label < 0)
            throw new IllegalStateException(s.id + ": an adversarial background edit needs the image's class (a label) to push away from");
        if (config.holeSource == HoleSource.DIFFUSION && model == null && w.geometric())
            throw new IllegalStateException("diffusion hole filling needs the ADM model (--weights), or use the fast fill");
        w.hole = MaskOps.dilate(w.mask, config.holeDilation);
        return w;
    }

    private RgbImage fill(Work w) {
        return switch (config.holeSource) {
            case FAST, DIFFUSION -> fastFill.fill(w.image, w.hole);   // DIFFUSION starts from the fast fill
            case IMAGE -> {
                RgbImage bg = w.task.source.background;
                if (bg == null) throw new IllegalArgumentException(w.task.source.id + ": --fill image needs a background image");
                yield Resize.resize(bg, config.size, config.size, Filter.LANCZOS);
            }
        };
    }

    /** Diffusion inpainting: the known pixels re-imposed every step, the hole regenerated from the fast fill. */
    private void diffusionFill(List<Work> ws) {
        for (int i = 0; i < ws.size(); i += config.batch)
            sample(ws.subList(i, Math.min(ws.size(), i + config.batch)), config.fillOptions,
                    (w, owned) -> new BlendedSampler.Job(keep(owned, w.filled.toTensor(RgbImage.Range.MINUS_ONE_ONE)),
                            keep(owned, w.image.toTensor(RgbImage.Range.MINUS_ONE_ONE)), keep(owned, MaskOps.invert(w.hole).toTensor()), 0f,
                            Seeds.derive(w.task.seed, "fill"), -1),
                    (w, img) -> w.filled = img);
    }

    /** A sampler job for one task; the tensors it makes go to {@code owned}, closed after the batch. */
    @FunctionalInterface
    private interface JobOf {
        BlendedSampler.Job make(Work w, List<Tensor> owned);
    }

    /** One sampler batch: a job per task, each resulting image handed to {@code result}. */
    private void sample(List<Work> part, BlendedSampler.Options o, JobOf job, java.util.function.BiConsumer<Work, RgbImage> result) {
        List<Tensor> owned = new ArrayList<>();
        try {
            List<BlendedSampler.Job> jobs = new ArrayList<>();
            for (Work w : part) jobs.add(job.make(w, owned));
            List<Tensor> out = BlendedSampler.sample(model, ops, jobs, o);
            for (int k = 0; k < part.size(); k++) {
                try (Tensor t = out.get(k)) {
                    result.accept(part.get(k), RgbImage.fromTensor(t, RgbImage.Range.MINUS_ONE_ONE));
                }
            }
        } finally {
            owned.forEach(Tensor::close);
        }
    }

    private static Tensor keep(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    /** Size, direction and position ({@link Placement}): the object composited over the filled background. */
    private void place(Work w) {
        Placement p = Placement.place(ops, config.size, w.image, w.mask, w.filled, w.task.edits, w.task.seed, w.values);
        if (p.error() != null) {
            w.unreachable = p.error();
            return;
        }
        w.result = p.image();
        w.resultMask = p.mask();
    }

    /**
     * Guided blended diffusion of the background around the (placed) object, batched across tasks: background
     * edits with their lambda, geometric edits with lambda 0 (harmonising). One sampler call per group of equal
     * S and adversarial term, since those are options of the whole batch; lambdas and seeds are per sample.
     */
    private void blendedDiffusion(List<Work> ws) {
        Map<List<Object>, List<Work>> groups = new LinkedHashMap<>();
        for (Work w : ws) groups.computeIfAbsent(List.of(w.steps, adversarial(w)), k -> new ArrayList<>()).add(w);
        for (List<Work> group : groups.values())
            for (int i = 0; i < group.size(); i += config.batch) sampleBackgrounds(group.subList(i, Math.min(group.size(), i + config.batch)));
    }

    private static boolean adversarial(Work w) { return w.background() != null && w.background().adversarial(); }

    private void sampleBackgrounds(List<Work> part) {
        boolean adv = adversarial(part.getFirst());
        BlendedSampler.Options o = config.background.withSkip(part.getFirst().steps);
        if (adv) o = o.withClassifier(adversarial);
        for (Work w : part) {
            if (w.background() == null) continue;
            w.values.put("lambda", w.background().lambda());
            w.values.put("adversarial", adv);
            if (adv) {
                w.values.put("adversarial_scale", o.adversarialScale());
                if (adversarial instanceof ClassifierGuidance cg) w.values.put("adversarial_input", cg.input().flag());
            }
        }
        sample(part, o, (w, owned) -> new BlendedSampler.Job(keep(owned, w.filled.toTensor(RgbImage.Range.MINUS_ONE_ONE)),
                        keep(owned, w.result.toTensor(RgbImage.Range.MINUS_ONE_ONE)), keep(owned, w.resultMask.toTensor()),
                        w.background() == null ? 0f : w.background().lambda(), Seeds.derive(w.task.seed, "background"), w.task.source.label),
                (w, img) -> w.result = img);
    }

    private double complexity(RgbImage img) {
        try (Tensor t = img.toTensor(RgbImage.Range.ZERO_ONE); Tensor t4 = t.view(1, 3, img.height(), img.width());
             Guidance.Complexity c = Guidance.complexity(ops, t4, null, true)) {
            return c.perSample()[0];
        }
    }
}
