package org.imagenete.dataset;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.Seeds;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.io.AtomicFiles;
import org.imagenete.io.Checksums;
import org.imagenete.io.Manifest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * Builds an ImageNet-E style benchmark: {@code original/<wnid>/<stem>.png} and {@code <variant>/<wnid>/<stem>.png}
 * (256x256, with their object masks under {@code masks/}), and a manifest row per output. Batched (the editor runs
 * a chunk of images at once, so the UNet sees edits of different images together), resumable (every file is
 * written atomically and its row appended after it; a restart skips what the manifest lists and recomputes the
 * rest, bit-identical since every draw is seeded by (seed, image, variant)), and sharded ({@link Inputs#shard}).
 *
 * <p>Runs that share a folder are safe: a run holds its shard's lock ({@link ShardLock}) from start to end, so a
 * second run of the same shard is refused; the folder's settings are recorded once and checked by every run
 * ({@link RunSettings}). On resume, rows whose output or mask file is gone are dropped from the manifest (and the
 * outputs made again), so an output never has two rows; temporary files left by a killed run are removed.
 */
public final class Generator {
    public static final String ORIGINAL = "original";

    /** Provenance copied into every row. */
    /** precision: the convolutions' arithmetic ({@link org.imagenete.ops.Ops#convPrecision()}). */
    public record Provenance(String backend, String precision, String fill, String modelSha256, String classifierSha256) {
        public Provenance(String backend, String fill, String modelSha256, String classifierSha256) {
            this(backend, "fp32", fill, modelSha256, classifierSha256);
        }
    }

    /**
     * @param chunk         images edited per editor call
     * @param maskSource    how the mask files' pixels become object (binary, ImageNet-S, soft)
     * @param forceSettings run even when the folder was generated with other settings (recorded in its settings.json)
     */
    public record Options(List<Variant> variants, long seed, int shard, int shards, int chunk, MaskSource maskSource, boolean forceSettings) {
        /** Binary masks (non-zero = object); the folder's settings enforced. */
        public Options(List<Variant> variants, long seed, int shard, int shards, int chunk) {
            this(variants, seed, shard, shards, chunk, new MaskSource.Binary(), false);
        }
    }

    /** An image or an output that could not be made; {@code variant} null when the source itself failed. */
    public record Failure(String image, String variant, String reason) {}

    /**
     * @param failures source images that could not be used (unreadable image or mask): not in the manifest, retried
     *                 by a rerun
     * @param unreachable edits recorded in the manifest as unreachable (e.g. an object too large for the size asked)
     * @param remade outputs the manifest listed whose files were gone, made again
     * @param settingsOverridden differences from the folder's settings that {@code forceSettings} let through
     */
    public record Summary(int images, int written, int alreadyDone, List<Failure> failures, List<Failure> unreachable,
                          int remade, List<String> settingsOverridden, Map<String, Double> stageSeconds, double seconds) {}

    /** Called after each chunk: source images done, total, elapsed seconds. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total, double seconds);
    }

    private final Editor editor;
    private final Options options;
    private final Path out;
    private final Provenance provenance;
    private final Function<RgbImage, Mask> autoMask;

    /** autoMask computes masks for images without one (null: every image needs its mask file). */
    public Generator(Editor editor, Options options, Path out, Provenance provenance, Function<RgbImage, Mask> autoMask) {
        this.editor = editor;
        this.options = options;
        this.out = out;
        this.provenance = provenance;
        this.autoMask = autoMask;
    }

    public Summary run(List<Inputs.Item> all, Progress progress) throws IOException {
        List<Inputs.Item> mine = Inputs.shard(all, options.shard, options.shards);
        String manifestName = Manifest.fileName(options.shard, options.shards);
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException(out + ": exists and is not a folder");
        Files.createDirectories(out);
        try (ShardLock lock = ShardLock.acquire(out, manifestName, options.shard + "/" + options.shards)) {
            List<String> overridden = RunSettings.reconcile(out, settings(), options.forceSettings);
            removeTemporaries(mine, manifestName);
            try (Manifest manifest = Manifest.open(out.resolve(manifestName))) {
                int remade = dropRowsWithoutFiles(manifest);
                return generate(mine, manifest, remade, overridden, progress);
            }
        }
    }

    /** What the folder's settings.json records; see {@link RunSettings}. */
    ObjectNode settings() {
        ObjectNode s = Manifest.JSON.createObjectNode();
        s.put("tool", "imagenet-e 0.1.0");
        s.put("seed", options.seed);
        s.put("shards", options.shards);
        s.put("size", editor.config().size());
        s.put("precision", provenance.precision());
        s.put("fill", provenance.fill());
        s.put("mask_format", maskFormat(options.maskSource));
        if (provenance.modelSha256() != null) {
            // the diffusion steps only matter where the model runs
            s.put("steps", editor.config().background().skip());
            s.put("harmonize_steps", editor.config().harmonizeSteps());
            if ("diffusion".equals(provenance.fill())) {
                s.put("fill_steps", editor.config().fillOptions().skip());
                s.put("fill_resample", editor.config().fillOptions().resample());
            }
            s.put("model_sha256", provenance.modelSha256());
        }
        if (provenance.classifierSha256() != null) {
            s.put("classifier_sha256", provenance.classifierSha256());
            s.put("adv_scale", editor.config().background().adversarialScale());
        }
        ObjectNode vs = s.putObject("variants");
        for (Variant v : options.variants) {
            ArrayNode edits = vs.putArray(v.name());
            for (Edit e : v.edits()) edits.add(Edit.name(List.of(e)));   // exact: one name per distinct edit
        }
        return s;
    }

    /**
     * Drops manifest rows whose output or mask is gone (deleted by hand, lost with a disk), and all but the last row
     * of an output listed twice (by a run before the shard lock existed), so that the outputs are made again with
     * one row each. Returns how many outputs will be remade.
     */
    private int dropRowsWithoutFiles(Manifest manifest) throws IOException {
        Map<String, ObjectNode> last = new HashMap<>();
        for (ObjectNode r : manifest.rows()) last.put(key(r.path("image").asText(), r.path("variant").asText()), r);
        Set<ObjectNode> keep = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        int missing = 0;
        for (ObjectNode r : last.values()) {
            if (present(r, "file") && present(r, "mask")) keep.add(r);
            else missing++;
        }
        manifest.retain(keep::contains);
        return missing;
    }

    private boolean present(ObjectNode row, String field) {
        return !row.hasNonNull(field) || Files.isRegularFile(out.resolve(row.get(field).asText()));
    }

    private static String key(String image, String variant) { return image + "\u0000" + variant; }

    /**
     * Deletes the temporary files a killed run of this shard left ({@link AtomicFiles}): those of its own images and
     * of its manifest only, since other shards may be writing theirs right now.
     */
    private void removeTemporaries(List<Inputs.Item> mine, String manifestName) throws IOException {
        Map<String, Set<String>> stems = new HashMap<>();
        for (Inputs.Item it : mine) {
            int slash = it.id().indexOf('/');
            stems.computeIfAbsent(it.id().substring(0, slash), k -> new HashSet<>()).add(it.id().substring(slash + 1) + ".png");
        }
        List<Path> roots = new ArrayList<>();
        for (Path base : List.of(out, out.resolve("masks"))) {
            if (!Files.isDirectory(base)) continue;
            try (Stream<Path> s = Files.list(base)) {
                s.filter(Files::isDirectory).forEach(roots::add);
            }
        }
        for (Path root : roots) {
            for (Map.Entry<String, Set<String>> e : stems.entrySet()) {
                Path dir = root.resolve(e.getKey());
                if (!Files.isDirectory(dir)) continue;
                try (Stream<Path> s = Files.list(dir)) {
                    for (Path p : s.toList()) {
                        String target = AtomicFiles.temporaryTarget(p.getFileName().toString());
                        if (target != null && e.getValue().contains(target)) Files.deleteIfExists(p);
                    }
                }
            }
        }
        try (Stream<Path> s = Files.list(out)) {
            for (Path p : s.toList())
                if (manifestName.equals(AtomicFiles.temporaryTarget(p.getFileName().toString()))) Files.deleteIfExists(p);
        }
    }

    private Summary generate(List<Inputs.Item> mine, Manifest manifest, int remade, List<String> overridden, Progress progress)
            throws IOException {
        long t0 = System.nanoTime();
        Map<String, Double> stages = new LinkedHashMap<>();
        List<Failure> failures = new ArrayList<>(), unreachable = new ArrayList<>();
        int written = 0, already = 0, done = 0;
        Set<String> complete = new HashSet<>();
        for (ObjectNode r : manifest.rows()) complete.add(key(r.path("image").asText(), r.path("variant").asText()));
        for (int c = 0; c < mine.size(); c += options.chunk) {
            List<Inputs.Item> chunk = mine.subList(c, Math.min(mine.size(), c + options.chunk));
            long l0 = System.nanoTime();
            List<Editor.Task> tasks = new ArrayList<>();
            Map<Editor.Task, Variant> variantOf = new java.util.IdentityHashMap<>();
            Map<Editor.Source, Inputs.Item> itemOf = new java.util.IdentityHashMap<>();
            for (Inputs.Item it : chunk) {
                List<Variant> todo = options.variants.stream().filter(v -> !complete.contains(key(it.id(), v.name()))).toList();
                boolean origTodo = !complete.contains(key(it.id(), ORIGINAL));
                already += (origTodo ? 0 : 1) + options.variants.size() - todo.size();
                if (todo.isEmpty() && !origTodo) continue;
                Editor.Source src;
                try {
                    src = load(it);
                } catch (RuntimeException e) {
                    failures.add(new Failure(it.id(), null, e.getMessage() == null ? e.toString() : e.getMessage()));
                    continue;
                }
                itemOf.put(src, it);
                if (origTodo) {
                    writeOriginal(manifest, it, src);
                    written++;
                }
                for (Variant v : todo) {
                    Editor.Task t = new Editor.Task(src, v.edits(), Seeds.derive(options.seed, it.id(), v.name()));
                    tasks.add(t);
                    variantOf.put(t, v);
                }
            }
            stages.merge("load", (System.nanoTime() - l0) / 1e9, Double::sum);
            if (!tasks.isEmpty()) {
                long e0 = System.nanoTime();
                List<Editor.Result> results = editor.run(tasks);
                double each = (System.nanoTime() - e0) / 1e9 / results.size();
                stages.merge("edit", (System.nanoTime() - e0) / 1e9, Double::sum);
                long w0 = System.nanoTime();
                for (Editor.Result r : results) {
                    Variant v = variantOf.get(r.task());
                    Inputs.Item it = itemOf.get(r.task().source());
                    if (!r.ok()) unreachable.add(new Failure(it.id(), v.name(), r.unreachable()));
                    writeEdit(manifest, it, v, r, each);
                    if (r.ok()) written++;
                }
                stages.merge("write", (System.nanoTime() - w0) / 1e9, Double::sum);
            }
            done += chunk.size();
            if (progress != null) progress.update(done, mine.size(), (System.nanoTime() - t0) / 1e9);
        }
        editor.stageSeconds().forEach((k, v) -> stages.put("edit." + k, v));
        return new Summary(mine.size(), written, already, failures, unreachable, remade, overridden, stages, (System.nanoTime() - t0) / 1e9);
    }

    private Editor.Source load(Inputs.Item it) {
        RgbImage img = Images.read(it.image());
        Mask m;
        if (it.mask() != null && Files.isRegularFile(it.mask())) m = Masks.readFor(it.mask(), options.maskSource, img, false);
        else if (autoMask != null) m = autoMask.apply(img);
        else throw new IllegalArgumentException(it.image() + ": no mask at " + it.mask() + " (give --masks or --auto-masks)");
        return new Editor.Source(it.id(), img, m, it.label(), null);
    }

    private void writeOriginal(Manifest manifest, Inputs.Item it, Editor.Source src) throws IOException {
        int n = editor.config().size();
        RgbImage img = Resize.resize(src.image(), n, n, Filter.LANCZOS);
        Mask m = src.mask().resizeNearest(n, n);
        ObjectNode row = base(it, ORIGINAL, null, Double.NaN);
        writeFiles(row, ORIGINAL, it, img, m);
        row.putObject("values").put("ratio", m.areaRatio());
        manifest.append(row);
    }

    private void writeEdit(Manifest manifest, Inputs.Item it, Variant v, Editor.Result r, double seconds) throws IOException {
        ObjectNode row = base(it, v.name(), v.attribute(), v.value());
        ArrayNode edits = row.putArray("edits");
        for (Edit e : v.edits()) edits.add(e.toString());
        row.put("seed", r.task().seed());
        if (r.ok()) {
            writeFiles(row, v.name(), it, r.image(), r.mask());
            row.put("status", "ok");
        } else {
            row.put("status", "unreachable");
            row.put("reason", r.unreachable());
        }
        ObjectNode values = row.putObject("values");
        r.values().forEach((k, val) -> values.set(k, Manifest.JSON.valueToTree(val)));
        row.put("seconds", Math.round(seconds * 1000) / 1000.0);
        manifest.append(row);
    }

    /** Writes an output and its mask (each encoded once, written atomically) and puts their paths and checksums in the row. */
    private void writeFiles(ObjectNode row, String variant, Inputs.Item it, RgbImage image, Mask mask) throws IOException {
        String file = variant + "/" + it.id() + ".png", maskFile = "masks/" + variant + "/" + it.id() + ".png";
        byte[] png = Images.encodePng(image), maskPng = Masks.encodePng(mask);
        AtomicFiles.write(out.resolve(file), png);
        AtomicFiles.write(out.resolve(maskFile), maskPng);
        row.put("file", file);
        row.put("mask", maskFile);
        row.put("sha256", Checksums.sha256(png));
        row.put("mask_sha256", Checksums.sha256(maskPng));
    }

    private ObjectNode base(Inputs.Item it, String variant, String attribute, double value) {
        ObjectNode row = Manifest.JSON.createObjectNode();
        row.put("image", it.id());
        row.put("source", it.image().toString());
        row.put("label", it.label());
        row.put("wnid", it.wnid());
        row.put("variant", variant);
        if (attribute == null) row.putNull("attribute");
        else row.put("attribute", attribute);
        if (Double.isNaN(value)) row.putNull("value");
        else row.put("value", value);
        row.put("backend", provenance.backend());
        row.put("precision", provenance.precision());
        row.put("fill", provenance.fill());
        if (provenance.modelSha256() != null) row.put("model_sha256", provenance.modelSha256());
        if (provenance.classifierSha256() != null) row.put("classifier_sha256", provenance.classifierSha256());
        row.put("size", editor.config().size());
        row.put("mask_format", maskFormat(options.maskSource));
        return row;
    }

    /** The {@code --mask-format} that names a mask source. */
    static String maskFormat(MaskSource s) {
        return switch (s) {
            case MaskSource.Binary b -> "binary";
            case MaskSource.ImageNetS i -> "imagenet-s";
            case MaskSource.ImageNetSId i -> "imagenet-s:" + i.id();
            case MaskSource.Soft t -> "soft:" + t.threshold();
        };
    }

    static String fmt(double s) { return String.format(Locale.ROOT, "%.1f", s); }
}
