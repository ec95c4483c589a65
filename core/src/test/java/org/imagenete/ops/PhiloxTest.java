package org.imagenete.ops;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PhiloxTest {
    /** Known-answer vectors of Random123's kat_vectors for philox4x32_10. */
    @Test
    void knownAnswers() {
        int[] out = new int[4];
        Philox.block(0, 0, 0, 0, 0, 0, out);
        assertArrayEquals(new int[]{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, out);
        Philox.block(-1, -1, -1, -1, -1, -1, out);
        assertArrayEquals(new int[]{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}, out);
        Philox.block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
        assertArrayEquals(new int[]{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}, out);
    }

    @Test
    void normalsAreStandardAndIndependentOfHowTheyAreDrawn() {
        int n = 1 << 20;
        float[] a = new float[n];
        Philox.normals(42, Philox.stream(7, Philox.Purpose.SAMPLE), a, 0, n);
        double s = 0, q = 0, k = 0;
        for (float v : a) {
            s += v;
            q += v * v;
            k += v * v * v * v;
        }
        double mean = s / n, var = q / n - mean * mean;
        assertEquals(0, mean, 5e-3);
        assertEquals(1, var, 5e-3);
        assertEquals(3, k / n, 3e-2, "kurtosis");
        // a shorter draw is a prefix of a longer one: element i depends only on (seed, stream, i)
        float[] b = new float[1001];
        Philox.normals(42, Philox.stream(7, Philox.Purpose.SAMPLE), b, 0, 1001);
        for (int i = 0; i < b.length; i++) assertEquals(a[i], b[i]);
        float[] c = new float[16];
        Philox.normals(43, Philox.stream(7, Philox.Purpose.SAMPLE), c, 0, 16);
        Philox.normals(42, Philox.stream(8, Philox.Purpose.SAMPLE), b, 0, 16);
        int same = 0;
        for (int i = 0; i < 16; i++) same += (c[i] == a[i] ? 1 : 0) + (b[i] == a[i] ? 1 : 0);
        assertTrue(same == 0, "other seeds or streams give other numbers");
    }
}
