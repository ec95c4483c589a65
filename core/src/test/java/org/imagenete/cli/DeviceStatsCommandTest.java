package org.imagenete.cli;

import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --stats} of {@code edit} and {@code generate}: a guided background edit with a small ADM (the tiny golden one,
 * at 16x16 to keep the emulator quick) on cuda-emulated moves at most 1 KiB per image per extra sampling step; the CPU
 * backend prints the line with zeros; and a generated image's bytes do not depend on the UNet batch it ran in.
 */
class DeviceStatsCommandTest {
    @TempDir Path dir;

    static final Pattern LINE = Pattern.compile(
            "device transfers: (\\d+) copies, (\\d+) bytes host-to-device, (\\d+) bytes device-to-host, (\\d+) steps");

    static Path animal(String f) { return Golden.animals().resolve(f); }

    /** {copies, bytes up, bytes down, steps} of the one stats line in a run's output. */
    static long[] stats(String err) {
        Matcher m = LINE.matcher(err);
        assertTrue(m.find(), "no stats line in:\n" + err);
        long[] v = {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)), Long.parseLong(m.group(4))};
        assertTrue(!m.find(), "one stats line");
        return v;
    }

    Cli.Run edit(String backend, int steps, String out) {
        return Cli.run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "background=20",
                "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--num-head-channels", "8", "--size", "16", "--steps",
                Integer.toString(steps), "--backend", backend, "--stats", "--out", dir.resolve(out).toString());
    }

    @Test
    void aGuidedBackgroundEditMovesAtMostOneKibPerExtraStep() {
        Cli.Run two = edit("cuda-emulated", 2, "two"), four = edit("cuda-emulated", 4, "four");
        assertEquals(0, two.code(), two.err());
        assertEquals(0, four.code(), four.err());
        long[] a = stats(two.err()), b = stats(four.err());
        System.out.println("--steps 2: " + java.util.Arrays.toString(a) + "\n--steps 4: " + java.util.Arrays.toString(b));
        assertEquals(2, a[3]);
        assertEquals(4, b[3]);
        assertTrue(a[1] > 0 && a[2] > 0, "the images went up and the result came down");
        double perStep = ((b[1] + b[2]) - (a[1] + a[2])) / 2.0;
        System.out.println("traffic per extra step (one image): " + perStep + " bytes");
        assertTrue(perStep > 0 && perStep <= 1024, perStep + " bytes per extra step");
        assertTrue(two.err().contains("device steps: "), two.err());
    }

    @Test
    void theCpuBackendPrintsTheLineWithZeros() {
        Cli.Run r = Cli.run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "size=0.08",
                "--backend", "cpu", "--stats", "--out", dir.resolve("cpu").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("device transfers: 0 copies, 0 bytes host-to-device, 0 bytes device-to-host, 0 steps\n"), r.err());
    }

    /** Two images of one background variant, UNet batch 1 and batch 2: the same PNG bytes. */
    @Test
    void aGeneratedImageDoesNotDependOnItsBatch() throws IOException {
        Path images = dir.resolve("images"), masks = dir.resolve("masks");
        for (String f : List.of("n02123045/tabby_1", "n01514859/hen_1")) {
            Path img = images.resolve(f + ".jpg"), mask = masks.resolve(f + ".png");
            Files.createDirectories(img.getParent());
            Files.createDirectories(mask.getParent());
            String stem = f.substring(f.indexOf('/') + 1);
            Files.copy(animal(stem + ".jpg"), img);
            Files.copy(animal("masks/" + stem + ".png"), mask);
        }
        List<byte[]> outs = new ArrayList<>();
        for (int batch : new int[]{1, 2}) {
            Path out = dir.resolve("gen" + batch);
            Cli.Run r = Cli.run("generate", "--images", images.toString(), "--masks", masks.toString(), "--out", out.toString(),
                    "--variants", "background+20", "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--num-head-channels", "8",
                    "--size", "16", "--steps", "2", "--fill", "patch", "--batch", Integer.toString(batch), "--backend", "cuda-emulated",
                    "--quiet", "--stats");
            assertEquals(0, r.code(), r.err());
            System.out.println("batch " + batch + ": " + java.util.Arrays.toString(stats(r.err())));
            for (String f : List.of("n02123045/tabby_1.png", "n01514859/hen_1.png"))
                outs.add(Files.readAllBytes(out.resolve("background+20").resolve(f)));
        }
        assertArrayEquals(outs.get(0), outs.get(2), "tabby: batch 1 = batch 2");
        assertArrayEquals(outs.get(1), outs.get(3), "hen: batch 1 = batch 2");
    }
}
