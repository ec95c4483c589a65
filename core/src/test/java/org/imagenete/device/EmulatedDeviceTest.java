package org.imagenete.device;

import org.imagenete.gpucheck.SelfTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The emulator's execution model against CUDA's (through the self-test kernels and a Java model of their
 * semantics), and its strictness: argument kinds, pointers outside allocations, host copies during capture,
 * deadlocks and traps reported instead of hanging or corrupting.
 */
class EmulatedDeviceTest {
    static EmulatedDevice dev;
    static Arena arena;

    @BeforeAll
    static void setUp() {
        dev = new EmulatedDevice(2);
        arena = Arena.ofShared();
    }

    @AfterAll
    static void tearDown() {
        dev.close();
        arena.close();
    }

    private static long upload(int[] v) {
        long p = dev.malloc(4L * v.length);
        dev.upload(p, arena.allocateFrom(ValueLayout.JAVA_INT, v));
        return p;
    }

    private static long upload(float[] v) {
        long p = dev.malloc(4L * v.length);
        dev.upload(p, arena.allocateFrom(ValueLayout.JAVA_FLOAT, v));
        return p;
    }

    private static int[] ints(long p, int n) {
        MemorySegment h = arena.allocate(4L * n);
        dev.download(h, p);
        return h.toArray(ValueLayout.JAVA_INT);
    }

