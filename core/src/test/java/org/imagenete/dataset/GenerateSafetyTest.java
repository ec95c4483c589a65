package org.imagenete.dataset;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.cli.Main;
import org.imagenete.io.Manifest;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.CliProcess;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs that share an output folder (at the same time, or one after another with other settings), outputs lost between
 * runs, and what {@code verify} then says: nothing is silently lost, mixed or listed twice.
 */
class GenerateSafetyTest {
    @TempDir static Path dir;
    static final String VARIANTS = "size-0.05,position,direction+30";
    static GenerateTest.Folder in;

    @BeforeAll
    static void inputs() throws IOException { in = GenerateTest.animalFolder(dir); }

    static List<String> args(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--images", in.images().toString(), "--masks",
                in.masks().toString(), "--out", out.toString(), "--quiet"));
        List<String> e = List.of(extra);
        if (!e.contains("--variants")) a.addAll(List.of("--variants", VARIANTS));
        if (!e.contains("--seed")) a.addAll(List.of("--seed", "7"));
        a.addAll(e);
        return a;
    }

    static Cli.Run generate(Path out, String... extra) { return Cli.run(args(out, extra).toArray(String[]::new)); }

    /** verify's exit code and what it printed on stdout (its problems). */
    record Verify(int code, String report) {}

    static Verify verify(Path out) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = Cli.run("verify", out.toString()).code();
            return new Verify(code, buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
    }

    /** One row per (image, variant), every line whole JSON, and verify accepts the folder. */
    static void assertSound(Path out, int rows) throws IOException {
        List<String> lines = Files.readAllLines(out.resolve("manifest.jsonl"));
        Set<String> keys = new HashSet<>();
        for (String l : lines) {
            ObjectNode r = (ObjectNode) Manifest.JSON.readTree(l);
            assertTrue(keys.add(r.get("image").asText() + " " + r.get("variant").asText()), "listed twice: " + l);
        }
        assertEquals(rows, lines.size());
        Verify v = verify(out);
        assertEquals(0, v.code(), v.report());
    }

    /** Two real processes started together on one folder and shard: one runs, the other is refused naming it (or, if
     *  the first finished before the second started, the second finds everything done). Never torn or lost rows. */
    @Test
    void twoProcessesOnOneFolderAndShard() throws Exception {
        Path out = dir.resolve("race");
        List<String> a = args(out, "--batch", "1");
        Path logA = dir.resolve("race-a.log"), logB = dir.resolve("race-b.log");
        Process pa = CliProcess.start(logA, a.toArray(String[]::new));
        Process pb = CliProcess.start(logB, a.toArray(String[]::new));
        int ca = CliProcess.await(pa, logA, 300), cb = CliProcess.await(pb, logB, 300);
        String la = Files.readString(logA), lb = Files.readString(logB);
        assertTrue(ca == 0 || cb == 0, "A: " + la + "\nB: " + lb);
        for (String[] lc : new String[][]{{la, Integer.toString(ca)}, {lb, Integer.toString(cb)}}) {
            if (lc[1].equals("0")) continue;
            assertEquals("1", lc[1], lc[0]);
            assertTrue(lastLine(lc[0]).contains("another generate run is writing shard 0/1 of this folder (pid "), lc[0]);
            assertFalse(lc[0].contains("\tat "), lc[0]);
        }
        assertSound(out, 14 * 4);
        Cli.Run again = generate(out);
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("0 outputs written, " + 14 * 4 + " already done"), again.err());
    }

    /** Another process holds the shard's lock (as a running generate does): a run is refused at once, naming it, and writes nothing. */
    @Test
    void runIsRefusedWhileAnotherProcessHoldsTheShard() throws Exception {
        Path out = Files.createDirectories(dir.resolve("held"));
        // The lock is taken by this (test) JVM; the run is another process, as a second generate would be.
        try (FileChannel ch = FileChannel.open(out.resolve(".manifest-1-of-2.jsonl.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock ignored = ch.lock()) {
            ch.write(ByteBuffer.wrap("pid 4242 on node17, since 2026-01-01T00:00:00Z\n".getBytes(StandardCharsets.UTF_8)));
            Path log = dir.resolve("held.log");
            List<String> a = args(out, "--shard", "1/2");
            long t0 = System.nanoTime();
            int code = CliProcess.await(CliProcess.start(log, a.toArray(String[]::new)), log, 120);
            String err = Files.readString(log);
            assertEquals(1, code, err);
            assertTrue(err.contains("another generate run is writing shard 1/2 of this folder (pid 4242 on node17, since "
                    + "2026-01-01T00:00:00Z); wait for it to finish or stop it"), err);
            assertFalse(Files.exists(out.resolve("manifest-1-of-2.jsonl")));
            // another shard of the same folder is not held
            assertEquals(0, generate(out, "--shard", "0/2").code());
            System.err.printf("refused in %.1f s (JVM start included)%n", (System.nanoTime() - t0) / 1e9);
        }
    }

    static String lastLine(String text) {
        List<String> l = text.strip().lines().toList();
        return l.getLast();
    }

    @Test
    void deletedOutputsAreMadeAgainWithOneRowEach() throws IOException {
        Path out = dir.resolve("deleted");
        assertEquals(0, generate(out).code());
        byte[] before = Files.readAllBytes(out.resolve("position/n01514859/hen_1.png"));
        Files.delete(out.resolve("position/n01514859/hen_1.png"));
        Files.delete(out.resolve("masks/original/n02123045/tabby_1.png"));
        Cli.Run r = generate(out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("2 output(s) listed in the manifest were missing: made again"), r.err());
        assertTrue(r.err().contains("2 outputs written"), r.err());
        assertSound(out, 14 * 4);
        assertEquals(-1, java.util.Arrays.mismatch(before, Files.readAllBytes(out.resolve("position/n01514859/hen_1.png"))));
    }

    @Test
    void resumeWithOtherSettingsIsRefusedNamingTheDifference() throws IOException {
        Path out = dir.resolve("settings");
        assertEquals(0, generate(out, "--variants", "position").code());
        String manifest = Files.readString(out.resolve("manifest.jsonl"));

        Cli.Run seed = generate(out, "--variants", "position", "--seed", "8");
        assertEquals(1, seed.code(), seed.err());
        assertTrue(seed.err().contains("was generated with other settings (settings.json): --seed: 7 in the folder, 8 here"), seed.err());
        assertTrue(lastLine(seed.err()).startsWith("generate: " + out + " was generated with other settings"), seed.err());

        Cli.Run fill = generate(out, "--variants", "position", "--fill", "telea", "--shard", "0/2");
        assertEquals(1, fill.code());
        assertTrue(fill.err().contains("--shard I/N (N): 1 in the folder, 2 here; --fill: patch in the folder, telea here"), fill.err());
        assertEquals(manifest, Files.readString(out.resolve("manifest.jsonl")), "a refused run writes nothing");

        Path spec = dir.resolve("renamed.yaml");
        Files.writeString(spec, "variants:\n  - {name: position, edits: \"size=0.05\"}\n");
        Cli.Run redefined = generate(out, "--variants", spec.toString());
        assertEquals(1, redefined.code());
        assertTrue(redefined.err().contains("variant 'position': edits [\"position\"] in the folder, [\"size-0.05\"] here"), redefined.err());

        // Adding variants to a folder is allowed (and recorded).
        Cli.Run more = generate(out, "--variants", "position,size-0.05");
        assertEquals(0, more.code(), more.err());
        assertSound(out, 14 * 3);

        Cli.Run forced = generate(out, "--variants", "position,direction+30", "--seed", "9", "--force-settings");
        assertEquals(0, forced.code(), forced.err());
        assertTrue(forced.err().contains("--force-settings: --seed: 7 in the folder, 9 here"), forced.err());
        Verify v = verify(out);
        assertEquals(0, v.code(), v.report());
        assertTrue(v.report().contains("mixed other settings into this folder (--force-settings): [\"--seed: 7 in the folder, 9 here\"]"), v.report());
    }

    @Test
    void verifyChecksMasksAndReportsEveryUnlistedFile() throws IOException {
        Path out = dir.resolve("verify-masks");
        assertEquals(0, generate(out, "--variants", "position").code());
        Path mask = out.resolve("masks/position/n02403003/ox_1.png");
        byte[] good = Files.readAllBytes(mask), b = good.clone();
        b[b.length / 2] ^= 1;
        Files.write(mask, b);
        Files.writeString(out.resolve("position/n02403003/notes.txt"), "stray");
        Files.write(out.resolve("original/n02403003/.ox_1.png.3f2a.tmp"), new byte[]{1});
        Verify v = verify(out);
        assertEquals(1, v.code());
        assertTrue(v.report().contains("checksum mismatch: masks/position/n02403003/ox_1.png"), v.report());
        assertTrue(v.report().contains("extra: position/n02403003/notes.txt"), v.report());
        assertTrue(v.report().contains("leftover temporary file: original/n02403003/.ox_1.png.3f2a.tmp"), v.report());
        // a rerun removes its own leftover temporary file (and rewrites nothing else)
        Files.delete(out.resolve("position/n02403003/notes.txt"));
        Files.write(mask, good);
        Cli.Run r = generate(out, "--variants", "position");
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(out.resolve("original/n02403003/.ox_1.png.3f2a.tmp")));
    }

    @Test
    void manifestPathsOutsideTheFolderAreReported() throws IOException {
        Path out = dir.resolve("escape");
        assertEquals(0, generate(out, "--variants", "position").code());
        Path m = out.resolve("manifest.jsonl");
        Files.writeString(m, Files.readString(m).replaceFirst("\"file\":\"original/", "\"file\":\"../../original/"));
        Verify v = verify(out);
        assertEquals(1, v.code());
        assertTrue(v.report().contains("lists file '../../original/"), v.report());
        assertTrue(v.report().contains("which is not a file inside the benchmark"), v.report());
    }

    @Test
    void badOutAndShardAreOneLine() throws IOException {
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        Cli.Run r = generate(file);
        assertEquals(1, r.code());
        assertEquals("generate: --out " + file + ": exists and is not a folder", r.err().strip());
        for (String bad : List.of("abc", "1/1", "-1/3", "2", "1/0", "0/x")) {
            Cli.Run s = generate(dir.resolve("never"), "--shard", bad);
            assertEquals(Main.EXIT_USAGE, s.code(), bad + ": " + s.err());
            assertTrue(s.err().contains("Invalid value for option '--shard'"), s.err());
        }
        Cli.Run batch = generate(dir.resolve("never"), "--batch", "0");
        assertEquals(Main.EXIT_USAGE, batch.code());
        assertTrue(batch.err().startsWith("generate: --batch 0: must be at least 1"), batch.err());
        Cli.Run size = generate(dir.resolve("never"), "--size", "100000");
        assertEquals(Main.EXIT_USAGE, size.code());
        assertTrue(size.err().startsWith("generate: --size 100000: the working resolution must be between 16 and 4096"), size.err());
        Cli.Run threads = generate(dir.resolve("never"), "--threads", "20000");
        assertEquals(Main.EXIT_USAGE, threads.code());
        assertTrue(threads.err().contains("--threads 20000: at most "), threads.err());
        assertFalse(Files.exists(dir.resolve("never")));
    }
}
