package org.imagenete.dataset;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.imagenete.edit.Edit;
import org.imagenete.io.Printable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Which variants a benchmark holds. The paper's set by default; or a comma list of variant names
 * ({@code background-20, background+20, background+20-adv, size-0.10, position, direction, direction+30,
 * size-0.05_direction+30, ...}); or a JSON/YAML file:
 * <pre>
 * variants:
 *   - name: busy            # any folder name
 *     edits: background=30  # the syntax of `edit --set`
 *   - edits: size=0.05,direction=30      # name derived: size-0.05_direction+30
 *   - sweep: {attribute: background, values: [-30, -20, -10, 10, 20, 30]}
 *   - sweep: {attribute: size, values: [0.2, 0.1, 0.05, 0.02]}
 * </pre>
 */
public final class Variants {
    private Variants() {}

    /** ImageNet-E's subsets; the adversarial one only with a classifier, background ones only with the ADM. */
    public static List<Variant> paper(boolean diffusion, boolean classifier) {
        List<String> names = new ArrayList<>();
        if (diffusion) {
            names.add("background-20");
            names.add("background+20");
            if (classifier) names.add("background+20-adv");
        }
        names.addAll(List.of("size-0.10", "size-0.08", "size-0.05", "position", "direction"));
        return parseList(String.join(",", names));
    }

    /** A variant list given on the command line, or a spec file when {@code spec} names one. */
    public static List<Variant> parse(String spec) {
        Path p = Path.of(spec);
        if (Files.isRegularFile(p)) return file(p);
        return parseList(spec);
    }

    static List<Variant> parseList(String list) {
        try {
            return parseNames(list);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(Printable.escape(e.getMessage()), e);   // a name may hold a newline
        }
    }

    private static List<Variant> parseNames(String list) {
        List<Variant> out = new ArrayList<>();
        Map<List<Edit>, String> seen = new LinkedHashMap<>();
        for (String name : list.split(",")) {
            String n = name.trim();
            if (n.isEmpty()) continue;
            List<Edit> edits = fromName(n);
            String before = seen.putIfAbsent(edits, n);
            if (before != null && !before.equals(n))
                throw new IllegalArgumentException("'" + before + "' and '" + n + "' are the same edit (" + Edit.name(edits) + ")");
            out.add(Variant.of(n, edits));
        }
        return unique(out);
    }

    /** The edits of a canonical variant name: parts joined by '_', each "background+20", "size-0.05", "direction+30", ... */
    static List<Edit> fromName(String name) {
        List<String> specs = new ArrayList<>();
        for (String part : name.split("_")) {
            String q = part.trim();
            String spec;
            if (q.startsWith("background")) spec = "background=" + q.substring("background".length());
            else if (q.startsWith("size-")) spec = "size=" + q.substring(5);
            else if (q.equals("position")) spec = "position";
            else if (q.startsWith("direction")) {
                String v = q.substring("direction".length());
                spec = v.isEmpty() || v.equals("@object") ? "direction=random" + v : "direction=" + v;
            } else throw new IllegalArgumentException("unknown variant '" + name + "' (background+L, background-L[-adv], size-R, position, direction[+D]; parts joined by _)");
            specs.add(spec);
        }
        return Edit.parse(String.join(",", specs));
    }

    static List<Variant> file(Path p) {
        JsonNode root;
        try {
            ObjectMapper m = p.toString().endsWith(".json") ? new ObjectMapper() : new ObjectMapper(new YAMLFactory());
            root = m.readTree(p.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(p + ": cannot read the variant spec: " + e.getMessage(), e);
        }
        JsonNode vs = root == null ? null : root.get("variants");
        if (vs == null || !vs.isArray()) throw new IllegalArgumentException(p + ": expected a top-level 'variants' list");
        List<Variant> out = new ArrayList<>();
        int i = 0;
        for (JsonNode v : vs) {
            i++;
            try {
                if (v.has("sweep")) {
                    JsonNode s = v.get("sweep");
                    String attr = s.path("attribute").asText();
                    if (!s.has("values") || !s.get("values").isArray()) throw new IllegalArgumentException("sweep needs 'values'");
                    for (JsonNode val : s.get("values")) {
                        if (!val.isNumber()) throw new IllegalArgumentException("sweep value " + val + " is not a number");
                        double x = val.asDouble();
                        String spec = switch (attr) {
                            case "background" -> "background=" + x;
                            case "size" -> "size=" + x;
                            case "direction" -> "direction=" + x;
                            default -> throw new IllegalArgumentException("sweep attribute '" + attr + "' (background, size, direction)");
                        };
                        List<Edit> e = Edit.parse(spec);
                        out.add(Variant.of(Edit.name(e), e));
                    }
                } else if (v.has("edits")) {
                    List<Edit> e = Edit.parse(v.get("edits").asText());
                    out.add(Variant.of(v.has("name") ? v.get("name").asText() : Edit.name(e), e));
                } else {
                    throw new IllegalArgumentException("each variant needs 'edits' or 'sweep'");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: variant %d: %s", p, i, e.getMessage()), e);
            }
        }
        return unique(out);
    }

    private static List<Variant> unique(List<Variant> vs) {
        Map<String, Variant> m = new LinkedHashMap<>();
        for (Variant v : vs) {
            if (v.name().equals("original")) throw new IllegalArgumentException("'original' is reserved for the unedited images");
            if (m.put(v.name(), v) != null) throw new IllegalArgumentException("variant '" + v.name() + "' given twice");
        }
        if (m.isEmpty()) throw new IllegalArgumentException("no variants");
        return List.copyOf(m.values());
    }
}
