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
 * The ADM-256 convolutions, one shape per run: "CinxCoutxHxk" (H = W, stride 1, pad k/2, batch 1).
 * FLOP = 2 Cout Cin k^2 H^2; the report turns the time into GFLOP/s and a share of the measured peak.
 * The shapes are the ones that dominate the forward (the whole forward is {@link AdmForwardBench}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class ConvBench {
    @Param({"256x256x256x3", "512x256x256x3", "512x256x256x1", "256x256x128x3", "512x512x64x3", "512x512x32x3",
            "1024x1024x16x3", "1024x1024x8x3", "2048x1024x8x3", "3x256x256x3", "256x6x256x3"})
    public String shape;

    @Param({"cpu"})
    public String backend;

    Ops ops;
    Tensor x, w, b;
    int pad;

    @Setup
    public void setUp() {
        int[] s = AdmShapes.parse(shape);
        int cin = s[0], cout = s[1], h = s[2], k = s[3];
        pad = k / 2;
        ops = Backends.get(backend);
        x = Data.uniform(1, 1f, 1, cin, h, h);
        w = Data.uniform(2, (float) Math.sqrt(3.0 / (cin * k * k)), cout, cin, k, k);
        b = Data.uniform(3, 0.05f, cout);
    }

    @Benchmark
    public void conv2d(Blackhole bh) {
        try (Tensor y = ops.conv2d(x, w, b, 1, pad)) {
            bh.consume(y.data().address());
        }
    }

    @TearDown
    public void tearDown() {
        x.close();
        w.close();
        b.close();
    }
}
