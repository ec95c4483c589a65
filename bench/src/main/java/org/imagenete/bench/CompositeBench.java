package org.imagenete.bench;

import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.TimeUnit;

/**
 * Affine compositing (the edits' object placement) of a batch of 256x256 RGB images: a premultiplied RGBA layer
 * shrunk 0.7x (a size or position edit) or also rotated 30 degrees (a direction edit) over a background. Bytes =
 * background read + layer read + output written (each once); the report compares them with the measured memory
 * bandwidth.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class CompositeBench {
    @Param({"64"})
    public int batch;

    @Param({"256"})
    public int size;

    @Param({"cpu"})
    public String backend;

    @Param({"shrink", "rotate"})
    public String transform;

    Ops ops;
    Tensor bg, layer;
    float[] inv;

    @Setup
    public void setUp() {
        ops = Backends.get(backend);
        bg = Data.uniform(1, 1f, batch, 3, size, size);
        layer = Data.uniform(2, 1f, batch, 4, size, size);
        inv = new float[6 * batch];
        double a = transform.equals("rotate") ? Math.toRadians(30) : 0, s = 1 / 0.7, c = (size - 1) / 2.0;
        for (int b = 0; b < batch; b++) {
            float[] m = {(float) (s * Math.cos(a)), (float) (s * Math.sin(a)), 0, (float) (-s * Math.sin(a)), (float) (s * Math.cos(a)), 0};
            m[2] = (float) (c - m[0] * c - m[1] * c);
            m[5] = (float) (c - m[3] * c - m[4] * c);
            System.arraycopy(m, 0, inv, 6 * b, 6);
        }
    }

    @Benchmark
    public void affineComposite(Blackhole bh) {
        try (Tensor y = ops.affineComposite(bg, layer, inv)) {
            bh.consume(y.data().address());
        }
    }

    @TearDown
    public void tearDown() {
        bg.close();
        layer.close();
    }
}
