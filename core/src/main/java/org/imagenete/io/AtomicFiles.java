package org.imagenete.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that readers see either the old file or the whole new one, never a part: a hidden
 * temporary file beside the target (created with the process umask, like any new file), written, forced to
 * disk, then renamed over the target. On any failure (a full disk, a killed writer) the target is untouched
 * and the temporary file removed.
 */
public final class AtomicFiles {
    /** Writes the content to the stream. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /** The temporary file name of a write to {@code .<name>.<hex>.tmp}; see {@link #temporaryTarget}. */
    private static final java.util.regex.Pattern TEMPORARY = java.util.regex.Pattern.compile("\\.(.+)\\.[0-9a-f]{1,16}\\.tmp");

    private AtomicFiles() {}

    /**
     * The name of the file that {@code fileName} was a temporary for, when it is one of ours (left behind by a
     * process killed while writing); null otherwise.
     */
    public static String temporaryTarget(String fileName) {
        java.util.regex.Matcher m = TEMPORARY.matcher(fileName);
        return m.matches() ? m.group(1) : null;
    }

    public static void write(Path file, Content content) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 OutputStream out = Channels.newOutputStream(ch)) {
                content.writeTo(out);
                out.flush();
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static void write(Path file, byte[] bytes) throws IOException {
        write(file, out -> out.write(bytes));
    }
}
