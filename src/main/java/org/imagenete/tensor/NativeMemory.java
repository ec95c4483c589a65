package org.imagenete.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Uninitialised, 64-byte aligned native memory from libc (posix_memalign), freed explicitly. Arena allocation would zero
 * every buffer, which costs a full memory pass per activation; every op writes all of its output, so the
 * zeroing buys nothing. Live and peak byte counts are kept for memory reports.
 * <p>
 * Large buffers (>= 2 MiB, the activations) are 2 MiB aligned and advised as transparent huge pages, and kept
 * in a pool when freed: a model reallocates the same shapes every pass, and fresh pages from the kernel cost a
 * page fault and a zeroing each (~20 ms per 64 MB activation). A request takes the smallest pooled buffer that
 * holds it, if at most twice its size, so the pool stays near the peak of live memory. The pool holds at most
 * {@code -Dimagenete.pool.mib} (default 4096) MiB; {@link #trim()} returns it to the system.
 */
public final class NativeMemory {
    private static final MethodHandle POSIX_MEMALIGN;
    private static final MethodHandle FREE;
    private static final MethodHandle MADVISE;
    private static final AtomicLong LIVE = new AtomicLong();
    private static final AtomicLong PEAK = new AtomicLong();
    private static final long LARGE = 2L << 20;
    private static final int MADV_HUGEPAGE = 14;
    private static final long POOL_CAP = Long.getLong("imagenete.pool.mib", 4096) << 20;
    /** Free large buffers by capacity; a request takes the smallest that fits within 2x its size. */
    private static final TreeMap<Long, ArrayDeque<MemorySegment>> POOL = new TreeMap<>();
    /** Capacity of every large buffer handed out, by address (a pooled buffer may serve a smaller request). */
    private static final Map<Long, Long> CAPACITY = new HashMap<>();
    private static long pooled;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        // posix_memalign rather than aligned_alloc: no size-is-a-multiple-of-the-alignment rule
        POSIX_MEMALIGN = linker.downcallHandle(libc.find("posix_memalign").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = linker.downcallHandle(libc.find("free").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        MADVISE = libc.find("madvise").map(a -> linker.downcallHandle(a,
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
    }

    /** Test aid: when set, new allocations are filled with 0xFF bytes (NaN floats), so that an op which
     *  leaves an output element unwritten is caught instead of reading stale values. */
    private static volatile boolean poison;

    private NativeMemory() {}

    public static void setPoison(boolean on) { poison = on; }

    public static final long ALIGNMENT = 64;

    /** Sizes are kept to 64-byte multiples (large buffers are 2 MiB aligned, not rounded to 2 MiB: weights are). */
    private static long rounded(long bytes) {
        return Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
    }

    /** Allocates {@code bytes} (rounded up to the alignment); never returns a null segment. */
    public static MemorySegment allocate(long bytes) {
        long size = rounded(bytes);
        MemorySegment p = null;
        long capacity = size;
        if (size >= LARGE) {
            synchronized (POOL) {
                Map.Entry<Long, ArrayDeque<MemorySegment>> e = POOL.ceilingEntry(size);
                if (e != null && e.getKey() <= 2 * size) {
                    p = e.getValue().pop();
                    if (e.getValue().isEmpty()) POOL.remove(e.getKey());
                    capacity = e.getKey();
                    pooled -= capacity;
                }
            }
        }
        if (p == null) {
            p = memalign(size >= LARGE ? LARGE : ALIGNMENT, size);
            if (p == null) {
                trim();
                p = memalign(size >= LARGE ? LARGE : ALIGNMENT, size);
                if (p == null) throw new OutOfMemoryError("native allocation of " + bytes + " bytes failed");
            }
            if (size >= LARGE && MADVISE != null) {
                try {
                    int ignored = (int) MADVISE.invokeExact(p, size, MADV_HUGEPAGE);   // best effort
                } catch (Throwable t) {
                    // no huge pages: fine
                }
            }
        }
        if (size >= LARGE) {
            synchronized (POOL) {
                CAPACITY.put(p.address(), capacity);
            }
        }
        long live = LIVE.addAndGet(size);
        PEAK.accumulateAndGet(live, Math::max);
        MemorySegment seg = p.reinterpret(bytes);
        if (poison) seg.fill((byte) 0xff);
        return seg;
    }

    private static MemorySegment memalign(long alignment, long size) {
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            int rc = (int) POSIX_MEMALIGN.invokeExact(out, alignment, size);
            return rc == 0 ? out.get(ValueLayout.ADDRESS, 0) : null;
        } catch (Throwable t) {
            throw new IllegalStateException("posix_memalign failed", t);
        }
    }

    public static void free(MemorySegment segment) {
        long size = rounded(segment.byteSize());
        LIVE.addAndGet(-size);
        if (size >= LARGE) {
            synchronized (POOL) {
                Long cap = CAPACITY.remove(segment.address());
                long capacity = cap == null ? size : cap;
                if (pooled + capacity <= POOL_CAP) {
                    POOL.computeIfAbsent(capacity, k -> new ArrayDeque<>()).push(MemorySegment.ofAddress(segment.address()));
                    pooled += capacity;
                    return;
                }
            }
        }
        release(segment);
    }

    private static void release(MemorySegment segment) {
        try {
            FREE.invokeExact(segment);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
    }

    /** Returns every pooled buffer to the system. */
    public static void trim() {
        synchronized (POOL) {
            for (ArrayDeque<MemorySegment> q : POOL.values()) for (MemorySegment s : q) release(s);
            POOL.clear();
            pooled = 0;
        }
    }

    /** Bytes of tensor memory currently allocated (in use; pooled buffers not counted). */
    public static long liveBytes() { return LIVE.get(); }

    /** Bytes held in the pool of freed large buffers. */
    public static long pooledBytes() {
        synchronized (POOL) {
            return pooled;
        }
    }

    /** Highest {@link #liveBytes()} seen since start or the last {@link #resetPeak()}. */
    public static long peakBytes() { return PEAK.get(); }

    public static void resetPeak() { PEAK.set(LIVE.get()); }
}
