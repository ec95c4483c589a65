package org.imagenete.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.io.Manifest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A benchmark folder made by {@code generate}, browsed read-only: its manifest rows grouped per source image, the
 * images served by their index in this listing (a file is listed only when its manifest path stays inside the
 * folder), and its evaluation report when there is one. The folder is named on the command line, never by a
 * client; the listing is read again when a manifest changes (a run still going).
 */
final class Benchmark {
    private final Path dir, report;
    private List<Path> files = List.of();
    private ObjectNode listing;
    private String stamp = "";

    /** {@code report}: a report.html beside it or null; by default {@code report.html} in the folder or in {@code ../report}. */
    Benchmark(Path dir, Path report) throws IOException {
        this.dir = dir.toRealPath();
        Path r = report;
        if (r == null) {
            for (Path p : List.of(this.dir.resolve("report.html"), this.dir.resolveSibling("report").resolve("report.html")))
                if (Files.isRegularFile(p)) r = p;
        } else if (Files.isDirectory(r)) r = r.resolve("report.html");
        this.report = r != null && Files.isRegularFile(r) ? r.toRealPath() : null;
    }

    Path report() { return report; }

    synchronized Path file(int index) throws IOException {
        listing();
        return index >= 0 && index < files.size() ? files.get(index) : null;
    }

    synchronized ObjectNode listing() throws IOException {
        String now = manifestStamp();
        if (listing != null && now.equals(stamp)) return listing;
        List<Path> fs = new ArrayList<>();
        Map<String, ObjectNode> byImage = new LinkedHashMap<>();
        Set<String> variants = new LinkedHashSet<>();
        ObjectNode out = Http.JSON.createObjectNode();
        out.put("folder", dir.getFileName().toString());
        ArrayNode images = Http.JSON.createArrayNode();
        for (ObjectNode row : Manifest.readAll(dir)) {
            String image = row.path("image").asText(), variant = row.path("variant").asText();
            variants.add(variant);
            ObjectNode img = byImage.computeIfAbsent(image, k -> {
                ObjectNode o = images.addObject();
                o.put("image", k);
                o.put("wnid", row.path("wnid").asText());
                o.putArray("variants");
                return o;
            });
            ObjectNode v = ((ArrayNode) img.get("variants")).addObject();
            v.put("variant", variant);
            if (row.has("values")) v.set("values", row.get("values"));
            if (row.has("reason")) v.put("error", row.get("reason").asText());
            Path f = row.hasNonNull("file") ? inside(row.get("file").asText()) : null;
            if (f != null) {
                v.put("url", "/bench/files/" + fs.size());
                fs.add(f);
            }
        }
        out.set("variants", Http.JSON.valueToTree(variants));
        out.set("images", images);
        out.put("report", report == null ? null : "/bench/report");
        files = fs;
        listing = out;
        stamp = now;
        return out;
    }

    /** The manifest's path resolved in the folder, or null when it leaves it (a hand-edited manifest) or is missing. */
    private Path inside(String rel) throws IOException {
        Path p = dir.resolve(rel).normalize();
        if (!p.startsWith(dir) || !Files.isRegularFile(p)) return null;
        Path real = p.toRealPath();
        return real.startsWith(dir) ? real : null;
    }

    private String manifestStamp() throws IOException {
        StringBuilder sb = new StringBuilder();
        try (var s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("manifest")).sorted().toList())
                sb.append(p.getFileName()).append(Files.size(p)).append(Files.getLastModifiedTime(p)).append(';');
        }
        return sb.toString();
    }
}
