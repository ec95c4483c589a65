package org.imagenete.bench.gpu;

import org.imagenete.nn.Adm;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.ops.cuda.CudaGraph;
import org.imagenete.ops.cuda.CudaOps;
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

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * ADM-256 UNet forward on the GPU (2.2397 TFLOP per image; formula weights), fp32 or bf16 tensor-core convolutions,
 * eager ({@code -p graph=true}: replayed as a CUDA graph). Inputs are on the device; the measured method waits for
 * the device.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx16g"})
public class AdmGpuBench {
    @Param({"cuda", "cuda-bf16"})
    public String backend;

    @Param({"1", "8"})
    public int batch;

    @Param({"false"})
    public boolean graph;

    CudaOps ops;
    Adm model;
    Tensor x, t;
    CudaGraph g;

    @Setup
    public void setUp() {
        ops = GpuBenchState.backend(backend);
        var cfg = GpuBenchState.adm();
        Map<String, Tensor> sd = FormulaWeights.stateDict(cfg.parameterShapes(), 0);
        model = Adm.load(cfg, sd, null, () -> sd.values().forEach(Tensor::close));
        int r = GpuBenchState.admRes();
        try (Tensor xh = FormulaWeights.tensor(1_000_000, 0, 0, 1, batch, 3, r, r)) {
            x = ops.context().toDevice(xh);
        }
        float[] ts = new float[batch];
        Arrays.fill(ts, 500f);
        try (Tensor th = Tensor.of(ts, batch)) {
            t = ops.context().toDevice(th);
        }
        if (graph) g = CudaGraph.capture(ops, in -> model.forward(ops, in[0], in[1], null, null), x, t);
    }

    @Benchmark
    public long forward() {
        try (Tensor out = graph ? g.run1(x, t) : model.forward(ops, x, t, null, null)) {
            GpuBenchState.sync(ops);
            return out.numel();
        }
    }

    @TearDown
    public void tearDown() {
        if (g != null) g.close();
        model.close();
        x.close();
        t.close();
    }
}
