package org.imagenete.gpucheck;

import org.imagenete.device.Device;
import org.imagenete.device.DeviceEvent;
import org.imagenete.device.Devices;
import org.imagenete.device.DeviceCounters;
import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.diffusion.GaussianDiffusion;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidedStep;
import org.imagenete.diffusion.Schedule;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.cuda.CudaContext;
import org.imagenete.ops.cuda.CudaGraph;
import org.imagenete.ops.cuda.CudaOps;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Everything a lent GPU should confirm, in one JVM from the jar alone (no Maven, no network, no JUnit on the
 * node): the self-test kernels against CUDA's semantics; every op in fp32, and the tensor-core convolutions in
 * bf16 and f16, against the scalar reference at the ADM's channel counts; the golden ADM-tiny forward and input
 * gradient and the golden ResNet-50 logits; a CUDA graph replay; then timings (CUDA events, medians): ADM-256
 * forward at batch 1 and 8 in fp32 and bf16 (eager and as a graph), one guided step, ResNet-50 at batch 256, and
 * one convolution against cuBLAS ("kernel 0") when the node has it. Prints a table; exit status 0 when every check
 * passed, 1 when one failed, 2 when there is no usable GPU.
 *
 * <p>{@code java -cp <jar> org.imagenete.ops.cuda.GpuCheck [--quick] [--no-bench] [--testdata DIR] [--out FILE]}
 * <p>{@code --emulated} runs the same flow on the emulated device at toy sizes (ADM-tiny's configuration at
 * 32x32, ResNet-18 at 32x32, a small convolution), to check this program itself without a GPU; its timings mean
 * nothing.
 */
public final class GpuCheck {
    private final CudaContext ctx;
    private final Device dev;
    private final Path testdata;
    private final boolean quick;
    private final Scale scale;
    private final List<String> rows = new ArrayList<>();
    private int failures;

    /** Benchmark sizes: the real ones on a GPU, toy ones on the emulator. */
    record Scale(AdmConfig adm, int res, int[] batches, int resnetDepth, int resnetRes, int resnetBatch, int convBatch, int convChannels,
                 int convRes) {
        static final Scale GPU = new Scale(AdmConfig.adm256(), 256, new int[]{1, 8}, 50, 224, 256, 8, 256, 64);
        static final Scale TOY = new Scale(AdmConfig.tiny(),
                32, new int[]{1, 2}, 18, 32, 4, 2, 32, 16);
    }

    private GpuCheck(CudaContext ctx, Path testdata, boolean quick) {
        this.ctx = ctx;
        this.dev = ctx.device();
        this.testdata = testdata;
        this.quick = quick;
        this.scale = dev.isEmulated() ? Scale.TOY : Scale.GPU;
    }

