package org.imagenete.edit;

import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.ops.Backends;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The direction edit turns the object as the released editor does, PIL's {@code Image.rotate(angle)}: counter-clockwise
 * about the image centre. The expected images were made by Debian's python3-pil ({@code testdata/make/rotation_pil.py},
 * {@code testdata/rotation}). The test image's sinusoids move by ~10 levels per half pixel, so a centre off by half a
 * pixel or a turn the other way fails; bilinear against bilinear agrees to rounding.
 */
class RotationPilTest {
    @ParameterizedTest
    @ValueSource(ints = {30, -45})
    void directionEditTurnsLikePilImageRotate(int angle) {
        Path d = Golden.testdata().resolve("rotation");
        RgbImage img = Images.read(d.resolve("input.png"));
        Mask mask = Masks.readFor(d.resolve("mask.png"), new MaskSource.Binary(), img, false);
        Editor e = new Editor(Editor.Config.defaults().withSize(64), null, Backends.get("cpu"), HoleFiller.fast(), null);
        Editor.Result r = e.run(List.of(new Editor.Task(new Editor.Source("rotation", img, mask, 0, null),
                Edit.parse("direction=" + angle), 1))).getFirst();
        assertTrue(r.ok(), r.unreachable());
        RgbImage pil = Images.read(d.resolve("rotate" + angle + "_bilinear.png"));
        Mask pilMask = Masks.read(d.resolve("mask_rotate" + angle + ".png"), new MaskSource.Binary());
        // the placed object's interior (all 8 neighbours in the mask): its colours are the turned image's
        int n = 0, maxDiff = 0, maxUnturned = 0;
        double sum = 0;
        for (int y = 1; y < 63; y++)
            for (int x = 1; x < 63; x++) {
                boolean interior = true;
                for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) interior &= r.mask().get(x + dx, y + dy);
                if (!interior) continue;
                n++;
                for (int c = 0; c < 3; c++) {
                    int diff = Math.abs(r.image().get(x, y, c) - pil.get(x, y, c));
                    maxDiff = Math.max(maxDiff, diff);
                    sum += diff;
                    maxUnturned = Math.max(maxUnturned, Math.abs(img.get(x, y, c) - pil.get(x, y, c)));
                }
            }
        int inter = 0, union = 0;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) {
                if (r.mask().get(x, y) && pilMask.get(x, y)) inter++;
                if (r.mask().get(x, y) || pilMask.get(x, y)) union++;
            }
        double iou = (double) inter / union;
        System.out.printf(Locale.ROOT, "direction=%d vs PIL rotate: %d interior pixels, max |diff| %d, mean %.3f levels (unturned: max %d); "
                + "mask IoU vs PIL's nearest-neighbour turn %.4f%n", angle, n, maxDiff, sum / (3.0 * n), maxUnturned, iou);
        assertTrue(n > 600, "object pixels compared: " + n);
        assertTrue(maxUnturned > 100, "the turn moves the pattern a lot, so agreement means something");
        assertTrue(maxDiff <= 2, "bilinear turn agrees with PIL's to rounding: max " + maxDiff);
        assertTrue(iou > 0.96, "the object mask lands where PIL's does: IoU " + iou);
    }
}
