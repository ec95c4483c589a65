package org.imagenete.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.imagenete.image.Filter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One model of an evaluation: a name (its output folder and leaderboard row), a weights file (native checkpoint or
 * ONNX) and what to change in the preprocessing the file implies (timm's per-model configs: input size, resize or
 * crop_pct, interpolation, mean, std). Null fields keep the file's default.
 */
public record ModelSpec(String name, Path file, Integer inputSize, Integer resize, Double cropPct, Filter interpolation,
                        float[] mean, float[] std) {
    /** The fields a models file may give per entry. */
    public static final List<String> FIELDS = List.of("name", "file", "input_size", "resize", "crop_pct", "interpolation", "mean", "std");

    public ModelSpec {
        checkName(name);
        if (resize != null && cropPct != null) throw new IllegalArgumentException("model '" + name + "': give resize or crop_pct, not both");
    }

    /** A file with the defaults, named after the file ({@code resnet50.pth} -> {@code resnet50}). */
    public static ModelSpec ofFile(Path file) {
        String stem = file.getFileName().toString().replaceFirst("\\.[^.]*$", "");
        return new ModelSpec(stem.replaceAll("[^A-Za-z0-9._+-]", "_"), file, null, null, null, null, null, null);
    }

    /**
     * A {@code --model} argument: an existing file (named after it), or {@code NAME=FILE}.
     */
    public static ModelSpec parseArgument(String arg) {
        Path p = Path.of(arg);
        int eq = arg.indexOf('=');
        if (Files.exists(p) || eq <= 0) {
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException(arg + ": no such file");
            return ofFile(p);
        }
        Path f = Path.of(arg.substring(eq + 1));
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(f + ": no such file (from --model " + arg + ")");
        return new ModelSpec(arg.substring(0, eq), f, null, null, null, null, null, null);
    }

    /** Names become folder names: letters, digits, '.', '_', '+', '-', not "." or "..". */
    static void checkName(String name) {
        if (name == null || name.isEmpty() || !name.matches("[A-Za-z0-9._+-]+") || name.equals(".") || name.equals(".."))
            throw new IllegalArgumentException("model name '" + name + "': use letters, digits, '.', '_', '+' and '-' (it names the output folder)");
    }

    /** The preprocessing for this model, from the one its file implies. */
    public PreprocessSettings apply(PreprocessSettings base) {
        int crop = inputSize != null ? inputSize : base.crop();
        int resizeShort;
        if (resize != null) resizeShort = resize;
        else if (cropPct != null) resizeShort = PreprocessSettings.resizeForCropPct(crop, cropPct);
        else resizeShort = inputSize != null ? Math.round(crop * (float) base.resizeShort() / base.crop()) : base.resizeShort();
        try {
            return new PreprocessSettings(resizeShort, crop, mean != null ? mean : base.mean(), std != null ? std : base.std(),
                    interpolation != null ? interpolation : base.interpolation());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("model '" + name + "': " + e.getMessage(), e);
        }
    }

    /**
     * A models file (YAML or JSON): {@code models:} a list of entries with the fields of {@link #FIELDS} ({@code name}
     * and {@code file} required; files relative to the models file). An unknown field is an error naming it.
     */
    public static List<ModelSpec> readFile(Path file) {
        JsonNode root;
        try {
            ObjectMapper m = file.toString().endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
            root = m.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the models file: " + e.getMessage(), e);
        }
        JsonNode list = root == null ? null : root.isArray() ? root : root.get("models");
        if (list == null || !list.isArray() || list.isEmpty())
            throw new IllegalArgumentException(file + ": expected 'models:' with a list of {name, file, ...} entries");
        if (root.isObject())
            for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!f.equals("models")) throw new IllegalArgumentException(file + ": unknown top-level field '" + f + "' (expected 'models')");
            }
        Path base = file.toAbsolutePath().getParent();
        List<ModelSpec> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode e = list.get(i);
            String where = file + ": models[" + i + "]";
            if (!e.isObject()) throw new IllegalArgumentException(where + ": expected {name, file, ...}, got " + e);
            for (Iterator<String> it = e.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!FIELDS.contains(f)) throw new IllegalArgumentException(where + ": unknown field '" + f + "' (known: " + String.join(", ", FIELDS) + ")");
            }
            String name = text(e, "name", where, true), f = text(e, "file", where, true);
            where = file + ": model '" + name + "'";
            Path path = base.resolve(f);
            if (!Files.isRegularFile(path)) throw new IllegalArgumentException(where + ": " + path + ": no such file");
            String interp = text(e, "interpolation", where, false);
            Filter filter = null;
            if (interp != null) {
                filter = switch (interp.toLowerCase(Locale.ROOT)) {
                    case "bilinear" -> Filter.BILINEAR;
                    case "bicubic" -> Filter.BICUBIC;
                    default -> throw new IllegalArgumentException(where + ": interpolation '" + interp + "' (bilinear or bicubic)");
                };
            }
            try {
                ModelSpec s = new ModelSpec(name, path, integer(e, "input_size", where), integer(e, "resize", where), number(e, "crop_pct", where),
                        filter, triple(e, "mean", where), triple(e, "std", where));
                if (!names.add(name)) throw new IllegalArgumentException("model name '" + name + "' appears twice");
                out.add(s);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(ex.getMessage().startsWith(file.toString()) ? ex.getMessage() : file + ": " + ex.getMessage(), ex);
            }
        }
        return out;
    }

    private static String text(JsonNode e, String k, String where, boolean required) {
        JsonNode v = e.get(k);
        if (v == null || v.isNull()) {
            if (required) throw new IllegalArgumentException(where + ": missing '" + k + "'");
            return null;
        }
        if (!v.isTextual()) throw new IllegalArgumentException(where + ": '" + k + "' must be a string, got " + v);
        return v.asText();
    }

    private static Integer integer(JsonNode e, String k, String where) {
        JsonNode v = e.get(k);
        if (v == null || v.isNull()) return null;
        // timm writes input_size as [3, H, W]
        if (v.isArray() && v.size() == 3 && v.get(0).asInt() == 3 && v.get(1).isInt() && v.get(1).asInt() == v.get(2).asInt()) v = v.get(1);
        if (!v.isInt() || v.asInt() < 1) throw new IllegalArgumentException(where + ": '" + k + "' must be a positive integer (or [3, N, N]), got " + v);
        return v.asInt();
    }

    private static Double number(JsonNode e, String k, String where) {
        JsonNode v = e.get(k);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber()) throw new IllegalArgumentException(where + ": '" + k + "' must be a number, got " + v);
        return v.asDouble();
    }

    private static float[] triple(JsonNode e, String k, String where) {
        JsonNode v = e.get(k);
        if (v == null || v.isNull()) return null;
        if (!v.isArray() || v.size() != 3) throw new IllegalArgumentException(where + ": '" + k + "' must be a list of 3 numbers, got " + v);
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) {
            if (!v.get(i).isNumber()) throw new IllegalArgumentException(where + ": '" + k + "' must be a list of 3 numbers, got " + v);
            out[i] = (float) v.get(i).asDouble();
        }
        return out;
    }
}
