package org.imagenete.eval;

import org.imagenete.image.Filter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Models files and the preprocessing they set (timm's conventions: resize = floor(input_size / crop_pct)). */
class ModelSpecTest {
    @TempDir Path dir;

    List<ModelSpec> read(String yaml) throws IOException {
        Files.writeString(dir.resolve("w.pth"), "x");
        Path f = dir.resolve("models.yaml");
        Files.writeString(f, yaml);
        return ModelSpec.readFile(f);
    }

    @Test
    void timmSettings() throws IOException {
        List<ModelSpec> ms = read("models:\n  - {name: deit, file: w.pth, input_size: [3, 224, 224], crop_pct: 0.875, interpolation: bicubic,"
                + " mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n  - {name: r, file: w.pth, resize: 232}\n  - {name: big, file: w.pth, input_size: 384}\n");
        PreprocessSettings base = PreprocessSettings.imagenet();
        PreprocessSettings deit = ms.get(0).apply(base);
        assertEquals(256, deit.resizeShort(), "floor(224 / 0.875)");
        assertEquals(224, deit.crop());
        assertEquals(Filter.BICUBIC, deit.interpolation());
        assertArrayEquals(new float[]{0.5f, 0.5f, 0.5f}, deit.std());
        assertEquals(new PreprocessSettings(232, 224, PreprocessSettings.IMAGENET_MEAN, PreprocessSettings.IMAGENET_STD), ms.get(1).apply(base));
        assertEquals(439, ms.get(2).apply(base).resizeShort(), "input_size alone keeps the file's ratio 256/224: round(384 * 8/7)");
        assertEquals(ms.get(1).apply(base).hashCode(), new PreprocessSettings(232, 224, PreprocessSettings.IMAGENET_MEAN.clone(), PreprocessSettings.IMAGENET_STD.clone()).hashCode(),
                "equal by value: models with the same settings share their floats");
    }

    @Test
    void badEntriesAreNamed() throws IOException {
        var e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: a, file: w.pth, resize: 256, crop_pct: 0.9}\n"));
        assertTrue(e.getMessage().contains("resize or crop_pct, not both"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: a, file: w.pth, interpolation: lanczos}\n"));
        assertTrue(e.getMessage().contains("model 'a': interpolation 'lanczos' (bilinear or bicubic)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: a, file: nope.pth}\n"));
        assertTrue(e.getMessage().contains("nope.pth: no such file"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: ../up, file: w.pth}\n"));
        assertTrue(e.getMessage().contains("model name '../up'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: a, file: w.pth}\n  - {name: a, file: w.pth}\n"));
        assertTrue(e.getMessage().contains("'a' appears twice"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("model:\n  - {name: a, file: w.pth}\n"));
        assertTrue(e.getMessage().contains("expected 'models:'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> read("models:\n  - {name: a, file: w.pth, mean: [0.5, 0.5]}\n"));
        assertTrue(e.getMessage().contains("'mean' must be a list of 3 numbers"), e.getMessage());
    }

    @Test
    void modelArguments() throws IOException {
        Path f = Files.writeString(dir.resolve("resnet50 (1).pth"), "x");
        assertEquals("resnet50__1_", ModelSpec.parseArgument(f.toString()).name(), "named after the file, as a folder name");
        assertEquals("r50", ModelSpec.parseArgument("r50=" + f).name());
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.parseArgument(dir.resolve("missing.pth").toString()));
    }
}
