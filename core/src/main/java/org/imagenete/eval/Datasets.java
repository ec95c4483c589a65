package org.imagenete.eval;

import org.imagenete.io.ImageNetClasses;
import org.imagenete.io.Manifest;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The datasets the evaluator reads: an imagenet-e benchmark folder (its {@code manifest.jsonl}), an
 * ImageFolder ({@code <wnid>/<image>} with ImageNet-1k wnids as folder names, or other names with a class map,
 * e.g. torchvision's sorted indices), or a labels file (CSV {@code path,label} with label an
 * index or a wnid; paths relative to the file).
 */
public final class Datasets {
    static final Set<String> IMAGE_EXT = Set.of("jpg", "jpeg", "png", "webp", "JPG", "JPEG", "PNG", "WEBP");

    private Datasets() {}

    public static List<EvalItem> load(Path data, Path labels) { return load(data, labels, null); }

    /** As {@link #load(Path, Path)}, with the labels of an ImageFolder's folders given by {@code classMap} (see {@link #imageFolder(Path, Map)}). */
    public static List<EvalItem> load(Path data, Path labels, Map<String, Integer> classMap) {
        if (labels != null) return labelsFile(labels);
        if (!Files.isDirectory(data)) throw new IllegalArgumentException(data + ": not a folder");
        try (Stream<Path> s = Files.list(data)) {
            if (s.anyMatch(p -> p.getFileName().toString().matches("manifest(-\\d+-of-\\d+)?\\.jsonl"))) return benchmark(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return imageFolder(data, classMap);
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
        for (JsonNode n : rows) {
            if (!n.hasNonNull("file")) continue;
            for (String k : List.of("image", "label", "variant"))
                if (!n.hasNonNull(k)) throw new IllegalArgumentException(dir + ": a manifest row has no '" + k + "': " + n);
            if (!n.get("label").isIntegralNumber() || !n.get("label").canConvertToInt())
                throw new IllegalArgumentException(dir + ": a manifest row's label is " + n.get("label") + ", not a class index: " + n);
            JsonNode v = n.path("value");
            out.add(new EvalItem(dir.resolve(n.get("file").asText()), n.get("image").asText(), n.get("variant").asText(),
                    n.hasNonNull("attribute") ? n.get("attribute").asText() : null, v.isNumber() ? v.asDouble() : Double.NaN,
                    n.get("label").asInt()));
        }
        return out;
    }

    /** ImageFolder with ImageNet-1k wnids as folder names: every class folder's images, as originals. */
    public static List<EvalItem> imageFolder(Path dir) { return imageFolder(dir, null); }

    /**
     * ImageFolder: every class folder's images, as originals. Hidden folders and files ({@code .ipynb_checkpoints},
     * {@code .DS_Store}) are skipped. A folder's label is its ImageNet-1k wnid's index, or {@code classMap}'s entry for
     * its name when a map is given; any other folder is an error naming it (never a silent relabelling).
     */
    public static List<EvalItem> imageFolder(Path dir, Map<String, Integer> classMap) {
        List<Path> classes;
        try (Stream<Path> s = Files.list(dir)) {
            classes = s.filter(Files::isDirectory).filter(p -> !hidden(p)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (classes.isEmpty()) throw new IllegalArgumentException(dir + ": no class folders (expected <wnid>/<image> or a manifest.jsonl)");
        ImageNetClasses inet = ImageNetClasses.get();
        List<EvalItem> out = new ArrayList<>();
        for (Path c : classes) {
            String name = c.getFileName().toString();
            Integer label = classMap != null ? classMap.get(name) : inet.byWnid(name) != null ? inet.byWnid(name).index() : null;
            if (label == null)
                throw new IllegalArgumentException(c + ": folder name " + (classMap != null ? "is not in the class map"
                        : "is not an ImageNet-1k wnid") + "; every class folder of " + dir + " needs a label"
                        + (classMap != null ? "" : " (give a class map for other names)"));
            try (Stream<Path> s = Files.list(c)) {
                for (Path f : s.filter(p -> !hidden(p) && isImage(p)).sorted().toList())
                    out.add(new EvalItem(f, name + "/" + stem(f), Metrics.ORIGINAL, null, Double.NaN, label));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return out;
    }

    private static boolean hidden(Path p) { return p.getFileName().toString().startsWith("."); }

    /**
     * A class map for {@link #imageFolder(Path, Map)}: {@code "sorted"} gives the folders of {@code dir} the indices of
     * their sorted order (torchvision's ImageFolder); a file has {@code folder,label} lines (label: an index or a
     * wnid; an optional header {@code folder,label}; # comments).
     */
    public static Map<String, Integer> classMap(String spec, Path dir) {
        Map<String, Integer> m = new java.util.LinkedHashMap<>();
        if (spec.equals("sorted")) {
            try (Stream<Path> s = Files.list(dir)) {
                List<Path> folders = s.filter(Files::isDirectory).filter(p -> !hidden(p)).sorted().toList();
                for (Path f : folders) m.put(f.getFileName().toString(), m.size());
            } catch (IOException e) {
                throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
            }
            return m;
        }
        Path file = Path.of(spec);
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the class map (" + e.getMessage() + ")", e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.isEmpty() || l.startsWith("#") || (i == 0 && l.equalsIgnoreCase("folder,label"))) continue;
            int comma = l.lastIndexOf(',');
            if (comma <= 0) throw new IllegalArgumentException(file + " line " + (i + 1) + ": expected folder,label");
            String folder = l.substring(0, comma).strip(), lab = l.substring(comma + 1).strip();
            int label = label(lab, file + " line " + (i + 1));
            if (m.put(folder, label) != null) throw new IllegalArgumentException(file + " line " + (i + 1) + ": folder '" + folder + "' given twice");
        }
        return m;
    }

    /** A label given as a class index or a wnid. */
    private static int label(String lab, String where) {
        if (lab.matches("\\d{1,9}")) return Integer.parseInt(lab);
        ImageNetClasses.ImageNetClass c = ImageNetClasses.get().byWnid(lab);
        if (c == null) throw new IllegalArgumentException(where + ": label '" + lab + "' is neither an index nor a wnid");
        return c.index();
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
                int label = label(lab, file + " line " + (i + 1));
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
