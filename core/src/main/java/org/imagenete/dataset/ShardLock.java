package org.imagenete.dataset;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * One {@code generate} run's exclusive hold on a shard of an output folder: an OS file lock ({@code fcntl}, through
 * {@link FileChannel#tryLock}) on {@code .<manifest>.lock} beside the shard's manifest. A second run on the same
 * folder and shard (a re-queued job, a double click) is refused at once, naming the holder recorded in the lock
 * file. The kernel drops the lock when the holder exits, however it exits (a killed run leaves no stale lock: the
 * file may stay, but nothing holds it). On network file systems this relies on their lock service (NFSv4 locks;
 * NFSv3 with lockd).
 */
final class ShardLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private ShardLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock file of a shard's manifest. */
    static Path file(Path out, String manifestName) { return out.resolve("." + manifestName + ".lock"); }

    /** Takes the lock, or throws {@link IllegalStateException} naming the run that holds it. */
    static ShardLock acquire(Path out, String manifestName, String shard) throws IOException {
        Path f = file(out, manifestName);
        FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;   // held by this JVM (two runs in one process)
            }
            if (lock == null) {
                String holder = holder(f);
                throw new IllegalStateException(out + ": another generate run is writing shard " + shard + " of this folder ("
                        + (holder.isEmpty() ? "holder unknown" : holder) + "); wait for it to finish or stop it, then run again to resume");
            }
            String me = "pid " + ProcessHandle.current().pid() + " on " + host() + ", since "
                    + Instant.now().truncatedTo(ChronoUnit.SECONDS) + "\n";
            byte[] b = me.getBytes(StandardCharsets.UTF_8);
            ch.write(ByteBuffer.wrap(b), 0);   // over the last holder's line, then cut: never an empty file between
            ch.truncate(b.length);
            return new ShardLock(ch, lock);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The holder's line; the holder may have taken the lock a moment ago and not written it yet: wait a little for it. */
    private static String holder(Path f) throws IOException {
        String h = "";
        for (int i = 0; i < 20 && h.isEmpty(); i++) {
            h = Files.readString(f, StandardCharsets.UTF_8).strip();
            if (h.isEmpty()) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        return h;
    }

    private static String host() {
        String h = System.getenv("HOSTNAME");
        if (h != null && !h.isBlank()) return h;
        try {
            return Files.readString(Path.of("/etc/hostname")).strip();
        } catch (IOException | RuntimeException e) {
            return "this host";
        }
    }

    @Override public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
