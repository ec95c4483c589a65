package org.imagenete.ops.cuda;

import org.imagenete.device.Device;
import org.imagenete.device.DeviceAllocator;
import org.imagenete.device.Devices;
import org.imagenete.device.Dim3;
import org.imagenete.device.DeviceCounters;
import org.imagenete.device.KernelArgs;
import org.imagenete.ops.DeviceSupport;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * A device with its caching allocator and what the CUDA backend keeps on it, shared by every {@link CudaOps} on
 * that device (fp32 and bf16 backends exchange device-resident tensors freely). How a tensor gets to the device:
 * <ul>
 *   <li>outputs of an op are device-resident: a host {@link Tensor} whose memory is allocated but untouched, with
 *       a {@link DeviceBuffer} attached as its mirror, newer than the host copy; host code that reads it downloads
 *       it (see {@link Tensor#data()});</li>
 *   <li>weights (conv, linear and GroupNorm parameters) are uploaded once and stay attached to the tensor as a clean
 *       mirror, so they are cached by identity of the tensor's storage (views such as {@code w.view(c, c, 1, 1)}
 *       share it), and freed when that tensor closes or becomes unreachable;</li>
 *   <li>other host inputs are uploaded into a temporary block for one op.</li>
 * </ul>
 */
public final class CudaContext implements DeviceSupport, AutoCloseable {
    private static CudaContext gpu, emulated;

    private final Device device;
    private final DeviceAllocator allocator;
    private final Map<Long, DeviceBuffer> twiddles = new HashMap<>();

    CudaContext(Device device) {
        this.device = device;
        this.allocator = new DeviceAllocator(device);
    }

    /** The GPU's context, or empty ({@link Devices#gpuError()} says why). */
    public static synchronized Optional<CudaContext> gpu() {
        if (gpu == null) Devices.gpu().ifPresent(d -> gpu = new CudaContext(d));
        return Optional.ofNullable(gpu);
    }

    /** The emulated device's context (throws when the emulation library is missing). */
    public static synchronized CudaContext emulated() {
        if (emulated == null) emulated = new CudaContext(Devices.emulated());
        return emulated;
    }

    public Device device() { return device; }

    public DeviceAllocator allocator() { return allocator; }

    DeviceBuffer allocate(long bytes) { return new DeviceBuffer(this, bytes); }

    /** The tensor's device buffer when it lives on this device, else null. */
    DeviceBuffer resident(Tensor t) {
        return t.mirror() instanceof DeviceBuffer b && b.ctx == this && !b.isClosed() ? b : null;
    }

    /** New F32 tensor living on the device (host memory allocated but stale until read). */
    Tensor output(int... dims) { return output(DType.F32, dims); }

    Tensor output(DType dtype, int... dims) {
        Tensor t = Tensor.allocate(dtype, dims);
        try {
            t.attachMirror(allocate(t.byteSize()), true);
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
        return t;
    }

    @Override public DeviceCounters counters() { return device.counters(); }

    @Override public Replay capture(Function<Tensor[], Tensor[]> body, Tensor... examples) {
        return CudaGraph.capture(this, body, false, examples);
    }

    /** A device-resident copy of {@code host} (a graph's static input, a benchmark's input, the sampler's images). */
    @Override public Tensor toDevice(Tensor host) {
        Tensor t = output(host.dtype(), host.shape().dims());
        DeviceBuffer src = resident(host);
        DeviceBuffer dst = resident(t);
        if (src != null) device.copy(dst.ptr, src.ptr, t.byteSize());
        else device.upload(dst.ptr, host.read());
        return t;
    }

    /** Copies {@code src} into the device storage of {@code dst} (same size; dst device-resident). */
    @Override public void copyInto(Tensor dst, Tensor src) {
        DeviceBuffer d = resident(dst);
        if (d == null) throw new IllegalArgumentException("copyInto: destination is not on " + device.name());
        if (src.byteSize() != dst.byteSize()) throw new IllegalArgumentException("copyInto: " + src.shape() + " into " + dst.shape());
        DeviceBuffer s = resident(src);
        if (s != null) device.copy(d.ptr, s.ptr, dst.byteSize());
        else device.upload(d.ptr, src.read());
    }

    /** Device address of an activation input: its own buffer when resident, else a temporary upload. */
    long input(Tensor t, List<DeviceBuffer> temps) {
        if (t == null) return 0;
        DeviceBuffer b = resident(t);
        if (b != null) return b.ptr;
        DeviceBuffer tmp = allocate(t.byteSize());
        temps.add(tmp);
        device.upload(tmp.ptr, t.read());
        return tmp.ptr;
    }

    /** Device address of a weight: uploaded on first use and kept attached to the tensor (one upload even when
     *  several threads share a model). */
    synchronized DeviceBuffer weight(Tensor t) {
        DeviceBuffer b = resident(t);
        if (b != null) return b;
        b = allocate(t.byteSize());
        try {
            device.upload(b.ptr, t.read());
            t.attachMirror(b, false);
        } catch (RuntimeException | Error e) {
            b.close();
            throw e;
        }
        return b;
    }

    long weightPtr(Tensor t) { return t == null ? 0 : weight(t).ptr; }

    /** The weight rounded to 16 bits (bf16 or f16) on the device, cached with the fp32 copy. */
    synchronized long weight16(Tensor t, CudaOps.Precision p) {
        DeviceBuffer w = weight(t);
        DeviceBuffer h = w.lowp(p);
        if (h == null) {
            long n = t.numel();
            h = allocate(2 * n);
            launchElementwise(p == CudaOps.Precision.BF16 ? "convert_f32_bf16_v1" : "convert_f32_f16_v1", n,
                    KernelArgs.of().ptr(w.ptr).ptr(h.ptr).i64(n));
            w.setLowp(p, h);
        }
        return h.ptr;
    }

    /** A grid-stride kernel over n elements. */
    void launchElementwise(String kernel, long n, KernelArgs args) {
        int blocks = Math.min(Dim3.blocks(n, Kernels.EW_THREADS), Kernels.EW_MAX_BLOCKS);
        device.launch(kernel, Dim3.of(blocks), Dim3.of(Kernels.EW_THREADS), args);
    }

    /**
     * Twiddles e^{sign 2 pi i m / n}, m < n, as interleaved doubles on the device, computed with the reference's
     * expression ({@code sign * 2 * Math.PI * m / n}) so that they are the same numbers.
     */
    synchronized long twiddles(int n, int sign) {
        long key = 2L * n + (sign > 0 ? 1 : 0);
        DeviceBuffer b = twiddles.get(key);
        if (b == null) {
            b = allocate(16L * n);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate(16L * n, 8);
                for (int m = 0; m < n; m++) {
                    double ang = sign * 2 * Math.PI * m / n;
                    host.setAtIndex(ValueLayout.JAVA_DOUBLE, 2L * m, Math.cos(ang));
                    host.setAtIndex(ValueLayout.JAVA_DOUBLE, 2L * m + 1, Math.sin(ang));
                }
                device.upload(b.ptr, host);
            }
            twiddles.put(key, b);
        }
        return b.ptr;
    }

    @Override public synchronized void close() {
        twiddles.values().forEach(DeviceBuffer::close);
        twiddles.clear();
        allocator.close();
    }
}
