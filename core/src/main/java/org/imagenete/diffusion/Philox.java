package org.imagenete.diffusion;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
 * generator, so that the noise of one sample at one step depends only on (seed, stream, element index) and
 * not on batch composition, thread count or backend. The CUDA kernels use the same function: the 32-bit
 * outputs are bit-identical; the normals (Box-Muller in float64, rounded to float) agree to an ulp.
 */
public final class Philox {
    private static final int M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    private Philox() {}

    /** The 4 words of block (c0..c3) under key (k0, k1), written to {@code out}. */
    public static void block(int c0, int c1, int c2, int c3, int k0, int k1, int[] out) {
        for (int r = 0; r < 10; r++) {
            long p0 = (M0 & 0xffffffffL) * (c0 & 0xffffffffL);
            long p1 = (M1 & 0xffffffffL) * (c2 & 0xffffffffL);
            int hi0 = (int) (p0 >>> 32), lo0 = (int) p0, hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        out[0] = c0;
        out[1] = c1;
        out[2] = c2;
        out[3] = c3;
    }

    /** Uniform in (0, 1]: (u + 1) / 2^32 of a 32-bit word, never 0 (log-safe). */
    static double unit(int u) { return ((u & 0xffffffffL) + 1.0) / 4294967296.0; }

    /**
     * Standard normals for elements [0, n) of stream {@code stream} under {@code seed}: counter = (block index
     * lo, hi, stream lo, hi), key = (seed lo, hi); each block gives 4 normals by Box-Muller on word pairs.
     */
    public static void normals(long seed, long stream, float[] out, int offset, int n) {
        int[] w = new int[4];
        int k0 = (int) seed, k1 = (int) (seed >>> 32), s0 = (int) stream, s1 = (int) (stream >>> 32);
        for (int b = 0; b * 4 < n; b++) {
            block(b, 0, s0, s1, k0, k1, w);
            for (int pair = 0; pair < 2; pair++) {
                double r = Math.sqrt(-2 * Math.log(unit(w[2 * pair])));
                double a = 2 * Math.PI * unit(w[2 * pair + 1]);
                int e = 4 * b + 2 * pair;
                if (e < n) out[offset + e] = (float) (r * Math.cos(a));
                if (e + 1 < n) out[offset + e + 1] = (float) (r * Math.sin(a));
            }
        }
    }

    /** Stream id of a sampling step's noise: distinct per (step, purpose) so no two draws share numbers. */
    public static long stream(long step, Purpose purpose) { return (step << 8) | purpose.ordinal(); }

    /** What a draw is for (append only: the ordinal is part of the stream id). */
    public enum Purpose { START, SAMPLE, OBJECT, FILL, POSITION, RESAMPLE }
}
