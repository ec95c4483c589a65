package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.io.AtomicFiles;
import org.imagenete.io.Checksums;
import org.imagenete.io.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Checks a benchmark folder against its manifests: every file a row lists (image and mask) exists and has the
 * recorded checksum, no output is listed twice, and every other file in the folder is reported.
 */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check a benchmark folder against its manifest(s): every listed image and mask present and with its",
                "checksum, no output listed twice, no file the manifests do not list. Problems on stdout, one per line; exit 1 if any."})
public final class VerifyCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR") Path dir;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a folder");
        List<ObjectNode> rows = Manifest.readAll(dir);
        if (rows.isEmpty()) throw new IllegalArgumentException(dir + ": no manifest rows (manifest*.jsonl)");
        List<String> problems = new ArrayList<>();
        Set<String> listed = new HashSet<>();
        Set<String> keys = new HashSet<>();
        int checked = 0;
        for (ObjectNode r : rows) {
            String key = r.path("image").asText() + " [" + r.path("variant").asText() + "]";
            if (!keys.add(key)) problems.add("duplicate row: " + key);
            for (String[] f : new String[][]{{"file", "sha256"}, {"mask", "mask_sha256"}}) {
                if (!r.hasNonNull(f[0])) continue;
                String rel = r.get(f[0]).asText();
                Path p = inside(rel);
                if (p == null) {
                    problems.add("bad path: " + key + " lists " + f[0] + " '" + rel + "', which is not a file inside the benchmark");
                    continue;
                }
                listed.add(dir.relativize(p).toString().replace('\\', '/'));
                if (!Files.isRegularFile(p)) {
                    problems.add("missing: " + rel);
                    continue;
                }
                String want = r.path(f[1]).asText(null);
                if (want != null) {
                    String got = Checksums.sha256(Files.readAllBytes(p));
                    if (!want.equals(got)) problems.add("checksum mismatch: " + rel + " (manifest " + want + ", file " + got + ")");
                }
                checked++;
            }
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = dir.relativize(p).toString().replace('\\', '/');
                if (listed.contains(rel) || isBookkeeping(rel)) continue;
                String name = p.getFileName().toString();
                problems.add(AtomicFiles.temporaryTarget(name) != null
                        ? "leftover temporary file: " + rel + " (from a write that was interrupted, or a run still going)"
                        : "extra: " + rel);
            }
        }
        JsonNode settings = readSettings(problems);
        for (String pr : problems) System.out.println(pr);
        if (settings != null && settings.path("forced").isArray())
            for (JsonNode f : settings.get("forced"))
                System.out.println("note: a run at " + f.path("time").asText() + " mixed other settings into this folder (--force-settings): "
                        + f.path("differences"));
        System.err.printf("verify: %d rows, %d files checked, %d problem(s)%n", rows.size(), checked, problems.size());
        return problems.isEmpty() ? 0 : 1;
    }

    /** The file a manifest path names, or null when the path is absolute or leaves the folder. */
    private Path inside(String rel) {
        try {
            Path p = Path.of(rel);
            if (p.isAbsolute() || rel.isEmpty()) return null;
            Path abs = dir.resolve(p).normalize();
            return abs.startsWith(dir.normalize()) && !abs.equals(dir.normalize()) ? abs : null;
        } catch (InvalidPathException e) {
            return null;
        }
    }

    /** The manifests, settings.json and the runs' lock files. */
    private static boolean isBookkeeping(String rel) {
        return rel.matches("manifest(-\\d+-of-\\d+)?\\.jsonl") || rel.equals("settings.json") || rel.equals(".settings.lock")
                || rel.matches("\\.manifest(-\\d+-of-\\d+)?\\.jsonl\\.lock");
    }

    private JsonNode readSettings(List<String> problems) {
        Path f = dir.resolve("settings.json");
        if (!Files.isRegularFile(f)) return null;
        try {
            return Manifest.JSON.readTree(f.toFile());
        } catch (IOException e) {
            problems.add("corrupt: settings.json (" + e.getMessage().lines().findFirst().orElse("") + ")");
            return null;
        }
    }
}
