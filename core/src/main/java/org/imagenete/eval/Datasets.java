package org.imagenete.eval;

import org.imagenete.io.ImageNetClasses;
import org.imagenete.io.Manifest;
import org.imagenete.io.TarIndex;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The datasets the evaluator reads: an imagenet-e benchmark folder (its {@code manifest.jsonl}), an
 * ImageFolder ({@code <wnid>/<image>} with ImageNet-1k wnids as folder names, or other names with a class map,
 * e.g. torchvision's sorted indices), or a labels file (CSV {@code path,label} with label an
 * index or a wnid; paths relative to the file). And ImageNet-E in the layouts others publish it in: a folder of
 * variant folders, each an ImageFolder ({@link #variantFolders}), or WebDataset tar shards ({@link #webDataset}).
 */
public final class Datasets {
    static final Set<String> IMAGE_EXT = Set.of("jpg", "jpeg", "png", "webp", "JPG", "JPEG", "PNG", "WEBP");
    /** WebDataset image extensions, in the order one is picked when a sample has several. */
    static final List<String> WDS_IMAGE_EXT = List.of("jpg", "jpeg", "png", "webp");

    private Datasets() {}

    /** What a read gave: the images, and one line for each entry that could not be used (the others still are). */
    public record Loaded(List<EvalItem> items, List<String> skipped) {}

    public static List<EvalItem> load(Path data, Path labels) { return read(data, labels, null, null).items(); }

    /** As {@link #load(Path, Path)}, with the labels of an ImageFolder's folders given by {@code classMap} (see {@link #imageFolder(Path, Map)}). */
    public static List<EvalItem> load(Path data, Path labels, Map<String, Integer> classMap) {
        return read(data, labels, null, classMap).items();
    }

    /**
     * Reads {@code labels} when given, else {@code data}: a benchmark (manifest), a WebDataset (a {@code .tar} shard
     * or a folder with shards in it or in its subfolders), a folder of variant folders ({@code <variant>/<wnid>/<image>}),
     * or an ImageFolder (labelled by {@code classMap} when given, else by wnid). {@code variantMap} (CSV
     * {@code name,variant}, may be null) renames the variants read off folder names, shard sets or key prefixes, e.g.
     * {@code bg_20,background+20}; the variant {@code original} is what drops and flips are computed against.
     */
    public static Loaded read(Path data, Path labels, Path variantMap, Map<String, Integer> classMap) {
        if (labels != null) return new Loaded(labelsFile(labels), List.of());
        Map<String, String> names = variantMap == null ? Map.of() : variantMap(variantMap);
        if (Files.isRegularFile(data) && data.getFileName().toString().endsWith(".tar"))
            return webDataset(data.toAbsolutePath().getParent(), List.of(data), names);
        if (!Files.isDirectory(data)) throw new IllegalArgumentException(data + ": not a folder or a .tar shard");
        try (Stream<Path> s = Files.list(data)) {
            if (s.anyMatch(p -> p.getFileName().toString().matches("manifest(-\\d+-of-\\d+)?\\.jsonl"))) return new Loaded(benchmark(data), List.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Path> shards = shards(data);
        if (!shards.isEmpty()) return webDataset(data, shards, names);
        if (classMap == null && isVariantFolders(data)) return new Loaded(variantFolders(data, names), List.of());
        return new Loaded(imageFolder(data, classMap), List.of());
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
            if (!n.get("label").isIntegralNumber() || !n.get("label").canConvertToInt())
                throw new IllegalArgumentException(dir + ": a manifest row's label is " + n.get("label") + ", not a class index: " + n);
            JsonNode v = n.path("value"), after = n.path("values").path("complexity_after");
            String image = n.get("image").asText();
            double complexity = after.isNumber() ? after.asDouble() : before.getOrDefault(image, Double.NaN);
            out.add(new EvalItem(dir.resolve(n.get("file").asText()), image, n.get("variant").asText(),
                    n.hasNonNull("attribute") ? n.get("attribute").asText() : null, v.isNumber() ? v.asDouble() : Double.NaN,
                    n.get("label").asInt(), complexity));
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

    /**
     * A folder of variant folders, each an ImageFolder: {@code <variant>/<wnid>/<image>}, the layout ImageNet-E is
     * published in. The variant is the folder's name (renamed by {@code names}); the image id is
     * {@code <wnid>/<stem>}, so that an image's variants pair up with its original (folder {@code original}). A
     * {@code masks} folder (this tool's object masks) is passed over. Class folders must be ImageNet-1k wnids.
     */
    public static List<EvalItem> variantFolders(Path dir, Map<String, String> names) {
        ImageNetClasses inet = ImageNetClasses.get();
        List<EvalItem> out = new ArrayList<>();
        for (Path v : subfolders(dir)) {
            if (v.getFileName().toString().equals("masks")) continue;
            String variant = names.getOrDefault(v.getFileName().toString(), v.getFileName().toString());
            Sweep sw = sweep(variant);
            for (Path c : subfolders(v)) {
                ImageNetClasses.ImageNetClass k = inet.byWnid(c.getFileName().toString());
                if (k == null)
                    throw new IllegalArgumentException(c + ": folder name is not an ImageNet-1k wnid (variant folders hold <variant>/<wnid>/<image>)");
                try (Stream<Path> s = Files.list(c)) {
                    for (Path f : s.filter(Datasets::isImage).sorted().toList())
                        out.add(new EvalItem(f, c.getFileName() + "/" + stem(f), variant, sw.attribute, sw.value, k.index()));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return out;
    }

    /** Every top-level folder (but {@code masks}) holds only folders, and some: variant folders, not class folders. */
    static boolean isVariantFolders(Path dir) {
        List<Path> top = subfolders(dir).stream().filter(p -> !p.getFileName().toString().equals("masks")).toList();
        if (top.isEmpty()) return false;
        for (Path v : top) {
            try (Stream<Path> s = Files.list(v)) {
                List<Path> in = s.toList();
                if (in.stream().anyMatch(Datasets::isImage) || in.stream().noneMatch(Files::isDirectory)) return false;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return true;
    }

    /**
     * WebDataset tar shards, the format evaluation suites such as UniBench distribute ImageNet-E in: a sample is the
     * members sharing a key ({@code <key>.jpg|jpeg|png|webp} and {@code <key>.cls}, the class index or a wnid as text).
     * The variant is the key's first path segment when the key has one that is not a wnid
     * ({@code background+20/ILSVRC2012_val_00000293}), else the shard set: the shard's folder under {@code root}, or its file name without the shard number
     * ({@code background+20-000001.tar}); {@code names} renames it. The image id is the key without that prefix, so an
     * image's variants pair up with its original. A sample without a label or an image, or a shard that is not a
     * readable tar, is one line in {@link Loaded#skipped}; the rest is read. Images are decoded when classified (an
     * undecodable one is then reported with its shard and member).
     */
    public static Loaded webDataset(Path root, List<Path> shards, Map<String, String> names) {
        List<EvalItem> out = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (Path shard : shards) {
            List<TarIndex.Member> members;
            try {
                members = TarIndex.read(shard);
            } catch (IllegalArgumentException | UncheckedIOException e) {
                skipped.add(e.getMessage());
                continue;
            }
            String set = shardSet(root, shard);
            Map<String, Map<String, TarIndex.Member>> samples = new LinkedHashMap<>();
            for (TarIndex.Member m : members) {
                int slash = m.name().lastIndexOf('/'), dot = m.name().indexOf('.', slash + 1);
                if (dot <= slash + 1) continue;   // no extension (or a hidden file): not part of a sample
                samples.computeIfAbsent(m.name().substring(0, dot), k -> new LinkedHashMap<>())
                        .put(m.name().substring(dot + 1).toLowerCase(Locale.ROOT), m);
            }
            for (Map.Entry<String, Map<String, TarIndex.Member>> e : samples.entrySet()) {
                String key = e.getKey();
                Map<String, TarIndex.Member> parts = e.getValue();
                TarIndex.Member img = WDS_IMAGE_EXT.stream().map(parts::get).filter(java.util.Objects::nonNull).findFirst().orElse(null);
                if (img == null) {
                    skipped.add(shard + ": sample '" + key + "' has no image (.jpg, .jpeg, .png or .webp; it has ." + String.join(", .", parts.keySet()) + ")");
                    continue;
                }
                if (!parts.containsKey("cls")) {
                    skipped.add(shard + ": sample '" + key + "' has no .cls label (it has ." + String.join(", .", parts.keySet()) + ")");
                    continue;
                }
                String text = new String(TarIndex.bytes(shard, parts.get("cls")), java.nio.charset.StandardCharsets.UTF_8).strip();
                int label = classOf(text);
                if (label < 0) {
                    skipped.add(shard + ": sample '" + key + "': its .cls holds '" + (text.length() > 40 ? text.substring(0, 40) + "..." : text)
                            + "', not a class index or an ImageNet-1k wnid");
                    continue;
                }
                // a key's first segment names the variant, unless it is a class folder ("n01440764/...")
                int slash = key.indexOf('/');
                if (slash > 0 && ImageNetClasses.get().byWnid(key.substring(0, slash)) != null) slash = -1;
                String variant = slash > 0 ? key.substring(0, slash) : set;
                variant = names.getOrDefault(variant, variant);
                Sweep sw = sweep(variant);
                out.add(new EvalItem(shard, slash > 0 ? key.substring(slash + 1) : key, variant, sw.attribute, sw.value, label, img));
            }
        }
        return new Loaded(out, skipped);
    }

    /** The .tar shards in {@code dir} and its subfolders (one level), sorted. */
    static List<Path> shards(Path dir) {
        try (Stream<Path> s = Files.walk(dir, 2)) {
            return s.filter(p -> Files.isRegularFile(p) && p.getFileName().toString().endsWith(".tar")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The shard's folder under root, or its file name without the shard number ("name-000001.tar" -> "name"). */
    static String shardSet(Path root, Path shard) {
        Path parent = shard.toAbsolutePath().getParent(), r = root.toAbsolutePath();
        if (!parent.equals(r)) return r.relativize(parent).toString();
        String n = shard.getFileName().toString().replaceFirst("\\.tar$", "");
        String set = n.replaceFirst("[-_.]?\\d+$", "");
        return set.isEmpty() ? r.getFileName().toString() : set;
    }

    /** A class index (0..) or an ImageNet-1k wnid as written in a .cls member; -1 when it is neither. */
    static int classOf(String text) {
        if (text.matches("\\d{1,9}")) return Integer.parseInt(text);
        ImageNetClasses.ImageNetClass c = ImageNetClasses.get().byWnid(text);
        return c == null ? -1 : c.index();
    }

    /** Where a variant name puts it on a sweep: this tool's names ("background+20", "size-0.05", "direction-30"). */
    record Sweep(String attribute, double value) {}

    static Sweep sweep(String variant) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(background|size|direction)([+-]\\d+(?:\\.\\d+)?)(-adv)?").matcher(variant);
        if (m.matches()) {
            String attr = m.group(1) + (m.group(3) != null ? "-adv" : "");
            double v = Double.parseDouble(m.group(2));
            return new Sweep(attr, attr.equals("size") ? Math.abs(v) : v);
        }
        if (variant.equals("position") || variant.equals("direction")) return new Sweep(variant, Double.NaN);
        return new Sweep(null, Double.NaN);
    }

    /** CSV lines {@code name,variant} ('#' comments; a header "name,variant" is allowed). */
    static Map<String, String> variantMap(Path file) {
        Map<String, String> out = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.isEmpty() || l.startsWith("#") || (i == 0 && l.equals("name,variant"))) continue;
            String[] f = l.split(",", -1);
            if (f.length != 2 || f[0].isBlank() || f[1].isBlank())
                throw new IllegalArgumentException(file + " line " + (i + 1) + ": expected name,variant, got '" + l + "'");
            out.put(f[0].strip(), f[1].strip());
        }
        return out;
    }

    private static List<Path> subfolders(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory).filter(p -> !hidden(p)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
                        it.label(), it.location(), model, numClasses));
    }
}
