package org.imagenete.edit;

import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskOps;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmGolden;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The edits on the real animal photos: size ratios, alignment after rotation, the object's old place filled. */
class EditorTest {
    static final Ops OPS = Backends.get("cpu");

    /** A test filler that paints the hole in one distinctive colour, so that its pixels can be told apart. */
    static final HoleFiller MAGENTA = (img, hole) -> {
        byte[] px = img.toByteArray();
        for (int y = 0; y < img.height(); y++)
            for (int x = 0; x < img.width(); x++)
                if (hole.get(x, y)) {
                    int i = 3 * (y * img.width() + x);
                    px[i] = (byte) 255;
                    px[i + 1] = 0;
                    px[i + 2] = (byte) 255;
                }
        return RgbImage.of(img.width(), img.height(), px);
    };

    static Editor.Source source(String stem) {
        Path dir = Golden.animals();
        RgbImage img = Images.read(dir.resolve(stem + ".jpg"));
        Mask mask = Masks.readFor(dir.resolve("masks/" + stem + ".png"), new MaskSource.Binary(), img, false);
        return new Editor.Source(stem, img, mask, 0, null);
    }

    static Editor geometric(HoleFiller f) { return new Editor(Editor.Config.defaults(), null, OPS, f, null); }

    @ParameterizedTest
    @ValueSource(strings = {"tabby_1", "ox_1", "hog_1", "giant_panda_1", "lesser_panda_1"})
    void sizeRatiosHitTheTargetWithinOnePercent(String stem) {
        Editor.Source s = source(stem);
        List<Editor.Task> tasks = List.of(0.1, 0.08, 0.05, 0.02).stream()
                .map(r -> new Editor.Task(s, Edit.parse("size=" + r), 7)).toList();
        for (Editor.Result r : geometric(MAGENTA).run(tasks)) {
            double target = ((Edit.Size) r.task().edits().getFirst()).ratio();
            assertNull(r.unreachable(), r.unreachable());
            double got = r.mask().areaRatio();
            System.out.printf(Locale.ROOT, "%-15s size %.2f: achieved %.5f (%.2f%%), scale %.3f%n", stem, target, got,
                    100 * (got / target - 1), (double) r.values().get("scale"));
            assertEquals(target, got, 0.01 * target);
            assertEquals(got, (double) r.values().get("ratio_achieved"), 1e-12);
        }
    }

    @Test
    void unreachableSizeIsReportedNotReplaced() {
        Editor.Source s = source("lesser_panda_1");    // 47% of the image: doubling its area cannot fit
        Editor.Result r = geometric(MAGENTA).run(List.of(new Editor.Task(s, Edit.parse("size=0.95"), 1))).getFirst();
        assertNotNull(r.unreachable());
        assertNull(r.image());
        assertTrue(r.unreachable().contains("does not fit") || r.unreachable().contains("unreachable"), r.unreachable());
    }

