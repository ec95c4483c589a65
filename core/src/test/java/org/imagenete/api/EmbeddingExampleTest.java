package org.imagenete.api;

import org.imagenete.Backend;
import org.imagenete.BenchmarkSummary;
import org.imagenete.EditResult;
import org.imagenete.EvaluationSummary;
import org.imagenete.ImageEdit;
import org.imagenete.ImagenetE;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's embedding example, run as a test so that it keeps compiling and working. */
class EmbeddingExampleTest {
    @TempDir Path dir;

    @Test
    void editOneImageAndBuildABenchmark() throws Exception {
        Path animals = Golden.animals();
        Backend backend = ImagenetE.backend(null);

        // edit one image: shrink the object to 5% of the image and turn it by 30 degrees
        EditResult r = ImagenetE.edit(ImageEdit.of(animals.resolve("tabby_1.jpg"),
                animals.resolve("masks/tabby_1.png"), "size=0.05,direction=30").withSeed(42), backend);
        r.writePng(dir.resolve("tabby_small.png"));
        assertTrue(r.ok());
        assertEquals(0.05, r.objectArea(), 0.0005);
        assertEquals(256, r.image().getWidth());
        assertEquals(r.objectArea(), objectPixels(r.mask()) / (256.0 * 256), 1e-12);
        assertEquals(r.objectArea(), ((Number) r.values().get("ratio_after")).doubleValue(), 1e-12);

        // a benchmark from an ImageFolder with masks, then its gallery of variants
        Path images = dir.resolve("images/n02123045"), masks = dir.resolve("masks/n02123045");
        Files.createDirectories(images);
        Files.createDirectories(masks);
        Files.copy(animals.resolve("tabby_1.jpg"), images.resolve("tabby_1.jpg"));
        Files.copy(animals.resolve("masks/tabby_1.png"), masks.resolve("tabby_1.png"));
        BenchmarkSummary s = ImagenetE.generate(dir.resolve("images"), dir.resolve("masks"), dir.resolve("bench"),
                "size-0.05,position", 0, null, null, backend);
        assertEquals(3, s.written());
        assertTrue(s.failures().isEmpty() && s.unreachable().isEmpty());

        // evaluate: a classifier exported to ONNX (here the tiny test model: 10 classes, so an ImageFolder of classes 0..9)
        Path folder = dir.resolve("folder/0");
        Files.createDirectories(folder);
        Files.copy(animals.resolve("hen_1.jpg"), folder.resolve("hen.jpg"));
        EvaluationSummary m = ImagenetE.evaluate(dir.resolve("folder"), Path.of(getClass().getResource("/onnx/tiny.onnx").toURI()),
                Map.of("0", 0), backend);
        assertEquals(1, m.variants().getFirst().n());
        assertTrue(m.variant(m.variants().getFirst().variant()).isPresent());
    }

    private static int objectPixels(BufferedImage mask) {
        int n = 0;
        for (int y = 0; y < mask.getHeight(); y++)
            for (int x = 0; x < mask.getWidth(); x++) if ((mask.getRGB(x, y) & 0xff) != 0) n++;
        return n;
    }
}
