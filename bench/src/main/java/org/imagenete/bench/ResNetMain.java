package org.imagenete.bench;

import org.imagenete.eval.OnnxClassifier;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * ResNet-50 at batch B (formula weights, BatchNorm folded) on the cpu backend in fp32 and bf16 and on ONNX Runtime
 * (the same folded weights), outside JMH: wall time and this thread's CPU time per run. Run with
 * {@code -Dimagenete.threads=1}: every native kernel and ONNX Runtime (one intra-op thread) then work on the calling
 * thread, and the CPU-time ratios count the work of each alone, which a machine loaded by other processes disturbs
 * far less than wall time (JMH's ResNetBench gives the 2-thread wall-clock figures). Args: [runs] [batch];
 * {@code -Dimagenete.profile=true} first prints the time per op of the cpu backend's runs.
 */
public final class ResNetMain {
    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int threads = Integer.getInteger("imagenete.threads", Runtime.getRuntime().availableProcessors());
        ResNet.Arch a = ResNet.Arch.of(50, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        Ops fp32 = Data.ops("cpu"), bf16 = Data.ops("cpu-bf16");
        Path onnx = Files.createTempFile("resnet50", ".onnx");
        try (ResNet n32 = ResNet.load(a, sd, null, DType.F32); ResNet n16 = ResNet.load(a, sd, null, bf16.convWeightType());
             Tensor x = Data.uniform(1, 1.7f, batch, 3, 224, 224)) {
            sd.values().forEach(Tensor::close);
            Files.write(onnx, n32.toOnnx());
            try (OnnxClassifier ort = new OnnxClassifier(onnx, threads, false)) {
                if (Boolean.getBoolean("imagenete.profile")) {
                    // time per op of the fp32 and bf16 runs (after a warm-up run each)
                    for (Ops o : new Ops[]{fp32, bf16}) {
                        ResNet n = o == fp32 ? n32 : n16;
                        n.forward(o, x, null, null).close();
                        org.imagenete.ops.ProfilingOps prof = new org.imagenete.ops.ProfilingOps(o);
                        for (int i = 0; i < runs; i++) n.forward(prof, x, null, null).close();
                        System.out.printf(Locale.ROOT, "profile of %d runs, %s:%n%s", runs, o == fp32 ? "fp32" : "bf16", prof.report());
                    }
                }
                double[] c32 = time("cpu fp32", runs, () -> n32.forward(fp32, x, null, null));
                double[] c16 = time("cpu bf16", runs, () -> n16.forward(bf16, x, null, null));
                double[] co = time("onnxruntime fp32", runs, () -> ort.logits(x));
                System.out.printf(Locale.ROOT, "rate ratios (CPU time of this thread): fp32 / ONNX Runtime %.2f, bf16 / ONNX Runtime %.2f, "
                        + "bf16 / fp32 %.2f%n", co[1] / c32[1], co[1] / c16[1], c32[1] / c16[1]);
                System.out.printf(Locale.ROOT, "rate ratios (wall): fp32 / ONNX Runtime %.2f, bf16 / ONNX Runtime %.2f, bf16 / fp32 %.2f%n",
                        co[0] / c32[0], co[0] / c16[0], c32[0] / c16[0]);
            }
        } finally {
            Files.deleteIfExists(onnx);
        }
    }

    /** Median wall and thread-CPU seconds of runs (after one warm-up run). */
    static double[] time(String what, int runs, Supplier<Tensor> f) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        f.get().close();
        double[] wall = new double[runs], cpu = new double[runs];
        for (int i = 0; i < runs; i++) {
            long s = System.nanoTime(), c = mx.getCurrentThreadCpuTime();
            f.get().close();
            wall[i] = (System.nanoTime() - s) / 1e9;
            cpu[i] = (mx.getCurrentThreadCpuTime() - c) / 1e9;
        }
        Arrays.sort(wall);
        Arrays.sort(cpu);
        System.out.printf(Locale.ROOT, "%-17s wall median %.3f s (%.3f-%.3f), this thread's CPU median %.3f s (%.3f-%.3f)%n", what,
                wall[runs / 2], wall[0], wall[runs - 1], cpu[runs / 2], cpu[0], cpu[runs - 1]);
        return new double[]{wall[runs / 2], cpu[runs / 2]};
    }
}
