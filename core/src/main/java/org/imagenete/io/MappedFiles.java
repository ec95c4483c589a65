package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Reading files through a memory mapping when another process may truncate them meanwhile (a weights file
 * overwritten in place by {@code cp} or a download). Reading a mapped page that now lies beyond the end of the file
 * raises SIGBUS. The JVM turns that into an {@link InternalError} when the read is a Java access (a
 * {@link java.lang.foreign.MemorySegment} get or copy); in native code (the C kernels, through FFM) nothing can catch
 * it and the process dies. So:
 * <ul>
 *   <li>every Java read of a mapping runs under {@link #guard}, which turns that error into a
 *   {@link CheckpointException}: "the file changed while in use";</li>
 *   <li>model weights are copied out of the mapping ({@link #copyToMemory}) before any native code sees them, and the
 *   mapping is closed: a file changed after loading no longer matters.</li>
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

    static <T> T guard(Path file, java.lang.foreign.MemorySegment mapping, Supplier<T> read) {
        return guard(file, mapping.byteSize(), read);
    }

    /**
     * The tensors of {@code sd} as owned native copies (dtype {@code convert.apply(dtype)}, e.g. F16 weights straight
     * to F32), read under {@link #guard}; each tensor's mapped pages are dropped from this process's memory once copied,
     * so that the copy does not double the resident size. Close {@code sd} afterwards: nothing refers to the file any
     * more. The caller closes the returned tensors.
     */
    public static Map<String, Tensor> copyToMemory(StateDict sd, UnaryOperator<DType> convert) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            guard(sd, () -> {
                for (Map.Entry<String, Tensor> e : sd.tensors().entrySet()) {
                    Tensor t = e.getValue();
                    DType to = convert.apply(t.dtype());
                    out.put(e.getKey(), to == t.dtype() ? t.copy() : to == DType.F32 ? t.toF32() : t.convert(to));
                    if (t.data().isMapped()) NativeMemory.dropPages(t.data());
                }
                return null;
            });
        } catch (RuntimeException | Error e) {
            out.values().forEach(Tensor::close);
            throw e;
        }
        return Collections.unmodifiableMap(out);
    }

    private static RuntimeException changed(Path file, long was, InternalError e) {
        long now;
        try {
            now = Files.size(file);
        } catch (IOException io) {
            now = -1;
        }
        String what = now < 0 ? "it is gone now" : now < was ? "it is " + now + " bytes now, " + was + " when opened"
                : "it has " + now + " bytes, " + was + " when opened; or it could not be read (an I/O error)";
        return new CheckpointException(file, null, "the file changed while in use (" + what + "): another process truncated"
                + " or overwrote it; run again once it is complete", e);
    }
}
