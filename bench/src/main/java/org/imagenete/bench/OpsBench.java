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
 * The memory-bound ops at the ADM-256's largest activation, [1, C, H, H] (C=256, H=256 by default), and
 * attention at the 32x32 level (T = 1024, 8 heads of 64) and 16x16 (T = 256, 16 heads). The report gives
 * GB/s (bytes read + written) and, for attention, GFLOP/s.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class OpsBench {
    @Param({"256x256"})
    public String shape;

    @Param({"cpu"})
    public String backend;

    Ops ops;
    Tensor x, x2, gamma, beta, ss, qkv1024, qkv256;

    @Setup
    public void setUp() {
        int[] s = AdmShapes.parse(shape);
        int c = s[0], h = s[1];
        ops = Backends.get(backend);
        x = Data.uniform(1, 1f, 1, c, h, h);
        x2 = Data.uniform(2, 1f, 1, c, h, h);
        gamma = Data.uniform(3, 0.1f, c);
        beta = Data.uniform(4, 0.05f, c);
        ss = Data.uniform(5, 0.3f, 1, 2 * c);
        qkv1024 = Data.uniform(6, 1.7f, 1, 3 * 512, 1024);
        qkv256 = Data.uniform(7, 1.7f, 1, 3 * 1024, 256);
    }

    @Benchmark public void groupNormScaleShiftSilu(Blackhole bh) { run(bh, ops.groupNorm(x, gamma, beta, 32, 1e-5f, ss, true)); }

    @Benchmark public void silu(Blackhole bh) { run(bh, ops.silu(x)); }

    @Benchmark public void add(Blackhole bh) { run(bh, ops.add(x, x2)); }

    @Benchmark public void concat(Blackhole bh) { run(bh, ops.concat(x, x2)); }

    @Benchmark public void upsampleNearest2x(Blackhole bh) { run(bh, ops.upsampleNearest2x(x)); }

    @Benchmark public void avgPool2x(Blackhole bh) { run(bh, ops.avgPool2x(x)); }

    @Benchmark public void attentionT1024(Blackhole bh) { run(bh, ops.attention(qkv1024, 8)); }

    @Benchmark public void attentionT256(Blackhole bh) { run(bh, ops.attention(qkv256, 16)); }

    private static void run(Blackhole bh, Tensor y) {
        try (y) {
            bh.consume(y.data().address());
        }
    }

    @TearDown
    public void tearDown() {
        for (Tensor t : new Tensor[]{x, x2, gamma, beta, ss, qkv1024, qkv256}) t.close();
    }
}
