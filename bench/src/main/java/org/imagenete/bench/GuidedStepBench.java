package org.imagenete.bench;

import org.imagenete.diffusion.GaussianDiffusion;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidedStep;
import org.imagenete.diffusion.Schedule;
import org.imagenete.nn.Adm;
import org.imagenete.nn.FormulaWeights;
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
 * One guided ImageNet-E step of ADM-256 at batch 1 (formula weights): UNet forward with a tape, the complexity
 * (FFT) and range guidance on pred_x0, and the UNet's input-gradient, i.e. everything but the cheap
 * elementwise sampling. {@code guided=false} runs the same step without guidance: the forward-only baseline
 * of the same run, for the ratio. {@code cpu-bf16}: the cpu backend with --precision bf16.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
public class GuidedStepBench {
    @Param({"true", "false"})
    public boolean guided;

    @Param({"cpu", "cpu-bf16"})
    public String backend;

    Ops ops;
    Adm model;
    Tensor x;
    GaussianDiffusion diffusion;

    @Setup
    public void setUp() {
        ops = Data.ops(backend);
        model = AdmForwardBench.formula(ops);
        x = FormulaWeights.tensor(2_000_000, 0, 0, 1.7320508075688772, 1, 3, 256, 256);
        diffusion = new GaussianDiffusion(Schedule.respaced(1000, "100"));
    }

    @Benchmark
    public void step(Blackhole bh) {
        Guidance.Terms terms = Guidance.Terms.complexity(new float[]{guided ? 20f : 0f}, guided ? 50f : 0f, true);
        try (GuidedStep.Result r = GuidedStep.run(model, ops, diffusion, x, new int[]{9}, terms)) {
            bh.consume(r.pmv().mean().data().address());
        }
    }

    @TearDown
    public void tearDown() {
        model.close();
        x.close();
    }
}
