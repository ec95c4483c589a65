package org.imagenete.tensor;

import java.util.SplittableRandom;

/** Seeded inputs for checks and benchmarks: uniform [-scale, scale) floats from SplittableRandom(seed). */
public final class SeededRandom {
    private SeededRandom() {}

    public static Tensor uniform(long seed, float scale, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (int d : dims) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return Tensor.of(v, dims);
    }
}
