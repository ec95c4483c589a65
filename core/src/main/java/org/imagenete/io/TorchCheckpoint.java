package org.imagenete.io;

import org.imagenete.io.Unpickler.Storage;
import org.imagenete.io.Unpickler.TensorRef;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PyTorch checkpoint as {@code torch.save} writes it since torch 1.6: a zip (entries stored, not
 * compressed) holding {@code <root>/data.pkl}, a pickle of the state dict whose tensors refer by
 * persistent id to storages {@code <root>/data/<key>}.
 *
 * <p>The file is memory-mapped once and each tensor is a view of its storage in the mapping: a 2 GB
 * checkpoint is never copied into the heap. The pickle is read by a restricted unpickler
 * ({@link Unpickler}) that never loads classes or runs code: a file naming any global beyond tensors,
 * storages and OrderedDict is refused. {@link #open} validates everything (zip structure, storage
 * sizes, tensor extents, contiguity) before returning; every problem is a {@link CheckpointException}
 * naming the file and, where known, the tensor.
 *
 * <p>The pickled object may be the state dict itself, or a dict that holds it under one of
 * {@link #STATE_DICT_KEYS} next to other values (epoch, optimizer state...). A {@code module.} prefix on
 * every tensor name (from {@code nn.DataParallel}) is removed.
 */
public final class TorchCheckpoint implements StateDict {
    /** Keys under which training scripts commonly nest the state dict, tried when the top level has no tensors. */
    public static final List<String> STATE_DICT_KEYS = List.of("state_dict", "model_state_dict", "model", "module", "ema", "net");

    private static final String MODULE_PREFIX = "module.";
    /**
     * How large a data.pkl may be: a state dict pickle takes ~150 bytes per tensor (ADM-256: 60 KB for 500 tensors),
     * so 16 MiB plus 64 KiB per zip entry is far above any real one, and at most {@code -Dimagenete.maxPickleMiB}
     * (default 256) MiB. Checked against the entry's declared size before anything is read or inflated: a zip bomb
     * costs nothing.
     */
    static long maxPickleBytes(int zipEntries) {
        long cap = Long.getLong("imagenete.maxPickleMiB", 256) << 20;
        return Math.min(cap, (16L << 20) + (64L << 10) * zipEntries);
    }
    /** Magic number that starts a legacy (pre-1.6) torch.save file: PROTO 2, LONG1 0x1950a86a20f9469cfc6c. */
    private static final byte[] LEGACY_MAGIC = {(byte) 0x80, 0x02, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46,
            (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};
    private static final String LEGACY = "legacy (pre-1.6) PyTorch serialization is not supported; re-save with torch>=1.6:"
            + " torch.save(torch.load(f), f2)";

    private final Path file;
    private final MemorySegment mapping;
    private FileChannel channel;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final List<String> ignored;
    private final String stateDictKey;
    private boolean closed;

    private TorchCheckpoint(Path file, MemorySegment mapping, Arena arena, Map<String, Tensor> tensors, List<String> ignored, String stateDictKey) {
        this.file = file;
        this.mapping = mapping;
        this.arena = arena;
        this.tensors = tensors;
        this.ignored = ignored;
        this.stateDictKey = stateDictKey;
    }

    /** Opens and validates a checkpoint; finds the state dict at the top level or under a {@link #STATE_DICT_KEYS} key. */
    public static TorchCheckpoint open(Path file) {
        return open(file, null);
    }

    /**
     * Opens and validates a checkpoint whose state dict is the dict under the top-level key
     * {@code stateDictKey} (say {@code "ema"} when the file holds both {@code "model"} and {@code "ema"});
     * null chooses as {@link #open(Path)} does.
     */
    public static TorchCheckpoint open(Path file, String stateDictKey) {
        Arena arena = Arena.ofShared();
        try {
            return read(file, stateDictKey, arena);
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    /** The state dict: tensor names (a common {@code module.} prefix removed) in file order; unmodifiable. */
    public Map<String, Tensor> stateDict() { return tensors; }

    @Override public Map<String, Tensor> tensors() { return tensors; }

    /** The named tensor; a clear error when missing. */
    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new CheckpointException(file, name, "missing (the state dict has " + tensors.size() + " tensors)");
        return t;
    }

    /**
     * What the file holds besides the returned tensors: the path of each skipped value from the top of the
     * pickle, keys joined by '.' ({@code "epoch"}, {@code "state_dict.some_flag"}, or {@code "some_flag"} when the
     * state dict is the top level), in file order.
     */
    public List<String> ignoredEntries() { return ignored; }

    /** The top-level key the state dict was found under, or null when the pickled object is the state dict. */
    public String stateDictKey() { return stateDictKey; }

    @Override public Path file() { return file; }

    @Override public long fileSize() { return mapping.byteSize(); }

    @Override public void read(Tensor t, MemorySegment dst) { MappedFiles.read(file, channel, mapping, t.data(), dst); }

    /** Unmaps the file; the tensors become unusable. */
    @Override public synchronized void close() {
        if (closed) return;
        closed = true;
        arena.close();
        closeQuietly(channel);
    }

    // ---- reading ---------------------------------------------------------------------------------------

    private static TorchCheckpoint read(Path file, String wantedKey, Arena arena) {
        MemorySegment all;
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
            long size = ch.size();
            if (size < 4) throw new CheckpointException(file, null, "not a PyTorch checkpoint: only " + size + " bytes");
            all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            MemorySegment mapped = all;
            TorchCheckpoint ck = MappedFiles.guard(file, all, () -> parse(file, wantedKey, arena, mapped));
            ck.channel = ch;   // kept open for read(): the same file, whatever the path names later
            return ck;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new CheckpointException(file, null, "cannot read: " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    static void closeQuietly(FileChannel ch) {
        try {
            if (ch != null) ch.close();
        } catch (IOException ignored) {
            // closing a read-only channel: nothing was written
        }
    }

    /** Everything that reads the mapping (the zip index, the pickle, the storages' extents), under {@link MappedFiles#guard}. */
    static TorchCheckpoint parse(Path file, String wantedKey, Arena arena, MemorySegment all) {
        byte[] head = all.asSlice(0, Math.min(512, all.byteSize())).toArray(ValueLayout.JAVA_BYTE);
        if (!isZip(head)) throw notZip(file, head);

        ZipIndex zip = ZipIndex.read(file, all);
        String root = findRoot(file, zip);
        ZipIndex.Entry bo = zip.get(root + "/byteorder");
        if (bo != null) {
            String order = new String(zip.bytes(bo, null, 64), StandardCharsets.US_ASCII).strip();
            if (order.equals("big"))
                throw new CheckpointException(file, null, "big-endian checkpoint (" + root + "/byteorder is 'big'): not supported;"
                        + " re-save it on a little-endian machine");
            if (!order.equals("little"))
                throw new CheckpointException(file, null, "corrupt " + root + "/byteorder: '" + Unpickler.printable(order) + "'");
        }
        String pklName = root + "/data.pkl";
        ZipIndex.Entry pklEntry = zip.get(pklName);
        long maxPickle = maxPickleBytes(zip.entries().size());
        if (pklEntry.size() > maxPickle)
            throw new CheckpointException(file, null, "refusing to load: " + pklName + " declares " + pklEntry.size() + " bytes"
                    + (pklEntry.method() != 0 ? " (" + pklEntry.compressedSize() + " compressed)" : "") + ", more than the state-dict"
                    + " pickle of a checkpoint with " + zip.entries().size() + " zip entries can need (at most " + maxPickle
                    + " bytes; -Dimagenete.maxPickleMiB=N raises the limit)");
        byte[] pkl = zip.bytes(pklEntry, null, maxPickle);
        Object top = Unpickler.load(file, pklName, pkl);

        // Where is the state dict?
        if (!(top instanceof Map<?, ?> topMap))
            throw new CheckpointException(file, null, "the checkpoint holds " + Unpickler.describe(top)
                    + ", not a state dict (a dict of tensors)");
        Map<?, ?> sd;
        String nestKey;
        if (wantedKey != null) {
            if (!(topMap.get(wantedKey) instanceof Map<?, ?> m))
                throw new CheckpointException(file, null, "no dict under top-level key '" + wantedKey + "' (top-level keys: "
                        + keyList(topMap) + ")");
            if (!m.isEmpty() && !holdsTensors(m))
                throw new CheckpointException(file, null, "the dict under top-level key '" + wantedKey + "' holds no tensors (its keys: "
                        + keyList(m) + ")");
            sd = m;
            nestKey = wantedKey;
        } else if (topMap.isEmpty() || holdsTensors(topMap)) {
            sd = topMap;
            nestKey = null;
        } else {
            List<String> found = new ArrayList<>();
            for (String k : STATE_DICT_KEYS)
                if (topMap.get(k) instanceof Map<?, ?> m && holdsTensors(m)) found.add(k);
            if (found.isEmpty())
                throw new CheckpointException(file, null, "no state dict found: the top-level dict holds no tensors and none of "
                        + STATE_DICT_KEYS + " is a dict of tensors (top-level keys: " + keyList(topMap) + ")");
            if (found.size() > 1)
                throw new CheckpointException(file, null, "several state dicts, under " + found
                        + ": choose one with TorchCheckpoint.open(file, key)");
            nestKey = found.getFirst();
            sd = (Map<?, ?>) topMap.get(nestKey);
        }

        // Everything but the state dict's tensors is skipped; its path is listed, in file order.
        List<String> ignored = new ArrayList<>();
        Map<String, TensorRef> refs = new LinkedHashMap<>();
        if (nestKey == null) {
            collect(file, sd, "", refs, ignored);
        } else {
            for (Object k : topMap.keySet()) {
                if (nestKey.equals(k)) collect(file, sd, nestKey + ".", refs, ignored);
                else ignored.add(String.valueOf(k));
            }
        }
        boolean strip = !refs.isEmpty() && refs.keySet().stream().allMatch(k -> k.startsWith(MODULE_PREFIX));

        Map<String, MemorySegment> storages = new HashMap<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, TensorRef> e : refs.entrySet()) {
            String name = e.getKey();
            Tensor t = tensor(file, name, e.getValue(), zip, root, arena, storages);
            tensors.put(strip ? name.substring(MODULE_PREFIX.length()) : name, t);
        }
        return new TorchCheckpoint(file, all, arena, Collections.unmodifiableMap(tensors), List.copyOf(ignored), nestKey);
    }

    /** Sorts the entries of the state dict into tensors and (by path) ignored values. */
    private static void collect(Path file, Map<?, ?> sd, String prefix, Map<String, TensorRef> refs, List<String> ignored) {
        for (Map.Entry<?, ?> e : sd.entrySet()) {
            if (e.getValue() instanceof TensorRef t) {
                if (!(e.getKey() instanceof String name))
                    throw new CheckpointException(file, null, "state dict key " + Unpickler.describe(e.getKey()) + " is not a string");
                refs.put(name, t);
            } else {
                ignored.add(prefix + e.getKey());
            }
        }
    }

    /** The tensor view for one state dict entry, after checking its storage entry, extent and strides. */
    private static Tensor tensor(Path file, String key, TensorRef t, ZipIndex zip, String root, Arena arena,
                                 Map<String, MemorySegment> storages) {
        Storage s = t.storage();
        DType dt = s.type().dtype();
        if (dt == null)
            throw new CheckpointException(file, key, "unsupported dtype: storage type " + s.type().qualifiedName()
                    + " (supported: Float, Half, BFloat16, Double, Long, Int and Byte storages)");
        String entryName = root + "/data/" + s.key();
        MemorySegment storage = storages.get(s.key());
        if (storage == null) {
            ZipIndex.Entry entry = zip.get(entryName);
            if (entry == null)
                throw new CheckpointException(file, key, "storage '" + entryName + "' is missing from the zip (truncated or corrupt file?)");
            long need;
            try {
                need = Math.multiplyExact(s.numel(), (long) dt.bytes());
            } catch (ArithmeticException ex) {
                throw new CheckpointException(file, key, "storage '" + entryName + "' declares an impossible " + s.numel() + " elements");
            }
            if (entry.size() < need)
                throw new CheckpointException(file, key, "storage too small / truncated: '" + entryName + "' holds " + entry.size()
                        + " bytes but the pickle declares " + s.numel() + " " + dt + " elements (" + need + " bytes)");
            if (entry.size() != need)
                throw new CheckpointException(file, key, "storage '" + entryName + "' holds " + entry.size()
                        + " bytes but the pickle declares " + s.numel() + " " + dt + " elements (" + need + " bytes): corrupt file");
            storage = zip.data(entry, key, arena);
            storages.put(s.key(), storage);
        }

        long[] size = t.size(), stride = t.stride();
        Shape shape;
        long numel = 1;
        try {
            shape = Shape.of(size);
            for (long d : size) numel = Math.multiplyExact(numel, d);
        } catch (IllegalArgumentException | ArithmeticException ex) {
            throw new CheckpointException(file, key, "unsupported size " + Arrays.toString(size) + ": " + ex.getMessage());
        }
        if (numel > 0) {
            long expected = 1;
            for (int d = size.length - 1; d >= 0; d--) {
                if (size[d] != 1 && stride[d] != expected)
                    throw new CheckpointException(file, key, "non-contiguous tensor (size " + Arrays.toString(size) + ", stride "
                            + Arrays.toString(stride) + "): only row-major contiguous tensors are supported;"
                            + " save tensor.contiguous() instead");
                expected *= size[d];
            }
            if (t.offset() > s.numel() || numel > s.numel() - t.offset())
                throw new CheckpointException(file, key, "storage too small / truncated: elements [" + t.offset() + ", "
                        + (t.offset() + numel) + ") of a storage of " + s.numel() + " (" + entryName + ")");
        }
        long offset = numel == 0 ? 0 : t.offset();
        return Tensor.wrap(storage.asSlice(offset * dt.bytes(), numel * dt.bytes()), dt, shape);
    }

    /** The single {@code <root>/data.pkl} root, after ruling out TorchScript archives. */
    private static String findRoot(Path file, ZipIndex zip) {
        List<String> roots = new ArrayList<>();
        for (ZipIndex.Entry e : zip.entries()) {
            String n = e.name();
            int slash = n.indexOf('/');
            if (slash <= 0) continue;
            String rest = n.substring(slash + 1);
            if (rest.equals("constants.pkl") || rest.startsWith("code/"))
                throw new CheckpointException(file, null, "this is a TorchScript archive (torch.jit.save), not a torch.save"
                        + " checkpoint: in Python, save torch.jit.load(f).state_dict() with torch.save");
            if (rest.equals("data.pkl")) roots.add(n.substring(0, slash));
        }
        if (roots.isEmpty()) {
            List<String> some = zip.entries().stream().limit(5).map(ZipIndex.Entry::name).toList();
            throw new CheckpointException(file, null, "not a PyTorch checkpoint: a zip without a '<root>/data.pkl' entry ("
                    + zip.entries().size() + " entries" + (some.isEmpty() ? "" : ", e.g. " + some) + ")");
        }
        if (roots.size() > 1)
            throw new CheckpointException(file, null, "ambiguous PyTorch checkpoint: data.pkl under several roots " + roots);
        return roots.getFirst();
    }

    private static boolean holdsTensors(Map<?, ?> m) {
        for (Object v : m.values()) if (v instanceof TensorRef) return true;
        return false;
    }

    private static String keyList(Map<?, ?> m) {
        List<String> keys = new ArrayList<>();
        for (Object k : m.keySet()) {
            if (keys.size() == 20) { keys.add("... (" + m.size() + " in all)"); break; }
            keys.add(Unpickler.describe(k));
        }
        return keys.toString();
    }

    // ---- recognising the file ----------------------------------------------------------------------------

    private static boolean isZip(byte[] h) {
        return h.length >= 4 && h[0] == 'P' && h[1] == 'K' && ((h[2] == 3 && h[3] == 4) || (h[2] == 5 && h[3] == 6));
    }

    private static boolean isPickle(byte[] h) {
        return h.length >= 2 && (h[0] & 0xff) == 0x80 && h[1] >= 2 && h[1] <= 5;
    }

    private static boolean isTar(byte[] h) {
        return h.length >= 262 && new String(h, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
    }

    /** Whether these first bytes (up to 512) belong to something {@link #open} should report on: zip, pickle, tar. */
    static boolean looksLikeTorch(byte[] head) {
        return isZip(head) || isPickle(head) || isTar(head);
    }

    private static CheckpointException notZip(Path file, byte[] h) {
        if (h.length >= LEGACY_MAGIC.length && Arrays.equals(h, 0, LEGACY_MAGIC.length, LEGACY_MAGIC, 0, LEGACY_MAGIC.length))
            return new CheckpointException(file, null, LEGACY);
        if (isPickle(h))
            return new CheckpointException(file, null, "not a PyTorch zip checkpoint: a bare pickle stream without the torch.save"
                    + " magic number; if it comes from an old torch, " + LEGACY);
        if (isTar(h))
            return new CheckpointException(file, null, LEGACY + " (this is the tar format of torch < 0.4)");
        if (h.length > 8 && h[8] == '{')
            return new CheckpointException(file, null, "not a PyTorch checkpoint: this looks like a safetensors file"
                    + " (open it with SafeTensors.open or Checkpoints.open)");
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < Math.min(4, h.length); i++) hex.append(String.format("%02x ", h[i] & 0xff));
        return new CheckpointException(file, null, "not a PyTorch checkpoint: neither a zip nor a pickle (starts with bytes "
                + hex.toString().strip() + ")");
    }
}
