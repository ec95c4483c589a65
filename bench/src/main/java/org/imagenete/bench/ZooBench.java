package org.imagenete.bench;

import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.nn.Vit;
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

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The model-zoo architectures evaluate runs natively, at 224x224, formula weights: ResNet-50 (the baseline),
 * ResNeXt-50 32x4d (grouped 3x3 convolutions, on the CPU one native convolution per image and group), Wide
 * ResNet-50-2, ViT-B/16 (1x1 convolutions over channel-major tokens, layer_norm, gelu, attention). FLOP per image in
 * {@link #GFLOP}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class ZooBench {
    /**
     * GFLOP (2 x multiply-adds) per image: the convolutions' and linear layers' of torchvision's models counted by
     * forward hooks (torch 1.13, 224x224); ViT-B/16 analytically, 12 layers x (12 D^2 T + 2 T^2 D) + the patch
     * embedding and head, D = 768, T = 197 (its attention's projections bypass the hooks).
     */
    static final Map<String, Double> GFLOP = Map.of("resnet50", 8.178, "resnext50_32x4d", 8.461, "wide_resnet50_2", 22.796, "vit_b_16", 35.13);

    @Param({"resnet50", "resnext50_32x4d", "wide_resnet50_2", "vit_b_16"})
    public String model;

    @Param({"cpu"})
    public String backend;

    @Param({"8"})
    public int batch;

    ResNet resnet;
    Vit vit;
    Ops ops;
    Tensor x;

    @Setup
    public void setUp() {
        ops = Backends.get(backend);
        x = Data.uniform(1, 1.7f, batch, 3, 224, 224);
        if (model.equals("vit_b_16")) {
            Vit.Config c = Vit.Config.vitB16(1000);
            Map<String, Tensor> sd = FormulaWeights.stateDict(c.parameterShapes(), 0);
            vit = Vit.load(c, sd, null);
            sd.values().forEach(Tensor::close);
        } else {
            ResNet.Arch a = switch (model) {
                case "resnet50" -> ResNet.Arch.of(50, 1000);
                case "resnext50_32x4d" -> ResNet.Arch.of(50, 1000, 32, 4);
                case "wide_resnet50_2" -> ResNet.Arch.of(50, 1000, 1, 128);
                default -> throw new IllegalArgumentException(model);
            };
            Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
            resnet = ResNet.load(a, sd, null);
            sd.values().forEach(Tensor::close);
        }
    }

    @Benchmark
    public void logits(Blackhole bh) {
        try (Tensor l = vit != null ? vit.forward(ops, x, null) : resnet.forward(ops, x, null, null)) {
            bh.consume(l.getFloat(0));
        }
    }

    @TearDown
    public void tearDown() {
        if (vit != null) vit.close();
        if (resnet != null) resnet.close();
        x.close();
    }
}
