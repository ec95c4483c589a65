package org.imagenete.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;

/**
 * A dense row-major tensor over off-heap memory. Owning tensors free their memory on {@link #close()};
 * views (of a memory-mapped checkpoint, or a reshape or batch slice of another tensor) never free.
 * Compute happens in F32; F16 and BF16 are storage formats converted with {@link #toF32()}.
 *
 * <p>A backend may attach a {@link Mirror}, a copy of the contents in device memory, shared by the tensor and
 * its {@link #view}s. While the mirror is the only up-to-date copy, the first host access downloads it. A read
 * ({@link #read()}, and every getter and copy here) keeps the mirror: both copies are then equal, and the tensor
 * stays where the backend put it. {@link #data()} is write access: it drops the mirror, because the caller may
 * change the host memory. So host code never needs to know where a tensor lives, and reading never moves it.
 */
public final class Tensor implements AutoCloseable {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED;
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;

    private final Shape shape;
    private final DType dtype;
    private final MemorySegment data;
    private final boolean owned;
    /** Mirror state, shared with views made by {@link #view}; released when the tensor that created it closes. */
    private final Residence residence;
    private final boolean isView;
    private boolean closed;

    /**
     * A copy of a tensor's contents held elsewhere (device memory). {@link #close()} may be called from a
     * {@link Cleaner} thread when the tensor became unreachable without being closed.
     */
    public interface Mirror {
        /** Copies the contents into {@code host} (all of it), synchronously. */
        void download(MemorySegment host);

        /** Releases the mirrored memory. */
        void close();
    }

    private static final class Residence {
        Mirror mirror;
        /** The mirror is newer than the host memory. */
        boolean hostStale;
        Cleaner.Cleanable cleanable;

        void release() {
            Cleaner.Cleanable c = cleanable;
            mirror = null;
            hostStale = false;
            cleanable = null;
            if (c != null) c.clean();   // closes the mirror once
        }
    }

    private static final class Cleaning {
        static final Cleaner CLEANER = Cleaner.create();
    }

    private Tensor(Shape shape, DType dtype, MemorySegment data, boolean owned) {
        this(shape, dtype, data, owned, new Residence(), false);
    }

