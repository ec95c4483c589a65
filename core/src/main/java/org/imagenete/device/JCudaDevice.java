package org.imagenete.device;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUpointer_attribute;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphGetNodes;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuPointerGetAttribute;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * A GPU through JCuda's driver API only: the node needs {@code libcuda.so.1} (the driver), no CUDA toolkit. The
 * kernels are the fatbin the build made with nvcc ({@code /cuda/imagenete.fatbin}), loaded with
 * {@code cuModuleLoadData} (JCuda 12.6's {@code cuModuleLoadFatBinary} is broken). One primary context, one
 * non-blocking stream; every entry point makes the context current on the calling thread.
 *
 * <p>Never run in CI (no GPU there): {@link Devices#gpu()} probes it and falls back with the reason.
 */
public final class JCudaDevice implements Device {
    private final CUdevice dev;
    private final CUcontext ctx;
    private final CUmodule module;
    private final CUstream stream;
    private final String name;
    private final long total;
    private final Map<String, CUfunction> functions = new HashMap<>();
    /** Base address -> allocation (CUdeviceptr cannot be made from a number: copies offset from the base). */
    private final TreeMap<Long, CUdeviceptr> allocations = new TreeMap<>();
    private final Map<Long, Long> sizes = new HashMap<>();
    private final Map<Long, Pointer> pinned = new HashMap<>();
    private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);
    private boolean capturing, closed;
    private final DeviceCounters counters = new DeviceCounters();

    private JCudaDevice(int ordinal, byte[] image) {
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        int[] count = {0};
        cuDeviceGetCount(count);
        if (count[0] <= ordinal) throw new IllegalStateException("no CUDA device " + ordinal + " (the driver sees " + count[0] + ")");
        dev = new CUdevice();
        cuDeviceGet(dev, ordinal);
        ctx = new CUcontext();
        cuDevicePrimaryCtxRetain(ctx, dev);
        cuCtxSetCurrent(ctx);
        bound.set(true);
        byte[] nm = new byte[256];
        cuDeviceGetName(nm, nm.length, dev);
        String n = new String(nm, java.nio.charset.StandardCharsets.US_ASCII);
        n = n.substring(0, Math.max(0, n.indexOf(0) < 0 ? n.length() : n.indexOf(0))).trim();
        int[] major = {0}, minor = {0};
        cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        long[] t = {0};
        cuDeviceTotalMem(t, dev);
        total = t[0];
        if (major[0] < 8)
            throw new IllegalStateException(n + " is sm_" + major[0] + minor[0] + "; the kernels are built for sm_80 and later");
        module = new CUmodule();
        cuModuleLoadData(module, image);
        stream = new CUstream();
        cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        name = String.format(Locale.ROOT, "%s (sm_%d%d, %.1f GiB)", n, major[0], minor[0], total / (double) (1L << 30));
    }

    /** Opens GPU {@code ordinal} with the kernel image {@code fatbin}; throws (LinkageError, CudaException, ...) when
     *  there is no driver, no device, or the image does not load. */
    static JCudaDevice open(int ordinal, byte[] fatbin) { return new JCudaDevice(ordinal, fatbin); }

    private void bind() {
        if (closed) throw new IllegalStateException("device closed");
        if (!bound.get()) {
            cuCtxSetCurrent(ctx);
            bound.set(true);
        }
    }

    @Override public String name() { return name; }

    @Override public boolean isEmulated() { return false; }

    @Override public synchronized boolean hasKernel(String kernel) {
        try {
            function(kernel);
            return true;
        } catch (CudaException e) {
            return false;
        }
    }

    private CUfunction function(String kernel) {
        CUfunction f = functions.get(kernel);
        if (f == null) {
            bind();
            f = new CUfunction();
            cuModuleGetFunction(f, module, kernel);
            functions.put(kernel, f);
        }
        return f;
    }

    @Override public long totalMemory() { return total; }

    @Override public synchronized long malloc(long bytes) {
        bind();
        CUdeviceptr p = new CUdeviceptr();
        try {
            cuMemAlloc(p, Math.max(bytes, 1));
        } catch (CudaException e) {
            if (String.valueOf(e.getMessage()).contains("OUT_OF_MEMORY"))
                throw new DeviceOutOfMemoryError(name + ": cuMemAlloc of " + bytes + " bytes: " + e.getMessage());
            throw e;
        }
        long[] addr = {0};
        cuPointerGetAttribute(Pointer.to(addr), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, p);
        allocations.put(addr[0], p);
        sizes.put(addr[0], Math.max(bytes, 1));
        return addr[0];
    }

    @Override public synchronized void free(long address) {
        if (closed) return;
        bind();
        CUdeviceptr p = allocations.remove(address);
        if (p == null) throw new IllegalArgumentException("free of 0x" + Long.toHexString(address) + ": not an allocation");
        sizes.remove(address);
        cuMemFree(p);
    }

    /** The CUdeviceptr for an address inside an allocation. */
    private CUdeviceptr ptr(long address, long bytes) {
        Map.Entry<Long, CUdeviceptr> e = allocations.floorEntry(address);
        if (e == null || address + bytes > e.getKey() + sizes.get(e.getKey()))
            throw new IllegalArgumentException("[0x" + Long.toHexString(address) + ", +" + bytes + ") is not inside a device allocation");
        return e.getValue().withByteOffset(address - e.getKey());
    }

    /** JCuda host pointers come from direct ByteBuffers, at most 2^31-1 bytes each: copies go in 1 GiB pieces. */
    private static final long PIECE = 1L << 30;

    @Override public synchronized void upload(long dst, MemorySegment src) {
        bind();
        if (capturing) throw new IllegalStateException("host-to-device copy during graph capture");
        long n = src.byteSize();
        for (long off = 0; off < n; off += PIECE) {
            long len = Math.min(PIECE, n - off);
            ByteBuffer bb = src.asSlice(off, len).asByteBuffer();
            cuMemcpyHtoDAsync(ptr(dst + off, len), Pointer.to(bb), len, stream);
        }
        counters.upload(n);
    }

    @Override public synchronized void download(MemorySegment dst, long src) {
        bind();
        if (capturing) throw new IllegalStateException("device-to-host copy during graph capture");
        long start = System.nanoTime();
        long n = dst.byteSize();
        for (long off = 0; off < n; off += PIECE) {
            long len = Math.min(PIECE, n - off);
            ByteBuffer bb = dst.asSlice(off, len).asByteBuffer();
            cuMemcpyDtoHAsync(Pointer.to(bb), ptr(src + off, len), len, stream);
        }
        cuStreamSynchronize(stream);
        counters.download(n, start);
    }

    @Override public synchronized void copy(long dst, long src, long bytes) {
        bind();
        if (bytes > 0) cuMemcpyDtoDAsync(ptr(dst, bytes), ptr(src, bytes), bytes, stream);
    }

    @Override public synchronized void fill(long dst, byte value, long bytes) {
        bind();
        if (bytes > 0) cuMemsetD8Async(ptr(dst, bytes), value, bytes, stream);
    }

    @Override public synchronized void launch(String kernel, Dim3 grid, Dim3 block, KernelArgs args) {
        long start = System.nanoTime();
        bind();
        CUfunction f = function(kernel);
        Pointer[] params = new Pointer[args.size()];
        for (int i = 0; i < params.length; i++) {
            long v = args.bits(i);
            params[i] = switch (args.kind(i)) {
                case 'i' -> Pointer.to(new int[]{(int) v});
                case 'f' -> Pointer.to(new float[]{Float.intBitsToFloat((int) v)});
                case 'd' -> Pointer.to(new double[]{Double.longBitsToDouble(v)});
                default -> Pointer.to(new long[]{v});   // 'p' and 'l': 8 bytes
            };
        }
        cuLaunchKernel(f, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), 0, stream, Pointer.to(params), null);
        if (!capturing) counters.launch(start);
    }

    @Override public synchronized void synchronize() {
        bind();
        cuStreamSynchronize(stream);
    }

    @Override public synchronized DeviceEvent record() {
        bind();
        if (capturing) throw new IllegalStateException("event record during graph capture");
        CUevent e = new CUevent();
        cuEventCreate(e, 0);
        cuEventRecord(e, stream);
        return new Event(e);
    }

    private final class Event implements DeviceEvent {
        final CUevent e;

        Event(CUevent e) { this.e = e; }

        @Override public float millisSince(DeviceEvent earlier) {
            if (!(earlier instanceof Event a)) throw new IllegalArgumentException("event of another device");
            synchronized (JCudaDevice.this) {
                bind();
                cuEventSynchronize(e);
                float[] ms = {0};
                cuEventElapsedTime(ms, a.e, e);
                return ms[0];
            }
        }

        @Override public void close() {
            synchronized (JCudaDevice.this) {
                if (!closed) {
                    bind();
                    cuEventDestroy(e);
                }
            }
        }
    }

    @Override public synchronized void beginCapture() {
        bind();
        if (capturing) throw new IllegalStateException("already capturing");
        // relaxed: the caching allocator may cuMemAlloc while the stream is being captured
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        capturing = true;
    }

    @Override public synchronized DeviceGraph endCapture() {
        bind();
        if (!capturing) throw new IllegalStateException("not capturing");
        capturing = false;
        CUgraph g = new CUgraph();
        cuStreamEndCapture(stream, g);
        long[] n = {-1};
        try {
            cuGraphGetNodes(g, null, n);   // null: only the count (the C API's convention)
        } catch (RuntimeException e) {
            n[0] = -1;                     // the count is informational
        }
        CUgraphExec exec = new CUgraphExec();
        cuGraphInstantiate(exec, g, 0);
        int nodes = (int) n[0];
        return new DeviceGraph() {
            boolean gone;

            @Override public int nodes() { return nodes; }

            @Override public void launch() {
                synchronized (JCudaDevice.this) {
                    if (gone) throw new IllegalStateException("graph closed");
                    long start = System.nanoTime();
                    bind();
                    cuGraphLaunch(exec, stream);
                    counters.graphLaunch(nodes, start);
                }
            }

            @Override public void close() {
                synchronized (JCudaDevice.this) {
                    if (gone || closed) return;
                    gone = true;
                    bind();
                    cuGraphExecDestroy(exec);
                    cuGraphDestroy(g);
                }
            }
        };
    }

    @Override public synchronized boolean isCapturing() { return capturing; }

    @Override public synchronized MemorySegment allocatePinned(long bytes) {
        bind();
        if (bytes > Integer.MAX_VALUE) throw new IllegalArgumentException("pinned buffers are limited to 2 GiB here");
        Pointer p = new Pointer();
        cuMemAllocHost(p, Math.max(bytes, 1));
        MemorySegment seg = MemorySegment.ofBuffer(p.getByteBuffer(0, Math.max(bytes, 1))).asSlice(0, bytes);
        pinned.put(seg.address(), p);
        return seg;
    }

    @Override public DeviceCounters counters() { return counters; }

    @Override public synchronized void freePinned(MemorySegment seg) {
        bind();
        Pointer p = pinned.remove(seg.address());
        if (p == null) throw new IllegalArgumentException("not pinned memory of this device");
        cuMemFreeHost(p);
    }

    @Override public synchronized void close() {
        if (closed) return;
        bind();
        cuStreamSynchronize(stream);
        for (CUdeviceptr p : allocations.values()) cuMemFree(p);
        allocations.clear();
        for (Pointer p : pinned.values()) cuMemFreeHost(p);
        pinned.clear();
        cuStreamDestroy(stream);
        cuModuleUnload(module);
        cuDevicePrimaryCtxRelease(dev);
        closed = true;
    }
}
