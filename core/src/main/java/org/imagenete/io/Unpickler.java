package org.imagenete.io;

import org.imagenete.tensor.DType;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A restricted unpickler for the {@code data.pkl} of a {@code torch.save} zip checkpoint.
 *
 * <p>It interprets the pickle opcodes (protocols 2 to 5) that state dicts use and <em>never</em> loads a
 * class, calls a function or instantiates anything: a GLOBAL opcode is looked up in a fixed whitelist
 * ({@code collections.OrderedDict}, the {@code torch._utils._rebuild_*} functions, {@code torch.Size} and
 * the {@code torch.*Storage} type names) and any other name stops the load at once, before a later
 * REDUCE could "call" it. The whitelisted callables are emulated here by building plain Java values:
 *
 * <ul>
 *   <li>None → {@code null}; bool → {@link Boolean}; int → {@link Long} ({@link BigInteger} if wider);
 *       float → {@link Double}; str → {@link String}; bytes → {@code byte[]};</li>
 *   <li>tuple → {@link Tuple}; list → {@link ArrayList}; dict and OrderedDict → {@link LinkedHashMap}
 *       (insertion order, as in Python);</li>
 *   <li>a storage persistent id → {@link Storage}; {@code _rebuild_tensor_v2} / {@code _rebuild_parameter}
 *       → {@link TensorRef} (nothing is checked against the zip here: the caller does that, knowing the
 *       state dict key to name in errors).</li>
 * </ul>
 */
final class Unpickler {
    /**
     * A Python tuple (items may be null). {@code depth} is its nesting (1 for a tuple of plain values), kept so that
     * deep nesting is refused when the tuple is made, before anything could recurse into it. Equality and hash are
     * the items' ({@link #key} only lets flat tuples of plain values into dicts, where these are used).
     */
    record Tuple(List<Object> items, int depth) implements Comparable<Tuple> {
        static final Tuple EMPTY = new Tuple(List.of(), 1);

        static Tuple of(List<Object> items) {
            int depth = 1;
            for (Object o : items) if (o instanceof Tuple t) depth = Math.max(depth, t.depth + 1);
            return new Tuple(Collections.unmodifiableList(items), depth);
        }

        static Tuple of(Object... items) { return of(Arrays.asList(items)); }

        int size() { return items.size(); }

        Object get(int i) { return items.get(i); }

        @Override public boolean equals(Object o) { return o instanceof Tuple t && items.equals(t.items); }

        @Override public int hashCode() { return items.hashCode(); }

        @Override public String toString() { return items.toString(); }

        /**
         * A total order on flat key tuples consistent with equals, so that a HashMap keeps colliding keys in a tree
         * (a crafted file cannot make insertion quadratic).
         */
        @Override public int compareTo(Tuple o) {
            int c = Integer.compare(size(), o.size());
            for (int i = 0; c == 0 && i < size(); i++) c = compareScalars(get(i), o.get(i));
            return c;
        }

        private static int compareScalars(Object a, Object b) {
            int c = Integer.compare(rank(a), rank(b));
            if (c != 0 || a == null) return c;
            return switch (a) {
                case Boolean x -> x.compareTo((Boolean) b);
                case Long x -> x.compareTo((Long) b);
                case BigInteger x -> x.compareTo((BigInteger) b);
                case Double x -> x.compareTo((Double) b);
                case String x -> x.compareTo((String) b);
                default -> throw new IllegalStateException("not a key item: " + a.getClass());   // key() lets none in
            };
        }

        private static int rank(Object o) {
            return switch (o) {
                case null -> 0;
                case Boolean b -> 1;
                case Long l -> 2;
                case BigInteger b -> 3;
                case Double d -> 4;
                case String s -> 5;
                default -> 6;
            };
        }
    }

    /** What a whitelisted global stands for. */
    enum Kind { ORDERED_DICT, TORCH_SIZE, REBUILD_TENSOR, REBUILD_TENSOR_V2, REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE, STORAGE_TYPE }

