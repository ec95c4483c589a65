package org.imagenete.io;

import java.nio.file.Path;

/** A checkpoint or tensor file that cannot be used, with the file and (where known) the key at fault. */
public class CheckpointException extends RuntimeException {
    private final Path file;
    private final String key;

    public CheckpointException(Path file, String key, String message) {
        this(file, key, message, null);
    }

    public CheckpointException(Path file, String key, String message, Throwable cause) {
        super(format(file, key, message), cause);
        this.file = file;
        this.key = key;
    }

    private static String format(Path file, String key, String message) {
        StringBuilder sb = new StringBuilder();
        if (file != null) sb.append(file).append(": ");
        if (key != null) sb.append("tensor '").append(key).append("': ");
        return Printable.escape(sb.append(message).toString());   // names from a hostile file may hold newlines
    }

    public Path file() { return file; }

    public String key() { return key; }
}
