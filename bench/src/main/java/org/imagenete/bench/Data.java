package org.imagenete.bench;

import org.imagenete.tensor.Tensor;

import java.util.SplittableRandom;

/** Seeded benchmark inputs. */
final class Data {
    private Data() {}

    static Tensor uniform(long seed, float scale, int... dims) {
        SplittableRandom r = new SplittableRandom(seed);
        long n = 1;
        for (int d : dims) n *= d;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return Tensor.of(v, dims);
    }
}
