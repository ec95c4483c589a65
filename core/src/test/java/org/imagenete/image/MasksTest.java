package org.imagenete.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import org.imagenete.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Masks}, {@link Mask} and {@link MaskSource} on the shared animal masks, PIL-made fixtures and bad files. */
class MasksTest {
    @TempDir Path tmp;

    /** Object share of each photo, in percent, as testdata/data/animals/README.md lists it (one decimal). */
    static final Map<String, Double> AREA_PERCENT = Map.ofEntries(
            Map.entry("tabby_1", 25.3), Map.entry("hen_1", 29.4), Map.entry("ox_1", 20.4),
            Map.entry("german_shepherd_1", 30.5), Map.entry("hog_1", 13.7), Map.entry("ram_1", 25.3),
            Map.entry("bison_1", 26.6), Map.entry("african_crocodile_1", 18.5), Map.entry("jaguar_1", 22.3),
            Map.entry("koala_1", 23.9), Map.entry("giant_panda_1", 35.7), Map.entry("ice_bear_1", 15.4),
            Map.entry("macaw_1", 26.9), Map.entry("lesser_panda_1", 46.9));

    /** ImageNet-S ids of the three re-encoded masks: imagenet_index + 1. */
    static final Map<String, Integer> IMAGENET_S_ID = Map.of("tabby_1", 282, "german_shepherd_1", 236, "giant_panda_1", 389);

    @Test
    void animalMasksMatchTheirImagesAndTheReadme() {
        assertEquals(14, AREA_PERCENT.size());
        for (var e : AREA_PERCENT.entrySet()) {
            String stem = e.getKey();
            RgbImage img = Images.read(Fixtures.animals().resolve(stem + ".jpg"));
            Mask m = Masks.readFor(Fixtures.animals().resolve("masks/" + stem + ".png"), MaskSource.binary(), img, false);
            assertEquals(e.getValue(), 100 * m.areaRatio(), 0.05, stem + " area");
            Mask.Box box = m.boundingBox();
            Mask.Point c = m.centroid();
            assertTrue(box.x0() <= c.x() && c.x() < box.x1() && box.y0() <= c.y() && c.y() < box.y1(), stem + " centroid in box");
            assertTrue(m.count() <= (long) box.width() * box.height());
            // a 0/255 mask read as a soft mask at any threshold is the same mask
            assertEquals(m, Masks.read(Fixtures.animals().resolve("masks/" + stem + ".png"), MaskSource.soft()));
        }
    }

    @Test
    void imageNetSFilesDecodeToExactlyTheBinaryMasks() {
        for (var e : IMAGENET_S_ID.entrySet()) {
            Path s = Fixtures.animals().resolve("masks-imagenet-s/" + e.getKey() + ".png");
            Mask binary = Masks.read(Fixtures.animals().resolve("masks/" + e.getKey() + ".png"), MaskSource.binary());
            Mask any = Masks.read(s, MaskSource.imageNetS());
            Mask byId = Masks.read(s, MaskSource.imageNetS(e.getValue()));
            Mask otherId = Masks.read(s, MaskSource.imageNetS(e.getValue() + 1));
            assertFalse(binary.isEmpty());
            assertEquals(0, any.countDifferent(binary), e.getKey() + ": ImageNet-S (any id) vs binary mask, pixels that differ");
            assertEquals(0, byId.countDifferent(binary), e.getKey() + ": ImageNet-S id " + e.getValue() + " vs binary mask");
            assertTrue(otherId.isEmpty(), e.getKey() + ": no pixel carries id " + (e.getValue() + 1));
            // and read plainly as binary, the RGB file is the same mask too (non-zero R or G)
            assertEquals(binary, Masks.read(s, MaskSource.binary()));
        }
    }

    @Test
    void imageNetSIdsIgnoreAndSelection() {
        Path ids = Fixtures.resource("masks/imagenet-s-ids.png");
        Mask any = Masks.read(ids, MaskSource.imageNetS());
        Mask only389 = Masks.read(ids, MaskSource.imageNetS(389));
        assertEquals(gray(Fixtures.resource("masks/imagenet-s-ids.any.png")), any);
        assertEquals(gray(Fixtures.resource("masks/imagenet-s-ids.389.png")), only389);
        // the fixture's layout: 1000 (ignore) pixels are never object; id 1 is the single top-right pixel
        assertFalse(any.get(22, 7), "id 1000 is ignore");
        assertTrue(Masks.read(ids, MaskSource.imageNetS(1)).get(31, 0));
        assertEquals(1, Masks.read(ids, MaskSource.imageNetS(1)).count());
        assertThrows(IllegalArgumentException.class, () -> MaskSource.imageNetS(1000));
        assertThrows(IllegalArgumentException.class, () -> MaskSource.imageNetS(0));
        assertEquals(282, Masks.imageNetSId(26, 1));
        assertEquals(389, Masks.imageNetSId(133, 1));
    }

