package org.imagenete.image;

import java.nio.file.Path;

/**
 * An image or mask file that cannot be used: unreadable, truncated, corrupt, of an unsupported format, or
 * (for masks) of the wrong size, kind or content. The message starts with the file and says what is wrong.
 * No partly decoded pixels are ever returned alongside it.
 */
public class ImageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Path is not serializable; the message keeps the file name when the exception is. */
    private final transient Path file;

    public ImageException(Path file, String message) {
        this(file, message, null);
    }

    public ImageException(Path file, String message, Throwable cause) {
        super(org.imagenete.io.Printable.escape(file == null ? message : file + ": " + message), cause);
        this.file = file;
    }

    /** The file at fault; null for in-memory data. */
    public Path file() { return file; }
}
