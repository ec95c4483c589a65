package org.imagenete.ops;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
 * generator, so that the noise of one sample at one step depends only on (seed, stream, element index) and
 * not on batch composition, thread count or backend.
 *
 * <p>Normals come from Box-Muller on word pairs, in float64 with this class's own logarithm and sine/cosine
 * ({@link #log}, {@link #sinCos}): polynomials evaluated with explicit fused multiply-adds, divisions and square
 * roots, all correctly rounded IEEE operations. libm's log/sin/cos differ between Java, glibc and CUDA by an
 * ulp of double now and then, which after rounding to float would make a rare normal differ; with only IEEE
 * operations in a fixed order, {@link Op#PHILOX_NORMAL} is bit-identical on the reference, the C kernels
 * ({@code native/sampler.c}) and the CUDA kernels ({@code cuda-kernels/sampler.cu}), which repeat these steps
 * operation for operation.
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

    /** Uniform in (0, 1]: (u + 1) / 2^32 of a 32-bit word, exact, never 0 (log-safe). */
    static double unit(int u) { return ((u & 0xffffffffL) + 1.0) * 0x1p-32; }

    private static final double LN2 = 0.6931471805599453, SQRT2 = 1.4142135623730951, TWO_PI = 6.283185307179586;

    /**
     * ln(u) for u in (0, 1], normal: u = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with
     * s = (m - 1)/(m + 1) (|s| <= 0.172), the series sum_k s^2k/(2k+1) to k = 10 (next term < 1e-18), then
     * e ln 2 + 2 s p in one fma. Relative error ~1e-16.
     */
    public static double log(double u) {
        long bits = Double.doubleToRawLongBits(u);
        int e = (int) ((bits >>> 52) & 0x7ff) - 1023;
        double m = Double.longBitsToDouble((bits & 0xfffffffffffffL) | 0x3ff0000000000000L);   // [1, 2)
        if (m > SQRT2) {
            m = m * 0.5;
            e = e + 1;
        }
        double s = (m - 1) / (m + 1), s2 = s * s;
        double p = 1.0 / 21;
        p = Math.fma(p, s2, 1.0 / 19);
        p = Math.fma(p, s2, 1.0 / 17);
        p = Math.fma(p, s2, 1.0 / 15);
        p = Math.fma(p, s2, 1.0 / 13);
        p = Math.fma(p, s2, 1.0 / 11);
        p = Math.fma(p, s2, 1.0 / 9);
        p = Math.fma(p, s2, 1.0 / 7);
        p = Math.fma(p, s2, 1.0 / 5);
        p = Math.fma(p, s2, 1.0 / 3);
        p = Math.fma(p, s2, 1.0);
        return Math.fma(e, LN2, (2 * s) * p);
    }

    /**
     * {sin, cos}(2 pi v) for v in [0, 1]: the quadrant k = round(4 v) and r = v - k/4 in [-1/8, 1/8] are exact,
     * t = 2 pi r in [-pi/4, pi/4], Taylor polynomials to t^19 / t^18 (next terms < 1e-18), then the quadrant's
     * exact swap and signs.
     */
    public static void sinCos(double v, double[] out) {
        int k = (int) Math.floor(4 * v + 0.5);
        double t = (v - k * 0.25) * TWO_PI, t2 = t * t;
        double ps = -1.0 / 121645100408832000.0;    // -1/19!
        ps = Math.fma(ps, t2, 1.0 / 355687428096000.0);
        ps = Math.fma(ps, t2, -1.0 / 1307674368000.0);
        ps = Math.fma(ps, t2, 1.0 / 6227020800.0);
        ps = Math.fma(ps, t2, -1.0 / 39916800.0);
        ps = Math.fma(ps, t2, 1.0 / 362880.0);
        ps = Math.fma(ps, t2, -1.0 / 5040.0);
        ps = Math.fma(ps, t2, 1.0 / 120.0);
        ps = Math.fma(ps, t2, -1.0 / 6.0);
        double sin = Math.fma(t * t2, ps, t);
        double pc = -1.0 / 6402373705728000.0;      // -1/18!
        pc = Math.fma(pc, t2, 1.0 / 20922789888000.0);
        pc = Math.fma(pc, t2, -1.0 / 87178291200.0);
        pc = Math.fma(pc, t2, 1.0 / 479001600.0);
        pc = Math.fma(pc, t2, -1.0 / 3628800.0);
        pc = Math.fma(pc, t2, 1.0 / 40320.0);
        pc = Math.fma(pc, t2, -1.0 / 720.0);
        pc = Math.fma(pc, t2, 1.0 / 24.0);
        pc = Math.fma(pc, t2, -0.5);
        double cos = Math.fma(t2, pc, 1.0);
        switch (k & 3) {
            case 0 -> { out[0] = sin; out[1] = cos; }
            case 1 -> { out[0] = cos; out[1] = -sin; }
            case 2 -> { out[0] = -sin; out[1] = -cos; }
            default -> { out[0] = -cos; out[1] = sin; }
        }
    }

    /** Box-Muller on one word pair: r = sqrt(-2 ln u1), a = 2 pi u2; (r cos a, r sin a) rounded to float. */
    static void boxMuller(int w0, int w1, float[] out, int at, int n, double[] sc) {
        double r = Math.sqrt(-2 * log(unit(w0)));
        sinCos(unit(w1), sc);
        if (at < n) out[at] = (float) (r * sc[1]);
        if (at + 1 < n) out[at + 1] = (float) (r * sc[0]);
    }

    /**
     * Standard normals for elements [0, n) of stream {@code stream} under {@code seed}: counter = (block index
     * lo, hi, stream lo, hi), key = (seed lo, hi); each block gives 4 normals by Box-Muller on word pairs.
     */
    public static void normals(long seed, long stream, float[] out, int offset, int n) {
        int[] w = new int[4];
        double[] sc = new double[2];
        float[] four = new float[4];
        int k0 = (int) seed, k1 = (int) (seed >>> 32), s0 = (int) stream, s1 = (int) (stream >>> 32);
        for (long b = 0; b * 4 < n; b++) {
            block((int) b, (int) (b >>> 32), s0, s1, k0, k1, w);
            boxMuller(w[0], w[1], four, 0, 4, sc);
            boxMuller(w[2], w[3], four, 2, 4, sc);
            int e = (int) (4 * b);
            System.arraycopy(four, 0, out, offset + e, Math.min(4, n - e));
        }
    }

    /** Stream id of a sampling step's noise: distinct per (step, purpose) so no two draws share numbers. */
    public static long stream(long step, Purpose purpose) { return (step << 8) | purpose.ordinal(); }

    /** What a draw is for (append only: the ordinal is part of the stream id). */
    public enum Purpose { START, SAMPLE, OBJECT, FILL, POSITION, RESAMPLE }
}
