package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.Function;

/**
 * Reading files through a memory mapping when another process may truncate them meanwhile (a weights file
 * overwritten in place by {@code cp} or a download). Reading a mapped page that now lies beyond the end of the file
 * raises SIGBUS. The JVM turns that into an {@link InternalError} when the read is a Java access (a
 * {@link java.lang.foreign.MemorySegment} get or copy); in native code (the C kernels, through FFM) nothing can catch
 * it and the process dies. So:
 * <ul>
 *   <li>every Java read of a mapping runs under {@link #guard}, which turns that error into a
 *   {@link CheckpointException}: "the file changed while in use";</li>
 *   <li>model weights are read into memory of their own ({@link #copyToMemory}, from the file, not the mapping: a
 *   truncated file is a short read) before any native code sees them, and the mapping is closed: a file changed after
 *   loading no longer matters.</li>
 * </ul>
 * Not protected: a mapping handed to native code directly (nothing in the CLI does); and an I/O error on the disk
 * while the file is mapped, which also raises SIGBUS (reported by {@link #guard} in the same words, with the cause).
 */
public final class MappedFiles {
    private MappedFiles() {}

    /** Runs {@code read}, a reader of a mapping of {@code file} (which had {@code sizeWhenMapped} bytes). */
    public static <T> T guard(Path file, long sizeWhenMapped, Supplier<T> read) {
        try {
            return read.get();
        } catch (InternalError e) {
            // HotSpot's words for a SIGBUS in a Java access: "a fault occurred in a[n] (recent) unsafe memory access ..."
            if (e.getMessage() == null || !e.getMessage().contains("fault occurred")) throw e;
            throw changed(file, sizeWhenMapped, e);
        }
    }

    /** {@link #guard} for {@code sd}'s file. */
    public static <T> T guard(StateDict sd, Supplier<T> read) { return guard(sd.file(), sd.fileSize(), read); }

    static <T> T guard(Path file, MemorySegment mapping, Supplier<T> read) {
        return guard(file, mapping.byteSize(), read);
    }

    /** Tensors copied out of a file, and the memory they live in; closing frees it. */
    public record Resident(Map<String, Tensor> tensors, MemorySegment block, List<Tensor> converted) implements AutoCloseable {
        @Override public void close() {
            converted.forEach(Tensor::close);
            NativeMemory.freeLongLived(block);
        }
    }

    /**
     * The tensors of {@code sd} copied into memory of this process, each in the dtype {@code convert} gives for it (e.g.
     * F16 weights to F32, or a model's convolution weights straight to BF16; a conversion goes through F32), read from the file rather than its mapping ({@link StateDict#read}): the file's pages are never mapped
     * into this process, so the copy does not add to its resident size. Close {@code sd} afterwards: nothing refers
     * to the file any more. The caller closes the result.
     */
    public static Resident copyToMemory(StateDict sd, Function<Tensor, DType> convert) {
        long total = 0;
        for (Tensor t : sd.tensors().values())
            if (convert.apply(t) == t.dtype()) total += align(t.byteSize());
        MemorySegment block = NativeMemory.allocateLongLived(Math.max(total, NativeMemory.ALIGNMENT));
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<Tensor> converted = new ArrayList<>();
        try {
            long at = 0;
            for (Map.Entry<String, Tensor> e : sd.tensors().entrySet()) {
                Tensor t = e.getValue();
                DType to = convert.apply(t);
                if (to == t.dtype()) {
                    MemorySegment dst = block.asSlice(at, t.byteSize());
                    sd.read(t, dst);
                    out.put(e.getKey(), Tensor.wrap(dst, t.dtype(), t.shape()));
                    at += align(t.byteSize());
                } else {
                    try (Tensor raw = Tensor.allocate(t.dtype(), t.shape())) {
                        sd.read(t, raw.data());
                        Tensor c = raw.toF32();
                        if (to != DType.F32)
                            try (Tensor f = c) {
                                c = f.convert(to);
                            }
                        converted.add(c);
                        out.put(e.getKey(), c);
                    }
                }
            }
        } catch (RuntimeException | Error e) {
            converted.forEach(Tensor::close);
            NativeMemory.freeLongLived(block);
            throw e;
        }
        return new Resident(Collections.unmodifiableMap(out), block, List.copyOf(converted));
    }

    private static long align(long n) { return (n + NativeMemory.ALIGNMENT - 1) / NativeMemory.ALIGNMENT * NativeMemory.ALIGNMENT; }

    /**
     * {@link StateDict#read} for a reader holding {@code channel} open on the file it mapped as {@code mapping}: a
     * tensor inside the mapping is read through the channel (the same file, even if the path now names another),
     * anything else (inflated entries) copied.
     */
    static void read(Path file, FileChannel channel, MemorySegment mapping, MemorySegment src, MemorySegment dst) {
        long offset = src.address() - mapping.address();
        if (channel == null || !src.isMapped() || offset < 0 || offset > mapping.byteSize() - src.byteSize()) {
            guard(file, mapping.byteSize(), () -> {
                MemorySegment.copy(src, 0, dst, 0, src.byteSize());
                return null;
            });
            return;
        }
        try {
            for (long done = 0; done < src.byteSize(); ) {
                int n = (int) Math.min(1 << 30, src.byteSize() - done);
                ByteBuffer b = dst.asSlice(done, n).asByteBuffer();
                while (b.hasRemaining())
                    if (channel.read(b, offset + done + b.position()) < 0) throw changed(file, mapping.byteSize(), null);
                done += n;
            }
        } catch (IOException e) {
            throw new CheckpointException(file, null, "cannot read: " + e.getMessage(), e);
        }
    }

    private static RuntimeException changed(Path file, long was, Throwable cause) {
        long now;
        try {
            now = Files.size(file);
        } catch (IOException io) {
            now = -1;
        }
        String what = now < 0 ? "it is gone now" : now < was ? "it is " + now + " bytes now, " + was + " when opened"
                : "it has " + now + " bytes, " + was + " when opened; or it could not be read (an I/O error)";
        return new CheckpointException(file, null, "the file changed while in use (" + what + "): another process truncated"
                + " or overwrote it; run again once it is complete", cause);
    }
}