    /** A whitelisted global; {@code dtype} is set for storage types we can read (null for e.g. BoolStorage). */
    record Global(String module, String name, Kind kind, DType dtype) {
        String qualifiedName() { return module + "." + name; }
    }

    /** A tensor storage named by a persistent id: {@code ('storage', type, key, location, numel)}. */
    record Storage(String key, Global type, String location, long numel) {}

    /** A tensor rebuilt by {@code _rebuild_tensor(_v2)}: offset, size and stride in elements of the storage. */
    record TensorRef(Storage storage, long offset, long[] size, long[] stride, boolean parameter) {
        TensorRef asParameter() { return new TensorRef(storage, offset, size, stride, true); }
    }

    private static final Map<String, Global> WHITELIST = new HashMap<>();

    private static void allow(String module, String name, Kind kind, DType dtype) {
        WHITELIST.put(module + "\n" + name, new Global(module, name, kind, dtype));
    }

    static {
        allow("collections", "OrderedDict", Kind.ORDERED_DICT, null);
        allow("torch", "Size", Kind.TORCH_SIZE, null);
        allow("torch._utils", "_rebuild_tensor", Kind.REBUILD_TENSOR, null);
        allow("torch._utils", "_rebuild_tensor_v2", Kind.REBUILD_TENSOR_V2, null);
        allow("torch._utils", "_rebuild_parameter", Kind.REBUILD_PARAMETER, null);
        allow("torch._utils", "_rebuild_parameter_with_state", Kind.REBUILD_PARAMETER_WITH_STATE, null);
        // torch.save (1.6 up to 2.x) names a tensor's storage by these legacy typed-storage classes.
        allow("torch", "FloatStorage", Kind.STORAGE_TYPE, DType.F32);
        allow("torch", "HalfStorage", Kind.STORAGE_TYPE, DType.F16);
        allow("torch", "BFloat16Storage", Kind.STORAGE_TYPE, DType.BF16);
        allow("torch", "DoubleStorage", Kind.STORAGE_TYPE, DType.F64);
        allow("torch", "LongStorage", Kind.STORAGE_TYPE, DType.I64);
        allow("torch", "IntStorage", Kind.STORAGE_TYPE, DType.I32);
        allow("torch", "ByteStorage", Kind.STORAGE_TYPE, DType.U8);
        // Known storage types without a DType here: accepted as names (never called) so that the error is
        // "unsupported dtype" for the tensor concerned rather than a security refusal.
        for (String s : List.of("BoolStorage", "CharStorage", "ShortStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
                "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
                "Float8_e4m3fnStorage", "Float8_e5m2Storage", "UInt16Storage", "UInt32Storage", "UInt64Storage"))
            allow("torch", s, Kind.STORAGE_TYPE, null);
    }

    /** Names a refused global would have to have for a plain state dict; quoted in the refusal. */
    static final String ALLOWED_SUMMARY = "collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
            + "torch._utils._rebuild_parameter, torch.Size and torch.*Storage";

    /** Tuples nested deeper are refused (a state dict nests a few levels; nothing here recurses into values). */
    static final int MAX_DEPTH = 1000;
    /** Items of a tuple used as a dict key. */
    static final int MAX_KEY_ITEMS = 32;
    /** Work allowed per pickle byte (plus a fixed allowance): far above what any torch.save pickle needs. */
    private static final long WORK_PER_BYTE = 4, WORK_BASE = 1 << 20;

    private final Path file;
    private final String entry;
    private final byte[] data;
    private final long workBudget;
    private long work;
    private int pos;
    private final ArrayList<Object> stack = new ArrayList<>();
    private int[] marks = new int[16];
    private int markCount;
    private final Map<Long, Object> memo = new HashMap<>();
    private final Map<String, Storage> storages = new LinkedHashMap<>();

