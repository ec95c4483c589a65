package org.imagenete.gpucheck;

import org.imagenete.device.Device;
import org.imagenete.device.Dim3;
import org.imagenete.device.KernelArgs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What the self-test kernels of cuda-kernels/selftest.cu must compute, written out in Java from CUDA's
 * documented semantics (shuffle segments, ballot bit order, block-wide barriers), and a runner. The emulator is
 * checked against it in CI (EmulatedDeviceTest) and a GPU by {@link #run} from GpuCheck, so that the emulation
 * and the hardware are known to agree on the execution model the kernels rely on.
 */
public final class SelfTest {
    private SelfTest() {}

    /** Runs the portable self-test kernels on {@code dev}; returns what differed from the model (empty: all agree). */
    public static List<String> run(Device dev) {
        List<String> bad = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (Dim3 block : new Dim3[]{Dim3.of(32, 8), Dim3.of(96), Dim3.of(1024)}) {
                int nt = block.x() * block.y(), blocks = 7, n = blocks * nt - 13;
                SplittableRandom r = new SplittableRandom(nt);
                int[] in = new int[n];
                for (int i = 0; i < n; i++) in[i] = r.nextInt(-1000, 1000);
                int[] got = runInts(dev, arena, "selftest_sync_v1", Dim3.of(blocks), block, in, n);
                int[] want = sync(in, n, blocks, nt);
                int diff = 0;
                for (int i = 0; i < n; i++) if (got[i] != want[i]) diff++;
                if (diff > 0) bad.add("selftest_sync_v1 block " + block + ": " + diff + " of " + n + " outputs differ from CUDA's semantics");
            }
            float[] x = conversionInputs();
            long px = dev.malloc(4L * x.length), po = dev.malloc(16L * x.length);
            try {
                dev.upload(px, arena.allocateFrom(ValueLayout.JAVA_FLOAT, x));
                dev.launch("selftest_convert_v1", Dim3.of(16), Dim3.of(256), KernelArgs.of().ptr(px).ptr(po).i32(x.length));
                MemorySegment h = arena.allocate(16L * x.length);
                dev.download(h, po);
                float[] got = h.toArray(ValueLayout.JAVA_FLOAT), want = convert(x);
                int diff = 0;
                for (int i = 0; i < got.length; i++)
                    if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want[i]) && !(Float.isNaN(got[i]) && Float.isNaN(want[i])) && !Float.isNaN(x[i / 4]))
                        diff++;
                if (diff > 0) bad.add("selftest_convert_v1: " + diff + " bf16/f16 conversions differ from round-to-nearest-even");
            } finally {
                dev.free(px);
                dev.free(po);
            }
        }
        return bad;
    }

    private static int[] runInts(Device dev, Arena arena, String kernel, Dim3 grid, Dim3 block, int[] in, int n) {
        long pin = dev.malloc(4L * n), pout = dev.malloc(4L * n);
        try {
            dev.upload(pin, arena.allocateFrom(ValueLayout.JAVA_INT, in));
            dev.launch(kernel, grid, block, KernelArgs.of().ptr(pin).ptr(pout).i32(n));
            MemorySegment h = arena.allocate(4L * n);
            dev.download(h, pout);
            return h.toArray(ValueLayout.JAVA_INT);
        } finally {
            dev.free(pin);
            dev.free(pout);
        }
    }

    /** selftest_sync_v1 over blocks of nt threads (a multiple of 32). */
    public static int[] sync(int[] in, int n, int blocks, int nt) {
        int[] out = new int[n];
        for (int blk = 0; blk < blocks; blk++) {
            int[] v = new int[nt], rev = new int[nt];
            int total = 0;
            for (int t = 0; t < nt; t++) {
                int g = blk * nt + t;
                v[t] = g < n ? in[g] : 0;
                total += v[t];
            }
            for (int t = 0; t < nt; t++) rev[t] = v[nt - 1 - t];
            for (int t = 0; t < nt; t++) {
                int g = blk * nt + t;
                if (g >= n) continue;
                int lane = t & 31, wb = t & ~31;
                int x = rev[wb + (lane ^ 5)];
                int d = lane + 3 < 32 ? rev[wb + lane + 3] : rev[t];
                int u = (lane - (lane & ~15)) >= 2 ? rev[t - 2] : rev[t];
                int s = rev[wb + (lane & ~7) + 7];
                int bal = 0;
                for (int l = 0; l < 32; l++) if ((rev[wb + l] & 1) != 0) bal |= 1 << l;
                out[g] = rev[t] * 3 + x * 5 + d * 7 + u * 11 + s * 13 + (bal & 0xffff) * 17 + total;
            }
        }
        return out;
    }

    /** selftest_convert_v1: bf16 bits, bf16 value, f16 bits, f16 value per input (round to nearest even). */
    public static float[] convert(float[] x) {
        float[] out = new float[4 * x.length];
        for (int i = 0; i < x.length; i++) {
            short b = org.imagenete.tensor.Tensor.floatToBf16(x[i]);
            short h = Float.floatToFloat16(x[i]);
            out[4 * i] = b & 0xffff;
            out[4 * i + 1] = Float.intBitsToFloat((b & 0xffff) << 16);
            out[4 * i + 2] = h & 0xffff;
            out[4 * i + 3] = Float.float16ToFloat(h);
        }
        return out;
    }

    /** Inputs for the conversion test: specials, subnormals in both formats, ties, overflow, and a sweep. */
    public static float[] conversionInputs() {
        java.util.List<Float> v = new java.util.ArrayList<>(java.util.List.of(0f, -0f, 1f, -1f, Float.MIN_VALUE, Float.MIN_NORMAL,
                Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                65504f, 65519.99f, 65520f, 1e5f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.98e-8f, 3e-8f, 1e-10f,
                1.00390625f, 1.01171875f, 1.0009765625f, 1.0029296875f, 3.140625f, -2.5e-6f, 1.5e-7f, 0.1f, 0.2f, 1234.5678f));
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int i = 0; i < 2000; i++) v.add(Float.intBitsToFloat(r.nextInt()));
        for (int i = 0; i < 2000; i++) v.add((float) ((r.nextDouble() * 2 - 1) * Math.pow(2, r.nextInt(-30, 20))));
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) a[i] = v.get(i);
        return a;
    }
}