    private Tensor(Shape shape, DType dtype, MemorySegment data, boolean owned, Residence residence, boolean isView) {
        long need = shape.numel() * dtype.bytes();
        if (data.byteSize() < need)
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is too small for "
                    + dtype + shape + " (" + need + " bytes)");
        this.shape = shape;
        this.dtype = dtype;
        this.data = data.byteSize() == need ? data : data.asSlice(0, need);
        this.owned = owned;
        this.residence = residence;
        this.isView = isView;
    }

    /** New owning tensor with uninitialised contents. */
    public static Tensor allocate(DType dtype, Shape shape) {
        return new Tensor(shape, dtype, NativeMemory.allocate(shape.numel() * dtype.bytes()), true);
    }

    public static Tensor allocate(DType dtype, int... dims) { return allocate(dtype, Shape.of(dims)); }

    public static Tensor zeros(DType dtype, int... dims) {
        Tensor t = allocate(dtype, dims);
        t.data.fill((byte) 0);
        return t;
    }

    /** New owning F32 tensor holding a copy of {@code values}. */
    public static Tensor of(float[] values, int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != values.length)
            throw new IllegalArgumentException(values.length + " values do not fill shape " + s);
        Tensor t = allocate(DType.F32, s);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    /** Non-owning tensor over existing memory (a mapped file, a slice of another buffer). */
    public static Tensor wrap(MemorySegment data, DType dtype, Shape shape) {
        return new Tensor(shape, dtype, data, false);
    }

    public Shape shape() { return shape; }

    public int dim(int i) { return shape.dim(i); }

    public int rank() { return shape.rank(); }

    public long numel() { return shape.numel(); }

    public DType dtype() { return dtype; }

    public long byteSize() { return data.byteSize(); }

    /**
     * The contents for reading: a read-only view of the host memory, valid until {@link #close()} of the tensor that
     * owns it. Downloads a newer mirror first and keeps it (the tensor stays on the device).
     */
    public MemorySegment read() {
        checkOpen();
        Residence r = residence;
        if (r.mirror != null && r.hostStale) {
            r.mirror.download(data);
            r.hostStale = false;
        }
        return data.asReadOnly();
    }

    /**
     * The memory for writing (and reading); only valid until {@link #close()} of the tensor that owns it. Downloads a
     * newer mirror first, then drops it: the host copy becomes the only one.
     */
    public MemorySegment data() {
        checkOpen();
        Residence r = residence;
        if (r.mirror != null) {
            try {
                if (r.hostStale) r.mirror.download(data);
            } finally {
                r.release();
            }
        }
        return data;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("tensor " + dtype + shape + " used after close");
    }

    /** The attached mirror, or null; does not download. */
    public Mirror mirror() {
        checkOpen();
        return residence.mirror;
    }

    /**
     * Attaches {@code m} (replacing and closing another mirror). {@code hostStale}: the mirror holds the only
     * up-to-date contents (a backend's output), else host memory and mirror are equal (a cached upload). The
     * mirror is closed when the tensor that created this storage closes, or becomes unreachable.
     */
    public void attachMirror(Mirror m, boolean hostStale) {
        checkOpen();
        Residence r = residence;
        if (r.mirror != null && r.mirror != m) r.release();
        if (r.mirror == null) r.cleanable = Cleaning.CLEANER.register(r, m::close);
        r.mirror = m;
        r.hostStale = hostStale;
    }

    public boolean isOwner() { return owned; }

    /** A view with another shape of the same number of elements; shares (and never frees) the memory. */
    public Tensor view(int... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != shape.numel()) throw new IllegalArgumentException("cannot view " + shape + " as " + s);
        checkOpen();
        return new Tensor(s, dtype, data, false, residence, true);   // shares the mirror: no download
    }

    /** A view of {@code count} entries of the first dimension starting at {@code start}. */
    public Tensor slice0(int start, int count) {
        if (start < 0 || count < 0 || start + count > shape.dim(0))
            throw new IndexOutOfBoundsException("slice [" + start + ", " + (start + count) + ") of " + shape);
        int[] d = shape.dims();
        long inner = shape.numel() / Math.max(1, d[0]);
        d[0] = count;
        long bytes = inner * dtype.bytes();
        return new Tensor(Shape.of(d), dtype, data().asSlice(start * bytes, count * bytes), false);
    }

    public float getFloat(long i) {
        MemorySegment d = read();
        return switch (dtype) {
            case F32 -> d.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(d.getAtIndex(I16, i));
            case BF16 -> Float.intBitsToFloat((d.getAtIndex(I16, i) & 0xffff) << 16);
            case F64 -> (float) d.getAtIndex(F64, i);
            case I64 -> d.getAtIndex(I64, i);
            case I32 -> d.getAtIndex(I32, i);
            case U8 -> d.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        };
    }

    public double getDouble(long i) {
        return dtype == DType.F64 ? read().getAtIndex(F64, i) : dtype == DType.I64 ? read().getAtIndex(I64, i) : getFloat(i);
    }

    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> read().getAtIndex(I64, i);
            case I32 -> read().getAtIndex(I32, i);
            case U8 -> read().get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> throw new IllegalStateException("getLong on " + dtype + " tensor");
        };
    }

    public void setFloat(long i, float v) {
        MemorySegment d = data();
        switch (dtype) {
            case F32 -> d.setAtIndex(F32, i, v);
            case F16 -> d.setAtIndex(I16, i, Float.floatToFloat16(v));
            case BF16 -> d.setAtIndex(I16, i, floatToBf16(v));
            case F64 -> d.setAtIndex(F64, i, v);
            default -> throw new IllegalStateException("setFloat on " + dtype + " tensor");
        }
    }

    /** Round-to-nearest-even conversion to bfloat16 bits; NaN stays NaN. */
    public static short floatToBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** All elements as floats (copy). */
    public float[] toFloatArray() {
        long n = numel();
        if (n > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large for a Java array: " + shape);
        float[] out = new float[(int) n];
        if (dtype == DType.F32) {
            MemorySegment.copy(read(), F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = getFloat(i);
        }
        return out;
    }

    public double[] toDoubleArray() {
        double[] out = new double[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) out[i] = getDouble(i);
        return out;
    }

    /** A new owning F32 copy of this tensor (converting F16, BF16, F64). */
    public Tensor toF32() {
        Tensor out = allocate(DType.F32, shape);
        if (dtype == DType.F32) {
            MemorySegment.copy(read(), 0, out.data, 0, data.byteSize());
        } else {
            long n = numel();
            for (long i = 0; i < n; i++) out.data.setAtIndex(F32, i, getFloat(i));
        }
        return out;
    }

    /** A new owning copy with the same dtype. */
    public Tensor copy() {
        Tensor out = allocate(dtype, shape);
        MemorySegment.copy(read(), 0, out.data, 0, data.byteSize());
        return out;
    }

    /** A new owning tensor of {@code to} with converted values (F32, F16, BF16, F64). */
    public Tensor convert(DType to) {
        if (to == dtype) return copy();
        if (!to.isFloating() || !dtype.isFloating()) throw new IllegalArgumentException("convert " + dtype + " -> " + to);
        Tensor out = allocate(to, shape);
        long n = numel();
        if (dtype == DType.F32 && to == DType.BF16) {   // loading a model for bf16: hundreds of millions of weights
            MemorySegment src = data(), dst = out.data;
            for (long i = 0; i < n; i++) dst.setAtIndex(I16, i, floatToBf16(src.getAtIndex(F32, i)));
            return out;
        }
        for (long i = 0; i < n; i++) out.setFloat(i, getFloat(i));
        return out;
    }

    public boolean isClosed() { return closed; }

    @Override public void close() {
        if (closed) return;
        closed = true;
        if (!isView) residence.release();
        if (owned) NativeMemory.free(data);
    }

    @Override public String toString() { return "Tensor" + dtype + shape + (owned ? "" : " view"); }
}
