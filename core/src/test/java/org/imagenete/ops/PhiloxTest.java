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

    /**
     * The op on every backend against the Java definition, bit for bit (raw float bits, so not even a -0 differs): the
     * device draws the same noise as the CPU for the same seed, sample and step. Steps past 2^32 and negative seeds
     * exercise every word of the key and counter; 1001 elements end inside a Philox block.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"reference", "cpu", "cuda-emulated"})
    void theOpIsBitIdenticalToTheDefinitionOnEveryBackend(String backend) {
        Ops ops = Backends.get(backend);
        long[] seeds = {42, -7, 0x123456789abcdefL}, steps = {0, 9, (5L << 32) + 3};
        int n = 1001;
        org.imagenete.tensor.Tensor keys = org.imagenete.tensor.Tensor.allocate(org.imagenete.tensor.DType.I32, 3, 4);
        for (int s = 0; s < 3; s++) {
            long[] words = {seeds[s], steps[s]};
            for (int j = 0; j < 2; j++) {
                keys.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4L * s + 2 * j, (int) words[j]);
                keys.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4L * s + 2 * j + 1, (int) (words[j] >>> 32));
            }
        }
        try (keys; org.imagenete.tensor.Tensor z = ops.philoxNormal(keys, Philox.Purpose.OBJECT.ordinal(), 3, 7, 11, 13)) {
            float[] got = z.toFloatArray(), want = new float[n];
            int per = 7 * 11 * 13;
            for (int s = 0; s < 3; s++) {
                float[] row = new float[per];
                Philox.normals(seeds[s], Philox.stream(steps[s], Philox.Purpose.OBJECT), row, 0, per);
                for (int i = 0; i < per; i++)
                    assertEquals(Float.floatToRawIntBits(row[i]), Float.floatToRawIntBits(got[s * per + i]),
                            backend + ": sample " + s + " element " + i + ": " + got[s * per + i] + " vs " + row[i]);
            }
            Philox.normals(seeds[0], Philox.stream(steps[0], Philox.Purpose.OBJECT), want, 0, n);
            assertTrue(want[0] != 0 && Float.isFinite(want[n - 1]));
        }
    }
}
