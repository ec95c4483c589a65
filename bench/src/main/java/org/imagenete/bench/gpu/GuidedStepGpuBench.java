package org.imagenete.bench.gpu;

import org.imagenete.diffusion.GaussianDiffusion;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidedStep;
import org.imagenete.diffusion.Schedule;
import org.imagenete.nn.Adm;
import org.imagenete.nn.FormulaWeights;
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
import org.openjdk.jmh.infra.Blackhole;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One guided ImageNet-E step of ADM-256 at batch 1 on the GPU: forward with a tape, complexity (FFT) and range
 * guidance on pred_x0, the UNet's input-gradient, all on the device (the sampler's ops); only the step's scalars
 * (loss values, NaN counts) come back.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx16g"})
public class GuidedStepGpuBench {
    @Param({"cuda", "cuda-bf16"})
    public String backend;

    CudaOps ops;
    Adm model;
    Tensor x;
    GaussianDiffusion diffusion;

    @Setup
    public void setUp() {
        ops = GpuBenchState.backend(backend);
        var cfg = GpuBenchState.adm();
        Map<String, Tensor> sd = FormulaWeights.stateDict(cfg.parameterShapes(), 0);
        model = Adm.load(cfg, sd, null, () -> sd.values().forEach(Tensor::close));
        int r = GpuBenchState.admRes();
        x = FormulaWeights.tensor(2_000_000, 0, 0, 1.7320508075688772, 1, 3, r, r);
        diffusion = new GaussianDiffusion(Schedule.respaced(1000, "100"));
    }

    @Benchmark
    public void step(Blackhole bh) {
        Guidance.Terms terms = Guidance.Terms.complexity(new float[]{20f}, 50f, true);
        try (GuidedStep.Result r = GuidedStep.run(model, ops, diffusion, x, new int[]{9}, terms)) {
            bh.consume(r.g().data().address());   // reading g waits for the device
        }
    }

    @TearDown
    public void tearDown() {
        model.close();
        x.close();
    }
}
