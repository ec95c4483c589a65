package org.imagenete.serve;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The jobs and their result folders under one root. Ids are 128 random bits (so one result cannot be reached
 * from another's id); a finished job expires {@code keep} after it finished, and the oldest finished jobs go
 * first while the results take more than {@code maxBytes}: {@link #sweep} deletes their folders.
 */
final class Jobs {
    static final Pattern ID = Pattern.compile("[0-9a-f]{32}");

    private final Path root;
    private final Duration keep;
    private final long maxBytes;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, Job> jobs = new ConcurrentHashMap<>();

    Jobs(Path root, Duration keep, long maxBytes) {
        this.root = root;
        this.keep = keep;
        this.maxBytes = maxBytes;
    }

    Job create() throws IOException {
        byte[] b = new byte[16];
        random.nextBytes(b);
        String id = HexFormat.of().formatHex(b);
        Job j = new Job(id, Files.createDirectories(root.resolve(id)), System.nanoTime());
        jobs.put(id, j);
        return j;
    }

    /** The job of an id from a URL, or null: anything but 32 lower-case hex digits is never looked up. */
    Job get(String id) { return id != null && ID.matcher(id).matches() ? jobs.get(id) : null; }

    void remove(Job j) {
        jobs.remove(j.id);
        delete(j.dir);
    }

    int size() { return jobs.size(); }

    /** Bytes held by finished jobs' results. */
    long bytes() { return jobs.values().stream().filter(Job::isFinished).mapToLong(Job::bytes).sum(); }

    /** Deletes expired results, then the oldest finished ones while over the size limit. */
    void sweep() {
        long now = System.nanoTime();
        List<Job> done = jobs.values().stream().filter(Job::isFinished).sorted(Comparator.comparingLong(Job::finishedAt)).toList();
        long total = done.stream().mapToLong(Job::bytes).sum();
        for (Job j : done) {
            boolean expired = now - j.finishedAt() > keep.toNanos();
            if (!expired && total <= maxBytes) continue;
            total -= j.bytes();
            remove(j);
        }
    }

    /** Result folders and upload scratch files left in the root by an earlier server that did not stop cleanly. */
    void deleteStale() throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (ID.matcher(name).matches() && Files.isDirectory(p) || name.matches("mask-\\d+\\.png")) delete(p);
            }
        }
    }

    /** Every job's folder (and the root, when it was made for this server) deleted at shutdown. */
    void clear(boolean deleteRoot) {
        jobs.values().forEach(this::remove);
        if (deleteRoot) delete(root);
    }

    static void delete(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir, e);
        }
    }
}
