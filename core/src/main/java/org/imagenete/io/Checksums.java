package org.imagenete.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * SHA-256 of files for provenance. A 2 GB checkpoint takes seconds to hash, so results are cached under
 * {@code $IMAGENETE_CACHE} (default {@code ~/.cache/imagenete}) keyed by absolute path, size and modification
 * time: a changed file is hashed again.
 */
public final class Checksums {
    private Checksums() {}

    public static Path cacheDir() {
        String env = System.getenv("IMAGENETE_CACHE");
        return env != null && !env.isBlank() ? Path.of(env) : Path.of(System.getProperty("user.home"), ".cache", "imagenete");
    }

    public static String sha256(Path file) throws IOException {
        Path abs = file.toAbsolutePath().normalize();
        String key = abs + "|" + Files.size(abs) + "|" + Files.getLastModifiedTime(abs).toMillis();
        Path entry = cacheDir().resolve("sha256").resolve(hex(digest(key.getBytes(StandardCharsets.UTF_8))));
        if (Files.isRegularFile(entry)) {
            String v = Files.readString(entry).trim();
            if (v.matches("[0-9a-f]{64}")) return v;
        }
        MessageDigest md = sha();
        try (InputStream in = Files.newInputStream(abs)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        String v = hex(md.digest());
        try {
            AtomicFiles.write(entry, v.getBytes(StandardCharsets.US_ASCII));
        } catch (IOException ignored) {
            // a read-only home: hash again next time
        }
        return v;
    }

    public static String sha256(byte[] bytes) { return hex(digest(bytes)); }

    private static byte[] digest(byte[] b) { return sha().digest(b); }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] b) { return HexFormat.of().formatHex(b); }
}
