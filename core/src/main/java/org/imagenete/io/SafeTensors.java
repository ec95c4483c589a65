package org.imagenete.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format: u64 little-endian header length N, N bytes of JSON, then raw little-endian data.
 * Reading memory-maps the file (a 2 GB checkpoint is never copied); tensors are views valid until
 * {@link #close()}. Every structural problem is reported with the file and the tensor name.
 */
public final class SafeTensors implements StateDict {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The format's limit on the header (the reference implementation's MAX_HEADER_SIZE). */
    private static final long MAX_HEADER = 100_000_000;
    /** Header reader: a key given twice is an error (the format disallows duplicate keys), not the last one winning. */
    private static final com.fasterxml.jackson.databind.ObjectReader HEADER = JSON.reader()
            .with(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION);

    private final Path file;
    private final MemorySegment mapping;
    private FileChannel channel;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, MemorySegment mapping, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.mapping = mapping;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates a safetensors file. */
    public static SafeTensors open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            return read(file, arena);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensors read(Path file, Arena arena) {
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            SafeTensors st = MappedFiles.guard(file, all, () -> parse(file, arena, all));
            st.channel = ch;   // kept open for read(): the same file, whatever the path names later
            return st;
        } catch (IOException e) {
            TorchCheckpoint.closeQuietly(ch);
            throw new CheckpointException(file, null, "cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            TorchCheckpoint.closeQuietly(ch);
            throw e;
        }
    }

    /** One tensor's header entry, before the data ranges are checked against each other. */
    private record Entry(String name, DType dtype, Shape shape, long begin, long end) {}

    /**
     * Checks the header as the format's reference implementation (huggingface/safetensors) does: at most 100 MB of
     * UTF-8 JSON, no key twice, shapes and offsets whole non-negative numbers, {@code __metadata__} string to string,
     * and the tensors' data ranges tiling the data exactly: sorted by offset each starts where the previous ends (no
     * overlap, no gap) and the last ends at the end of the file.
     */
    static SafeTensors parse(Path file, Arena arena, MemorySegment all) {
        long size = all.byteSize();
        if (size < 8) throw new CheckpointException(file, null, "not a safetensors file: only " + size + " bytes");
        long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n <= 0 || n > MAX_HEADER || n > size - 8)
            throw new CheckpointException(file, null, "not a safetensors file or truncated: header length " + Long.toUnsignedString(n)
                    + " for a file of " + size + " bytes" + (n > MAX_HEADER && n <= size - 8 ? " (the format allows at most " + MAX_HEADER + ")" : ""));
        byte[] hb = all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = HEADER.readTree(hb);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            String m = e.getOriginalMessage().lines().findFirst().orElse("");
            if (m.startsWith("Duplicate field "))   // Jackson's words for a key given twice
                throw new CheckpointException(file, null, "corrupt safetensors header: key " + m.substring(16) + " appears twice"
                        + " (the format disallows duplicate keys)", e);
            throw new CheckpointException(file, null, "corrupt safetensors header (invalid JSON): " + m, e);
        } catch (IOException e) {
            throw new CheckpointException(file, null, "corrupt safetensors header: " + e.getMessage(), e);
        }
        if (header == null || !header.isObject())
            throw new CheckpointException(file, null, "corrupt safetensors header: not a JSON object");
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new CheckpointException(file, null, "__metadata__ is not an object");
                for (Map.Entry<String, JsonNode> m : v.properties()) {
                    if (!m.getValue().isTextual())
                        throw new CheckpointException(file, null, "__metadata__ entry '" + m.getKey() + "' is " + m.getValue().getNodeType()
                                + ", not a string (the format's metadata maps strings to strings)");
                    meta.put(m.getKey(), m.getValue().asText());
                }
                continue;
            }
            if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets"))
                throw new CheckpointException(file, name, "header entry needs dtype, shape and data_offsets");
            DType dt = DType.fromSafetensors(v.get("dtype").asText());
            if (!v.get("dtype").isTextual() || dt == null)
                throw new CheckpointException(file, name, "unsupported dtype " + (v.get("dtype").isTextual() ? v.get("dtype").asText()
                        : v.get("dtype").toString()) + " (supported: F32, F16, BF16, F64, I64, I32, U8)");
            JsonNode sh = v.get("shape");
            JsonNode off = v.get("data_offsets");
            if (!sh.isArray() || !off.isArray() || off.size() != 2)
                throw new CheckpointException(file, name, "malformed shape or data_offsets (arrays, data_offsets of two numbers)");
            long[] dims = new long[sh.size()];
            long numel = 1;
            for (int i = 0; i < dims.length; i++) {
                dims[i] = whole(file, name, "shape", sh.get(i));
                numel = multiply(file, name, numel, dims[i]);
            }
            Shape shape;
            try {
                shape = Shape.of(dims);
            } catch (IllegalArgumentException ex) {
                throw new CheckpointException(file, name, ex.getMessage());
            }
            long begin = whole(file, name, "data_offsets", off.get(0)), end = whole(file, name, "data_offsets", off.get(1));
            if (end < begin)
                throw new CheckpointException(file, name, "bad data_offsets [" + begin + ", " + end + "]: the end is before the start");
            if (end > dataSize)
                throw new CheckpointException(file, name, "data [" + begin + ", " + end + ") lies beyond the end of the file ("
                        + dataSize + " data bytes): truncated?");
            long need = multiply(file, name, numel, dt.bytes());
            if (end - begin != need)
                throw new CheckpointException(file, name, "data_offsets cover " + (end - begin) + " bytes but "
                        + dt + shape + " needs " + need);
            entries.add(new Entry(name, dt, shape, begin, end));
        }
        List<Entry> byOffset = new ArrayList<>(entries);
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        Entry previous = null;
        for (Entry e : byOffset) {
            if (e.begin() < at)
                throw new CheckpointException(file, e.name(), "data [" + e.begin() + ", " + e.end() + ") overlaps tensor '"
                        + previous.name() + "' [" + previous.begin() + ", " + previous.end() + ")");
            if (e.begin() > at)
                throw new CheckpointException(file, e.name(), "data starts at " + e.begin() + " but the previous tensor"
                        + (previous == null ? "s end" : " '" + previous.name() + "' ends") + " at " + at
                        + ": the format has no gaps between tensors (corrupt header?)");
            at = e.end();
            previous = e;
        }
        if (at != dataSize)
            throw new CheckpointException(file, null, "the tensors' data ends at byte " + at + " of the " + dataSize
                    + " data bytes: " + (dataSize - at) + " bytes after the last tensor belong to none (corrupt or appended file)");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries)
            tensors.put(e.name(), Tensor.wrap(all.asSlice(dataStart + e.begin(), e.end() - e.begin()), e.dtype(), e.shape()));
        return new SafeTensors(file, all, arena, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(meta));
    }

    /** A whole non-negative JSON number (not 3.0, not "3", not -1), as the format's unsigned offsets and dimensions. */
    private static long whole(Path file, String name, String field, JsonNode v) {
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0)
            throw new CheckpointException(file, name, field + " holds " + v + ", not a whole number >= 0");
        return v.asLong();
    }

    private static long multiply(Path file, String name, long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new CheckpointException(file, name, "shape too large: its size overflows 64 bits");
        }
    }

    public Path file() { return file; }

    @Override public long fileSize() { return mapping.byteSize(); }

    @Override public void read(Tensor t, MemorySegment dst) { MappedFiles.read(file, channel, mapping, t.data(), dst); }

    /** Tensor names in file order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public boolean has(String name) { return tensors.containsKey(name); }

    /** The named tensor (a view of the mapped file); a clear error when missing. */
    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new CheckpointException(file, name, "missing (file has " + tensors.size() + " tensors)");
        return t;
    }

    public Map<String, String> metadata() { return metadata; }

    @Override public void close() {
        arena.close();
        TorchCheckpoint.closeQuietly(channel);
    }

    /**
     * Writes tensors (in map order) and string metadata, atomically ({@link AtomicFiles}): a crash or a full
     * disk never leaves a half-written file under {@code file}.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            ObjectNode node = header.putObject(e.getKey());
            node.put("dtype", t.dtype().safetensorsName());
            var shape = node.putArray("shape");
            for (int d : t.shape().dims()) shape.add(d);
            var off = node.putArray("data_offsets");
            off.add(offset);
            offset += t.byteSize();
            off.add(offset);
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] hb = new byte[padded];
        System.arraycopy(json, 0, hb, 0, json.length);
        for (int i = json.length; i < padded; i++) hb[i] = ' ';

        AtomicFiles.write(file, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(hb);
            byte[] buf = new byte[1 << 20];
            for (Tensor t : tensors.values()) {
                MemorySegment d = t.data();
                for (long p = 0; p < d.byteSize(); p += buf.length) {
                    int c = (int) Math.min(buf.length, d.byteSize() - p);
                    MemorySegment.copy(d, ValueLayout.JAVA_BYTE, p, buf, 0, c);
                    out.write(buf, 0, c);
                }
            }
        });
    }
}
