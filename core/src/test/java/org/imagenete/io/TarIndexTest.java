package org.imagenete.io;

import org.imagenete.testutil.Tar;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Tar members read off archives that GNU tar writes in its formats (long names, pax headers, empty files). */
class TarIndexTest {
    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"gnu", "pax", "ustar"})
    void membersAndTheirBytesAsTarWroteThem(String format) throws Exception {
        Path src = dir.resolve("src");
        Map<String, byte[]> files = new TreeMap<>();
        files.put("a.cls", "281\n".getBytes());
        files.put("a.jpg", new byte[1500]);
        files.put("empty.txt", new byte[0]);
        // 140 characters in all: past the 100 of a plain header (ustar splits it into prefix and name)
        files.put("background+20/" + "n".repeat(60) + "/" + "k".repeat(60) + ".png", new byte[513]);
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (var e : files.entrySet()) {
            for (int i = 0; i < e.getValue().length; i++) e.getValue()[i] = (byte) r.nextInt(256);
            Files.createDirectories(src.resolve(e.getKey()).getParent());
            Files.write(src.resolve(e.getKey()), e.getValue());
        }
        Path archive = dir.resolve(format + ".tar");
        Tar.create(archive, src, format, List.copyOf(files.keySet()));
        List<TarIndex.Member> ms = TarIndex.read(archive);
        assertEquals(files.keySet(), new java.util.TreeSet<>(ms.stream().map(TarIndex.Member::name).toList()), "regular files only, full names");
        for (TarIndex.Member m : ms) assertArrayEquals(files.get(m.name()), TarIndex.bytes(archive, m), m.name());
    }

    @Test
    void notATarAndTruncatedShardsAreNamed() throws Exception {
        Path junk = dir.resolve("junk.tar");
        Files.write(junk, "this is not a tar archive, just text that is long enough to fill a header block".repeat(10).getBytes());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TarIndex.read(junk));
        assertTrue(e.getMessage().contains("junk.tar") && e.getMessage().contains("not a tar file"), e.getMessage());
        Path src = dir.resolve("s");
        Files.createDirectories(src);
        Files.write(src.resolve("big.jpg"), new byte[5000]);
        Path full = dir.resolve("full.tar"), cut = dir.resolve("cut.tar");
        Tar.create(full, src, "gnu", List.of("big.jpg"));
        Files.write(cut, java.util.Arrays.copyOf(Files.readAllBytes(full), 3000));
        e = assertThrows(IllegalArgumentException.class, () -> TarIndex.read(cut));
        assertTrue(e.getMessage().contains("cut.tar") && e.getMessage().contains("big.jpg") && e.getMessage().contains("truncated"), e.getMessage());
    }
}