    public static void main(String[] args) throws IOException {
        boolean quick = false, bench = true, emulated = false;
        Path testdata = Path.of(System.getProperty("imagenete.testdata", "testdata")), out = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--no-bench" -> bench = false;
                case "--emulated" -> emulated = true;
                case "--testdata" -> testdata = Path.of(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> {
                    System.err.println("usage: GpuCheck [--quick] [--no-bench] [--emulated] [--testdata DIR] [--out FILE]");
                    System.exit(64);
                }
            }
        }
        Optional<CudaContext> gpu = emulated ? Optional.of(CudaContext.emulated()) : CudaContext.gpu();
        if (gpu.isEmpty()) {
            System.err.println("GPU check: no usable GPU: " + Devices.gpuError());
            System.exit(2);
        }
        GpuCheck c = new GpuCheck(gpu.get(), testdata, quick);
        String table = c.runAll(bench);
        System.out.println(table);
        if (out != null) Files.writeString(out, table);
        System.exit(c.failures == 0 ? 0 : 1);
    }

    /** Runs the checks (and the benchmarks); returns the markdown table. Counts failures. */
    String runAll(boolean bench) {
        long t0 = System.nanoTime();
        byte[] image = Devices.kernelImage();
        say("device: " + dev.name() + "; kernel image " + (image == null ? "missing" : image.length + " bytes"));
        check("self-test kernels (barriers, shuffles, votes, 16-bit conversions)", () -> {
            List<String> bad = SelfTest.run(dev);
            return bad.isEmpty() ? null : String.join("; ", bad);
        });
        check("every op vs reference (fp32; bf16/f16 tensor-core conv)" + (quick ? ", small shapes" : ""), this::ops);
        if (!dev.isEmulated()) check("tensor-core conv = its emulated twin (the kernel CI runs)", this::twin);
        if (Files.isDirectory(testdata.resolve("golden"))) {
            check("golden ADM-tiny forward and input-gradient (fp32)", this::goldenAdm);
            check("golden ResNet-50 logits (fp32, bf16 within 2%)", this::goldenResNet);
            check("CUDA graph replay = eager (ADM-tiny)", this::graph);
            check("golden guided blended step on the device (sampler ops, fp32)", this::goldenStep);
            check("blended sampling on the device: step graph = eager, batch-independent, <= 1 KiB per image and step", this::sampling);
        } else {
            say("golden data not found under " + testdata.toAbsolutePath() + " (--testdata DIR: the repository's testdata folder): golden checks skipped");
        }
        say(String.format(Locale.ROOT, "checks took %.0f s", (System.nanoTime() - t0) / 1e9));
        StringBuilder md = new StringBuilder();
        md.append("| check | result |\n|---|---|\n");
        rows.forEach(r -> md.append(r).append('\n'));
        if (bench && (!quick || dev.isEmulated())) {
            md.append("\n| benchmark (").append(dev.name()).append(") | median | throughput |\n|---|---|---|\n");
            benchmarks(md);
        }
        say(String.format(Locale.ROOT, "total %.0f s, %d failed", (System.nanoTime() - t0) / 1e9, failures));
        return md.toString();
    }

    private static void say(String s) { System.out.println("[gpu-check] " + s); }

    /** Runs one check: null or a reason; an exception is a failure too. */
    private void check(String name, Supplier<String> body) {
        long t0 = System.nanoTime();
        String why;
        try {
            why = body.get();
        } catch (RuntimeException | Error e) {
            why = e.toString();
        }
        double s = (System.nanoTime() - t0) / 1e9;
        if (why != null) failures++;
        String res = why == null ? String.format(Locale.ROOT, "ok (%.1f s)", s) : "FAILED: " + why;
        say(name + ": " + res);
        rows.add("| " + name + " | " + res.replace('|', '/') + " |");
    }

    private List<CudaOps> backends() {
        return List.of(new CudaOps(ctx, CudaOps.Precision.FP32), new CudaOps(ctx, CudaOps.Precision.BF16), new CudaOps(ctx, CudaOps.Precision.FP16));
    }

    private String ops() {
        NativeMemory.setPoison(true);
        ctx.allocator().setPoison(true);
        try {
            CudaCheck.Checker k = new CudaCheck.Checker(new ReferenceOps(), backends());
            for (CudaCheck.Case c : CudaCheck.cases(!quick && !dev.isEmulated())) c.body().run(k);
            List<String> bad = new ArrayList<>();
            for (CudaCheck.Result r : k.results()) {
                System.out.println(r.line());
                if (!r.pass()) bad.add(r.what());
            }
            return bad.isEmpty() ? null : bad.size() + " of " + k.results().size() + " comparisons failed: " + bad;
        } finally {
            NativeMemory.setPoison(false);
            ctx.allocator().setPoison(false);
        }
    }

    /**
     * The tensor-core kernels against their emulated twin (the warp-cooperative mma of the emulation build) on the
     * same inputs: same 16-bit rounding of the operands, fp32 accumulation in both; only the order of accumulation
     * inside mma.sync differs (the hardware may also truncate its internal sums), by fp32 ulps of the partial sums
     * over ~50 mma steps. Relative L2 1e-4 allows that and nothing like a wrong fragment layout (off by ~100%). This
     * is what makes the emulated CI runs of those kernels count.
     */
    private String twin() {
        if (!org.imagenete.device.EmulatedDevice.available()) return "emulation library missing: " + org.imagenete.device.EmulatedDevice.error();
        CudaContext e = CudaContext.emulated();
        List<String> bad = new ArrayList<>();
        for (CudaOps.Precision p : new CudaOps.Precision[]{CudaOps.Precision.BF16, CudaOps.Precision.FP16}) {
            CudaOps onGpu = new CudaOps(ctx, p), emulated = new CudaOps(e, p);
            try (Tensor x = CudaCheck.uniform(1, 1, 2, 96, 20, 18); Tensor w = CudaCheck.uniform(2, 0.06f, 80, 96, 3, 3);
                 Tensor dy = CudaCheck.uniform(3, 1, 2, 80, 20, 18);
                 Tensor a = onGpu.conv2d(x, w, null, 1, 1); Tensor b = emulated.conv2d(x, w, null, 1, 1);
                 Tensor da = onGpu.conv2dGrad(dy, w, 1, 1, 20, 18); Tensor db = emulated.conv2dGrad(dy, w, 1, 1, 20, 18)) {
                for (Tensor[] pair : new Tensor[][]{{a, b}, {da, db}}) {
                    CudaCheck.Result r = CudaCheck.compare(p + " mma.sync vs emulated twin", Op.CONV2D, pair[0], pair[1], 1e-3, 1e-3, 1e-4);
                    System.out.println(r.line());
                    if (!r.pass()) bad.add(r.what() + ": " + r.detail());
                }
            }
        }
        return bad.isEmpty() ? null : String.join("; ", bad);
    }

    private Path golden(String rel) { return testdata.resolve("golden").resolve(rel); }

    /** The golden README's suggested fp32 tolerance (see testutil.Golden). */
    private double atol(String file, String tensor) {
        String json;
        try {
            json = Files.readString(golden("tolerances.json"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        var node = parse(json).path("files").path(file).path(tensor);
        double measured = node.get("fp32_vs_fp64_maxabs").asDouble(), absmax = node.get("ref_absmax").asDouble();
        return Math.max(10 * measured, Math.max(2e-6 * Math.max(1, absmax), 1e-6));
    }

    private static com.fasterxml.jackson.databind.JsonNode parse(String json) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private Adm tiny() {
        return Adm.open(golden("adm-tiny/weights.pt"), Map.of("num_head_channels", "8"));
    }

    private String goldenAdm() {
        String io = "adm-tiny/io.safetensors";
        Ops ops = new CudaOps(ctx, CudaOps.Precision.FP32);
        try (Adm model = tiny(); SafeTensors f = SafeTensors.open(golden(io)); Adm.Tape tape = new Adm.Tape();
             Tensor out = model.forward(ops, f.get("x"), f.get("t"), null, null, tape);
             Tensor dx = model.inputGradient(ops, tape, f.get("v"))) {
            List<String> bad = new ArrayList<>();
            for (var e : Map.of("out", out, "dx", dx).entrySet()) {
                CudaCheck.Result r = CudaCheck.compare("adm-tiny " + e.getKey(), Op.CONV2D, e.getValue(), f.get(e.getKey()), atol(io, e.getKey()), 0,
                        Double.POSITIVE_INFINITY);
                System.out.println(r.line());
                if (!r.pass()) bad.add(r.detail());
            }
            return bad.isEmpty() ? null : String.join("; ", bad);
        }
    }

    private String goldenResNet() {
        String io = "resnet50/io.safetensors";
        ResNet.Arch a = ResNet.Arch.of(50, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        try (ResNet net = ResNet.load(a, sd, null); SafeTensors f = SafeTensors.open(golden(io))) {
            sd.values().forEach(Tensor::close);
            List<String> bad = new ArrayList<>();
            try (Tensor l = net.forward(new CudaOps(ctx, CudaOps.Precision.FP32), f.get("x"), null, null)) {
                CudaCheck.Result r = CudaCheck.compare("resnet50 logits fp32", Op.CONV2D, l, f.get("logits"), atol(io, "logits"), 0,
                        Double.POSITIVE_INFINITY);
                System.out.println(r.line());
                if (!r.pass()) bad.add(r.detail());
            }
            try (Tensor l = net.forward(new CudaOps(ctx, CudaOps.Precision.BF16), f.get("x"), null, null)) {
                CudaCheck.Result r = CudaCheck.compare("resnet50 logits bf16", Op.CONV2D, l, f.get("logits"), Double.POSITIVE_INFINITY, 0, 2e-2);
                System.out.println(r.line());
                if (!r.pass()) bad.add(r.detail());
            }
            return bad.isEmpty() ? null : String.join("; ", bad);
        }
    }

    private String graph() {
        CudaOps ops = new CudaOps(ctx, CudaOps.Precision.FP32);
        try (Adm model = tiny(); SafeTensors f = SafeTensors.open(golden("adm-tiny/io.safetensors"));
             CudaGraph g = CudaGraph.capture(ops, in -> model.forward(ops, in[0], in[1], null, null), f.get("x"), f.get("t"));
             Tensor eager = model.forward(ops, f.get("x"), f.get("t"), null, null); Tensor replay = g.run1(f.get("x"), f.get("t"))) {
            CudaCheck.Result r = CudaCheck.compare("graph replay vs eager", Op.CONV2D, replay, eager, 0, 0, Double.POSITIVE_INFINITY);
            System.out.println(r.line() + " (" + g.nodes() + " nodes)");
            return r.pass() ? null : r.detail();
        }
    }

    /** One guided blended step of the golden guidance.safetensors on the device: g, the guided mean, the sample, x_{i-1}. */
    private String goldenStep() {
        String file = "guidance.safetensors";
        Ops ops = new CudaOps(ctx, CudaOps.Precision.FP32);
        try (Adm model = tiny(); SafeTensors g = SafeTensors.open(golden(file))) {
            GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, g.metadata().get("respacing")));
            int[] idx = {(int) g.get("t_index").getLong(0), (int) g.get("t_index").getLong(1)};
            float lambda = Float.parseFloat(g.metadata().get("lambda")), range = Float.parseFloat(g.metadata().get("range_lambda"));
            List<String> bad = new ArrayList<>();
            try (GuidedStep.Result r = GuidedStep.run(model, ops, d, g.get("x_t"), idx, Guidance.Terms.complexity(new float[]{lambda, lambda}, range, false));
                 Tensor sample = d.sample(ops, r.pmv(), r.g(), idx, g.get("noise_sample"));
                 Tensor q = d.qSample(ops, g.get("x_obj"), idx, g.get("noise_obj"));
                 Tensor prev = ops.blend(sample, q, g.get("m_obj"), false)) {
                for (var e : Map.of("step.g", r.g(), "pmv.pred_xstart", r.pmv().predX0(), "step.sample", sample, "step.x_prev", prev).entrySet()) {
                    CudaCheck.Result c = CudaCheck.compare("golden " + e.getKey(), Op.POSTERIOR_SAMPLE, e.getValue(), g.get(e.getKey()),
                            atol(file, e.getKey()), 0, Double.POSITIVE_INFINITY);
                    System.out.println(c.line());
                    if (!c.pass()) bad.add(c.detail());
                }
            }
            return bad.isEmpty() ? null : String.join("; ", bad);
        }
    }

    /**
     * Blended sampling of the tiny ADM on the device: the step replayed as a graph equals eager execution bit for bit, an
     * image's result does not depend on its batch, and each extra step moves at most 1 KiB per image.
     */
    private String sampling() {
        CudaOps ops = new CudaOps(ctx, CudaOps.Precision.FP32);
        List<Tensor> in = new ArrayList<>();
        try (Adm model = tiny()) {
            List<BlendedSampler.Job> jobs = new ArrayList<>();
            for (int j = 0; j < 2; j++) {
                Tensor bg = CudaCheck.uniform(40 + j, 0.8f, 3, 32, 32), obj = CudaCheck.uniform(50 + j, 0.9f, 3, 32, 32);
                Tensor m = Tensor.zeros(org.imagenete.tensor.DType.F32, 1, 32, 32);
                for (int k = 300; k < 600; k++) m.setFloat(k, 1);
                in.addAll(List.of(bg, obj, m));
                jobs.add(new BlendedSampler.Job(bg, obj, m, 20f - 40 * j, 7 + j, -1));
            }
            List<String> bad = new ArrayList<>();
            long[] bytes = new long[2];
            for (int k = 0; k < 2; k++) {
                BlendedSampler.Options o = BlendedSampler.Options.defaults().withSkip(3 + 2 * k);
                List<Tensor> eager = BlendedSampler.sample(model, ops, jobs, o, false);
                ctx.counters().reset();
                List<Tensor> graph = BlendedSampler.sample(model, ops, jobs, o, true);
                DeviceCounters.Snapshot sn = ctx.counters().snapshot();
                bytes[k] = sn.h2dBytes() + sn.d2hBytes();
                System.out.println((3 + 2 * k) + " steps: " + sn.transfersLine() + "; " + sn.stepsLine());
                List<Tensor> alone = BlendedSampler.sample(model, ops, jobs.subList(1, 2), o, true);
                try {
                    for (int j = 0; j < 2; j++)
                        if (eager.get(j).read().mismatch(graph.get(j).read()) != -1) bad.add("graph replay != eager (" + o.skip() + " steps, image " + j + ")");
                    if (alone.getFirst().read().mismatch(graph.get(1).read()) != -1) bad.add("batch of 1 != second of a batch of 2");
                    if (sn.graphLaunches() != o.skip() - 1) bad.add(sn.graphLaunches() + " graph launches for " + o.skip() + " steps");
                } finally {
                    eager.forEach(Tensor::close);
                    graph.forEach(Tensor::close);
                    alone.forEach(Tensor::close);
                }
            }
            double perStep = (bytes[1] - bytes[0]) / 2.0 / jobs.size();
            System.out.printf(Locale.ROOT, "traffic per extra step and image: %.0f bytes%n", perStep);
            if (!(perStep > 0 && perStep <= 1024)) bad.add(perStep + " bytes per extra step and image");
            return bad.isEmpty() ? null : String.join("; ", bad);
        } finally {
            in.forEach(Tensor::close);
        }
    }

    // ------------------------------------------------------------------------------------------------ benchmarks
    private static final double ADM256_FLOP = 2.2397e12, RESNET50_FLOP = 8.18e9;
    private static final int REPS = 5;

    /** Median device milliseconds of REPS runs (events around each), after one warm-up run. */
    private double time(Supplier<Tensor> run) {
        run.get().close();
        dev.synchronize();
        double[] ms = new double[REPS];
        for (int i = 0; i < REPS; i++) {
            try (DeviceEvent a = dev.record()) {
                Tensor t = run.get();
                try (DeviceEvent b = dev.record()) {
                    ms[i] = b.millisSince(a);
                }
                t.close();
            }
        }
        Arrays.sort(ms);
        return ms[REPS / 2];
    }

    private void row(StringBuilder md, String what, double ms, String throughput) {
        String line = String.format(Locale.ROOT, "| %s | %.2f ms | %s |", what, ms, throughput);
        say(line);
        md.append(line).append('\n');
    }

    private void bench(StringBuilder md, String what, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException | Error e) {
            failures++;
            String line = "| " + what + " | FAILED | " + e.toString().replace('|', '/') + " |";
            say(line);
            md.append(line).append('\n');
        }
    }

    private void benchmarks(StringBuilder md) {
        long t0 = System.nanoTime();
        Scale sc = scale;
        String adm = "ADM-" + sc.res();
        double admFlop = sc == Scale.GPU ? ADM256_FLOP : Double.NaN;
        Map<String, Tensor> sd = FormulaWeights.stateDict(sc.adm().parameterShapes(), 0);
        say(String.format(Locale.ROOT, "%s formula weights: %.1f s", adm, (System.nanoTime() - t0) / 1e9));
        try (Adm model = Adm.load(sc.adm(), sd, null, () -> sd.values().forEach(Tensor::close))) {
            GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, "100"));
            for (CudaOps.Precision p : new CudaOps.Precision[]{CudaOps.Precision.FP32, CudaOps.Precision.BF16}) {
                CudaOps ops = new CudaOps(ctx, p);
                for (int b : sc.batches()) {
                    int[] idx = new int[b];
                    Arrays.fill(idx, 9);
                    bench(md, adm + " forward " + ops.name() + " b" + b, () -> {
                        try (Tensor xh = FormulaWeights.tensor(1_000_000, 0, 0, 1, b, 3, sc.res(), sc.res()); Tensor x = ctx.toDevice(xh);
                             Tensor th = d.modelTimesteps(idx); Tensor t = ctx.toDevice(th)) {
                            double ms = time(() -> model.forward(ops, x, t, null, null));
                            row(md, adm + " forward " + ops.name() + " b" + b, ms, String.format(Locale.ROOT, "%.1f TFLOP/s, %.1f img/s",
                                    admFlop * b / ms / 1e9, b * 1e3 / ms));
                            if (b == 1) {
                                try (CudaGraph g = CudaGraph.capture(ops, in -> model.forward(ops, in[0], in[1], null, null), x, t)) {
                                    double gms = time(() -> g.run1(x, t));
                                    row(md, adm + " forward " + ops.name() + " b1, CUDA graph (" + g.nodes() + " nodes)", gms,
                                            String.format(Locale.ROOT, "%.1f TFLOP/s, %.2fx eager", admFlop / gms / 1e9, ms / gms));
                                }
                            }
                        }
                    });
                }
                int[] idx1 = {9};
                bench(md, "guided step " + ops.name() + " b1", () -> {
                    try (Tensor x = FormulaWeights.tensor(1_000_000, 0, 0, 1, 1, 3, sc.res(), sc.res())) {
                        Guidance.Terms terms = Guidance.Terms.complexity(new float[]{20f}, 50f, true);
                        Supplier<Tensor> step = () -> {
                            GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx1, terms);
                            Tensor g = r.g().copy();
                            r.close();
                            return g;
                        };
                        step.get().close();
                        double[] ms = new double[3];
                        for (int i = 0; i < ms.length; i++) {
                            long s = System.nanoTime();
                            step.get().close();
                            ms[i] = (System.nanoTime() - s) / 1e6;
                        }
                        Arrays.sort(ms);
                        row(md, "guided step (forward + complexity/range guidance + UNet VJP, all on the device) " + ops.name() + " b1",
                                ms[1], String.format(Locale.ROOT, "%.1f TFLOP/s counting 3 forwards", 3 * admFlop / ms[1] / 1e9));
                    }
                });
                bench(md, "blended sampling " + ops.name() + " b1", () -> samplingBench(md, model, ops, 1, sc.res(), admFlop));
            }
        }
        ResNet.Arch a = ResNet.Arch.of(sc.resnetDepth(), 1000);
        Map<String, Tensor> rsd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        String rn = "ResNet-" + sc.resnetDepth() + " " + sc.resnetRes() + "x" + sc.resnetRes();
        double rnFlop = sc == Scale.GPU ? RESNET50_FLOP : Double.NaN;
        try (ResNet net = ResNet.load(a, rsd, null)) {
            rsd.values().forEach(Tensor::close);
            for (CudaOps.Precision p : new CudaOps.Precision[]{CudaOps.Precision.FP32, CudaOps.Precision.BF16}) {
                CudaOps ops = new CudaOps(ctx, p);
                int nb = sc.resnetBatch();
                bench(md, rn + " " + ops.name() + " b" + nb, () -> {
                    try (Tensor xh = FormulaWeights.tensor(2_000_000, 0, 0, 1, nb, 3, sc.resnetRes(), sc.resnetRes()); Tensor x = ctx.toDevice(xh)) {
                        double ms = time(() -> net.forward(ops, x, null, null));
                        row(md, rn + " " + ops.name() + " b" + nb, ms, String.format(Locale.ROOT, "%.0f img/s, %.1f TFLOP/s",
                                nb * 1e3 / ms, rnFlop * nb / ms / 1e9));
                    }
                });
            }
        }
        bench(md, "conv vs cuBLAS", () -> convVersusCublas(md));
    }

    /**
     * Ten guided blended steps (ImageNet-E's background edit; 3 on the emulator) at batch b, eager and with the step
     * captured as a graph:
     * wall milliseconds per step (the sampler reads its few scalars back every step, so the wall time is the device
     * time plus what the host adds), kernel and graph launches per step, host time between launches, bytes per step.
     */
    private void samplingBench(StringBuilder md, Adm model, CudaOps ops, int b, int res, double admFlop) {
        List<BlendedSampler.Job> jobs = new ArrayList<>();
        List<Tensor> in = new ArrayList<>();
        try {
            for (int j = 0; j < b; j++) {
                Tensor bg = FormulaWeights.tensor(5_000_000 + j, 0, 0, 0.8, 3, res, res), obj = FormulaWeights.tensor(6_000_000 + j, 0, 0, 0.8, 3, res, res);
                Tensor m = Tensor.zeros(org.imagenete.tensor.DType.F32, 1, res, res);
                for (int k = res * res / 3; k < res * res / 2; k++) m.setFloat(k, 1);
                in.addAll(List.of(bg, obj, m));
                jobs.add(new BlendedSampler.Job(bg, obj, m, 20f, j, -1));
            }
            BlendedSampler.Options o = dev.isEmulated() ? BlendedSampler.Options.defaults().withSkip(3)
                    : BlendedSampler.Options.imagenetE();
            for (boolean graphs : new boolean[]{false, true}) {
                BlendedSampler.Options warm = BlendedSampler.Options.defaults().withSkip(2);
                BlendedSampler.sample(model, ops, jobs, warm, graphs).forEach(Tensor::close);   // weights, constants, a first capture
                ctx.counters().reset();
                long t0 = System.nanoTime();
                BlendedSampler.sample(model, ops, jobs, o, graphs).forEach(Tensor::close);
                double ms = (System.nanoTime() - t0) / 1e6 / o.skip();
                DeviceCounters.Snapshot sn = ctx.counters().snapshot();
                row(md, "blended sampling, " + o.skip() + " guided steps, " + (graphs ? "step graph" : "eager") + " " + ops.name() + " b" + b, ms,
                        String.format(Locale.ROOT, "%.1f TFLOP/s counting 3 forwards; %s; %.0f B/step/image after the images", 3 * admFlop * b / ms / 1e9,
                                sn.stepsLine().replace("device steps: ", ""), (sn.h2dBytes() + sn.d2hBytes()) / (double) o.skip() / b));
            }
        } finally {
            in.forEach(Tensor::close);
        }
    }

    /** ADM's dominant convolution (256 -> 256, 3x3 at 64x64, batch 8) against a cuBLAS GEMM of the same M, N, K. */
    private void convVersusCublas(StringBuilder md) {
        int b = scale.convBatch(), c = scale.convChannels(), h = scale.convRes(), m = c, n = b * h * h, k = c * 9;
        double flop = 2.0 * m * n * k;
        try (Tensor xh = FormulaWeights.tensor(3_000_000, 0, 0, 1, b, c, h, h); Tensor x = ctx.toDevice(xh);
             Tensor w = FormulaWeights.tensor(3_000_001, 0, 0, Math.sqrt(3.0 / k), c, c, 3, 3)) {
            for (CudaOps.Precision p : new CudaOps.Precision[]{CudaOps.Precision.FP32, CudaOps.Precision.BF16}) {
                CudaOps ops = new CudaOps(ctx, p);
                double ms = time(() -> ops.conv2d(x, w, null, 1, 1));
                row(md, "conv " + c + "->" + c + " 3x3 @" + h + "x" + h + " b" + b + " (implicit GEMM " + m + "x" + n + "x" + k + ") " + ops.name(), ms,
                        String.format(Locale.ROOT, "%.1f TFLOP/s", flop / ms / 1e9));
            }
            Optional<CublasBaseline> blas = dev.isEmulated() ? Optional.empty() : CublasBaseline.open();
            if (blas.isEmpty()) {
                say("kernel 0: no libcublas.so.13/.12 on this node: cuBLAS baseline skipped");
                md.append("| kernel 0 (cuBLAS) | - | not on this node |\n");
                return;
            }
            try (CublasBaseline cb = blas.get()) {
                long a = ctx.allocator().allocate(4L * m * k), bb = ctx.allocator().allocate(4L * k * n), cc = ctx.allocator().allocate(4L * m * n);
                try {
                    dev.fill(a, (byte) 0x3c, 4L * m * k);   // small finite values in both formats
                    dev.fill(bb, (byte) 0x3c, 4L * k * n);
                    dev.synchronize();
                    double s = cb.time(REPS, () -> cb.gemm(a, bb, cc, m, n, k, null));
                    row(md, "kernel 0: cuBLAS SGEMM " + m + "x" + n + "x" + k + " (" + cb.library() + ")", s,
                            String.format(Locale.ROOT, "%.1f TFLOP/s", flop / s / 1e9));
                    double s16 = cb.time(REPS, () -> cb.gemm(a, bb, cc, m, n, k, "bf16"));
                    row(md, "kernel 0: cuBLAS GemmEx bf16 in, fp32 out " + m + "x" + n + "x" + k, s16,
                            String.format(Locale.ROOT, "%.1f TFLOP/s", flop / s16 / 1e9));
                } finally {
                    ctx.allocator().free(a);
                    ctx.allocator().free(bb);
                    ctx.allocator().free(cc);
                }
            }
        }
    }

    /** For the JUnit GPU test: the checks only, failures counted. */
    public static int checksOnly(CudaContext ctx, Path testdata, boolean quick) {
        GpuCheck c = new GpuCheck(ctx, testdata, quick);
        c.runAll(false);
        return c.failures;
    }
}
