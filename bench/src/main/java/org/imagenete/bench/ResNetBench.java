package org.imagenete.bench;

import org.imagenete.eval.OnnxClassifier;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * ResNet-50 at 224x224, batch 32, formula weights (BatchNorm folded): the native backend in fp32 and bf16
 * ({@code cpu-bf16}: the folded weights then converted to bf16), and ONNX Runtime (fp32) on the very same folded
 * weights (exported with {@link ResNet#toOnnx()}) as kernel 0, in the same run. 8.18 GFLOP per image.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class ResNetBench {
    @Param({"cpu", "cpu-bf16", "onnxruntime"})
    public String backend;

    @Param({"32"})
    public int batch;

    ResNet net;
    Ops ops;
    OnnxClassifier ort;
    Tensor x;
    Path onnx;

    @Setup
    public void setUp() throws Exception {
        ResNet.Arch a = ResNet.Arch.of(50, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        if (!backend.equals("onnxruntime")) ops = Data.ops(backend);
        net = ResNet.load(a, sd, null, ops == null ? org.imagenete.tensor.DType.F32 : ops.convWeightType());
        sd.values().forEach(Tensor::close);
        x = Data.uniform(1, 1.7f, batch, 3, 224, 224);
        if (backend.equals("onnxruntime")) {
            onnx = Files.createTempFile("resnet50", ".onnx");
            Files.write(onnx, net.toOnnx());
            ort = new OnnxClassifier(onnx, Runtime.getRuntime().availableProcessors(), false);
        }
    }

    @Benchmark
    public void logits(Blackhole bh) {
        try (Tensor l = ort != null ? ort.logits(x) : net.forward(ops, x, null, null)) {
            bh.consume(l.getFloat(0));
        }
    }

    @TearDown
    public void tearDown() throws Exception {
        if (ort != null) ort.close();
        if (onnx != null) Files.deleteIfExists(onnx);
        net.close();
        x.close();
    }
}
