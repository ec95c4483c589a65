package org.imagenete.device;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA kernels compiled for the CPU ({@code native/emu}, built by Maven with g++ into
 * {@code /native/libimagenete-cuda-emu.so}), behind the same {@link Device} interface as a GPU. Kernels run
 * synchronously when launched (their blocks spread over the CPU cores); "device memory" is host memory from the
 * library's allocator. Stricter than a GPU where that catches orchestration bugs: every pointer argument must lie
 * inside a live allocation, copies must stay inside theirs, and the argument kinds must match the kernel's C++
 * parameters. Not a performance model: use it for correctness.
 */
public final class EmulatedDevice implements Device {
    private static final String LIB = "libimagenete-cuda-emu.so";
    private static final Lib NATIVE = Lib.load();

    /** The loaded library and its entry points, or why it could not be loaded. */
    private record Lib(String error, MethodHandle launch, MethodHandle malloc, MethodHandle free, MethodHandle kernelCount,
                       MethodHandle kernelName, MethodHandle kernelSignature, MethodHandle constantCount,
                       MethodHandle constantName, MethodHandle constantValue, MethodHandle setThreads) {
        static Lib load() {
            try {
                SymbolLookup l = SymbolLookup.libraryLookup(locate(), Arena.global());
                Linker k = Linker.nativeLinker();
                java.util.function.BiFunction<String, FunctionDescriptor, MethodHandle> h =
                        (n, fd) -> k.downcallHandle(l.find(n).orElseThrow(() -> new IllegalStateException("symbol " + n + " missing")), fd);
                return new Lib(null,
                        h.apply("ie_emu_launch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT)),
                        h.apply("ie_emu_malloc", FunctionDescriptor.of(ADDRESS, JAVA_LONG)),
                        h.apply("ie_emu_free", FunctionDescriptor.ofVoid(ADDRESS)),
                        h.apply("ie_emu_kernel_count", FunctionDescriptor.of(JAVA_INT)),
                        h.apply("ie_emu_kernel_name", FunctionDescriptor.of(ADDRESS, JAVA_INT)),
                        h.apply("ie_emu_kernel_signature", FunctionDescriptor.of(ADDRESS, ADDRESS)),
                        h.apply("ie_emu_constant_count", FunctionDescriptor.of(JAVA_INT)),
                        h.apply("ie_emu_constant_name", FunctionDescriptor.of(ADDRESS, JAVA_INT)),
                        h.apply("ie_emu_constant_value", FunctionDescriptor.of(JAVA_LONG, ADDRESS)),
                        h.apply("ie_emu_set_threads", FunctionDescriptor.ofVoid(JAVA_INT)));
            } catch (Throwable t) {
                return new Lib(t.toString(), null, null, null, null, null, null, null, null, null, null);
            }
        }

        private static Path locate() throws IOException, java.net.URISyntaxException {
            URL url = EmulatedDevice.class.getResource("/native/" + LIB);
            if (url == null)
                throw new IllegalStateException("/native/" + LIB + " not on the class path (built by `mvn compile` with g++, native/emu/build.sh)");
            if (url.getProtocol().equals("file")) return Path.of(url.toURI());
            Path dir = Files.createTempDirectory("imagenete-emu");
            Path out = dir.resolve(LIB);
            try (InputStream in = url.openStream()) {
                Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
            }
            out.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return out;
        }
    }

    /** Whether the emulation library loaded. */
    public static boolean available() { return NATIVE.error == null; }

    /** Why it did not, or null. */
    public static String error() { return NATIVE.error; }

    private final Map<String, String> signatures;
    private final int threads;
    /** Live allocations: address -> size (pinned host memory included, as on a GPU with unified addressing). */
    private final TreeMap<Long, Long> allocations = new TreeMap<>();
    private List<Runnable> capture;
    private boolean closed;
    private final DeviceCounters counters = new DeviceCounters();

    /** An emulated device using all cores. */
    public EmulatedDevice() { this(0); }

    /** An emulated device running blocks on {@code threads} OS threads (0: all cores). */
    public EmulatedDevice(int threads) {
        if (NATIVE.error != null) throw new IllegalStateException("CUDA emulation library unavailable: " + NATIVE.error);
        this.threads = threads;
        try {
            NATIVE.setThreads.invokeExact(threads);
            Map<String, String> sig = new LinkedHashMap<>();
            int n = (int) NATIVE.kernelCount.invokeExact();
            for (int i = 0; i < n; i++) {
                String name = cString((MemorySegment) NATIVE.kernelName.invokeExact(i));
                try (Arena a = Arena.ofConfined()) {
                    sig.put(name, cString((MemorySegment) NATIVE.kernelSignature.invokeExact(a.allocateFrom(name))));
                }
            }
            signatures = Collections.unmodifiableMap(sig);
        } catch (Throwable t) {
            throw new IllegalStateException("CUDA emulation library", t);
        }
    }

    private static String cString(MemorySegment p) { return p.reinterpret(Long.MAX_VALUE).getString(0); }

    /** Every kernel of the library and its argument signature. */
    public Map<String, String> kernels() { return signatures; }

    /** The launch-shape constants the kernel sources export (IE_CONSTANT_EXPORT), by name. */
    public static Map<String, Long> constants() {
        if (NATIVE.error != null) throw new IllegalStateException(NATIVE.error);
        Map<String, Long> c = new TreeMap<>();
        try {
            int n = (int) NATIVE.constantCount.invokeExact();
            for (int i = 0; i < n; i++) {
                MemorySegment name = (MemorySegment) NATIVE.constantName.invokeExact(i);
                c.put(cString(name), (long) NATIVE.constantValue.invokeExact(name));
            }
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return c;
    }

    @Override public String name() {
        return "emulated CUDA device (" + (threads > 0 ? threads : Runtime.getRuntime().availableProcessors()) + " CPU threads, "
                + signatures.size() + " kernels)";
    }

    @Override public boolean isEmulated() { return true; }

    @Override public boolean hasKernel(String kernel) { return signatures.containsKey(kernel); }

    @Override public long totalMemory() { return Runtime.getRuntime().maxMemory(); }

    private void open() {
        if (closed) throw new IllegalStateException("device closed");
    }

    @Override public synchronized long malloc(long bytes) {
        open();
        if (bytes < 0) throw new IllegalArgumentException("malloc " + bytes);
        MemorySegment p;
        try {
            p = (MemorySegment) NATIVE.malloc.invokeExact(bytes);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (p.address() == 0) throw new DeviceOutOfMemoryError("emulated device: allocation of " + bytes + " bytes failed");
        allocations.put(p.address(), Math.max(bytes, 1));
        return p.address();
    }

    @Override public synchronized void free(long address) {
        if (closed) return;
        if (allocations.remove(address) == null)
            throw new IllegalArgumentException("free of 0x" + Long.toHexString(address) + ": not an allocation");
        try {
            NATIVE.free.invokeExact(MemorySegment.ofAddress(address));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The device memory [address, address + bytes), after checking it lies inside one allocation. */
    private MemorySegment region(long address, long bytes, String what) {
        Map.Entry<Long, Long> e = allocations.floorEntry(address);
        if (e == null || address + bytes > e.getKey() + e.getValue() || bytes < 0)
            throw new IllegalArgumentException(what + ": [0x" + Long.toHexString(address) + ", +" + bytes
                    + ") is not inside a live device allocation");
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    private void noCapture(String what) {
        if (capture != null) throw new IllegalStateException(what + " during graph capture (host memory cannot be part of a graph)");
    }

    @Override public synchronized void upload(long dst, MemorySegment src) {
        open();
        noCapture("host-to-device copy");
        MemorySegment.copy(src, 0, region(dst, src.byteSize(), "upload"), 0, src.byteSize());
        counters.upload(src.byteSize());
    }

    @Override public synchronized void download(MemorySegment dst, long src) {
        open();
        noCapture("device-to-host copy");
        long start = System.nanoTime();
        MemorySegment.copy(region(src, dst.byteSize(), "download"), 0, dst, 0, dst.byteSize());
        counters.download(dst.byteSize(), start);
    }

    @Override public synchronized void copy(long dst, long src, long bytes) {
        open();
        MemorySegment d = region(dst, bytes, "copy destination"), s = region(src, bytes, "copy source");
        run(() -> MemorySegment.copy(s, 0, d, 0, bytes));
    }

    @Override public synchronized void fill(long dst, byte value, long bytes) {
        open();
        MemorySegment d = region(dst, bytes, "fill");
        run(() -> d.fill(value));
    }

    private void run(Runnable work) {
        if (capture != null) capture.add(work);
        else work.run();
    }

    @Override public synchronized void launch(String kernel, Dim3 grid, Dim3 block, KernelArgs args) {
        open();
        String sig = signatures.get(kernel);
        if (sig == null) throw new IllegalArgumentException("no kernel named " + kernel);
        if (!sig.equals(args.signature()))
            throw new IllegalArgumentException(kernel + ": arguments " + args.signature() + " do not match its parameters " + sig);
        for (int i = 0; i < args.size(); i++)
            if (args.kind(i) == 'p' && args.bits(i) != 0) {
                Map.Entry<Long, Long> e = allocations.floorEntry(args.bits(i));
                if (e == null || args.bits(i) >= e.getKey() + e.getValue())
                    throw new IllegalArgumentException(kernel + ": pointer argument " + i + " (0x" + Long.toHexString(args.bits(i))
                            + ") is not inside a live device allocation");
            }
        KernelArgs a = args.copy();
        if (capture != null) {
            capture.add(() -> execute(kernel, grid, block, a));
            return;
        }
        long start = System.nanoTime();
        execute(kernel, grid, block, a);
        counters.launch(start);
    }

    private void execute(String kernel, Dim3 grid, Dim3 block, KernelArgs args) {
        try (Arena arena = Arena.ofConfined()) {
            int n = args.size();
            MemorySegment slots = arena.allocate(8L * Math.max(1, n), 8);
            MemorySegment ptrs = arena.allocate(ADDRESS, Math.max(1, n));
            for (int i = 0; i < n; i++) {
                long off = 8L * i;
                switch (args.kind(i)) {
                    case 'i' -> slots.set(JAVA_INT, off, (int) args.bits(i));
                    case 'f' -> slots.set(ValueLayout.JAVA_FLOAT, off, Float.intBitsToFloat((int) args.bits(i)));
                    case 'd' -> slots.set(ValueLayout.JAVA_DOUBLE, off, Double.longBitsToDouble(args.bits(i)));
                    default -> slots.set(JAVA_LONG, off, args.bits(i));
                }
                ptrs.setAtIndex(ADDRESS, i, slots.asSlice(off));
            }
            MemorySegment g = arena.allocateFrom(JAVA_INT, grid.x(), grid.y(), grid.z());
            MemorySegment b = arena.allocateFrom(JAVA_INT, block.x(), block.y(), block.z());
            MemorySegment err = arena.allocate(1024);
            int rc = (int) NATIVE.launch.invokeExact(arena.allocateFrom(kernel), arena.allocateFrom(args.signature()), g, b, 0,
                    ptrs, err, 1024);
            if (rc != 0) throw new IllegalStateException("kernel launch failed: " + err.getString(0) + " (grid " + grid + ", block "
                    + block + ", args " + args + ")");
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override public synchronized void synchronize() {
        open();
        noCapture("synchronize");
    }

    @Override public synchronized DeviceEvent record() {
        open();
        noCapture("event record");
        return new HostClockEvent(System.nanoTime());
    }

    /** Work runs when launched, so the host clock at record time is the event's time. */
    private record HostClockEvent(long nanos) implements DeviceEvent {
        @Override public float millisSince(DeviceEvent earlier) {
            if (!(earlier instanceof HostClockEvent e)) throw new IllegalArgumentException("event of another device");
            return (float) ((nanos - e.nanos) / 1e6);
        }

        @Override public void close() {}
    }

    @Override public synchronized void beginCapture() {
        open();
        if (capture != null) throw new IllegalStateException("already capturing");
        capture = new ArrayList<>();
    }

    @Override public synchronized DeviceGraph endCapture() {
        if (capture == null) throw new IllegalStateException("not capturing");
        List<Runnable> work = List.copyOf(capture);
        capture = null;
        return new DeviceGraph() {
            boolean gone;

            @Override public int nodes() { return work.size(); }

            @Override public void launch() {
                synchronized (EmulatedDevice.this) {
                    if (gone) throw new IllegalStateException("graph closed");
                    open();
                    noCapture("graph launch");
                    long start = System.nanoTime();
                    work.forEach(Runnable::run);
                    counters.graphLaunch(work.size(), start);
                }
            }

            @Override public void close() { gone = true; }
        };
    }

    @Override public synchronized boolean isCapturing() { return capture != null; }

    @Override public synchronized MemorySegment allocatePinned(long bytes) {
        long a = malloc(bytes);
        return MemorySegment.ofAddress(a).reinterpret(bytes);
    }

    @Override public synchronized void freePinned(MemorySegment pinned) { free(pinned.address()); }

    @Override public DeviceCounters counters() { return counters; }

    /** Addresses of live allocations (tests check for leaks). */
    public synchronized TreeSet<Long> liveAllocations() { return new TreeSet<>(allocations.keySet()); }

    @Override public synchronized void close() {
        if (closed) return;
        for (long a : new ArrayList<>(allocations.keySet())) free(a);
        closed = true;
    }
}