    private static float[] floats(long p, int n) {
        MemorySegment h = arena.allocate(4L * n);
        dev.download(h, p);
        return h.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void barriersShufflesVotesAndBlockSumsFollowCuda() {
        // 2-D blocks (32x8) and 1-D blocks of 96, a grid whose last block is partly past n
        for (Dim3 block : new Dim3[]{Dim3.of(32, 8), Dim3.of(96)}) {
            int nt = block.x() * block.y(), blocks = 7, n = blocks * nt - 13;
            SplittableRandom r = new SplittableRandom(nt);
            int[] in = new int[n];
            for (int i = 0; i < n; i++) in[i] = r.nextInt(-1000, 1000);
            long pin = upload(in), pout = dev.malloc(4L * n);
            dev.launch("selftest_sync_v1", Dim3.of(blocks), block, KernelArgs.of().ptr(pin).ptr(pout).i32(n));
            assertArrayEquals(SelfTest.sync(in, n, blocks, nt), ints(pout, n), "block " + block);
            dev.free(pin);
            dev.free(pout);
        }
    }

    @Test
    void selfTestRunnerFindsNoDifference() {
        assertEquals(java.util.List.of(), SelfTest.run(dev));
    }

    @Test
    void atomicsFromConcurrentBlocks() {
        int n = 50_000, bins = 7;
        int[] in = new int[n];
        int[] want = new int[bins];
        for (int i = 0; i < n; i++) {
            in[i] = (i * 7919) % 1000;
            want[in[i] % bins]++;
        }
        long pin = upload(in), pc = upload(new int[bins]), ps = upload(new float[1]);
        dev.launch("selftest_atomic_v1", Dim3.of(64), Dim3.of(128), KernelArgs.of().ptr(pin).ptr(pc).ptr(ps).i32(n).i32(bins));
        assertArrayEquals(want, ints(pc, bins));
        assertEquals(n * 0.5f, floats(ps, 1)[0]);
        dev.free(pin);
        dev.free(pc);
        dev.free(ps);
    }

    @Test
    void sixteenBitConversionsRoundToNearestEven() {
        float[] x = SelfTest.conversionInputs();
        long px = upload(x), po = dev.malloc(16L * x.length);
        dev.launch("selftest_convert_v1", Dim3.of(16), Dim3.of(256), KernelArgs.of().ptr(px).ptr(po).i32(x.length));
        float[] got = floats(po, 4 * x.length), want = SelfTest.convert(x);
        for (int i = 0; i < x.length; i++)
            for (int k = 0; k < 4; k++) {
                float g = got[4 * i + k], w = want[4 * i + k];
                if (k == 1 || k == 3) {
                    if (Float.isNaN(w)) assertTrue(Float.isNaN(g), "NaN of " + x[i]);
                    else assertEquals(w, g, 0, "value " + k + " of " + x[i] + " (bits " + Integer.toHexString(Float.floatToRawIntBits(x[i])) + ")");
                } else if (!Float.isNaN(x[i])) {
                    assertEquals(w, g, 0, (k == 0 ? "bf16" : "f16") + " bits of " + x[i] + " (" + Integer.toHexString(Float.floatToRawIntBits(x[i])) + ")");
                }
            }
        dev.free(px);
        dev.free(po);
    }

    @Test
    void deadlocksAndTrapsFailTheLaunch() {
        long p = dev.malloc(4 * 64);
        var e = assertThrows(IllegalStateException.class, () -> dev.launch("selftest_deadlock_v1", Dim3.of(1), Dim3.of(64), KernelArgs.of().ptr(p)));
        assertTrue(e.getMessage().contains("deadlock"), e.getMessage());
        long q = dev.malloc(4 * 64 * 4);
        e = assertThrows(IllegalStateException.class, () -> dev.launch("selftest_trap_v1", Dim3.of(4), Dim3.of(64), KernelArgs.of().ptr(q).i32(2)));
        assertTrue(e.getMessage().contains("__trap") && e.getMessage().contains("block 2,0,0"), e.getMessage());
        // the device stays usable
        dev.launch("selftest_trap_v1", Dim3.of(4), Dim3.of(64), KernelArgs.of().ptr(q).i32(-1));
        for (int v : ints(q, 256)) assertEquals(1, v);
        dev.free(p);
        dev.free(q);
    }

    @Test
    void argumentsArCheckedAgainstTheKernel() {
        long p = dev.malloc(1024);
        var e = assertThrows(IllegalArgumentException.class,
                () -> dev.launch("selftest_sync_v1", Dim3.of(1), Dim3.of(32), KernelArgs.of().ptr(p).ptr(p).f32(3)));
        assertTrue(e.getMessage().contains("ppf") && e.getMessage().contains("ppi"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> dev.launch("selftest_sync_v1", Dim3.of(1), Dim3.of(32), KernelArgs.of().ptr(p).ptr(p + 4096).i32(3)));
        assertTrue(e.getMessage().contains("not inside a live device allocation"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> dev.launch("no_such_kernel", Dim3.of(1), Dim3.of(32), KernelArgs.of()));
        assertThrows(IllegalArgumentException.class, () -> dev.copy(p, p + 512, 1024));
        assertThrows(IllegalArgumentException.class, () -> dev.download(arena.allocate(2048), p));
        dev.free(p);
        assertThrows(IllegalArgumentException.class, () -> dev.free(p));
    }

    @Test
    void captureRecordsDeviceWorkAndRefusesHostCopies() {
        int n = 256;
        int[] in = new int[n];
        for (int i = 0; i < n; i++) in[i] = i;
        long pin = upload(in), pout = dev.malloc(4L * n);
        dev.fill(pout, (byte) 0, 4L * n);
        dev.beginCapture();
        dev.launch("selftest_sync_v1", Dim3.of(1), Dim3.of(256), KernelArgs.of().ptr(pin).ptr(pout).i32(n));
        dev.copy(pin, pout, 4L * n);                       // feed the output back: each replay changes the result
        assertThrows(IllegalStateException.class, () -> dev.upload(pin, arena.allocate(4)));
        assertThrows(IllegalStateException.class, dev::synchronize);
        DeviceGraph g = dev.endCapture();
        assertEquals(2, g.nodes());
        assertArrayEquals(new int[n], ints(pout, n), "captured work must not run at capture time");
        int[] once = SelfTest.sync(in, n, 1, 256), twice = SelfTest.sync(once, n, 1, 256);
        g.launch();
        assertArrayEquals(once, ints(pout, n));
        g.launch();
        assertArrayEquals(twice, ints(pout, n));
        g.close();
        assertThrows(IllegalStateException.class, g::launch);
        dev.free(pin);
        dev.free(pout);
    }

    @Test
    void eventsMeasureElapsedTime() {
        try (DeviceEvent a = dev.record(); DeviceEvent b = dev.record()) {
            assertTrue(b.millisSince(a) >= 0);
        }
        assertTrue(dev.name().contains("emulated"));
        assertTrue(dev.hasKernel("conv2d_f32_v1") && dev.hasKernel("conv2d_bf16_v2") && !dev.hasKernel("conv2d_f32_v9"));
    }
}
