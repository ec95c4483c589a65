package org.imagenete.bench;

import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Precision;
import org.imagenete.tensor.SeededRandom;
import org.imagenete.tensor.Tensor;

/** Seeded benchmark inputs, and the backends the benchmarks' {@code backend} parameter names. */
final class Data {
    private Data() {}

    static Tensor uniform(long seed, float scale, int... dims) { return SeededRandom.uniform(seed, scale, dims); }

    /** A backend name, or "cpu-bf16": the cpu backend with --precision bf16 (fp32, and logged, without AVX-512 BF16). */
    static Ops ops(String backend) {
        return backend.equals("cpu-bf16") ? Backends.get("cpu", Precision.BF16) : Backends.get(backend);
    }
}
