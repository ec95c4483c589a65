package org.imagenete.ops.cuda;

import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * A block of device memory from the context's caching allocator, attached to a {@link Tensor} as its
 * {@link Tensor.Mirror}. A weight's buffer may also hold 16-bit copies for the tensor-core kernels, freed with it.
 * {@link #close()} is idempotent and may run on a Cleaner thread (the allocator's free is bookkeeping only).
 */
final class DeviceBuffer implements Tensor.Mirror {
    final CudaContext ctx;
    final long ptr;
    final long bytes;
    private DeviceBuffer bf16, f16;
    private boolean closed;

    DeviceBuffer(CudaContext ctx, long bytes) {
        this.ctx = ctx;
        this.bytes = bytes;
        this.ptr = ctx.allocator().allocate(bytes);
    }

    @Override public void download(MemorySegment host) {
        if (host.byteSize() > bytes) throw new IllegalArgumentException("download of " + host.byteSize() + " bytes from a " + bytes + "-byte buffer");
        ctx.device().download(host, ptr);
    }

    /** The cached 16-bit copy ("bf16" or "f16"), or null. */
    synchronized DeviceBuffer lowp(CudaOps.Precision p) { return p == CudaOps.Precision.BF16 ? bf16 : f16; }

    synchronized void setLowp(CudaOps.Precision p, DeviceBuffer b) {
        if (p == CudaOps.Precision.BF16) bf16 = b;
        else f16 = b;
    }

    synchronized boolean isClosed() { return closed; }

    @Override public void close() {
        DeviceBuffer a, b;
        synchronized (this) {
            if (closed) return;
            closed = true;
            a = bf16;
            b = f16;
            bf16 = f16 = null;
        }
        ctx.allocator().free(ptr);
        if (a != null) a.close();
        if (b != null) b.close();
    }

    @Override public String toString() { return "DeviceBuffer[0x" + Long.toHexString(ptr) + ", " + bytes + " B]"; }
}
