package org.imagenete.testutil;

import org.imagenete.tensor.SeededRandom;
import org.imagenete.tensor.Tensor;

/** Seeded test inputs: uniform [-1, 1) floats (or a given scale). */
public final class Rand {
    private Rand() {}

    public static Tensor uniform(long seed, float scale, int... dims) { return SeededRandom.uniform(seed, scale, dims); }

    public static Tensor uniform(long seed, int... dims) { return uniform(seed, 1f, dims); }
}
