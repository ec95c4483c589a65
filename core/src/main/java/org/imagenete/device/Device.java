package org.imagenete.device;

import java.lang.foreign.MemorySegment;

/**
 * A CUDA device as the backend sees it: memory, copies, launching a kernel by name, one stream of work, events,
 * and graph capture. Two implementations: {@link JCudaDevice} (a real GPU through JCuda's driver API) and
 * {@link EmulatedDevice} (the same kernels compiled for the CPU). All work is ordered on the device's single
 * stream; {@link #download} and {@link #synchronize} wait for it. Device addresses are plain longs.
 *
 * <p>While capturing ({@link #beginCapture}), launches, device copies and fills are recorded instead of run;
 * host copies and synchronisation are errors, as on a GPU. Every host-device copy and every launch is counted
 * ({@link #counters()}).
 */
public interface Device extends AutoCloseable {
    /** What it is, for logs: "NVIDIA H200 (sm_90, 139.8 GiB)", "emulated (2 threads)". */
    String name();

    boolean isEmulated();

    /** Whether the loaded kernel image has a kernel of this name. */
    boolean hasKernel(String kernel);

    /** Device memory in bytes. */
    long totalMemory();

    /** Allocates device memory (not cached: see {@link DeviceAllocator}); throws {@link DeviceOutOfMemoryError}. */
    long malloc(long bytes);

    void free(long address);

    /** Copies {@code src.byteSize()} bytes of host memory to {@code dst}; {@code src} may be reused on return. */
    void upload(long dst, MemorySegment src);

    /** Waits for the stream, then copies {@code dst.byteSize()} bytes from {@code src} to host memory. */
    void download(MemorySegment dst, long src);

    /** Device-to-device copy, ordered on the stream. */
    void copy(long dst, long src, long bytes);

    /** Sets {@code bytes} bytes to {@code value}, ordered on the stream. */
    void fill(long dst, byte value, long bytes);

    /** Launches {@code kernel} on the stream. */
    void launch(String kernel, Dim3 grid, Dim3 block, KernelArgs args);

    /** Waits until all work on the stream is done. */
    void synchronize();

    /** Records an event on the stream (not while capturing). */
    DeviceEvent record();

    /** Starts recording the stream's work into a graph instead of running it. */
    void beginCapture();

    /** Stops recording; the graph runs the recorded work on each {@link DeviceGraph#launch()}. */
    DeviceGraph endCapture();

    boolean isCapturing();

    /** Page-locked host memory (faster transfers), freed with {@link #freePinned}. */
    MemorySegment allocatePinned(long bytes);

    void freePinned(MemorySegment pinned);

    /** Copies between host and device memory, launches, sampling steps: counted by the device itself. */
    DeviceCounters counters();

    @Override void close();
}
