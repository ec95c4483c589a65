package org.imagenete.eval;

import org.imagenete.io.ImageNetClasses;
import org.imagenete.io.Manifest;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The datasets the evaluator reads: an imagenet-e benchmark folder (its {@code manifest.jsonl}), an
 * ImageFolder ({@code <wnid>/<image>} with ImageNet-1k wnids as folder names, or any folder names, indexed in
 * sorted order as torchvision's ImageFolder does), or a labels file (CSV {@code path,label} with label an
 * index or a wnid; paths relative to the file).
 */
public final class Datasets {
    static final Set<String> IMAGE_EXT = Set.of("jpg", "jpeg", "png", "webp", "JPG", "JPEG", "PNG", "WEBP");

    private Datasets() {}

    public static List<EvalItem> load(Path data, Path labels) {
        if (labels != null) return labelsFile(labels);
        if (!Files.isDirectory(data)) throw new IllegalArgumentException(data + ": not a folder");
        try (Stream<Path> s = Files.list(data)) {
            if (s.anyMatch(p -> p.getFileName().toString().matches("manifest(-\\d+-of-\\d+)?\\.jsonl"))) return benchmark(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return imageFolder(data);
    }

    /**
     * Rows of an imagenet-e benchmark's manifests (every shard's): file, image, label, variant, attribute,
     * value. Rows without a file (edits recorded as unreachable) are not images.
     */
    public static List<EvalItem> benchmark(Path dir) {
        List<EvalItem> out = new ArrayList<>();
        List<com.fasterxml.jackson.databind.node.ObjectNode> rows;
        try {
            rows = Manifest.readAll(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
        // an original's complexity is what its edits record as complexity_before (the unedited image at working size)
        Map<String, Double> before = new HashMap<>();
        for (JsonNode n : rows)
            if (n.path("values").path("complexity_before").isNumber() && n.hasNonNull("image"))
                before.putIfAbsent(n.get("image").asText(), n.get("values").get("complexity_before").asDouble());
        for (JsonNode n : rows) {
            if (!n.hasNonNull("file")) continue;
            for (String k : List.of("image", "label", "variant"))
                if (!n.hasNonNull(k)) throw new IllegalArgumentException(dir + ": a manifest row has no '" + k + "': " + n);
            JsonNode v = n.path("value"), after = n.path("values").path("complexity_after");
            String image = n.get("image").asText();
            double complexity = after.isNumber() ? after.asDouble() : before.getOrDefault(image, Double.NaN);
            out.add(new EvalItem(dir.resolve(n.get("file").asText()), image, n.get("variant").asText(),
                    n.hasNonNull("attribute") ? n.get("attribute").asText() : null, v.isNumber() ? v.asDouble() : Double.NaN,
                    n.get("label").asInt(), complexity));
        }
        return out;
    }

    /** ImageFolder: every class folder's images, as originals. */
    public static List<EvalItem> imageFolder(Path dir) {
        List<Path> classes;
        try (Stream<Path> s = Files.list(dir)) {
            classes = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (classes.isEmpty()) throw new IllegalArgumentException(dir + ": no class folders (expected <wnid>/<image> or a manifest.jsonl)");
        ImageNetClasses inet = ImageNetClasses.get();
        boolean wnids = classes.stream().allMatch(c -> inet.byWnid(c.getFileName().toString()) != null);
        List<EvalItem> out = new ArrayList<>();
        for (int i = 0; i < classes.size(); i++) {
            Path c = classes.get(i);
            int label = wnids ? inet.byWnid(c.getFileName().toString()).index() : i;
            try (Stream<Path> s = Files.list(c)) {
                for (Path f : s.filter(Datasets::isImage).sorted().toList())
                    out.add(new EvalItem(f, c.getFileName() + "/" + stem(f), Metrics.ORIGINAL, null, Double.NaN, label));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }

    /** CSV with a header; columns path,label (a class index or a wnid). */
    public static List<EvalItem> labelsFile(Path file) {
        List<EvalItem> out = new ArrayList<>();
        try {
            List<String> lines = Files.readAllLines(file);
            Path base = file.toAbsolutePath().getParent();
            for (int i = 1; i < lines.size(); i++) {
                String l = lines.get(i).trim();
                if (l.isEmpty()) continue;
                int comma = l.lastIndexOf(',');
                if (comma < 0) throw new IllegalArgumentException(file + " line " + (i + 1) + ": expected path,label");
                String p = l.substring(0, comma).trim(), lab = l.substring(comma + 1).trim();
                int label;
                if (lab.matches("\\d+")) label = Integer.parseInt(lab);
                else {
                    ImageNetClasses.ImageNetClass c = ImageNetClasses.get().byWnid(lab);
                    if (c == null) throw new IllegalArgumentException(file + " line " + (i + 1) + ": label '" + lab + "' is neither an index nor a wnid");
                    label = c.index();
                }
                Path f = base.resolve(p);
                out.add(new EvalItem(f, stem(f), Metrics.ORIGINAL, null, Double.NaN, label));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
        return out;
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return Files.isRegularFile(p) && dot > 0 && IMAGE_EXT.contains(n.substring(dot + 1));
    }

    static String stem(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /** A clear error before any work when a label does not fit the model's class count. */
    public static void checkLabels(List<EvalItem> items, int numClasses, String model) {
        for (EvalItem it : items)
            if (it.label() < 0 || it.label() >= numClasses)
                throw new IllegalArgumentException(String.format(Locale.ROOT, "label %d of %s does not fit %s, which has %d classes",
                        it.label(), it.file(), model, numClasses));
    }
}
