package org.imagenete.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeMemoryTest {
    private static final long MIB = 1L << 20;

    @Test
    void largeBuffersAreAlignedWritableAndReused() {
        NativeMemory.trim();
        MemorySegment a = NativeMemory.allocate(10 * MIB + 12);
        assertEquals(0, a.address() % (2 * MIB), "large buffers are 2 MiB aligned");
        assertEquals(10 * MIB + 12, a.byteSize());
        a.set(ValueLayout.JAVA_BYTE, a.byteSize() - 1, (byte) 7);   // the last byte is mapped
        long address = a.address();
        NativeMemory.free(a);
        assertEquals(10 * MIB + 64, NativeMemory.pooledBytes());
        MemorySegment b = NativeMemory.allocate(6 * MIB);             // within 2x: the pooled buffer serves it
        assertEquals(address, b.address());
        assertEquals(0, NativeMemory.pooledBytes());
        NativeMemory.free(b);
        NativeMemory.trim();
        assertEquals(0, NativeMemory.pooledBytes());
    }

    /** A UNet-like pattern: sizes shrink and grow again; the footprint (in use + pooled) stays within 1/8 over the
     *  highest use, pass after pass, and the pool keeps serving the steady state. */
    @Test
    void poolStaysNearThePeakInUse() {
        NativeMemory.trim();
        long[] sizes = {64, 64, 32, 16, 8, 4, 2, 2, 4, 8, 16, 32, 64, 128, 64};
        long before = NativeMemory.liveBytes();
        for (int pass = 0; pass < 3; pass++) {
            List<MemorySegment> held = new ArrayList<>();
            for (long s : sizes) {
                MemorySegment kept = NativeMemory.allocate(s * MIB);
                MemorySegment temp = NativeMemory.allocate(s * MIB);   // a temporary of the same level
                NativeMemory.free(temp);
                if (s <= 4) NativeMemory.free(kept); else held.add(kept);
                long peak = NativeMemory.largePeakInUse(), footprint = NativeMemory.largeInUse() + NativeMemory.pooledBytes();
                assertTrue(footprint <= peak + peak / 8, "pass " + pass + " size " + s + ": " + footprint / MIB
                        + " MiB in use and pooled, peak in use " + peak / MIB + " MiB");
            }
            held.forEach(NativeMemory::free);
        }
        assertEquals(before, NativeMemory.liveBytes());
        assertTrue(NativeMemory.pooledBytes() > 0, "the pool keeps buffers for the next pass");
        NativeMemory.trim();
    }

    @Test
    void freeingAnUnknownBufferIsAnError() {
        MemorySegment stranger = MemorySegment.ofAddress(64 * MIB).reinterpret(4 * MIB);
        assertThrows(IllegalStateException.class, () -> NativeMemory.free(stranger));
    }
}
