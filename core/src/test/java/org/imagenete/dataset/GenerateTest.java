package org.imagenete.dataset;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.cli.Main;
import org.imagenete.io.Manifest;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.CliProcess;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code generate} and {@code verify} on the real photos: outputs, shards, a killed run resumed, bad inputs. */
class GenerateTest {
    @TempDir static Path dir;
    static Path images, masks;
    static final String VARIANTS = "size-0.05,position,direction,size-0.08_direction+30";


    @BeforeAll
    static void inputs() throws IOException {
        Folder f = animalFolder(dir);
        images = f.images();
        masks = f.masks();
    }

    /** An ImageFolder and its mirrored masks. */
    record Folder(Path images, Path masks) {}

    /** An ImageFolder of all 14 animal photos and mirrored masks, under {@code dir}. */
    static Folder animalFolder(Path dir) throws IOException {
        Path images = dir.resolve("images"), masks = dir.resolve("masks");
        Path animals = Golden.animals();
        List<String> rows = Files.readAllLines(animals.resolve("labels.csv"));
        for (String row : rows.subList(1, rows.size())) {
            String[] f = row.split(",");
            String stem = f[0].replace(".jpg", "");
            Files.createDirectories(images.resolve(f[1]));
            Files.createDirectories(masks.resolve(f[1]));
            Files.copy(animals.resolve(f[0]), images.resolve(f[1]).resolve(f[0]));
            Files.copy(animals.resolve("masks").resolve(stem + ".png"), masks.resolve(f[1]).resolve(stem + ".png"));
        }
        return new Folder(images, masks);
    }

    static Cli.Run cli(String... args) { return Cli.run(args); }

