package org.imagenete.dataset;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.Seeds;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.Masks;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.io.Checksums;
import org.imagenete.io.Manifest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Builds an ImageNet-E style benchmark: {@code original/<wnid>/<stem>.png} and {@code <variant>/<wnid>/<stem>.png}
 * (256x256, with their object masks under {@code masks/}), and a manifest row per output. Batched (the editor runs
 * a chunk of images at once, so the UNet sees edits of different images together), resumable (every file is
 * written atomically and its row appended after it; a restart skips what the manifest lists and recomputes the
 * rest, bit-identical since every draw is seeded by (seed, image, variant)), and sharded ({@link Inputs#shard}).
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

    /** @param chunk images edited per editor call */
    public record Options(List<Variant> variants, long seed, int shard, int shards, int chunk) {}

    public record Failure(String image, String variant, String reason) {}

    public record Summary(int images, int written, int alreadyDone, List<Failure> failures, Map<String, Double> stageSeconds,
                          double seconds) {}

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
        long t0 = System.nanoTime();
        Map<String, Double> stages = new LinkedHashMap<>();
        List<Failure> failures = new ArrayList<>();
        int written = 0, already = 0, done = 0;
        try (Manifest manifest = Manifest.open(out.resolve(Manifest.fileName(options.shard, options.shards)))) {
            Set<String> complete = new HashSet<>();
            for (ObjectNode r : manifest.rows()) {
                String key = r.path("image").asText() + "\u0000" + r.path("variant").asText();
                if (!r.has("file") || Files.isRegularFile(out.resolve(r.get("file").asText()))) complete.add(key);
            }
            for (int c = 0; c < mine.size(); c += options.chunk) {
                List<Inputs.Item> chunk = mine.subList(c, Math.min(mine.size(), c + options.chunk));
                long l0 = System.nanoTime();
                List<Editor.Task> tasks = new ArrayList<>();
                Map<Editor.Task, Variant> variantOf = new java.util.IdentityHashMap<>();
                Map<Editor.Source, Inputs.Item> itemOf = new java.util.IdentityHashMap<>();
                for (Inputs.Item it : chunk) {
                    List<Variant> todo = options.variants.stream().filter(v -> !complete.contains(it.id() + "\u0000" + v.name())).toList();
                    boolean origTodo = !complete.contains(it.id() + "\u0000" + ORIGINAL);
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
                        if (!r.ok()) failures.add(new Failure(it.id(), v.name(), r.unreachable()));
                        writeEdit(manifest, it, v, r, each);
                        if (r.ok()) written++;
                    }
                    stages.merge("write", (System.nanoTime() - w0) / 1e9, Double::sum);
                }
                done += chunk.size();
                if (progress != null) progress.update(done, mine.size(), (System.nanoTime() - t0) / 1e9);
            }
        }
        editor.stageSeconds().forEach((k, v) -> stages.put("edit." + k, v));
        return new Summary(mine.size(), written, already, failures, stages, (System.nanoTime() - t0) / 1e9);
    }

    private Editor.Source load(Inputs.Item it) {
        RgbImage img = Images.read(it.image());
        Mask m;
        if (it.mask() != null && Files.isRegularFile(it.mask())) m = Masks.readFor(it.mask(), new org.imagenete.image.MaskSource.Binary(), img, false);
        else if (autoMask != null) m = autoMask.apply(img);
        else throw new IllegalArgumentException(it.image() + ": no mask at " + it.mask() + " (give --masks or --auto-masks)");
        return new Editor.Source(it.id(), img, m, it.label(), null);
    }

    private void writeOriginal(Manifest manifest, Inputs.Item it, Editor.Source src) throws IOException {
        int n = editor.config().size();
        RgbImage img = Resize.resize(src.image(), n, n, Filter.LANCZOS);
        Mask m = src.mask().resizeNearest(n, n);
        String file = ORIGINAL + "/" + it.id() + ".png", mask = "masks/" + ORIGINAL + "/" + it.id() + ".png";
        Images.writePng(img, out.resolve(file));
        Masks.write(m, out.resolve(mask));
        ObjectNode row = base(it, ORIGINAL, null, Double.NaN);
        row.put("file", file);
        row.put("mask", mask);
        row.put("sha256", Checksums.sha256(Images.encodePng(img)));
        row.putObject("values").put("ratio", m.areaRatio());
        manifest.append(row);
    }

    private void writeEdit(Manifest manifest, Inputs.Item it, Variant v, Editor.Result r, double seconds) throws IOException {
        ObjectNode row = base(it, v.name(), v.attribute(), v.value());
        ArrayNode edits = row.putArray("edits");
        for (Edit e : v.edits()) edits.add(e.toString());
        row.put("seed", r.task().seed());
        if (r.ok()) {
            String file = v.name() + "/" + it.id() + ".png", mask = "masks/" + v.name() + "/" + it.id() + ".png";
            Images.writePng(r.image(), out.resolve(file));
            Masks.write(r.mask(), out.resolve(mask));
            row.put("file", file);
            row.put("mask", mask);
            row.put("sha256", Checksums.sha256(Images.encodePng(r.image())));
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
        return row;
    }

    static String fmt(double s) { return String.format(Locale.ROOT, "%.1f", s); }
}