    /** After a rotation the mask marks exactly the object's pixels: none of the fill colour inside, object colours only inside. */
    @ParameterizedTest
    @ValueSource(strings = {"direction=30", "direction=-45", "direction=90@object", "size=0.05,direction=20,position"})
    void imageAndMaskStayAligned(String spec) {
        Editor.Source s = source("macaw_1");
        Editor.Result r = geometric(MAGENTA).run(List.of(new Editor.Task(s, Edit.parse(spec), 3))).getFirst();
        assertNull(r.unreachable());
        int inside = 0, magentaInside = 0;
        for (int y = 1; y < 255; y++)
            for (int x = 1; x < 255; x++) {
                if (!r.mask().get(x, y)) continue;
                // interior pixels of the placed object (all 8 neighbours in the mask) show no fill colour
                boolean interior = true;
                for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) interior &= r.mask().get(x + dx, y + dy);
                if (!interior) continue;
                inside++;
                if (isMagenta(r.image(), x, y)) magentaInside++;
            }
        System.out.printf(Locale.ROOT, "%s: %d interior object pixels, %d look like the fill%n", spec, inside, magentaInside);
        assertTrue(inside > 200);
        assertEquals(0, magentaInside);
    }

    /** The old object's pixels are gone wherever the moved object does not cover them: the fill is there instead. */
    @Test
    void noTraceOfTheOldObjectOutsideTheFill() {
        Editor.Source s = source("ice_bear_1");
        Editor.Result r = geometric(MAGENTA).run(List.of(new Editor.Task(s, Edit.parse("size=0.05,position"), 11))).getFirst();
        assertNull(r.unreachable());
        Mask old = MaskOps.dilate(s.mask().resizeNearest(256, 256), 0);
        int uncovered = 0, filled = 0;
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++)
                if (old.get(x, y) && !MaskOps.dilate(r.mask(), 1).get(x, y)) {
                    uncovered++;
                    if (isMagenta(r.image(), x, y)) filled++;
                }
        assertTrue(uncovered > 1000, "the object moved away: " + uncovered);
        assertEquals(uncovered, filled, "every uncovered pixel of the old object comes from the fill");
    }

    static boolean isMagenta(RgbImage img, int x, int y) {
        return img.get(x, y, 0) > 200 && img.get(x, y, 1) < 60 && img.get(x, y, 2) > 200;
    }

    @Test
    void positionIsSeededAndKeepsTheObjectInside() {
        Editor.Source s = source("hog_1");
        Editor e = geometric(MAGENTA);
        Editor.Result a = e.run(List.of(new Editor.Task(s, Edit.parse("position"), 5))).getFirst();
        Editor.Result b = e.run(List.of(new Editor.Task(s, Edit.parse("position"), 5))).getFirst();
        Editor.Result c = e.run(List.of(new Editor.Task(s, Edit.parse("position"), 6))).getFirst();
        assertEquals(a.image(), b.image(), "same seed, same pixels");
        assertTrue(!a.image().equals(c.image()), "another seed moves it elsewhere");
        assertEquals(s.mask().resizeNearest(256, 256).count(), a.mask().count(), 0, "an integer shift keeps the mask exactly");
    }

    /** A background edit with the tiny formula-weight ADM (32x32) leaves every object pixel untouched. */
    @Test
    void backgroundEditKeepsObjectPixels() {
        try (Adm adm = AdmGolden.tinyModel()) {
            Editor.Config cfg = Editor.Config.defaults().withSize(32).withHoleDilation(1)
                    .withBackground(org.imagenete.diffusion.BlendedSampler.Options.defaults().withSkip(4)).withBatch(2).withHarmonizeSteps(4);
            Editor e = new Editor(cfg, adm, OPS, MAGENTA, null);
            Editor.Source s = source("tabby_1");
            List<Editor.Result> rs = e.run(List.of(new Editor.Task(s, Edit.parse("background=20"), 1),
                    new Editor.Task(s, Edit.parse("background=-20"), 1)));
            RgbImage small = org.imagenete.image.Resize.resize(s.image(), 32, 32, org.imagenete.image.Filter.LANCZOS);
            Mask m = s.mask().resizeNearest(32, 32);
            for (Editor.Result r : rs) {
                assertNull(r.unreachable());
                int changed = 0;
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        for (int c = 0; c < 3; c++) {
                            if (m.get(x, y)) assertEquals(small.get(x, y, c), r.image().get(x, y, c), "object pixel " + x + "," + y);
                            else if (small.get(x, y, c) != r.image().get(x, y, c)) changed++;
                        }
                assertTrue(changed > 100, "the background was regenerated");
                assertTrue(r.values().containsKey("complexity_after"));
            }
        }
    }

    /**
     * The sign of lambda end to end: with the tiny formula-weight ADM, the same image and the same seed (so the same
     * noise), lambda = +20 gives a busier background (higher achieved complexity) than lambda = 0, and that than
     * lambda = -20. A sign error in the complexity gradient, in g, or in the guided mean turns the order around. (The
     * formula-weight model's own output is noise, so the guidance moves the complexity by under 1% here, the same
     * amount each way; the values are deterministic.)
     */
    @Test
    void positiveLambdaGivesHigherComplexityThanNegativeFromTheSameSeed() {
        try (Adm adm = AdmGolden.tinyModel()) {
            Editor e = new Editor(Editor.Config.defaults().withSize(64), adm, OPS, MAGENTA, null);
            Editor.Source s = source("hen_1");
            List<Editor.Result> rs = e.run(List.of(new Editor.Task(s, Edit.parse("background=20"), 9),
                    new Editor.Task(s, Edit.parse("background=0"), 9), new Editor.Task(s, Edit.parse("background=-20"), 9)));
            double plus = (double) rs.get(0).values().get("complexity_after"), zero = (double) rs.get(1).values().get("complexity_after"),
                    minus = (double) rs.get(2).values().get("complexity_after");
            System.out.printf(Locale.ROOT, "achieved complexity at 64x64, 10 steps, seed 9: before %.3f; lambda +20 -> %.4f, 0 -> %.4f, -20 -> %.4f%n",
                    (double) rs.get(0).values().get("complexity_before"), plus, zero, minus);
            assertTrue(plus > zero && zero > minus, "lambda +20, 0, -20 give " + plus + ", " + zero + ", " + minus);
        }
    }

    /**
     * An "-adv" edit with the image's label runs through the editor with the released scale (10) and the default
     * ImageNet-normalised classifier input, records both, differs from the plain edit, and keeps the object's pixels.
     */
    @Test
    void adversarialEditRecordsItsScaleAndInput() {
        try (Adm adm = AdmGolden.tinyModel(); org.imagenete.nn.ResNet net = org.imagenete.nn.ResNetTest.formula(18)) {
            Editor e = new Editor(Editor.Config.defaults().withSize(32).withBackgroundSteps(3), adm, OPS, MAGENTA, new ClassifierGuidance(net));
            Editor.Source s = new Editor.Source("tabby_1", source("tabby_1").image(), source("tabby_1").mask(), 281, null);
            List<Editor.Result> rs = e.run(List.of(new Editor.Task(s, Edit.parse("background=20-adv"), 4), new Editor.Task(s, Edit.parse("background=20"), 4)));
            Editor.Result adv = rs.get(0), plain = rs.get(1);
            assertTrue(adv.ok(), adv.unreachable());
            assertEquals(10f, (float) adv.values().get("adversarial_scale"));
            assertEquals("imagenet", adv.values().get("adversarial_input"));
            assertTrue(!adv.image().equals(plain.image()), "the adversarial term changes the background");
            Mask m = s.mask().resizeNearest(32, 32);
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    if (m.get(x, y)) for (int c = 0; c < 3; c++) assertEquals(plain.image().get(x, y, c), adv.image().get(x, y, c));
            Editor.Source unlabelled = new Editor.Source("tabby_1", s.image(), s.mask(), -1, null);
            IllegalStateException ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> e.run(List.of(new Editor.Task(unlabelled, Edit.parse("background=20-adv"), 4))));
            assertTrue(ex.getMessage().contains("label"), ex.getMessage());
        }
    }
}
