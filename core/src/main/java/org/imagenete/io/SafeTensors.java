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
import java.util.Iterator;
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
    /** Larger headers are certainly corrupt (a 100k-tensor file needs a few MB). */
    private static final long MAX_HEADER = 100L << 20;

    private final Path file;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
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
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException(file, null, "not a safetensors file: only " + size + " bytes");
            all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new CheckpointException(file, null, "cannot read: " + e.getMessage(), e);
        }
        long size = all.byteSize();
        long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n <= 0 || n > MAX_HEADER || n > size - 8)
            throw new CheckpointException(file, null, "not a safetensors file or truncated: header length " + n
                    + " for a file of " + size + " bytes");
        byte[] hb = all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(hb);
        } catch (IOException e) {
            throw new CheckpointException(file, null, "corrupt safetensors header (invalid JSON): " + e.getMessage(), e);
        }
        if (header == null || !header.isObject())
            throw new CheckpointException(file, null, "corrupt safetensors header: not a JSON object");
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new CheckpointException(file, null, "__metadata__ is not an object");
                v.fields().forEachRemaining(m -> meta.put(m.getKey(), m.getValue().isTextual() ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets"))
                throw new CheckpointException(file, name, "header entry needs dtype, shape and data_offsets");
            DType dt = DType.fromSafetensors(v.get("dtype").asText());
            if (dt == null)
                throw new CheckpointException(file, name, "unsupported dtype " + v.get("dtype").asText()
                        + " (supported: F32, F16, BF16, F64, I64, I32, U8)");
            JsonNode sh = v.get("shape");
            JsonNode off = v.get("data_offsets");
            if (!sh.isArray() || !off.isArray() || off.size() != 2)
                throw new CheckpointException(file, name, "malformed shape or data_offsets");
            long[] dims = new long[sh.size()];
            for (int i = 0; i < dims.length; i++) {
                if (!sh.get(i).canConvertToLong() || sh.get(i).asLong() < 0)
                    throw new CheckpointException(file, name, "bad dimension " + sh.get(i));
                dims[i] = sh.get(i).asLong();
            }
            Shape shape;
            try {
                shape = Shape.of(dims);
            } catch (IllegalArgumentException ex) {
                throw new CheckpointException(file, name, ex.getMessage());
            }
            long begin = off.get(0).asLong(), end = off.get(1).asLong();
            if (begin < 0 || end < begin)
                throw new CheckpointException(file, name, "bad data_offsets [" + begin + ", " + end + "]");
            if (end > dataSize)
                throw new CheckpointException(file, name, "data [" + begin + ", " + end + ") lies beyond the end of the file ("
                        + dataSize + " data bytes): truncated?");
            long need = shape.numel() * dt.bytes();
            if (end - begin != need)
                throw new CheckpointException(file, name, "data_offsets cover " + (end - begin) + " bytes but "
                        + dt + shape + " needs " + need);
            ranges.add(new long[]{begin, end});
            tensors.put(name, Tensor.wrap(all.asSlice(dataStart + begin, need), dt, shape));
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < ranges.size(); i++)
            if (ranges.get(i)[0] < ranges.get(i - 1)[1])
                throw new CheckpointException(file, null, "tensor data ranges overlap");
        return new SafeTensors(file, arena, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(meta));
    }

    public Path file() { return file; }

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

    @Override public void close() { arena.close(); }

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
