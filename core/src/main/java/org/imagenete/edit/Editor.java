package org.imagenete.edit;

import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidanceClassifier;
import org.imagenete.image.Filter;
import org.imagenete.image.Mask;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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
    public enum Fill { FAST, DIFFUSION, IMAGE }

    /**
     * @param size           working resolution (the diffusion model's, 256 for ADM-256)
     * @param holeDilation   pixels added around the object before filling, so that its fringe leaves too
     * @param background     sampler options of background edits (ImageNet-E: respacing 100, 10 steps)
     * @param fillOptions    sampler options of diffusion hole filling (no guidance; more steps)
     * @param batch          edits per UNet batch
     * @param harmonizeSteps S of the harmonising blended-diffusion pass that size, position and direction edits get
     *                       when a model is present (lambda 0; 0 = off). The released pipeline ({@code run.sh}) runs
     *                       {@code main.py} for every edit with the same S, so the default is the background edits' S.
     */
    public record Config(int size, Fill fill, int holeDilation, BlendedSampler.Options background,
                         BlendedSampler.Options fillOptions, int batch, int harmonizeSteps) {
        public Config {
            if (harmonizeSteps < 0) throw new IllegalArgumentException("harmonize steps must be >= 0, got " + harmonizeSteps);
        }

        /** Harmonising with the background edits' S. */
        public Config(int size, Fill fill, int holeDilation, BlendedSampler.Options background, BlendedSampler.Options fillOptions, int batch) {
            this(size, fill, holeDilation, background, fillOptions, batch, background.skip());
        }

        public static Config defaults() {
            return new Config(256, Fill.FAST, 2, BlendedSampler.Options.imagenetE(),
                    new BlendedSampler.Options("100", 50, 0f, true, false, 0f, null, 0f, null), 4);
        }

        public Config withFill(Fill f) { return new Config(size, f, holeDilation, background, fillOptions, batch, harmonizeSteps); }

        public Config withBatch(int b) { return new Config(size, fill, holeDilation, background, fillOptions, b, harmonizeSteps); }

        public Config withSize(int s) { return new Config(s, fill, holeDilation, background, fillOptions, batch, harmonizeSteps); }

        public Config withHarmonizeSteps(int s) { return new Config(size, fill, holeDilation, background, fillOptions, batch, s); }

        /** S of the background edits (the harmonising pass keeps its own S). */
        public Config withBackgroundSteps(int s) {
            return new Config(size, fill, holeDilation, skip(background, s), fillOptions, batch, harmonizeSteps);
        }

        /** The scale of the adversarial classifier term of "-adv" edits (the released classifier_scale: 10). */
        public Config withAdversarialScale(float scale) {
            BlendedSampler.Options o = background;
            return new Config(size, fill, holeDilation, new BlendedSampler.Options(o.respacing(), o.skip(), o.rangeLambda(), o.perSample(),
                    o.ddim(), o.eta(), o.classifier(), scale, o.listener(), o.resample()), fillOptions, batch, harmonizeSteps);
        }

        /** Every diffusion step (background edits, the harmonising pass, the diffusion fill) reported to {@code l} (may be null). */
        public Config withListener(BlendedSampler.StepListener l) {
            return new Config(size, fill, holeDilation, background.withListener(l), fillOptions.withListener(l), batch, harmonizeSteps);
        }

        /** S and RePaint-style resampling of the diffusion hole fill. */
        public Config withFillSteps(int s, int resample) {
            return new Config(size, fill, holeDilation, background, skip(fillOptions, s).withResample(resample), batch, harmonizeSteps);
        }

        static BlendedSampler.Options skip(BlendedSampler.Options o, int s) {
            return new BlendedSampler.Options(o.respacing(), s, o.rangeLambda(), o.perSample(), o.ddim(), o.eta(), o.classifier(),
                    o.adversarialScale(), o.listener(), o.resample());
        }
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
            if (config.fill == Fill.DIFFUSION) diffusionFill.add(w);
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
        if (config.fill == Fill.DIFFUSION && model == null && w.geometric())
            throw new IllegalStateException("diffusion hole filling needs the ADM model (--weights), or use the fast fill");
        w.hole = dilate(w.mask, config.holeDilation);
        return w;
    }

    private RgbImage fill(Work w) {
        return switch (config.fill) {
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
                            keep(owned, w.image.toTensor(RgbImage.Range.MINUS_ONE_ONE)), keep(owned, invert(w.hole).toTensor()), 0f,
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

    /** Size, direction and position: one affine map, refined so that the achieved size ratio is within 1%. */
    private void place(Work w) {
        int n = config.size;
        Mask.Box box = w.mask.boundingBox();
        double cx = (box.x0() + box.x1() - 1) / 2.0, cy = (box.y0() + box.y1() - 1) / 2.0;
        Edit.Size size = null;
        Edit.Direction dir = null;
        Edit.Position position = null;
        for (Edit e : w.task.edits) {
            switch (e) {
                case Edit.Size s -> size = s;
                case Edit.Direction d -> dir = d;
                case Edit.Position p -> position = p;
                case Edit.Background b -> { }
            }
        }
        if (size != null && size.ratio() * n * n < 1) {
            w.unreachable = String.format(Locale.ROOT, "size ratio %s is less than one pixel of the %dx%d image", size.ratio(), n, n);
            return;
        }
        double scale = size == null ? 1 : Math.sqrt(size.ratio() / w.mask.areaRatio());
        Placement p = null;
        for (int iter = 0; iter < 5; iter++) {
            p = placement(w, scale, cx, cy, dir, position);
            if (p.error != null || size == null) break;
            double achieved = p.mask.areaRatio();
            if (Math.abs(achieved / size.ratio() - 1) <= 0.004) break;
            if (achieved <= 0) break;
            scale *= Math.sqrt(size.ratio() / achieved);   // ratio ~ scale^2: one Newton step on sqrt(ratio)
        }
        if (p.error != null) {
            w.unreachable = p.error;
            return;
        }
        if (size != null) {
            double achieved = p.mask.areaRatio();
            w.values.put("ratio_target", size.ratio());
            w.values.put("ratio_achieved", achieved);
            if (Math.abs(achieved / size.ratio() - 1) > 0.01) {
                w.unreachable = String.format(Locale.ROOT, "size ratio %.4f unreachable: got %.4f (object %.4f of the image, scale %.3f)",
                        size.ratio(), achieved, w.mask.areaRatio(), scale);
                return;
            }
        }
        w.values.put("scale", scale);
        if (dir != null) w.values.put("angle", dir.angle(w.task.seed));
        w.values.put("offset_x", p.dx);
        w.values.put("offset_y", p.dy);
        w.values.put("transform", List.of(p.map.a(), p.map.b(), p.map.c(), p.map.d(), p.map.e(), p.map.f()));
        w.result = p.image;
        w.resultMask = p.mask;
    }

    private record Placement(RgbImage image, Mask mask, Affine map, double dx, double dy, String error) {}

    private Placement placement(Work w, double scale, double cx, double cy, Edit.Direction dir, Edit.Position position) {
        int n = config.size;
        Affine m = Affine.scaleAbout(scale, cx, cy);
        if (dir != null) {
            double[] c = dir.aboutObject() ? m.apply(cx, cy) : new double[]{(n - 1) / 2.0, (n - 1) / 2.0};
            m = Affine.rotateAbout(dir.angle(w.task.seed), c[0], c[1]).after(m);
        }
        double[] bb = transformedBox(w.mask, m);           // x0, y0, x1, y1 (pixel edges)
        double bw = bb[2] - bb[0], bh = bb[3] - bb[1];
        // a rotation alone may turn part of a large object out of the frame, as ImageNet-E's rotations do (the
        // share that stays visible is recorded); a placement or a size must keep the whole object inside
        boolean mustFit = position != null || scale != 1;
        if (mustFit && (bw > n + 1e-6 || bh > n + 1e-6))
            return new Placement(null, null, m, 0, 0, String.format(Locale.ROOT,
                    "the transformed object (%.0fx%.0f px) does not fit in the %dx%d image", bw, bh, n, n));
        double dx = 0, dy = 0;
        if (!mustFit) {
            // rotation only: no shift
        } else if (position != null) {
            double nx, ny;   // the box's new left and top edges
            if (position.random()) {
                long s = Seeds.derive(w.task.seed, "position");
                nx = Math.floor(Seeds.uniform(s, 0) * (n - bw + 1));
                ny = Math.floor(Seeds.uniform(s, 1) * (n - bh + 1));
            } else {   // centred at the target, as far as the box stays inside
                nx = Math.clamp(Math.rint(position.x() * n - bw / 2), 0, Math.floor(n - bw));
                ny = Math.clamp(Math.rint(position.y() * n - bh / 2), 0, Math.floor(n - bh));
            }
            dx = nx - bb[0];
            dy = ny - bb[1];
        } else {
            // keep the object inside the image (scaling about its centre may push it past an edge)
            if (bb[0] < 0) dx = -bb[0];
            if (bb[2] > n) dx = n - bb[2];
            if (bb[1] < 0) dy = -bb[1];
            if (bb[3] > n) dy = n - bb[3];
            dx = Math.round(dx);
            dy = Math.round(dy);
        }
        m = Affine.translate(dx, dy).after(m);
        double s2 = Math.sqrt(Math.abs(m.a() * m.e() - m.b() * m.d()));
        try (Tensor bg = w.filled.toTensor(RgbImage.Range.ZERO_ONE);
             Tensor layer = objectLayer(w.image, w.mask);
             Tensor small = s2 < 0.999 ? Resize.resize(layer, Math.max(1, (int) Math.round(n * s2)), Math.max(1, (int) Math.round(n * s2)), Filter.BILINEAR) : null) {
            Affine inv = m.inverse();
            Tensor src = small != null ? small : layer;
            if (small != null) {   // the layer was pre-shrunk with antialiasing: map full-size coordinates into it
                double sx = (double) small.dim(2) / n, sy = (double) small.dim(1) / n;
                inv = new Affine(sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5).after(inv);
            }
            try (Tensor bg4 = bg.view(1, 3, n, n); Tensor src4 = src.view(1, 4, src.dim(1), src.dim(2));
                 Tensor out = ops.affineComposite(bg4, src4, inv.coefficients())) {
                float[] v = out.toFloatArray();
                int plane = n * n;
                float[] rgb = java.util.Arrays.copyOf(v, 3 * plane);
                boolean[] bits = new boolean[plane];
                for (int i = 0; i < plane; i++) bits[i] = v[3 * plane + i] >= 0.5f;
                try (Tensor t = Tensor.of(rgb, 3, n, n)) {
                    return new Placement(RgbImage.fromTensor(t, RgbImage.Range.ZERO_ONE), Mask.of(n, n, bits), m, dx, dy, null);
                }
            }
        }
    }

    /** The axis-aligned box (pixel edges) of the mask's pixel squares under m. */
    static double[] transformedBox(Mask mask, Affine m) {
        double x0 = Double.MAX_VALUE, y0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (int y = 0; y < mask.height(); y++)
            for (int x = 0; x < mask.width(); x++) {
                if (!mask.get(x, y)) continue;
                for (int k = 0; k < 4; k++) {
                    double[] p = m.apply(x + ((k & 1) == 0 ? -0.5 : 0.5), y + ((k & 2) == 0 ? -0.5 : 0.5));
                    x0 = Math.min(x0, p[0]);
                    y0 = Math.min(y0, p[1]);
                    x1 = Math.max(x1, p[0]);
                    y1 = Math.max(y1, p[1]);
                }
            }
        // pixel-centre coordinates -> pixel edges: centre c covers [c - 0.5, c + 0.5]; report edges + 0.5
        return new double[]{x0 + 0.5, y0 + 0.5, x1 + 0.5, y1 + 0.5};
    }

    /** Premultiplied RGBA [4, H, W] in [0, 1]: the object's colours where the mask is set, transparent elsewhere. */
    static Tensor objectLayer(RgbImage img, Mask mask) {
        int w = img.width(), h = img.height(), plane = w * h;
        float[] v = new float[4 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!mask.get(x, y)) continue;
                int i = y * w + x;
                for (int c = 0; c < 3; c++) v[c * plane + i] = img.get(x, y, c) / 255f;
                v[3 * plane + i] = 1f;
            }
        return Tensor.of(v, 4, h, w);
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
        BlendedSampler.Options o = Config.skip(config.background, part.getFirst().steps);
        if (adv) o = new BlendedSampler.Options(o.respacing(), o.skip(), o.rangeLambda(), o.perSample(), o.ddim(), o.eta(),
                adversarial, o.adversarialScale(), o.listener(), o.resample());
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

    /** The mask grown by r pixels (square structuring element). */
    static Mask dilate(Mask m, int r) {
        if (r <= 0) return m;
        int w = m.width(), h = m.height();
        boolean[] rows = new boolean[w * h], out = new boolean[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                boolean any = false;
                for (int k = Math.max(0, x - r); k <= Math.min(w - 1, x + r) && !any; k++) any = m.get(k, y);
                rows[y * w + x] = any;
            }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                boolean any = false;
                for (int k = Math.max(0, y - r); k <= Math.min(h - 1, y + r) && !any; k++) any = rows[k * w + x];
                out[y * w + x] = any;
            }
        return Mask.of(w, h, out);
    }

    static Mask invert(Mask m) {
        boolean[] b = m.toBooleanArray();
        for (int i = 0; i < b.length; i++) b[i] = !b[i];
        return Mask.of(m.width(), m.height(), b);
    }
}
