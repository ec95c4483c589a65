package org.imagenete.io;

import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;

/**
 * Named weight tensors read from a checkpoint file, in file order. The tensors are views of the opened
 * file (usually memory-mapped) and are valid until {@link #close()}.
 */
public interface StateDict extends AutoCloseable {
    /** Tensor names to tensors, in file order; unmodifiable. */
    Map<String, Tensor> tensors();

    /** The file this was read from. */
    Path file();

    /** The file's size when it was opened (and mapped). */
    long fileSize();

    /**
     * Copies the bytes of {@code t} (one of {@link #tensors()}) into {@code dst}: read from the file where the tensor
     * lies in it (faster than copying from the mapping, and a file truncated meanwhile is a short read, reported as
     * "the file changed while in use"), copied otherwise.
     */
    default void read(Tensor t, MemorySegment dst) {
        MappedFiles.guard(this, () -> {
            MemorySegment.copy(t.data(), 0, dst, 0, t.byteSize());
            return null;
        });
    }

    /** Releases the file mapping; the tensors become unusable. */
    @Override void close();
}