    @Test
    void softMasksThresholdedAsPil() {
        for (String f : new String[] {"soft8", "soft16"}) {
            for (double t : new double[] {0.5, 0.25}) {
                Mask m = Masks.read(Fixtures.resource("masks/" + f + ".png"), MaskSource.soft(t));
                Mask expected = gray(Fixtures.resource("masks/" + f + ".t" + (t == 0.5 ? "0.5" : "0.25") + ".png"));
                assertEquals(0, m.countDifferent(expected), f + " at " + t);
                assertFalse(m.isEmpty());
            }
        }
        assertEquals(MaskSource.soft(), new MaskSource.Soft(0.5));
        assertThrows(IllegalArgumentException.class, () -> MaskSource.soft(0));
        assertThrows(IllegalArgumentException.class, () -> MaskSource.soft(1.5));
        assertThrows(IllegalArgumentException.class, () -> MaskSource.soft(Double.NaN));
    }

    @Test
    void nearestResizeMatchesPil() {
        String[][] cases = {{"german_shepherd_1", "256", "256"}, {"tabby_1", "97", "61"}, {"hen_1", "1000", "701"}};
        for (String[] c : cases) {
            Mask m = Masks.read(Fixtures.animals().resolve("masks/" + c[0] + ".png"), MaskSource.binary());
            Mask r = m.resizeNearest(Integer.parseInt(c[1]), Integer.parseInt(c[2]));
            Mask pil = gray(Fixtures.resource("masks/" + c[0] + "-" + c[1] + "x" + c[2] + "-nearest.png"));
            assertEquals(0, r.countDifferent(pil), c[0] + " nearest " + c[1] + "x" + c[2] + ": pixels differing from PIL");
        }
    }

    @Test
    void wrongSizeIsAnErrorNamingBothSizesUnlessResizing() {
        Path f = Fixtures.animals().resolve("masks/tabby_1.png");   // 512x384
        ImageException e = assertThrows(ImageException.class, () -> Masks.readFor(f, MaskSource.binary(), 500, 375, false));
        assertTrue(e.getMessage().contains("512x384") && e.getMessage().contains("500x375") && e.getMessage().contains("tabby_1.png"),
                e.getMessage());
        assertEquals(f, e.file());
        Mask resized = Masks.readFor(f, MaskSource.binary(), 500, 375, true);
        assertEquals(Masks.read(f, MaskSource.binary()).resizeNearest(500, 375), resized);
    }

    @Test
    void emptyMaskIsAnErrorForTheImageButReadable() {
        Path f = tmp.resolve("zero.png");
        Images.writeGrayPng(40, 30, new byte[1200], f);
        Mask m = Masks.read(f, MaskSource.binary());
        assertTrue(m.isEmpty());
        assertEquals(0.0, m.areaRatio());
        assertThrows(IllegalStateException.class, m::boundingBox);
        assertThrows(IllegalStateException.class, m::centroid);
        ImageException e = assertThrows(ImageException.class, () -> Masks.readFor(f, MaskSource.binary(), 40, 30, false));
        assertTrue(e.getMessage().contains("empty mask") && e.getMessage().contains("zero.png"), e.getMessage());
        // the ImageNet-S ignore id alone is empty too
        byte[] rgb = new byte[3 * 6];
        for (int i = 0; i < 6; i++) {
            rgb[3 * i] = (byte) (1000 % 256);
            rgb[3 * i + 1] = (byte) (1000 / 256);
        }
        Path ign = tmp.resolve("ignore.png");
        Images.writePng(RgbImage.of(3, 2, rgb), ign);
        assertThrows(ImageException.class, () -> Masks.readFor(ign, MaskSource.imageNetS(), 3, 2, false));
        assertEquals(6, Masks.read(ign, MaskSource.binary()).count());
    }

