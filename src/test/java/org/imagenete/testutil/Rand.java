package org.imagenete.testutil;

import org.imagenete.tensor.Tensor;

import java.util.SplittableRandom;

/** Seeded test inputs: uniform [-1, 1) floats (or a given scale). */
public final class Rand {
    private Rand() {}

    public static Tensor uniform(long seed, float scale, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (int d : dims) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return Tensor.of(v, dims);
    }

    public static Tensor uniform(long seed, int... dims) { return uniform(seed, 1f, dims); }
}
