package org.imagenete.ops.cuda;

import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where tensors live with the CUDA backend: outputs stay on the device and chain into the next op without a host
 * copy; host code that reads one downloads it once and the tensor stays on the device (write access drops the
 * device copy); views share the device copy; weights upload once per storage and are freed with it, also when it is
 * garbage-collected without close; the device counts every copy between host and device.
 */
class DeviceResidencyTest {
    /** A context of its own: its allocator's byte counts see only this test's buffers. */
    final CudaContext ctx = new CudaContext(org.imagenete.device.Devices.emulated());
    final CudaOps ops = new CudaOps(ctx, CudaOps.Precision.FP32);

    @Test
    void outputsStayOnTheDeviceUntilTheHostReadsThem() {
        try (Tensor x = Rand.uniform(1, 2, 3, 4, 5); Tensor y = ops.relu(x)) {
            assertInstanceOf(DeviceBuffer.class, y.mirror(), "output lives on the device");
            var mirror = y.mirror();
            assertNull(x.mirror(), "an activation input is uploaded for the op only");
            try (Tensor v = y.view(2, 60); Tensor z = ops.silu(v)) {
                assertSame(y.mirror(), v.mirror(), "a view shares the device copy");
                assertNotNull(z.mirror());
                try (Tensor r = new ReferenceOps().silu(new ReferenceOps().relu(x).view(2, 60))) {
                    Compare.assertClose("relu then silu on the device", z, r, 1e-6, 1e-6);
                }
            }
            var counters = ctx.device().counters();
            long downloads = counters.snapshot().d2hCopies();
            float first = y.getFloat(0);                 // host read: one download, and the tensor stays on the device
            assertSame(mirror, y.mirror(), "reading never moves a tensor");
            assertEquals(Math.max(0, x.getFloat(0)), first);
            y.toFloatArray();
            y.read();
            assertEquals(downloads + 1, counters.snapshot().d2hCopies(), "host and device copies are equal after the first read");
            try (Tensor z = ops.relu(y)) {                // still usable on the device without an upload
                assertNotNull(z.mirror());
            }
            y.data();                                    // write access: the host copy becomes the only one
            assertNull(y.mirror());
        }
    }

    @Test
    void theDeviceCountsEveryCopyBetweenHostAndDevice() {
        var counters = ctx.device().counters();
        counters.reset();
        try (Tensor x = Rand.uniform(6, 3, 40); Tensor d = ctx.toDevice(x); Tensor y = ops.relu(d)) {
            var s = counters.snapshot();
            assertEquals(1, s.h2dCopies());
            assertEquals(x.byteSize(), s.h2dBytes());
            assertEquals(1, s.launches());
            y.toFloatArray();
            s = counters.snapshot();
            assertEquals(1, s.d2hCopies());
            assertEquals(y.byteSize(), s.d2hBytes());
            assertEquals("device transfers: 2 copies, 480 bytes host-to-device, 480 bytes device-to-host, 0 steps", s.transfersLine());
        }
    }

    @Test
    void weightsUploadOncePerStorageAndAreFreedWithIt() {
        try (Tensor x = Rand.uniform(2, 1, 8, 6, 6); Tensor w = Rand.uniform(3, 0.2f, 16, 8, 3, 3)) {
            long before = ctx.allocator().liveBytes();
            ops.conv2d(x, w, null, 1, 1).close();
            DeviceBuffer cached = (DeviceBuffer) w.mirror();
            assertNotNull(cached, "the weight stays on the device");
            long withWeight = ctx.allocator().liveBytes();
            try (Tensor wv = w.view(16, 8, 3, 3)) {          // a new view object of the same storage: no new upload
                ops.conv2d(x, wv, null, 1, 1).close();
                assertSame(cached, wv.mirror());
            }
            assertEquals(withWeight, ctx.allocator().liveBytes());
            assertTrue(withWeight - before >= w.byteSize());
            w.getFloat(0);                                   // a read keeps the cached copy
            assertSame(cached, w.mirror());
            w.data();                                        // write access may change the weight: the device copy is dropped
            assertNull(w.mirror());
            assertTrue(cached.isClosed());
            assertEquals(before, ctx.allocator().liveBytes());
        }
    }

    @Test
    void unreachableWeightsReleaseTheirDeviceMemory() throws InterruptedException {
        long before = ctx.allocator().liveBytes();
        DeviceBuffer b;
        try (Tensor x = Rand.uniform(2, 1, 8, 6, 6)) {
            Tensor w = Rand.uniform(4, 0.2f, 16, 8, 3, 3);   // never closed: only the Cleaner can free its device copy
            ops.conv2d(x, w, null, 1, 1).close();
            b = (DeviceBuffer) w.mirror();
            w = null;
        }
        for (int i = 0; i < 100 && !b.isClosed(); i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(b.isClosed(), "the Cleaner freed the weight's device copy");
        assertEquals(before, ctx.allocator().liveBytes());
    }

    @Test
    void closingAnOutputFreesItsDeviceMemory() {
        long before = ctx.allocator().liveBytes();
        try (Tensor x = Rand.uniform(5, 1000)) {
            Tensor y = ops.relu(x);
            assertTrue(ctx.allocator().liveBytes() > before);
            y.close();
        }
        assertEquals(before, ctx.allocator().liveBytes());
    }
}