    @Test
    void badFilesAndKinds() throws IOException {
        Path corrupt = tmp.resolve("corrupt.png");
        byte[] good = Files.readAllBytes(Fixtures.animals().resolve("masks/tabby_1.png"));
        Files.write(corrupt, Arrays.copyOf(good, good.length / 2));
        ImageException e = assertThrows(ImageException.class, () -> Masks.read(corrupt, MaskSource.binary()));
        assertTrue(e.getMessage().contains("truncated PNG"), e.getMessage());

        Path jpeg = tmp.resolve("mask.jpg");
        Files.copy(Fixtures.resource("decode/gray.jpg"), jpeg);
        e = assertThrows(ImageException.class, () -> Masks.read(jpeg, MaskSource.binary()));
        assertTrue(e.getMessage().contains("must be PNG") && e.getMessage().contains("JPEG"), e.getMessage());

        Path text = tmp.resolve("mask.png");
        Files.writeString(text, "not a mask\n");
        e = assertThrows(ImageException.class, () -> Masks.read(text, MaskSource.binary()));
        assertTrue(e.getMessage().contains("text"), e.getMessage());

        e = assertThrows(ImageException.class, () -> Masks.read(tmp.resolve("missing.png"), MaskSource.binary()));
        assertTrue(e.getMessage().contains("no such"), e.getMessage());

        // grey is not an ImageNet-S mask; RGB is not a soft mask
        e = assertThrows(ImageException.class, () -> Masks.read(Fixtures.animals().resolve("masks/tabby_1.png"), MaskSource.imageNetS()));
        assertTrue(e.getMessage().contains("8-bit RGB") && e.getMessage().contains("grey"), e.getMessage());
        e = assertThrows(ImageException.class,
                () -> Masks.read(Fixtures.animals().resolve("masks-imagenet-s/tabby_1.png"), MaskSource.soft()));
        assertTrue(e.getMessage().contains("greyscale"), e.getMessage());
    }

    @Test
    void binaryOnOtherPngKinds() {
        // palette: the index counts (index 0 = background) whatever its colour; 16-bit grey: any non-zero value
        Mask pal = Masks.read(Fixtures.resource("decode/palette1.png"), MaskSource.binary());
        Mask g16 = Masks.read(Fixtures.resource("decode/gray16.png"), MaskSource.binary());
        Mask g1 = Masks.read(Fixtures.resource("decode/gray1.png"), MaskSource.binary());
        assertEquals(g1, pal, "palette1 indices are gray1's bits");
        assertTrue(g16.count() > g1.count());
        // an RGBA PNG: alpha ignored
        Mask rgba = Masks.read(Fixtures.resource("decode/rgba8.png"), MaskSource.binary());
        assertEquals(49 * 33, rgba.count());
    }

    @Test
    void geometry() {
        boolean[] b = new boolean[7 * 5];
        b[1 * 7 + 2] = true;
        b[3 * 7 + 5] = true;
        b[3 * 7 + 4] = true;
        Mask m = Mask.of(7, 5, b);
        assertEquals(3, m.count());
        assertEquals(3.0 / 35, m.areaRatio(), 0);
        assertEquals(new Mask.Box(2, 1, 6, 4), m.boundingBox());
        assertEquals(4, m.boundingBox().width());
        assertEquals(3, m.boundingBox().height());
        assertEquals(new Mask.Point(11.0 / 3, 7.0 / 3), m.centroid());
        try (Tensor t = m.toTensor()) {
            assertEquals(java.util.List.of(1, 5, 7), java.util.List.of(t.dim(0), t.dim(1), t.dim(2)));
            assertEquals(1f, t.getFloat(3 * 7 + 5));
            assertEquals(0f, t.getFloat(0));
        }
        Path f = tmp.resolve("m.png");
        Masks.write(m, f);
        assertEquals(m, Masks.read(f, MaskSource.binary()));
        b[0] = true;
        assertEquals(3, m.count(), "Mask.of copies");
    }

    private static Mask gray(Path png) {
        RgbImage img = Fixtures.readReference(png);
        boolean[] b = new boolean[img.width() * img.height()];
        for (int i = 0; i < b.length; i++) b[i] = img.get(i % img.width(), i / img.width(), 0) != 0;
        return Mask.of(img.width(), img.height(), b);
    }
}
