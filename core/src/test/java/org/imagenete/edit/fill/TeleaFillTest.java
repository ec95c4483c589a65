package org.imagenete.edit.fill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;
import org.junit.jupiter.api.Test;

class TeleaFillTest {
    static Mask disc(int w, int h, double cx, double cy, double r) {
        boolean[] b = new boolean[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) b[y * w + x] = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
        return Mask.of(w, h, b);
    }

    static Mask rect(int w, int h, int x0, int y0, int x1, int y1) {
        boolean[] b = new boolean[w * h];
        for (int y = y0; y < y1; y++) for (int x = x0; x < x1; x++) b[y * w + x] = true;
        return Mask.of(w, h, b);
    }

    /** The image with every hole pixel set to one colour: what a fill must never look at. */
    static RgbImage poison(RgbImage img, Mask hole, int r, int g, int b) {
        byte[] d = img.toByteArray();
        boolean[] m = hole.toBooleanArray();
        for (int i = 0; i < m.length; i++)
            if (m[i]) {
                d[3 * i] = (byte) r;
                d[3 * i + 1] = (byte) g;
                d[3 * i + 2] = (byte) b;
            }
        return RgbImage.of(img.width(), img.height(), d);
    }

    /**
     * First-order extrapolation reproduces a linear ramp: the only error comes from the 8-bit rounding of the
     * known ramp, which the gradients see.
     */
    @Test
    void linearRampFillsWithinTwoLevels() {
        int w = 128, h = 96;
        double a = 0.61, b = -0.37, c = 120;
        byte[] d = new byte[3 * w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                d[3 * (y * w + x)] = (byte) Math.round(a * x + b * y + c);
                d[3 * (y * w + x) + 1] = (byte) Math.round(-a * x + 160);
                d[3 * (y * w + x) + 2] = (byte) Math.round(0.5 * b * y + 0.25 * a * x + 60);
            }
        RgbImage ramp = RgbImage.of(w, h, d);
        Object[][] cases = {{"disc r=24", disc(w, h, 60, 45, 24)}, {"left border 20x96", rect(w, h, 0, 0, 20, h)},
                {"corner 40x30", rect(w, h, 88, 66, w, h)}, {"bar 100x8", rect(w, h, 10, 40, 110, 48)}};
        for (Object[] cs : cases) {
            Mask hole = (Mask) cs[1];
            RgbImage out = TeleaFill.fill(poison(ramp, hole, 0, 255, 0), hole, 5);
            double max = 0, sum = 0;
            int n = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    if (!hole.get(x, y)) {
                        assertEquals(ramp.rgb(x, y), out.rgb(x, y));
                        continue;
                    }
                    double[] exact = {a * x + b * y + c, -a * x + 160, 0.5 * b * y + 0.25 * a * x + 60};
                    for (int ch = 0; ch < 3; ch++) {
                        double e = Math.abs(out.get(x, y, ch) - exact[ch]);
                        max = Math.max(max, e);
                        sum += e;
                        n++;
                    }
                }
            System.out.printf("Telea ramp, %-18s: max |fill - ramp| %.2f, mean %.3f levels (%d samples)%n", cs[0], max, sum / n, n);
            assertTrue(max <= 2.0, cs[0] + ": max error " + max);
        }
    }

    /** Seeded random grey ramps, slopes up to 0.8 levels per pixel, in a disc hole 24 px deep. */
    @Test
    void randomRampsFillWithinTwoLevels() {
        SplittableRandom rnd = new SplittableRandom(2004);
        int w = 128, h = 96;
        Mask hole = disc(w, h, 60, 45, 24);
        double worst = 0;
        for (int k = 0; k < 8; k++) {
            double a = rnd.nextDouble(-0.8, 0.8), b = rnd.nextDouble(-0.8, 0.8), c = 128 - 64 * a - 48 * b;
            byte[] d = new byte[3 * w * h];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) for (int ch = 0; ch < 3; ch++) d[3 * (y * w + x) + ch] = (byte) Math.round(a * x + b * y + c);
            RgbImage out = TeleaFill.fill(RgbImage.of(w, h, d), hole, 5);
            double max = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if (hole.get(x, y)) max = Math.max(max, Math.abs(out.get(x, y, 0) - (a * x + b * y + c)));
            worst = Math.max(worst, max);
            assertTrue(max <= 2.0, String.format("ramp %.3f x + %.3f y: max error %.2f", a, b, max));
        }
        System.out.printf("Telea, 8 random ramps in a disc hole of radius 24: worst max error %.2f levels%n", worst);
    }

    /** Fast marching arrival times against the exact distance to the nearest known pixel. */
    @Test
    void arrivalTimesFollowTheDistance() {
        int w = 90, h = 70;
        Mask hole = disc(w, h, 44.5, 34.5, 30);
        boolean[] m = hole.toBooleanArray();
        float[] t = TeleaFill.inpaint(new float[3 * w * h], m, w, h, 3);
        double maxErr = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!m[y * w + x]) continue;
                double best = Double.MAX_VALUE;
                for (int v = 0; v < h; v++)
                    for (int u = 0; u < w; u++)
                        if (!m[v * w + u]) best = Math.min(best, Math.hypot(u - x, v - y));
                // T is 0 on the known pixels next to the hole, so it measures distance minus about 1
                maxErr = Math.max(maxErr, Math.abs(t[y * w + x] + 1 - best));
            }
        System.out.printf("fast marching on a disc of radius 30: max |T + 1 - distance| = %.3f px%n", maxErr);
        assertTrue(maxErr < 1.5, "max error " + maxErr);
    }
}
