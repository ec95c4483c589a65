package org.imagenete.bench.gpu;

import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
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

import java.util.Map;
import java.util.concurrent.TimeUnit;

/** ResNet-50 at 224x224, batch 256 (8.18 GFLOP per image), on the GPU; without one, ResNet-18 at 32x32 emulated. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx16g"})
public class ResNetGpuBench {
    @Param({"cuda", "cuda-bf16"})
    public String backend;

    @Param({"256"})
    public int batch;

    CudaOps ops;
    ResNet net;
    Tensor x;

    @Setup
    public void setUp() {
        ops = GpuBenchState.backend(backend);
        boolean gpu = GpuBenchState.onGpu();
        ResNet.Arch a = ResNet.Arch.of(gpu ? 50 : 18, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        try {
            net = ResNet.load(a, sd, null);
        } finally {
            sd.values().forEach(Tensor::close);
        }
        int b = gpu ? batch : 2, r = gpu ? 224 : 32;
        try (Tensor xh = FormulaWeights.tensor(2_000_000, 0, 0, 1, b, 3, r, r)) {
            x = ops.context().toDevice(xh);
        }
    }

    @Benchmark
    public long forward() {
        try (Tensor logits = net.forward(ops, x, null, null)) {
            GpuBenchState.sync(ops);
            return logits.numel();
        }
    }

    @TearDown
    public void tearDown() {
        net.close();
        x.close();
    }
}
