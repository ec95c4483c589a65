package org.imagenete.device;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A caching allocator over {@link Device#malloc}: freed blocks are kept per rounded size and handed out again,
 * because cuMemAlloc/cuMemFree cost tens of microseconds and may synchronise, and a model allocates the same
 * sizes step after step. Blocks round up to 512 bytes below 1 MiB and to 2 MiB above. Freeing is bookkeeping only
 * (thread-safe, no device call), so a {@link java.lang.ref.Cleaner} may free; reuse is safe because all work is
 * ordered on the device's one stream: a kernel that still reads a freed block runs before any later writer.
 *
 * <p>Graph pools: everything allocated or freed while a {@link Pool} is open (a graph capture) belongs to that
 * pool until it closes, because a captured graph may touch those blocks on every replay; other allocations never
 * reuse them meanwhile.
 */
public final class DeviceAllocator implements AutoCloseable {
    private static final long SMALL = 1L << 20, SMALL_STEP = 512, LARGE_STEP = 2L << 20;

    private final Device device;
    /** Rounded size of every block this allocator handed out and has not returned to the device. */
    private final Map<Long, Long> sizes = new HashMap<>();
    private final Map<Long, ArrayDeque<Long>> cache = new HashMap<>();
    private final Map<Long, Pool> poolOf = new HashMap<>();
    private Pool open;
    private boolean poison, closed;
    private long live, cached, peak, deviceBytes;

    public DeviceAllocator(Device device) { this.device = device; }

    public Device device() { return device; }

    /** Test aid: fill every new block with 0xFF bytes (NaN floats) so that unwritten outputs fail comparisons. */
    public synchronized void setPoison(boolean on) { poison = on; }

    public synchronized boolean poison() { return poison; }

    static long round(long bytes) {
        long b = Math.max(bytes, 1);
        return b < SMALL ? (b + SMALL_STEP - 1) / SMALL_STEP * SMALL_STEP : (b + LARGE_STEP - 1) / LARGE_STEP * LARGE_STEP;
    }

    /** A device block of at least {@code bytes} bytes (uninitialised, or poisoned). */
    public synchronized long allocate(long bytes) {
        if (closed) throw new IllegalStateException("allocator closed");
        long size = round(bytes);
        Long ptr = null;
        if (open != null) ptr = poll(open.free, size);
        if (ptr == null) {
            ptr = poll(cache, size);
            if (ptr != null) cached -= size;
        }
        if (ptr == null) {
            try {
                ptr = device.malloc(size);
            } catch (DeviceOutOfMemoryError e) {
                releaseCached();
                ptr = device.malloc(size);   // a second failure propagates
            }
            deviceBytes += size;
            sizes.put(ptr, size);
        }
        if (open != null && poolOf.putIfAbsent(ptr, open) == null) open.owned++;
        live += size;
        peak = Math.max(peak, live);
        if (poison) device.fill(ptr, (byte) 0xff, size);
        return ptr;
    }

    private static Long poll(Map<Long, ArrayDeque<Long>> lists, long size) {
        ArrayDeque<Long> q = lists.get(size);
        return q == null ? null : q.pollFirst();
    }

    /** Returns a block for reuse. Safe from any thread; ignored once the allocator is closed (its blocks are gone). */
    public synchronized void free(long ptr) {
        if (closed) return;
        Long size = sizes.get(ptr);
        if (size == null) throw new IllegalArgumentException("free of 0x" + Long.toHexString(ptr) + ": not a live block of this allocator");
        live -= size;
        Pool p = poolOf.get(ptr);
        if (p == null && open != null) {   // freed during a capture: the graph may still use it
            p = open;
            poolOf.put(ptr, p);
            p.owned++;
        }
        if (p != null) p.free.computeIfAbsent(size, k -> new ArrayDeque<>()).addLast(ptr);
        else {
            cache.computeIfAbsent(size, k -> new ArrayDeque<>()).addLast(ptr);
            cached += size;
        }
    }

    /** Gives every cached (free, not pooled) block back to the device. */
    public synchronized void releaseCached() {
        for (ArrayDeque<Long> q : cache.values())
            for (Long p : q) {
                device.free(p);
                deviceBytes -= sizes.remove(p);
            }
        cache.clear();
        cached = 0;
    }

    /** Opens a graph pool (one at a time). */
    public synchronized Pool openPool() {
        if (open != null) throw new IllegalStateException("a graph pool is already open");
        open = new Pool();
        return open;
    }

    public synchronized long liveBytes() { return live; }

    public synchronized long cachedBytes() { return cached; }

    public synchronized long peakBytes() { return peak; }

    /** Bytes currently obtained from the device (live, cached and pooled). */
    public synchronized long deviceBytes() { return deviceBytes; }

    public synchronized void resetPeak() { peak = live; }

    @Override public synchronized void close() {
        if (closed) return;
        closed = true;
        releaseCached();
        List<Long> rest = new ArrayList<>(sizes.keySet());
        for (long p : rest) device.free(p);
        sizes.clear();
        poolOf.clear();
        deviceBytes = 0;
        live = 0;
    }

    /** The blocks of one graph: see the class comment. */
    public final class Pool implements AutoCloseable {
        private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
        private int owned;
        private boolean ended, closed;

        /** Stops handing out and claiming blocks (the capture ended); the pool keeps what it owns. */
        public void end() {
            synchronized (DeviceAllocator.this) {
                if (open == this) open = null;
                ended = true;
            }
        }

        /** Number of blocks the pool owns. */
        public int blocks() {
            synchronized (DeviceAllocator.this) { return owned; }
        }

        /** The graph is gone: free blocks return to the cache, live ones become ordinary blocks. */
        @Override public void close() {
            synchronized (DeviceAllocator.this) {
                if (closed) return;
                closed = true;
                if (!ended) end();
                poolOf.values().removeIf(p -> p == this);
                for (var e : free.entrySet())
                    for (Long p : e.getValue()) {
                        cache.computeIfAbsent(e.getKey(), k -> new ArrayDeque<>()).addLast(p);
                        cached += e.getKey();
                    }
                free.clear();
            }
        }
    }
}
