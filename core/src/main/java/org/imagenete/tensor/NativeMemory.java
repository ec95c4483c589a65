package org.imagenete.tensor;

import java.lang.foreign.Arena;
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
 * Uninitialised, 64-byte aligned native memory, freed explicitly. Arena allocation would zero every buffer, which
 * costs a full memory pass per activation; every op writes all of its output, so the zeroing buys nothing. Live
 * and peak byte counts are kept for memory reports.
 * <p>
 * Small buffers come from libc (posix_memalign). Large ones (>= 2 MiB, the activations) are private anonymous
 * mappings of their own, 2 MiB aligned and advised as transparent huge pages, so that releasing one always
 * returns its pages to the system (libc keeps freed chunks below its mmap threshold, up to 32 MiB, in its heap).
 * Freed large buffers are kept in a pool: a model reallocates the same shapes every pass, and fresh pages from
 * the kernel cost a page fault and a zeroing each (~20 ms per 64 MB activation). A request takes the smallest
 * pooled buffer that holds it, if at most twice its size. On a miss, pooled buffers are released (those smaller than
 * the request first, largest first) until in-use + pooled + the request stays within 1/8 over the highest in-use
 * so far: the footprint stays near the peak of live memory instead of growing by buffers of sizes that are not
 * asked for again soon (a UNet's low-resolution buffers while the full-resolution ones are in use). ADM-256
 * forward: 0.55 GiB pooled for a 0.44 GiB live peak, against 0.87 GiB without the bound, at the same speed. The
 * pool holds at most {@code -Dimagenete.pool.mib} (default 4096) MiB; {@link #trim()} returns it to the system.
 */
public final class NativeMemory {
    public static final long ALIGNMENT = 64;
    private static final long LARGE = 2L << 20;
    private static final long PAGE = 4096;
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MADV_HUGEPAGE = 14;
    private static final long POOL_CAP = Long.getLong("imagenete.pool.mib", 4096) << 20;

    private static final MethodHandle POSIX_MEMALIGN, FREE, MMAP, MUNMAP, MADVISE;
    private static final AtomicLong LIVE = new AtomicLong();
    private static final AtomicLong PEAK = new AtomicLong();
    /** Free large buffers by capacity. Guarded by itself, with CAPACITY and pooled. */
    private static final TreeMap<Long, ArrayDeque<MemorySegment>> POOL = new TreeMap<>();
    /** Capacity of every large buffer handed out, by address (a pooled buffer may serve a smaller request). */
    private static final Map<Long, Long> CAPACITY = new HashMap<>();
    private static long pooled;
    /** Capacity of the large buffers handed out now, and its highest value so far. */
    private static long inUse, peakInUse;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        // posix_memalign rather than aligned_alloc: no size-is-a-multiple-of-the-alignment rule
        POSIX_MEMALIGN = linker.downcallHandle(libc.find("posix_memalign").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = linker.downcallHandle(libc.find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        MMAP = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        MUNMAP = linker.downcallHandle(libc.find("munmap").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        MADVISE = linker.downcallHandle(libc.find("madvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    }

    /** Test aid: when set, new allocations are filled with 0xFF bytes (NaN floats), so that an op which
     *  leaves an output element unwritten is caught instead of reading stale values. */
    private static volatile boolean poison;

    private NativeMemory() {}

    public static void setPoison(boolean on) { poison = on; }

    /** Sizes are kept to 64-byte multiples. */
    private static long rounded(long bytes) {
        return Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
    }

    /** Allocates {@code bytes} (rounded up to the alignment); never returns a null segment. */
    public static MemorySegment allocate(long bytes) {
        long size = rounded(bytes);
        boolean large = size >= LARGE;
        MemorySegment p = null;
        long capacity = size;
        if (large) {
            synchronized (POOL) {
                Map.Entry<Long, ArrayDeque<MemorySegment>> e = POOL.ceilingEntry(size);
                if (e != null && e.getKey() <= 2 * size) {
                    p = take(e);
                    capacity = e.getKey();
                } else {
                    long peak = Math.max(peakInUse, inUse + size);
                    releaseOver(peak + peak / 8 - inUse - size, size);
                }
            }
        }
        if (p == null) {
            p = large ? map(size) : memalign(size);
            if (p == null) {
                trim();
                p = large ? map(size) : memalign(size);
                if (p == null) throw new OutOfMemoryError("native allocation of " + bytes + " bytes failed");
            }
        }
        if (large) {
            synchronized (POOL) {
                CAPACITY.put(p.address(), capacity);
                inUse += capacity;
                peakInUse = Math.max(peakInUse, inUse);
            }
        }
        long live = LIVE.addAndGet(size);
        PEAK.accumulateAndGet(live, Math::max);
        MemorySegment seg = p.reinterpret(bytes);
        if (poison) seg.fill((byte) 0xff);
        return seg;
    }

    public static void free(MemorySegment segment) {
        long size = rounded(segment.byteSize());
        LIVE.addAndGet(-size);
        if (size < LARGE) {
            try {
                FREE.invokeExact(segment);
            } catch (Throwable t) {
                throw new IllegalStateException("free failed", t);
            }
            return;
        }
        long capacity;
        synchronized (POOL) {
            Long cap = CAPACITY.remove(segment.address());
            if (cap == null) throw new IllegalStateException("free of an unknown buffer at 0x" + Long.toHexString(segment.address()));
            capacity = cap;
            inUse -= capacity;
            if (pooled + capacity <= POOL_CAP) {
                POOL.computeIfAbsent(capacity, k -> new ArrayDeque<>()).push(MemorySegment.ofAddress(segment.address()));
                pooled += capacity;
                return;
            }
        }
        unmap(segment.address(), pages(capacity));
    }

    /**
     * Memory for the life of a model (its weights): a mapping of its own, outside the pool and its bound (which follows
     * the peak of the short-lived buffers in use: counting weights there would let the pool keep more). Pages are
     * zero-filled by the kernel as they are first written. Free it with {@link #freeLongLived}.
     */
    public static MemorySegment allocateLongLived(long bytes) {
        long size = rounded(bytes);
        MemorySegment p = map(size);
        if (p == null) {
            trim();
            p = map(size);
            if (p == null) throw new OutOfMemoryError("native allocation of " + bytes + " bytes failed");
        }
        long live = LIVE.addAndGet(size);
        PEAK.accumulateAndGet(live, Math::max);
        return p.reinterpret(bytes);
    }

    public static void freeLongLived(MemorySegment segment) {
        long size = rounded(segment.byteSize());
        LIVE.addAndGet(-size);
        unmap(segment.address(), pages(size));
    }

    /** Returns every pooled buffer to the system. */
    public static void trim() {
        synchronized (POOL) {
            while (!POOL.isEmpty()) {
                Map.Entry<Long, ArrayDeque<MemorySegment>> e = POOL.firstEntry();
                unmap(take(e).address(), pages(e.getKey()));
            }
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

    /** Capacity of the large buffers in use now, and the highest so far (what the pool's bound refers to). */
    static long largeInUse() {
        synchronized (POOL) {
            return inUse;
        }
    }

    static long largePeakInUse() {
        synchronized (POOL) {
            return peakInUse;
        }
    }

    /** Highest {@link #liveBytes()} seen since start or the last {@link #resetPeak()}. */
    public static long peakBytes() { return PEAK.get(); }

    public static void resetPeak() { PEAK.set(LIVE.get()); }

    /** Removes one buffer of the entry's capacity from the pool (caller holds the POOL lock). */
    private static MemorySegment take(Map.Entry<Long, ArrayDeque<MemorySegment>> e) {
        MemorySegment p = e.getValue().pop();
        if (e.getValue().isEmpty()) POOL.remove(e.getKey());
        pooled -= e.getKey();
        return p;
    }

    /** On a miss for {@code size}: releases pooled buffers until at most {@code budget} bytes stay pooled; first those
     *  smaller than the request (largest first), then the largest (caller holds the POOL lock). */
    private static void releaseOver(long budget, long size) {
        while (pooled > budget && !POOL.isEmpty()) {
            Map.Entry<Long, ArrayDeque<MemorySegment>> e = POOL.lowerEntry(size);
            if (e == null) e = POOL.lastEntry();
            unmap(take(e).address(), pages(e.getKey()));
        }
    }

    private static MemorySegment memalign(long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            int rc = (int) POSIX_MEMALIGN.invokeExact(out, ALIGNMENT, size);
            return rc == 0 ? out.get(ValueLayout.ADDRESS, 0) : null;
        } catch (Throwable t) {
            throw new IllegalStateException("posix_memalign failed", t);
        }
    }

    private static long pages(long size) { return (size + PAGE - 1) / PAGE * PAGE; }

    /** A 2 MiB aligned mapping of {@code size} bytes (over-mapped by 2 MiB, the unaligned ends unmapped), advised
     *  as transparent huge pages; null when the kernel refuses. */
    private static MemorySegment map(long size) {
        long len = pages(size);
        long base;
        try {
            base = ((MemorySegment) MMAP.invokeExact(MemorySegment.NULL, len + LARGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L)).address();
        } catch (Throwable t) {
            throw new IllegalStateException("mmap failed", t);
        }
        if (base == -1L) return null;   // MAP_FAILED
        long aligned = (base + LARGE - 1) & -LARGE;
        if (aligned > base) unmap(base, aligned - base);
        long end = base + len + LARGE;
        if (end > aligned + len) unmap(aligned + len, end - aligned - len);
        MemorySegment p = MemorySegment.ofAddress(aligned);
        try {
            int ignored = (int) MADVISE.invokeExact(p, len, MADV_HUGEPAGE);   // best effort: no huge pages is fine
        } catch (Throwable t) {
            throw new IllegalStateException("madvise failed", t);
        }
        return p;
    }

    private static void unmap(long address, long len) {
        int rc;
        try {
            rc = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), len);
        } catch (Throwable t) {
            throw new IllegalStateException("munmap failed", t);
        }
        if (rc != 0) throw new IllegalStateException("munmap of " + len + " bytes at 0x" + Long.toHexString(address) + " failed");
    }
}
