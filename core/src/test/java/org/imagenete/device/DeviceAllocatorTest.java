package org.imagenete.device;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The caching allocator: reuse by rounded size, graph pools that keep their blocks, poison, release to the device. */
class DeviceAllocatorTest {
    @Test
    void reusesFreedBlocksOfTheSameRoundedSize() {
        try (EmulatedDevice dev = new EmulatedDevice(1); DeviceAllocator a = new DeviceAllocator(dev)) {
            assertEquals(512, DeviceAllocator.round(1));
            assertEquals(1024, DeviceAllocator.round(513));
            assertEquals(4L << 20, DeviceAllocator.round((2L << 20) + 1));
            long p = a.allocate(1000);
            a.free(p);
            assertEquals(p, a.allocate(900), "same 1024-byte class");
            long q = a.allocate(5000);
            assertNotEquals(p, q);
            assertEquals(1024 + 5120, a.liveBytes());
            a.free(q);
            assertEquals(5120, a.cachedBytes());
            int before = dev.liveAllocations().size();
            a.releaseCached();
            assertEquals(before - 1, dev.liveAllocations().size(), "the cached block went back to the device");
            a.free(p);
            assertThrows(IllegalArgumentException.class, () -> a.free(p + 8));
        }
    }

    @Test
    void blocksFreedDuringCaptureBelongToTheGraphUntilItCloses() {
        try (EmulatedDevice dev = new EmulatedDevice(1); DeviceAllocator a = new DeviceAllocator(dev)) {
            long before = a.allocate(4096);             // allocated eagerly, freed inside the capture
            DeviceAllocator.Pool pool = a.openPool();
            long inside = a.allocate(4096);
            a.free(inside);
            assertEquals(inside, a.allocate(4096), "reused within the capture");
            a.free(before);
            pool.end();
            long after = a.allocate(4096);
            assertNotEquals(before, after, "a block the graph may touch was handed out");
            assertEquals(2, pool.blocks());
            pool.close();
            a.free(inside);                             // now an ordinary block
            long again = a.allocate(4096);
            assertTrue(again == before || again == inside, "pool blocks return to the cache when the graph closes");
            a.free(after);
            a.free(again);
        }
    }

    @Test
    void poisonFillsNewBlocksWithNaN() {
        try (EmulatedDevice dev = new EmulatedDevice(1); DeviceAllocator a = new DeviceAllocator(dev); Arena arena = Arena.ofConfined()) {
            a.setPoison(true);
            long p = a.allocate(64);
            MemorySegment h = arena.allocate(64);
            dev.download(h, p);
            for (float f : h.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT)) assertTrue(Float.isNaN(f));
            a.free(p);
        }
    }
}
