package org.imagenete.nn;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.LongStream;

/**
 * The golden files' deterministic weight formula (a SplitMix64 hash of tensor index k, element index i and
 * a salt), so that full-size models can be built and checked without downloading weights:
 * <pre>
 * z = (k << 32) + i + salt; z += 0x9E3779B97F4A7C15
 * z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >>> 27)) * 0x94D049BB133111EB; z ^= z >>> 31
 * u = (z >>> 40) / 2^24;  w = (float) (offset + (2u - 1) * scale)
 * </pre>
 * Scale policy by role (from the key name and shape): weights with >= 2 dims offset 0, scale sqrt(3/fan_in);
 * biases 0, 0.05; norm weights 1, 0.1; norm biases 0, 0.05; BatchNorm running_mean 0, 0.1, running_var 1, 0.5;
 * num_batches_tracked int64 zeros.
 */
public final class FormulaWeights {
    private FormulaWeights() {}

    public static float value(long k, long i, long salt, double offset, double scale) {
        long z = (k << 32) + i + salt;
        z += 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        double u = (z >>> 40) / (double) (1 << 24);
        return (float) (offset + (2 * u - 1) * scale);
    }

    /** A new F32 tensor filled by the formula (in parallel: 552 M parameters take a few seconds). */
    public static Tensor tensor(long k, long salt, double offset, double scale, int... dims) {
        Tensor t = Tensor.allocate(DType.F32, Shape.of(dims));
        MemorySegment d = t.data();
        long n = t.numel();
        long chunk = 1 << 16;
        LongStream.range(0, (n + chunk - 1) / chunk).parallel().forEach(c -> {
            long end = Math.min(n, (c + 1) * chunk);
            for (long i = c * chunk; i < end; i++) d.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, value(k, i, salt, offset, scale));
        });
        return t;
    }

    /** {offset, scale} of the golden scale policy for a state-dict entry. */
    public static double[] policy(String name, int[] shape) {
        if (name.endsWith("running_mean")) return new double[]{0, 0.1};
        if (name.endsWith("running_var")) return new double[]{1, 0.5};
        if (name.endsWith("bias")) return new double[]{0, 0.05};
        if (shape.length >= 2) {
            long fanIn = 1;
            for (int i = 1; i < shape.length; i++) fanIn *= shape[i];
            return new double[]{0, Math.sqrt(3.0 / fanIn)};
        }
        return new double[]{1, 0.1}; // 1-D weight: a norm's gain
    }

    /**
     * A whole state dict by the formula: tensor k is the k-th entry of {@code shapes} (state-dict order).
     * {@code num_batches_tracked} entries become int64 zeros and still consume their k.
     */
    public static Map<String, Tensor> stateDict(Map<String, int[]> shapes, long salt) { return stateDict(shapes, salt, DType.F32); }

    /**
     * The same with the convolution weights (rank >= 3) in {@code convWeights} (F32 or BF16), each converted as it
     * is made: the ADM-256 in bf16 never holds its 2.2 GB of F32 weights (what {@code Adm.load} would convert them to).
     */
    public static Map<String, Tensor> stateDict(Map<String, int[]> shapes, long salt, DType convWeights) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        long k = 0;
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            if (e.getKey().endsWith("num_batches_tracked")) {
                out.put(e.getKey(), Tensor.zeros(DType.I64, e.getValue()));
            } else {
                double[] p = policy(e.getKey(), e.getValue());
                Tensor t = tensor(k, salt, p[0], p[1], e.getValue());
                if (t.rank() >= 3 && convWeights != DType.F32) {
                    Tensor f = t;
                    try (f) {
                        t = f.convert(convWeights);
                    }
                }
                out.put(e.getKey(), t);
            }
            k++;
        }
        return out;
    }
}
