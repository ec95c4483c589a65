package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code imagenet-e edit}: outputs, reproducible sidecars, identical bytes for the same seed, clear errors. */
class EditCommandTest {
    @TempDir Path dir;

    static Path animal(String f) { return Golden.animals().resolve(f); }

    @Test
    void sameSeedSameBytesAndASidecarThatReproducesIt() throws Exception {
        for (String out : new String[]{"a", "b"}) {
            var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "size=0.08",
                    "--set", "direction=30,position", "--seed", "5", "--label", "n01882714", "--out", dir.resolve(out).toString());
            assertEquals(0, r.code(), r.err());
        }
        for (String f : new String[]{"koala_1.size-0.08.png", "koala_1.size-0.08.mask.png", "koala_1.size-0.08.json",
                "koala_1.direction+30_position.png", "koala_1.direction+30_position.json"})
            assertArrayEquals(Files.readAllBytes(dir.resolve("a").resolve(f)), Files.readAllBytes(dir.resolve("b").resolve(f)), f);
        JsonNode j = Golden.json(dir.resolve("a/koala_1.size-0.08.json"));
        assertEquals(5, j.get("seed").asLong());
        assertEquals(105, j.get("source").get("label").asInt());
        assertEquals(0.08, j.get("values").get("ratio_achieved").asDouble(), 0.0008);
        assertTrue(j.get("source").get("image_sha256").asText().matches("[0-9a-f]{64}"));
        assertEquals("patch", j.get("fill").asText());
        // another seed moves the object elsewhere
        var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "direction=30,position",
                "--seed", "6", "--out", dir.resolve("c").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(!java.util.Arrays.equals(Files.readAllBytes(dir.resolve("a/koala_1.direction+30_position.png")),
                Files.readAllBytes(dir.resolve("c/koala_1.direction+30_position.png"))));
    }

    @Test
    void badRequestsSayWhy() {
        var wrongSize = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/tabby_1.png").toString(), "--set", "size=0.05",
                "--out", dir.resolve("x").toString());
        assertEquals(1, wrongSize.code());
        assertTrue(wrongSize.err().contains("tabby_1.png") && wrongSize.err().matches("(?s).*\\d+x\\d+.*\\d+x\\d+.*"), wrongSize.err());
        var noModel = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "background=20",
                "--out", dir.resolve("x").toString());
        assertEquals(2, noModel.code(), "a missing option is a usage error");
        assertTrue(noModel.err().contains("--weights"), noModel.err());
        var badEdit = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "colour=red",
                "--out", dir.resolve("x").toString());
        assertEquals(2, badEdit.code(), "a bad option value is a usage error");
        assertTrue(badEdit.err().contains("--set colour=red: unknown edit 'colour'"), badEdit.err());
        var tooBig = run("edit", animal("lesser_panda_1.jpg").toString(), "--mask", animal("masks/lesser_panda_1.png").toString(),
                "--set", "size=0.9", "--out", dir.resolve("y").toString());
        assertEquals(1, tooBig.code(), "an unreachable size is reported, nothing written in its place");
        assertTrue(tooBig.err().contains("does not fit") || tooBig.err().contains("unreachable"), tooBig.err());
        assertTrue(!Files.exists(dir.resolve("y/lesser_panda_1.size-0.90.png")));
    }

    /**
     * The harmonising pass (issue 12): {@code size=0.08} with the tiny formula-weight ADM and 2 harmonising steps
     * against the same edit with the pass off. The object's pixels are the same bytes, the background around it was
     * regenerated, and both sidecars say what ran.
     */
    @Test
    void harmonisedGeometricEditChangesTheBackgroundAndKeepsTheObject() {
        for (String s : new String[]{"2", "0"}) {
            var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "size=0.08",
                    "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--num-head-channels", "8", "--size", "64",
                    "--harmonize-steps", s, "--seed", "3", "--out", dir.resolve("h" + s).toString());
            assertEquals(0, r.code(), r.err());
        }
        RgbImage on = Images.read(dir.resolve("h2/koala_1.size-0.08.png")), off = Images.read(dir.resolve("h0/koala_1.size-0.08.png"));
        Mask m = Masks.read(dir.resolve("h2/koala_1.size-0.08.mask.png"), new MaskSource.Binary());
        assertEquals(m, Masks.read(dir.resolve("h0/koala_1.size-0.08.mask.png"), new MaskSource.Binary()), "the same placement");
        int object = 0, background = 0, changed = 0;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) {
                boolean differs = false;
                for (int c = 0; c < 3; c++) differs |= on.get(x, y, c) != off.get(x, y, c);
                if (m.get(x, y)) {
                    object++;
                    assertTrue(!differs, "object pixel " + x + "," + y + " changed");
                } else {
                    background++;
                    if (differs) changed++;
                }
            }
        System.out.printf(java.util.Locale.ROOT, "harmonised size=0.08 at 64x64: %d object pixels equal, %d of %d background pixels changed%n",
                object, changed, background);
        assertTrue(object > 200, "object pixels compared: " + object);
        assertTrue(changed > background / 2, "the background was regenerated: " + changed + " of " + background);
        JsonNode on2 = Golden.json(dir.resolve("h2/koala_1.size-0.08.json")), off0 = Golden.json(dir.resolve("h0/koala_1.size-0.08.json"));
        assertEquals(2, on2.get("values").get("harmonize_steps").asInt());
        assertEquals(0, off0.get("values").get("harmonize_steps").asInt());
        assertTrue(on2.has("model_sha256"));
    }

    /** Without weights the geometric edit is made with the classical fill alone, and the run and the sidecar say so. */
    @Test
    void withoutWeightsTheHarmonisingPassIsSkippedAndSaidSo() {
        var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "size=0.08",
                "--out", dir.resolve("n").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("harmonising diffusion pass") && r.err().contains("skipped"), r.err());
        JsonNode j = Golden.json(dir.resolve("n/koala_1.size-0.08.json"));
        assertEquals(0, j.get("values").get("harmonize_steps").asInt());
        assertEquals("no ADM weights", j.get("values").get("harmonize_skipped").asText());
    }

    /** '-adv' without a label, and with a classifier that does not have the image's class: one line naming what is missing or the file. */
    @Test
    void adversarialEditsNeedALabelTheClassifierHas() throws Exception {
        java.util.Map<String, org.imagenete.tensor.Tensor> sd = org.imagenete.nn.FormulaWeights.stateDict(
                org.imagenete.nn.ResNet.Arch.of(18, 10).parameterShapes(), 0);
        Path ten = dir.resolve("resnet18-10-classes.safetensors");
        try {
            org.imagenete.io.SafeTensors.write(ten, sd, java.util.Map.of());
        } finally {
            sd.values().forEach(org.imagenete.tensor.Tensor::close);
        }
        String[] base = {"edit", animal("tabby_1.jpg").toString(), "--mask", animal("masks/tabby_1.png").toString(), "--set", "background=20-adv",
                "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--num-head-channels", "8", "--size", "32",
                "--classifier", ten.toString(), "--out", dir.resolve("adv").toString()};
        var noLabel = run(base);
        assertEquals(2, noLabel.code(), "a missing option is a usage error");
        assertTrue(noLabel.err().contains("--label"), noLabel.err());
        String[] withLabel = java.util.Arrays.copyOf(base, base.length + 2);
        withLabel[base.length] = "--label";
        withLabel[base.length + 1] = "n02123045";
        var outside = run(withLabel);
        assertEquals(1, outside.code());
        assertTrue(outside.err().contains("resnet18-10-classes.safetensors") && outside.err().contains("10 classes")
                && outside.err().contains("281"), outside.err());
    }
}