    private Unpickler(Path file, String entry, byte[] data) {
        this.file = file;
        this.entry = entry;
        this.data = data;
        this.workBudget = WORK_BASE + WORK_PER_BYTE * data.length;
    }

    /** Unpickles {@code data} (the zip entry {@code entry} of {@code file}) into plain values. */
    static Object load(Path file, String entry, byte[] data) {
        return new Unpickler(file, entry, data).run();
    }

    private Object run() {
        while (true) {
            if (pos >= data.length) throw corrupt("ends without a STOP opcode (truncated?)");
            int at = pos;
            int op = data[pos++] & 0xff;
            switch (op) {
                case 0x80 -> { // PROTO
                    int p = u8();
                    if (p < 2 || p > 5) throw corrupt("pickle protocol " + p + " is not supported (2 to 5 are)");
                }
                case 0x95 -> i64le(); // FRAME: a length hint; the framed opcodes follow inline
                case '.' -> { // STOP
                    Object result = pop();
                    if (!stack.isEmpty() || markCount != 0) throw corrupt("values left on the stack at STOP");
                    return result;
                }
                case '}' -> push(new LinkedHashMap<>()); // EMPTY_DICT
                case ']' -> push(new ArrayList<>()); // EMPTY_LIST
                case ')' -> push(Tuple.EMPTY); // EMPTY_TUPLE
                case '(' -> { // MARK
                    if (markCount == marks.length) marks = Arrays.copyOf(marks, markCount * 2);
                    marks[markCount++] = stack.size();
                }
                case 't' -> push(tuple(popMark())); // TUPLE
                case 0x85 -> push(tuple(Arrays.asList(pop()))); // TUPLE1
                case 0x86 -> { Object b = pop(), a = pop(); push(tuple(Arrays.asList(a, b))); } // TUPLE2
                case 0x87 -> { Object c = pop(), b = pop(), a = pop(); push(tuple(Arrays.asList(a, b, c))); } // TUPLE3
                case 'J' -> push((long) i32le()); // BININT
                case 'K' -> push((long) u8()); // BININT1
                case 'M' -> push((long) (u8() | u8() << 8)); // BININT2
                case 0x8a -> push(longN(u8())); // LONG1
                case 0x8b -> { // LONG4
                    int n = i32le();
                    if (n < 0) throw corrupt("negative LONG4 length");
                    push(longN(n));
                }
                case 'G' -> push(ByteBuffer.wrap(take(8)).order(ByteOrder.BIG_ENDIAN).getDouble()); // BINFLOAT
                case 'X' -> push(utf8(take(len32()))); // BINUNICODE
                case 0x8c -> push(utf8(take(u8()))); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(take(len64()))); // BINUNICODE8
                case 'T' -> push(new String(take(len32()), StandardCharsets.ISO_8859_1)); // BINSTRING (Python 2 str)
                case 'U' -> push(new String(take(u8()), StandardCharsets.ISO_8859_1)); // SHORT_BINSTRING
                case 'B' -> push(take(len32())); // BINBYTES
                case 'C' -> push(take(u8())); // SHORT_BINBYTES
                case 0x8e -> push(take(len64())); // BINBYTES8
                case 'N' -> push(null); // NONE
                case 0x88 -> push(Boolean.TRUE); // NEWTRUE
                case 0x89 -> push(Boolean.FALSE); // NEWFALSE
                case 'q' -> memo.put((long) u8(), top()); // BINPUT
                case 'r' -> memo.put(i32le() & 0xffffffffL, top()); // LONG_BINPUT
                case 0x94 -> memo.put((long) memo.size(), top()); // MEMOIZE
                case 'h' -> push(memoGet(u8())); // BINGET
                case 'j' -> push(memoGet(i32le() & 0xffffffffL)); // LONG_BINGET
                case '0' -> pop(); // POP
                case '1' -> popMark(); // POP_MARK
                case '2' -> push(top()); // DUP
                case 'c' -> { // GLOBAL
                    String module = line();
                    push(resolve(module, line()));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n))
                        throw corrupt("STACK_GLOBAL needs two strings");
                    push(resolve(m, n));
                }
                case 'R' -> { // REDUCE
                    Object args = pop(), callable = pop();
                    push(call(callable, args, "REDUCE"));
                }
                case 0x81 -> { // NEWOBJ: cls.__new__(cls, *args), only for the whitelisted containers
                    Object args = pop(), cls = pop();
                    if (!(cls instanceof Global g) || (g.kind() != Kind.ORDERED_DICT && g.kind() != Kind.TORCH_SIZE))
                        throw corrupt("NEWOBJ of " + describe(cls) + " is not supported");
                    push(call(cls, args, "NEWOBJ"));
                }
                case 'b' -> build(pop(), top()); // BUILD
                case 's' -> { // SETITEM
                    Object v = pop(), k = pop();
                    dict(top(), "SETITEM").put(key(k), v);
                }
                case 'u' -> { // SETITEMS
                    List<Object> kv = popMark();
                    work(kv.size());
                    if (kv.size() % 2 != 0) throw corrupt("SETITEMS with an odd number of values");
                    Map<Object, Object> d = dict(top(), "SETITEMS");
                    for (int i = 0; i < kv.size(); i += 2) d.put(key(kv.get(i)), kv.get(i + 1));
                }
                case 'a' -> { // APPEND
                    Object v = pop();
                    list(top(), "APPEND").add(v);
                }
                case 'e' -> { // APPENDS
                    List<Object> vs = popMark();
                    work(vs.size());
                    list(top(), "APPENDS").addAll(vs);
                }
                case 'Q' -> push(persistentLoad(pop())); // BINPERSID
                default -> throw new CheckpointException(file, null, entry + ": pickle opcode 0x" + Integer.toHexString(op)
                        + (op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : "") + " at byte " + at
                        + " is not supported by the restricted unpickler (a torch.save state dict never uses it)");
            }
        }
    }

    // ---- whitelisted globals -------------------------------------------------------------------------

    private Global resolve(String module, String name) {
        Global g = WHITELIST.get(module + "\n" + name);
        if (g == null)
            throw new CheckpointException(file, null, "refusing to load: the pickle references global '" + printable(module)
                    + "." + printable(name) + "', which a state dict never needs (only " + ALLOWED_SUMMARY + " are allowed;"
                    + " nothing was executed). If you trust the file, load it in Python and re-save the weights with"
                    + " torch.save(model.state_dict(), f) or safetensors.");
        return g;
    }

    private Object call(Object callable, Object argObj, String op) {
        if (!(callable instanceof Global g)) throw corrupt(op + " on " + describe(callable) + ", which is not callable");
        if (!(argObj instanceof Tuple args)) throw corrupt(op + " of " + g.qualifiedName() + " with non-tuple arguments");
        return switch (g.kind()) {
            case ORDERED_DICT -> {
                LinkedHashMap<Object, Object> d = new LinkedHashMap<>();
                if (args.size() == 1 && args.get(0) instanceof Map<?, ?> m) {
                    work(m.size());   // copying a memoised dict again and again would be quadratic
                    for (Map.Entry<?, ?> e : m.entrySet()) d.put(e.getKey(), e.getValue());
                } else if (args.size() == 1 && (args.get(0) instanceof List<?> || args.get(0) instanceof Tuple)) {
                    List<?> pairs = args.get(0) instanceof Tuple t ? t.items() : (List<?>) args.get(0);
                    work(pairs.size());
                    for (Object pair : pairs) {
                        List<?> kv = pair instanceof Tuple t ? t.items() : pair instanceof List<?> l ? l : null;
                        if (kv == null || kv.size() != 2) throw corrupt("OrderedDict() argument is not a list of pairs");
                        d.put(key(kv.get(0)), kv.get(1));
                    }
                } else if (args.size() != 0) {
                    throw corrupt("OrderedDict() with " + args.size() + " arguments");
                }
                yield d;
            }
            case TORCH_SIZE -> {
                if (args.size() == 0) yield Tuple.EMPTY;
                if (args.size() != 1) throw corrupt("torch.Size() with " + args.size() + " arguments");
                Object a = args.get(0);
                if (a instanceof Tuple t) yield t;
                if (a instanceof List<?> l) {
                    work(l.size());
                    yield tuple(new ArrayList<Object>(l));
                }
                throw corrupt("torch.Size() of " + describe(a));
            }
            case REBUILD_TENSOR, REBUILD_TENSOR_V2 -> {
                int min = g.kind() == Kind.REBUILD_TENSOR ? 4 : 6, max = g.kind() == Kind.REBUILD_TENSOR ? 4 : 7;
                if (args.size() < min || args.size() > max)
                    throw corrupt(g.qualifiedName() + " with " + args.size() + " arguments");
                if (!(args.get(0) instanceof Storage s)) throw corrupt(g.qualifiedName() + ": first argument is not a storage");
                if (!(args.get(1) instanceof Long offset) || offset < 0)
                    throw corrupt(g.qualifiedName() + ": bad storage offset " + describe(args.get(1)));
                long[] size = longs(args.get(2), g.qualifiedName() + " size");
                long[] stride = longs(args.get(3), g.qualifiedName() + " stride");
                if (size.length != stride.length)
                    throw corrupt(g.qualifiedName() + ": size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride)
                            + " differ in rank");
                // requires_grad, backward_hooks (an OrderedDict, empty in any saved state dict) and metadata are
                // autograd details with no effect on the values.
                yield new TensorRef(s, offset, size, stride, false);
            }
            case REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE -> {
                int n = g.kind() == Kind.REBUILD_PARAMETER ? 3 : 4;
                if (args.size() != n) throw corrupt(g.qualifiedName() + " with " + args.size() + " arguments");
                if (!(args.get(0) instanceof TensorRef t)) throw corrupt(g.qualifiedName() + ": first argument is not a tensor");
                // The optional state of _rebuild_parameter_with_state is Python attributes of the Parameter: ignored.
                yield t.asParameter();
            }
            case STORAGE_TYPE -> throw new CheckpointException(file, null, "refusing to load: the pickle calls '"
                    + g.qualifiedName() + "', which a state dict never does (storages come from persistent ids)");
        };
    }

    /** BUILD (setstate): only the attribute dicts torch attaches to an OrderedDict (its {@code _metadata}). */
    private void build(Object state, Object obj) {
        if (obj instanceof Map<?, ?>) {
            // OrderedDict.__reduce__ gives its instance __dict__ (state dicts carry _metadata there, the
            // per-module version numbers) or (dict, slots): attributes, not items, so nothing to keep.
            if (state == null || state instanceof Map<?, ?>
                    || state instanceof Tuple t && t.size() == 2 && (t.get(0) == null || t.get(0) instanceof Map<?, ?>)
                    && (t.get(1) == null || t.get(1) instanceof Map<?, ?>))
                return;
            throw corrupt("BUILD on a dict with state " + describe(state));
        }
        throw corrupt("BUILD on " + describe(obj) + " is not supported (a state dict only sets OrderedDict attributes)");
    }

    private Storage persistentLoad(Object pid) {
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0)))
            throw corrupt("persistent id " + describe(pid) + " is not ('storage', type, key, location, numel)");
        if (!(t.get(1) instanceof Global type) || type.kind() != Kind.STORAGE_TYPE)
            throw corrupt("persistent id names storage type " + describe(t.get(1)));
        if (!(t.get(2) instanceof String key) || key.isEmpty() || key.contains("/") || key.contains(".."))
            throw corrupt("persistent id has a bad storage key " + describe(t.get(2)));
        String location = t.get(3) instanceof String l ? l : String.valueOf(t.get(3));
        if (!(t.get(4) instanceof Long numel) || numel < 0)
            throw corrupt("persistent id of storage '" + key + "' has a bad element count " + describe(t.get(4)));
        Storage s = new Storage(key, type, location, numel);
        Storage seen = storages.putIfAbsent(key, s);
        if (seen == null) return s;
        if (!seen.type().equals(type) || seen.numel() != numel)
            throw corrupt("storage '" + key + "' is described twice, as " + seen.type().name() + "[" + seen.numel() + "] and "
                    + type.name() + "[" + numel + "]");
        return seen;
    }

    // ---- stack and value helpers ---------------------------------------------------------------------

    private void push(Object o) { stack.add(o); }

    private Object pop() {
        int floor = markCount == 0 ? 0 : marks[markCount - 1];
        if (stack.size() <= floor) throw corrupt("stack underflow");
        return stack.removeLast();
    }

    private Object top() {
        int floor = markCount == 0 ? 0 : marks[markCount - 1];
        if (stack.size() <= floor) throw corrupt("stack underflow");
        return stack.getLast();
    }

    private List<Object> popMark() {
        if (markCount == 0) throw corrupt("no MARK on the stack");
        int m = marks[--markCount];
        List<Object> sub = stack.subList(m, stack.size());
        List<Object> items = new ArrayList<>(sub);
        sub.clear();
        return items;
    }

    private Object memoGet(long i) {
        if (!memo.containsKey(i)) throw corrupt("memo entry " + i + " is read before it is written");
        return memo.get(i);
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o, String op) {
        if (o instanceof LinkedHashMap<?, ?> m) return (Map<Object, Object>) m;
        throw corrupt(op + " on " + describe(o) + ", not a dict");
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o, String op) {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw corrupt(op + " on " + describe(o) + ", not a list");
    }

    /**
     * A dict key: None, bool, int, float, str or bytes, or a tuple of at most {@link #MAX_KEY_ITEMS} such values
     * (bytes excepted). Python refuses mutable keys (a list that contains itself would hash forever); nested tuple keys
     * are refused here too: a state dict's keys are strings, and hashing or comparing tuples that share structure
     * through the memo (each level pairing the previous one twice) takes time exponential in their depth.
     */
    private Object key(Object k) {
        if (k instanceof Map<?, ?> || k instanceof List<?>) throw corrupt("unhashable dict key " + describe(k));
        if (k instanceof Tuple t) {
            if (t.size() > MAX_KEY_ITEMS)
                throw corrupt("dict key is " + describe(k) + " (a checkpoint's dict keys are strings or numbers; at most "
                        + MAX_KEY_ITEMS + " plain values in a tuple key are accepted)");
            work(t.size());
            for (Object item : t.items()) {
                if (item instanceof Tuple)
                    throw corrupt("dict key is a tuple nested " + t.depth() + " deep (a checkpoint's dict keys are strings or"
                            + " numbers; only tuples of plain values are accepted)");
                if (item instanceof Map<?, ?> || item instanceof List<?>)
                    throw corrupt("unhashable dict key " + describe(item) + " (inside a tuple key)");
                if (!isPlain(item)) throw corrupt("dict key " + describe(k) + " holds " + describe(item));
            }
        } else if (!isPlain(k) && !(k instanceof byte[])) {
            throw corrupt("dict key " + describe(k) + " is not a plain value");
        }
        return k;
    }

    private static boolean isPlain(Object o) {
        return o == null || o instanceof Boolean || o instanceof Long || o instanceof BigInteger || o instanceof Double
                || o instanceof String;
    }

    /** A tuple of {@code items}, refused when nested deeper than {@link #MAX_DEPTH}. */
    private Tuple tuple(List<Object> items) {
        work(items.size());
        Tuple t = Tuple.of(items);
        if (t.depth() > MAX_DEPTH)
            throw corrupt("tuples nested over " + MAX_DEPTH + " deep (a state dict nests a few levels)");
        return t;
    }

    /**
     * Counts {@code steps} of work (items copied, hashed or moved) against a budget proportional to the pickle's
     * size: whatever a crafted file asks for, loading stays linear in its size.
     */
    private void work(long steps) {
        work += steps;
        if (work > workBudget)
            throw new CheckpointException(file, null, "refusing to load: " + entry + " asks for over " + workBudget
                    + " steps of work for its " + data.length + " bytes (values copied again and again: a crafted file?)");
    }

    private long[] longs(Object o, String what) {
        if (!(o instanceof Tuple t)) throw corrupt(what + " is " + describe(o) + ", not a tuple");
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long v) || v < 0) throw corrupt(what + " holds " + describe(t.get(i)));
            out[i] = v;
        }
        return out;
    }

    private int u8() {
        need(1);
        return data[pos++] & 0xff;
    }

    private int i32le() {
        need(4);
        int v = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8 | (data[pos + 2] & 0xff) << 16 | (data[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private long i64le() {
        need(8);
        long v = ByteBuffer.wrap(data, pos, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        pos += 8;
        return v;
    }

    private int len32() {
        long n = i32le() & 0xffffffffL;
        if (n > data.length - pos) throw corrupt("a " + n + "-byte value runs past the end of the pickle (truncated?)");
        return (int) n;
    }

    private int len64() {
        long n = i64le();
        if (n < 0 || n > data.length - pos) throw corrupt("a " + n + "-byte value runs past the end of the pickle (truncated?)");
        return (int) n;
    }

    private void need(long n) {
        if (n > data.length - pos) throw corrupt("ends in the middle of an opcode (truncated?)");
    }

    private byte[] take(int n) {
        need(n);
        byte[] b = Arrays.copyOfRange(data, pos, pos + n);
        pos += n;
        return b;
    }

    /** Two's complement little-endian integer of n bytes (LONG1 / LONG4). */
    private Object longN(int n) {
        if (n > 1 << 16) throw corrupt("a " + n + "-byte integer is not plausible");
        byte[] le = take(n);
        if (n == 0) return 0L;
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) be[i] = le[n - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private String line() {
        int start = pos;
        while (pos < data.length && data[pos] != '\n') pos++;
        if (pos >= data.length) throw corrupt("GLOBAL name runs past the end of the pickle (truncated?)");
        String s = new String(data, start, pos - start, StandardCharsets.UTF_8);
        pos++;
        return s;
    }

    private String utf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            // Python writes surrogates with 'surrogatepass'; keep the text readable rather than fail.
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    private CheckpointException corrupt(String message) {
        return new CheckpointException(file, null, "corrupt " + entry + " (pickle byte " + pos + "): " + message);
    }

    /** A short description of a value for error messages (never its full contents). */
    static String describe(Object o) {
        if (o == null) return "None";
        if (o instanceof String s) return "'" + printable(s.length() > 60 ? s.substring(0, 60) + "..." : s) + "'";
        if (o instanceof Long || o instanceof BigInteger || o instanceof Double || o instanceof Boolean) return o.toString();
        if (o instanceof Global g) return printable(g.qualifiedName());
        if (o instanceof Tuple t) return "a tuple of " + t.size();
        if (o instanceof List<?> l) return "a list of " + l.size();
        if (o instanceof Map<?, ?> m) return "a dict of " + m.size();
        if (o instanceof byte[] b) return b.length + " bytes";
        if (o instanceof Storage s) return "storage '" + s.key() + "'";
        if (o instanceof TensorRef) return "a tensor";
        return o.getClass().getSimpleName();
    }

    /** Control characters escaped, length capped: names from a hostile file go into messages. */
    static String printable(String s) {
        String e = Printable.escape(s);
        return e.length() > 120 ? e.substring(0, 120) + "..." : e;
    }
}
