package org.imagenete.dataset;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.io.AtomicFiles;
import org.imagenete.io.Manifest;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The settings a benchmark folder was generated with, stored once per folder in {@code settings.json} by the first
 * run (any shard) and checked by every later run: a resume with another seed, fill, size, model or shard count
 * would mix two benchmarks in one folder, so it is refused with the differences named, unless forced (then the
 * forced run and its differences are recorded in the file, and {@code verify} reports them). New variants may be
 * added to a folder; a variant name whose edits differ from the folder's is a difference.
 */
final class RunSettings {
    static final String FILE = "settings.json";
    /** Settings compared between runs, in the order differences are listed, with the option that sets each. */
    private static final List<Map.Entry<String, String>> OPTION = List.of(Map.entry("seed", "--seed"),
            Map.entry("shards", "--shard I/N (N)"), Map.entry("size", "--size"), Map.entry("precision", "--precision"), Map.entry("fill", "--fill"),
            Map.entry("mask_format", "--mask-format"), Map.entry("steps", "--steps"), Map.entry("harmonize_steps", "--harmonize-steps"), Map.entry("fill_steps", "--fill-steps"), Map.entry("fill_resample", "--fill-resample"),
            Map.entry("model_sha256", "--weights (SHA-256)"), Map.entry("classifier_sha256", "--classifier (SHA-256)"),
            Map.entry("adv_scale", "--adv-scale"));
    /** Serialises read-modify-write of the settings within one JVM (file locks are per process). */
    private static final Object JVM_LOCK = new Object();

    private RunSettings() {}

    /**
     * Creates {@code out/settings.json} from {@code mine}, or checks {@code mine} against it and adds new variants.
     * Returns the differences (empty when none); throws when there are some and {@code force} is not set.
     */
    static List<String> reconcile(Path out, ObjectNode settings, boolean force) throws IOException {
        Path file = out.resolve(FILE);
        // as read back from the file (numbers as parsed), so that equal values compare equal
        ObjectNode mine = (ObjectNode) Manifest.JSON.readTree(Manifest.JSON.writeValueAsString(settings));
        synchronized (JVM_LOCK) {
            try (FileChannel ch = FileChannel.open(out.resolve(".settings.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = ch.lock()) {
                if (!Files.exists(file)) {
                    write(file, mine);
                    return List.of();
                }
                ObjectNode folder = read(file);
                List<String> diff = differences(folder, mine);
                if (!diff.isEmpty() && !force)
                    throw new IllegalStateException(out + " was generated with other settings (" + file.getFileName() + "): "
                            + String.join("; ", diff) + ". Resume with the folder's settings, choose another --out, or pass"
                            + " --force-settings to mix them in one folder");
                boolean changed = addVariants(folder, mine);
                if (!diff.isEmpty()) {
                    ObjectNode f = (folder.has("forced") ? (ArrayNode) folder.get("forced") : folder.putArray("forced")).addObject();
                    f.put("time", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
                    ArrayNode d = f.putArray("differences");
                    diff.forEach(d::add);
                    changed = true;
                }
                if (changed) write(file, folder);
                return diff;
            }
        }
    }

    /** The folder's settings file, or null when the folder has none (made before settings were recorded). */
    static ObjectNode readIfPresent(Path out) throws IOException {
        Path file = out.resolve(FILE);
        return Files.exists(file) ? read(file) : null;
    }

    private static ObjectNode read(Path file) throws IOException {
        JsonNode n;
        try {
            n = Manifest.JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalStateException(file + ": corrupt settings (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
        if (!(n instanceof ObjectNode o) || !o.path("variants").isObject())
            throw new IllegalStateException(file + ": corrupt settings (expected an object with 'variants')");
        return o;
    }

    private static void write(Path file, ObjectNode settings) throws IOException {
        AtomicFiles.write(file, Manifest.JSON.writer(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(settings));
    }

    static List<String> differences(ObjectNode folder, ObjectNode mine) {
        List<String> diff = new ArrayList<>();
        for (Map.Entry<String, String> o : OPTION) {
            JsonNode a = folder.path(o.getKey()), b = mine.path(o.getKey());
            if (!a.equals(b)) diff.add(o.getValue() + ": " + shown(a) + " in the folder, " + shown(b) + " here");
        }
        JsonNode fv = folder.get("variants"), mv = mine.get("variants");
        for (Map.Entry<String, JsonNode> e : mv.properties()) {
            JsonNode had = fv.get(e.getKey());
            if (had != null && !had.equals(e.getValue()))
                diff.add("variant '" + e.getKey() + "': edits " + had + " in the folder, " + e.getValue() + " here");
        }
        return diff;
    }

    private static boolean addVariants(ObjectNode folder, ObjectNode mine) {
        ObjectNode fv = (ObjectNode) folder.get("variants");
        boolean added = false;
        for (Map.Entry<String, JsonNode> e : mine.get("variants").properties()) {
            if (!fv.has(e.getKey())) {
                fv.set(e.getKey(), e.getValue());
                added = true;
            }
        }
        return added;
    }

    private static String shown(JsonNode n) {
        return n.isMissingNode() || n.isNull() ? "none" : n.isTextual() ? n.asText() : n.toString();
    }
}
