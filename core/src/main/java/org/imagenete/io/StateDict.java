package org.imagenete.io;

import org.imagenete.tensor.Tensor;

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

    /** Releases the file mapping; the tensors become unusable. */
    @Override void close();
}
