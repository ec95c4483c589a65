package org.imagenete.bench;

import org.imagenete.tensor.SeededRandom;
import org.imagenete.tensor.Tensor;

/** Seeded benchmark inputs. */
final class Data {
    private Data() {}

    static Tensor uniform(long seed, float scale, int... dims) { return SeededRandom.uniform(seed, scale, dims); }
}
