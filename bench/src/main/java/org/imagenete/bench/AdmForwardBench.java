package org.imagenete.bench;

import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.NativeMemory;
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

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The whole ADM-256 UNet forward (guided-diffusion's 256x256 unconditional configuration, 552 M weights made
 * by the golden formula, 2.2397 TFLOP at batch 1). Also prints the peak tensor memory of one forward
 * beyond the weights.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
public class AdmForwardBench {
    @Param({"1"})
    public int batch;

    @Param({"cpu"})
    public String backend;

    Ops ops;
    Adm model;
    Tensor x, t;

    @Setup
    public void setUp() {
        ops = Backends.get(backend);
        Map<String, Tensor> sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), 0);
        model = Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close));
        x = FormulaWeights.tensor(1_000_000, 0, 0, 1, batch, 3, 256, 256);
        float[] ts = new float[batch];
        java.util.Arrays.fill(ts, 500f);
        t = Tensor.of(ts, batch);
    }

    @Benchmark
    public void forward(Blackhole bh) {
        long before = NativeMemory.liveBytes();
        NativeMemory.resetPeak();
        try (Tensor out = model.forward(ops, x, t, null, null)) {
            bh.consume(out.data().address());
        }
        System.out.printf(" [activation peak %.2f GiB beyond weights and inputs]", (NativeMemory.peakBytes() - before) / (double) (1L << 30));
    }

    @TearDown
    public void tearDown() {
        model.close();
        x.close();
        t.close();
    }
}