    static Cli.Run generate(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--images", images.toString(), "--masks", masks.toString(),
                "--out", out.toString(), "--variants", VARIANTS, "--seed", "7", "--quiet"));
        a.addAll(List.of(extra));
        return cli(a.toArray(String[]::new));
    }

    /** Every file under a benchmark, relative path -> bytes hash, plus the manifest rows without timings. */
    static Map<String, String> snapshot(Path out) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".png")).toList())
                m.put(out.relativize(p).toString(), org.imagenete.io.Checksums.sha256(Files.readAllBytes(p)));
        }
        for (ObjectNode r : Manifest.readAll(out)) {
            r.remove("seconds");
            m.put("row " + r.get("image").asText() + " " + r.get("variant").asText(), r.toString());
        }
        return m;
    }

    static Map<String, String> full;

    static synchronized Map<String, String> fullRun() throws IOException {
        if (full == null) {
            Path out = dir.resolve("full");
            Cli.Run r = generate(out);
            assertEquals(0, r.code(), r.err());
            full = snapshot(out);
        }
        return full;
    }

    @Test
    void fullRunWritesEveryOutputAndVerifies() throws IOException {
        Map<String, String> s = fullRun();
        long pngs = s.keySet().stream().filter(k -> k.endsWith(".png")).count();
        long rows = s.keySet().stream().filter(k -> k.startsWith("row ")).count();
        assertEquals(14 * 5, rows, "original + 4 variants for 14 images");
        long unreachable = Manifest.readAll(dir.resolve("full")).stream().filter(r -> r.path("status").asText().equals("unreachable")).count();
        assertEquals(2 * (14 * 5 - unreachable), pngs, "an image and a mask per row that has a file");
        assertTrue(unreachable <= 2, "at most the biggest objects fail to fit when shrunk and turned: " + unreachable);
        Cli.Run v = cli("verify", dir.resolve("full").toString());
        assertEquals(0, v.code(), v.err());
    }

    @Test
    void unionOfThreeShardsEqualsOneRun() throws IOException {
        Path out = dir.resolve("sharded");
        for (int i = 0; i < 3; i++) assertEquals(0, generate(out, "--shard", i + "/3").code());
        assertEquals(fullRun(), snapshot(out));
        assertEquals(3, Manifest.readAll(out).stream().map(r -> r.get("image").asText()).distinct().count() > 0 ? 3 : 0);
    }

    /** A real process killed mid-run (SIGKILL), then resumed: the result equals an uninterrupted run, byte for byte. */
    @Test
    void killedRunResumesToIdenticalResult() throws Exception {
        Path out = dir.resolve("killed");
        Process p = CliProcess.start(dir.resolve("killed.log"), "generate", "--images", images.toString(), "--masks", masks.toString(),
                "--out", out.toString(), "--variants", VARIANTS, "--seed", "7", "--quiet", "--batch", "1");
        Path manifest = out.resolve("manifest.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline && p.isAlive()) {
            if (Files.exists(manifest) && Files.readAllLines(manifest).size() >= 12) break;
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the run finished before it could be killed: " + Files.readString(dir.resolve("killed.log")));
        p.destroyForcibly();   // SIGKILL
        p.waitFor();
        int before = Files.readAllLines(manifest).size();
        assertTrue(before < 70, "killed mid-run: " + before + " rows");
        Cli.Run r = generate(out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("already done"), r.err());
        assertEquals(fullRun(), snapshot(out));
        assertEquals(0, cli("verify", out.toString()).code(), "no leftover temporary file, nothing listed twice");
    }

    @Test
    void corruptImageIsReportedAndTheRestCompletes() throws IOException {
        Path imgs = dir.resolve("images-bad"), out = dir.resolve("bad");
        Files.createDirectories(imgs.resolve("n01514859"));
        Files.copy(images.resolve("n01514859/hen_1.jpg"), imgs.resolve("n01514859/hen_1.jpg"));
        Files.write(imgs.resolve("n01514859/broken.jpg"), new byte[]{(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, 0, 1, 2});
        Files.copy(masks.resolve("n01514859/hen_1.png"), masks.resolve("n01514859/broken.png"));
        Cli.Run r = cli("generate", "--images", imgs.toString(), "--masks", masks.toString(), "--out", out.toString(),
                "--variants", "size-0.05", "--quiet");
        Files.delete(masks.resolve("n01514859/broken.png"));
        assertEquals(Main.EXIT_SOME_FAILED, r.code(), r.err());
        assertTrue(r.err().contains("1 image(s) failed (exit 3)"), r.err());
        assertTrue(r.err().contains("failed: n01514859/broken") && r.err().contains("broken.jpg"), r.err());
        assertEquals(2, Manifest.readAll(out).size(), "hen_1: original + size-0.05");
    }

    @Test
    void verifyFindsMissingExtraAndCorruptFiles() throws IOException {
        Path out = dir.resolve("verify");
        assertEquals(0, cli("generate", "--images", images.toString(), "--masks", masks.toString(), "--out", out.toString(),
                "--variants", "position", "--quiet").code());
        Files.delete(out.resolve("position/n01514859/hen_1.png"));
        Files.write(out.resolve("position/n01514859/stray.png"), new byte[]{1});
        Path ox = out.resolve("original/n02403003/ox_1.png");
        byte[] b = Files.readAllBytes(ox);
        b[b.length / 2] ^= 1;
        Files.write(ox, b);
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        Cli.Run v;
        try {
            v = cli("verify", out.toString());
        } finally {
            System.setOut(old);
        }
        String report = buf.toString(StandardCharsets.UTF_8);
        assertEquals(1, v.code());
        assertTrue(report.contains("missing: position/n01514859/hen_1.png"), report);
        assertTrue(report.contains("extra: position/n01514859/stray.png"), report);
        assertTrue(report.contains("checksum mismatch: original/n02403003/ox_1.png"), report);
    }

    /** Background variants and the diffusion fill with the tiny formula-weight ADM at 64x64 (the golden tiny checkpoint). */
    @Test
    void backgroundVariantsWithTheTinyModel() throws IOException {
        Path imgs = dir.resolve("images-3"), out = dir.resolve("background");
        for (String f : List.of("n02123045/tabby_1.jpg", "n01514859/hen_1.jpg", "n02403003/ox_1.jpg")) {
            Files.createDirectories(imgs.resolve(f).getParent());
            Files.copy(images.resolve(f), imgs.resolve(f));
        }
        Cli.Run r = cli("generate", "--images", imgs.toString(), "--masks", masks.toString(), "--out", out.toString(),
                "--variants", "background+20,background-20,size-0.10", "--weights", Golden.golden("adm-tiny/weights.pt").toString(),
                "--num-head-channels", "8", "--size", "64", "--steps", "3", "--fill-steps", "4", "--quiet", "--batch", "4");
        assertEquals(0, r.code(), r.err());
        List<ObjectNode> rows = Manifest.readAll(out);
        assertEquals(3 * 4, rows.size());
        int harmonised = 0;
        for (ObjectNode row : rows) {
            assertEquals("diffusion", row.get("fill").asText());
            assertTrue(row.has("model_sha256"));
            // the geometric variant went through the harmonising pass with the background edits' S (--steps 3)
            if (row.get("variant").asText().equals("size-0.10") && row.get("status").asText().equals("ok")) {
                assertEquals(3, row.get("values").path("harmonize_steps").asInt(-1), row.toString());
                harmonised++;
            }
        }
        assertTrue(harmonised >= 2, "size-0.10 outputs harmonised: " + harmonised);
        assertEquals(0, cli("verify", out.toString()).code());
    }

    /**
     * {@code generate --mask-format imagenet-s}: ImageNet-S segmentation PNGs (id = R + 256 G) become the same object
     * masks as the binary files they encode; the ignore label 1000 counts as background (a band of it added to the
     * tabby's mask is not object), while {@code binary} would take it as object. {@code imagenet-s:ID} keeps one id
     * for every image: the images without it fail with "empty mask", the others are made.
     */
    @Test
    void imageNetSMasks() throws IOException {
        Path imgs = dir.resolve("images-s"), ms = dir.resolve("masks-s");
        Map<String, String> wnids = Map.of("tabby_1", "n02123045", "german_shepherd_1", "n02106662", "giant_panda_1", "n02510455");
        for (var e : wnids.entrySet()) {
            Files.createDirectories(imgs.resolve(e.getValue()));
            Files.createDirectories(ms.resolve(e.getValue()));
            Files.copy(Golden.animals().resolve(e.getKey() + ".jpg"), imgs.resolve(e.getValue()).resolve(e.getKey() + ".jpg"));
            java.awt.image.BufferedImage m = javax.imageio.ImageIO.read(Golden.animals().resolve("masks-imagenet-s/" + e.getKey() + ".png").toFile());
            if (e.getKey().equals("tabby_1"))   // the top 12 rows: ImageNet-S "ignore" (1000 = R 232 + 256 * G 3)
                for (int y = 0; y < 12; y++) for (int x = 0; x < m.getWidth(); x++) m.setRGB(x, y, 232 << 16 | 3 << 8);
            javax.imageio.ImageIO.write(m, "png", ms.resolve(e.getValue()).resolve(e.getKey() + ".png").toFile());
        }
        Path out = dir.resolve("imagenet-s"), outBinary = dir.resolve("imagenet-s-as-binary"), outId = dir.resolve("imagenet-s-282");
        for (String[] run : new String[][]{{"imagenet-s", out.toString()}, {"binary", outBinary.toString()}, {"imagenet-s:282", outId.toString()}}) {
            Cli.Run r = cli("generate", "--images", imgs.toString(), "--masks", ms.toString(), "--mask-format", run[0], "--out", run[1],
                    "--variants", "position", "--quiet");
            // images without the id are failures of the run (exit 3), listed; the others are made
            assertEquals(run[0].equals("imagenet-s:282") ? 3 : 0, r.code(), r.err());
            if (run[0].equals("imagenet-s:282")) {
                assertTrue(r.err().contains("giant_panda_1") && r.err().contains("empty mask"), r.err());
                assertTrue(r.err().contains("german_shepherd_1") && r.err().contains("empty mask"), r.err());
            }
        }
        Path full = dir.resolve("full");
        fullRun();
        for (String f : List.of("n02106662/german_shepherd_1.png", "n02510455/giant_panda_1.png"))
            assertEquals(Files.mismatch(full.resolve("masks/original/" + f), out.resolve("masks/original/" + f)), -1L,
                    f + ": the ImageNet-S mask is the binary one");
        var tabby = org.imagenete.image.Masks.read(out.resolve("masks/original/n02123045/tabby_1.png"), new org.imagenete.image.MaskSource.Binary());
        var tabbyBinary = org.imagenete.image.Masks.read(outBinary.resolve("masks/original/n02123045/tabby_1.png"), new org.imagenete.image.MaskSource.Binary());
        var reference = org.imagenete.image.Masks.read(full.resolve("masks/original/n02123045/tabby_1.png"), new org.imagenete.image.MaskSource.Binary());
        assertEquals(reference, tabby, "ignore pixels are background under imagenet-s");
        assertTrue(tabbyBinary.count() > tabby.count() + 256 * 4, "binary takes the ignore band as object: " + tabbyBinary.count() + " vs " + tabby.count());
        assertTrue(Files.isRegularFile(outId.resolve("position/n02123045/tabby_1.png")));
        for (ObjectNode row : Manifest.readAll(out)) assertEquals("imagenet-s", row.get("mask_format").asText());
        for (ObjectNode row : Manifest.readAll(outId)) assertEquals("imagenet-s:282", row.get("mask_format").asText());
    }
}
