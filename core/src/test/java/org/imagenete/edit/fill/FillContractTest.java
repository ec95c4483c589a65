package org.imagenete.edit.fill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.imagenete.edit.HoleFiller;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** What every fill promises: known pixels kept bit for bit, the hole's old content never read, edge cases. */
class FillContractTest {
    static Stream<Arguments> fills() {
        return Stream.of(Arguments.of("Telea r=5", new TeleaFill(5), 60.0),
                Arguments.of("push-pull", new PushPullFill(), 12.0),
                Arguments.of("patch", new PatchFill(), 25.0));
    }

    static Mask disc(int w, int h, double cx, double cy, double r) { return TeleaFillTest.disc(w, h, cx, cy, r); }

    static Mask rect(int w, int h, int x0, int y0, int x1, int y1) { return TeleaFillTest.rect(w, h, x0, y0, x1, y1); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void constantImageFillsWithTheConstant(String name, HoleFiller fill, double unused) {
        SplittableRandom rnd = new SplittableRandom(11);
        int w = 97, h = 64;
        Mask[] holes = {disc(w, h, 40, 30, 17), rect(w, h, 0, 0, 30, 64), rect(w, h, 60, 50, 97, 64), disc(w, h, 96, 0, 40)};
        for (Mask hole : holes) {
            int r = rnd.nextInt(256), g = rnd.nextInt(256), b = rnd.nextInt(256);
            RgbImage img = TeleaFillTest.poison(RgbImage.filled(w, h, r, g, b), hole, 255 - r, 255 - g, 255 - b);
            assertEquals(RgbImage.filled(w, h, r, g, b), fill.fill(img, hole), name + ", hole " + hole + ", colour " + r + "," + g + "," + b);
        }
    }

    /**
     * A real photo at full size, its object mask dilated by 4 px: known pixels untouched, the result independent
     * of what the hole held (two different poisons give the same image), and the fill's mean colour near that of
     * the 8-px ring of known pixels around the hole (bound per method: Telea carries the boundary's gradients
     * inwards, so its mean drifts most).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void photoHole(String name, HoleFiller fill, double maxMeanDiff) {
        for (String stem : new String[] {"german_shepherd_1", "ice_bear_1", "hog_1"}) {
            RgbImage photo = Images.read(FillTestData.photo(stem));
            Mask hole = FillTestData.dilate(FillTestData.mask(stem), 4);
            RgbImage a = fill.fill(TeleaFillTest.poison(photo, hole, 255, 0, 255), hole);
            RgbImage b = fill.fill(TeleaFillTest.poison(photo, hole, 0, 255, 0), hole);
            assertEquals(a, b, name + ", " + stem + ": the fill depends on the hole's old pixels");
            FillChecks.knownUntouched(photo, a, hole);
            FillChecks.report(name, stem, photo, a, hole, maxMeanDiff);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void holeAlongTheBorders(String name, HoleFiller fill, double unused) {
        RgbImage img = Resize.resize(Images.read(FillTestData.photo("ox_1")), 160, 120, Filter.LANCZOS);
        // an L along the left and bottom edges, and a blob cut by the top edge
        boolean[] b = new boolean[160 * 120];
        for (int y = 0; y < 120; y++) for (int x = 0; x < 160; x++) b[y * 160 + x] = x < 12 || y >= 100 || (x - 90) * (x - 90) + y * y < 30 * 30;
        Mask hole = Mask.of(160, 120, b);
        RgbImage out = fill.fill(TeleaFillTest.poison(img, hole, 255, 0, 255), hole);
        FillChecks.knownUntouched(img, out, hole);
        FillChecks.report(name, "ox_1 borders", img, out, hole, 60.0);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void emptyHoleReturnsACopy(String name, HoleFiller fill, double unused) {
        RgbImage img = Images.read(FillTestData.photo("macaw_1"));
        RgbImage out = fill.fill(img, Mask.of(img.width(), img.height(), new boolean[img.width() * img.height()]));
        assertEquals(img, out);
        assertNotSame(img, out);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void wholeImageHoleAndWrongSizeAreClearErrors(String name, HoleFiller fill, double unused) {
        Mask all = rect(16, 8, 0, 0, 16, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fill.fill(RgbImage.filled(16, 8, 1, 2, 3), all));
        assertTrue(e.getMessage().contains("whole 16x8 image"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> fill.fill(RgbImage.filled(16, 9, 1, 2, 3), all));
        assertTrue(e.getMessage().contains("16x8") && e.getMessage().contains("16x9"), e.getMessage());
    }

    /** One known pixel is enough. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void singleKnownPixel(String name, HoleFiller fill, double unused) {
        boolean[] b = new boolean[40 * 30];
        java.util.Arrays.fill(b, true);
        b[7 * 40 + 33] = false;
        RgbImage out = fill.fill(RgbImage.filled(40, 30, 200, 10, 99), Mask.of(40, 30, b));
        assertEquals(RgbImage.filled(40, 30, 200, 10, 99), out);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fills")
    void timing256WithA30PercentHole(String name, HoleFiller fill, double unused) {
        RgbImage img = Resize.resize(Images.read(FillTestData.photo("hen_1")), 256, 256, Filter.LANCZOS);
        Mask hole = FillTestData.mask("hen_1").resizeNearest(256, 256);
        RgbImage first = fill.fill(img, hole);
        for (int i = 0; i < 10; i++) fill.fill(img, hole);   // warm-up
        int runs = 10;
        long best = Long.MAX_VALUE, total = 0;
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            RgbImage out = fill.fill(img, hole);
            long dt = System.nanoTime() - t0;
            best = Math.min(best, dt);
            total += dt;
            assertEquals(first, out, "not deterministic");
        }
        System.out.printf("%s, 256x256, %.1f %% hole (hen_1 mask): %.1f ms mean, %.1f ms best of %d (one thread, after warm-up)%n",
                name, 100 * hole.areaRatio(), total / 1e6 / runs, best / 1e6, runs);
    }
}
