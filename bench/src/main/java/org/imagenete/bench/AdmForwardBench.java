package org.imagenete.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The whole ADM-256 UNet forward (guided-diffusion's 256x256 unconditional configuration, 552 M weights made
 * by the golden formula, 2.2397 TFLOP at batch 1): the native backend in fp32 and bf16 ({@code cpu-bf16}: the cpu
 * backend with --precision bf16, weights made in bf16), and ONNX Runtime (fp32, CPU provider, all cores) on the very
 * same formula weights as kernel 0, exported through {@link Adm#writeOnnx} (2.2 GB of external data in a temporary
 * folder; the Java model is closed before the ONNX Runtime session is made, so that one copy of the weights is
 * held at a time). Also prints the peak tensor memory of one native forward beyond the weights.
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

    @Param({"cpu", "cpu-bf16", "onnxruntime"})
    public String backend;

    Ops ops;
    Adm model;
    Tensor x, t;
    Path dir;
    OrtSession ort;
    OnnxTensor xo, to;

    @Setup
    public void setUp() throws Exception {
        x = FormulaWeights.tensor(1_000_000, 0, 0, 1, batch, 3, 256, 256);
        float[] ts = new float[batch];
        java.util.Arrays.fill(ts, 500f);
        t = Tensor.of(ts, batch);
        if (backend.equals("onnxruntime")) {
            dir = Files.createTempDirectory("adm256-onnx");
            Path onnx = dir.resolve("adm256.onnx");
            try (Adm m = formula(Data.ops("cpu"))) {
                m.writeOnnx(onnx, 256);
            }
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            o.setIntraOpNumThreads(Runtime.getRuntime().availableProcessors());
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            ort = env.createSession(onnx.toString(), o);
            xo = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(x.toFloatArray()), new long[]{batch, 3, 256, 256});
            to = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(ts), new long[]{batch});
        } else {
            ops = Data.ops(backend);
            model = formula(ops);
        }
    }

    /** The formula-weight ADM-256 with its convolution weights made in the dtype the backend takes. */
    static Adm formula(Ops ops) {
        Map<String, Tensor> sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), 0, ops.convWeightType());
        return Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close), ops.convWeightType());
    }

    @Benchmark
    public void forward(Blackhole bh) throws Exception {
        if (ort != null) {
            try (OrtSession.Result r = ort.run(Map.of("x", xo, "t", to))) {
                bh.consume(r.get(0));
            }
            return;
        }
        long before = NativeMemory.liveBytes();
        NativeMemory.resetPeak();
        try (Tensor out = model.forward(ops, x, t, null, null)) {
            bh.consume(out.data().address());
        }
        System.out.printf(" [activation peak %.2f GiB beyond weights and inputs]", (NativeMemory.peakBytes() - before) / (double) (1L << 30));
    }

    @TearDown
    public void tearDown() throws Exception {
        if (model != null) model.close();
        if (ort != null) {
            xo.close();
            to.close();
            ort.close();
        }
        if (dir != null)
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.delete(p);
                Files.delete(dir);
            }
        x.close();
        t.close();
    }
}
