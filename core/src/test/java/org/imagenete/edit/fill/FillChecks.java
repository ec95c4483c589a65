package org.imagenete.edit.fill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

/** Assertions shared by the fill tests. */
final class FillChecks {
    private FillChecks() {}

    /** Every pixel outside the hole is the input's, bit for bit. */
    static void knownUntouched(RgbImage in, RgbImage out, Mask hole) {
        assertEquals(in.width(), out.width());
        assertEquals(in.height(), out.height());
        byte[] a = in.toByteArray(), b = out.toByteArray();
        boolean[] m = hole.toBooleanArray();
        int changed = 0;
        for (int i = 0; i < m.length; i++)
            if (!m[i] && (a[3 * i] != b[3 * i] || a[3 * i + 1] != b[3 * i + 1] || a[3 * i + 2] != b[3 * i + 2])) changed++;
        assertEquals(0, changed, "known pixels changed");
    }

    /**
     * Prints and checks the fill's mean colour against a 8-pixel ring of known pixels around the hole: the
     * largest per-channel difference of the means must stay under {@code maxMeanDiff} levels.
     */
    static double report(String method, String stem, RgbImage in, RgbImage out, Mask hole, double maxMeanDiff) {
        boolean[] m = hole.toBooleanArray(), ring = FillTestData.ring(hole, 8);
        byte[] b = out.toByteArray();
        double[] hm = new double[3], rm = new double[3];
        int nh = 0, nr = 0;
        for (int i = 0; i < m.length; i++) {
            if (m[i]) { nh++; for (int c = 0; c < 3; c++) hm[c] += b[3 * i + c] & 0xff; }
            if (ring[i]) { nr++; for (int c = 0; c < 3; c++) rm[c] += b[3 * i + c] & 0xff; }
        }
        double worst = 0;
        for (int c = 0; c < 3; c++) {
            hm[c] /= nh;
            rm[c] /= nr;
            worst = Math.max(worst, Math.abs(hm[c] - rm[c]));
        }
        System.out.printf("%s %-18s hole %5.1f %%: fill mean (%.1f, %.1f, %.1f), ring mean (%.1f, %.1f, %.1f), max diff %.1f%n",
                method, stem, 100.0 * nh / m.length, hm[0], hm[1], hm[2], rm[0], rm[1], rm[2], worst);
        assertTrue(worst <= maxMeanDiff, stem + ": fill mean differs from the ring's by " + worst);
        return worst;
    }
}
