package org.imagenete.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A benchmark's {@code manifest.jsonl} (one per shard: {@code manifest-<i>-of-<n>.jsonl}): one JSON object per
 * line and output image. Rows are appended with a single write and forced to disk; a crash can leave at most a
 * partial last line, which {@link #open} cuts off before appending again.
 */
public final class Manifest implements AutoCloseable {
    public static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private FileChannel ch;
    private final List<ObjectNode> rows;

    private Manifest(Path file, FileChannel ch, List<ObjectNode> rows) {
        this.file = file;
        this.ch = ch;
        this.rows = rows;
    }

    public static String fileName(int shard, int shards) {
        return shards <= 1 ? "manifest.jsonl" : "manifest-" + shard + "-of-" + shards + ".jsonl";
    }

    /** Opens (creating) a manifest for appending, after dropping a partial last row left by a crash. */
    public static Manifest open(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long size = ch.size();
            byte[] all = new byte[(int) size];
            ch.read(ByteBuffer.wrap(all), 0);
            int end = all.length;
            while (end > 0 && all[end - 1] != '\n') end--;
            if (end != all.length) ch.truncate(end);
            ch.position(end);
            List<ObjectNode> rows = parse(file, new String(all, 0, end, StandardCharsets.UTF_8));
            return new Manifest(file, ch, rows);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    static List<ObjectNode> parse(Path file, String text) {
        List<ObjectNode> rows = new ArrayList<>();
        int line = 0;
        for (String l : text.split("\n")) {
            line++;
            if (l.isBlank()) continue;
            try {
                JsonNode n = JSON.readTree(l);
                if (!(n instanceof ObjectNode o)) throw new IOException("not an object");
                rows.add(o);
            } catch (IOException e) {
                throw new IllegalArgumentException(file + " line " + line + ": corrupt row: " + e.getMessage());
            }
        }
        return rows;
    }

    /** Every row of every manifest*.jsonl in a benchmark folder (all shards), in file-name order. */
    public static List<ObjectNode> readAll(Path dir) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().matches("manifest(-\\d+-of-\\d+)?\\.jsonl")).sorted().toList();
        }
        List<ObjectNode> out = new ArrayList<>();
        for (Path f : files) {
            String text = Files.readString(f);
            int end = text.lastIndexOf('\n') + 1;   // a partial last row (a run still going or killed) is not a row
            out.addAll(parse(f, text.substring(0, end)));
        }
        return out;
    }

    public List<ObjectNode> rows() { return rows; }

    /**
     * Keeps only the rows {@code keep} accepts: the file is rewritten atomically (readers see the old or the new
     * rows, never a part) and appending goes on after the kept rows. Returns how many rows were dropped.
     */
    public synchronized int retain(Predicate<ObjectNode> keep) throws IOException {
        List<ObjectNode> kept = rows.stream().filter(keep).toList();
        int dropped = rows.size() - kept.size();
        if (dropped == 0) return 0;
        StringBuilder text = new StringBuilder();
        for (ObjectNode r : kept) text.append(JSON.writeValueAsString(r)).append('\n');
        ch.close();
        AtomicFiles.write(file, text.toString().getBytes(StandardCharsets.UTF_8));
        ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        rows.clear();
        rows.addAll(kept);
        return dropped;
    }

    public Path file() { return file; }

    /** Appends a row: one write of the whole line, then fsync. */
    public synchronized void append(ObjectNode row) throws IOException {
        byte[] line = (JSON.writeValueAsString(row) + "\n").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.wrap(line);
        while (b.hasRemaining()) ch.write(b);
        ch.force(false);
        rows.add(row);
    }

    @Override public void close() throws IOException { ch.close(); }
}
