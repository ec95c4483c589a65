package org.imagenete.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Uninitialised, 64-byte aligned native memory from libc, freed explicitly. Arena allocation would zero
 * every buffer, which costs a full memory pass per activation; every op writes all of its output, so the
 * zeroing buys nothing. Live and peak byte counts are kept for memory reports.
 */
public final class NativeMemory {
    private static final MethodHandle ALIGNED_ALLOC;
    private static final MethodHandle FREE;
    private static final AtomicLong LIVE = new AtomicLong();
    private static final AtomicLong PEAK = new AtomicLong();

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        ALIGNED_ALLOC = linker.downcallHandle(libc.find("aligned_alloc").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = linker.downcallHandle(libc.find("free").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
    }

    /** Test aid: when set, new allocations are filled with 0xFF bytes (NaN floats), so that an op which
     *  leaves an output element unwritten is caught instead of reading stale values. */
    private static volatile boolean poison;

    private NativeMemory() {}

    public static void setPoison(boolean on) { poison = on; }

    public static final long ALIGNMENT = 64;

    /** Allocates {@code bytes} (rounded up to the alignment); never returns a null segment. */
    public static MemorySegment allocate(long bytes) {
        long size = Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
        MemorySegment p;
        try {
            p = (MemorySegment) ALIGNED_ALLOC.invokeExact(ALIGNMENT, size);
        } catch (Throwable t) {
            throw new IllegalStateException("aligned_alloc failed", t);
        }
        if (p.address() == 0) throw new OutOfMemoryError("native allocation of " + bytes + " bytes failed");
        long live = LIVE.addAndGet(size);
        PEAK.accumulateAndGet(live, Math::max);
        MemorySegment seg = p.reinterpret(bytes);
        if (poison) seg.fill((byte) 0xff);
        return seg;
    }

    public static void free(MemorySegment segment) {
        long size = Math.max(ALIGNMENT, (segment.byteSize() + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
        try {
            FREE.invokeExact(segment);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
        LIVE.addAndGet(-size);
    }

    /** Bytes of tensor memory currently allocated. */
    public static long liveBytes() { return LIVE.get(); }

    /** Highest {@link #liveBytes()} seen since start or the last {@link #resetPeak()}. */
    public static long peakBytes() { return PEAK.get(); }

    public static void resetPeak() { PEAK.set(LIVE.get()); }
}
