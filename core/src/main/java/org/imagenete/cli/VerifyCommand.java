package org.imagenete.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.io.Checksums;
import org.imagenete.io.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** Checks a benchmark folder against its manifests: missing files, extra files, checksum mismatches. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Check a benchmark folder against its manifest(s): missing, extra and corrupted (checksum) files.")
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
            if (!r.hasNonNull("file")) continue;
            String file = r.get("file").asText();
            listed.add(file);
            if (r.hasNonNull("mask")) {
                listed.add(r.get("mask").asText());
                if (!Files.isRegularFile(dir.resolve(r.get("mask").asText()))) problems.add("missing: " + r.get("mask").asText());
            }
            Path p = dir.resolve(file);
            if (!Files.isRegularFile(p)) {
                problems.add("missing: " + file);
                continue;
            }
            String want = r.path("sha256").asText(null);
            String got = Checksums.sha256(Files.readAllBytes(p));
            if (want != null && !want.equals(got)) problems.add("checksum mismatch: " + file + " (manifest " + want + ", file " + got + ")");
            checked++;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = dir.relativize(p).toString().replace('\\', '/');
                if (rel.endsWith(".png") && !listed.contains(rel)) problems.add("extra: " + rel);
            }
        }
        for (String pr : problems) System.out.println(pr);
        System.err.printf("verify: %d rows, %d images checked, %d problem(s)%n", rows.size(), checked, problems.size());
        return problems.isEmpty() ? 0 : 1;
    }
}
