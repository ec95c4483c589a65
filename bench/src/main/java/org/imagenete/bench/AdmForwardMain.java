package org.imagenete.bench;

import org.imagenete.diffusion.GaussianDiffusion;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidedStep;
import org.imagenete.diffusion.Schedule;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * ADM-256 forward and guided step outside JMH, for whole-process figures: run under {@code /usr/bin/time -v}
 * for peak RSS. Args: [runs] [batch] [backend] [forward|guided|both|taped]; {@code -Dimagenete.precision=bf16} for
 * bf16 (the weights made in bf16), {@code -Dimagenete.profile=true} for time per op (of warm runs: the guided steps', or
 * in forward mode the forwards'). Prints each run's seconds, the activation memory beyond the weights, the tape size
 * of a guided step, and the medians. {@code taped} times the forward, then the forward that records the guided step's
 * tape (no backward), to separate the tape's cost from the backward's.
 */
public final class AdmForwardMain {
    public static void main(String[] args) {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        Ops backend = Backends.get(args.length > 2 ? args[2] : "cpu");
        org.imagenete.ops.ProfilingOps prof = Boolean.getBoolean("imagenete.profile") ? new org.imagenete.ops.ProfilingOps(backend) : null;
        Ops ops = prof != null ? prof : backend;
        String mode = args.length > 3 ? args[3] : "forward";
        long t0 = System.nanoTime();
        Map<String, Tensor> sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), 0, backend.convWeightType());
        System.out.printf(Locale.ROOT, "weights by formula: %.1f s, %.2f GiB%n", (System.nanoTime() - t0) / 1e9,
                NativeMemory.liveBytes() / (double) (1L << 30));
        GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, "100"));
        int[] idx = new int[batch];
        Arrays.fill(idx, 9);
        float[] lambda = new float[batch];
        Arrays.fill(lambda, 20f);
        try (Adm model = Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close), backend.convWeightType());
             Tensor x = FormulaWeights.tensor(1_000_000, 0, 0, 1, batch, 3, 256, 256)) {
            long base = NativeMemory.liveBytes();
            Run forward = () -> {
                try (Tensor t = d.modelTimesteps(idx); Tensor out = model.forward(ops, x, t, null, null)) {
                    return out.getFloat(0);
                }
            };
            boolean profileForward = prof != null && mode.equals("forward"), profileGuided = prof != null && !mode.equals("forward");
            if (profileForward) {
                forward.run();   // profile warm forward runs only
                prof.reset();
            }
            double fwd = mode.equals("guided") ? Double.NaN : time("forward", runs, batch, base, forward);
            double fwdCpu = lastCpu;
            if (profileForward) {
                System.out.printf(Locale.ROOT, "profile of %d forward runs:%n", runs);
                System.out.print(prof.report());
            }
            Run step = () -> {
                try (GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx, Guidance.Terms.complexity(lambda, 50f, true))) {
                    return r.g().getFloat(0);
                }
            };
            if (profileGuided) {
                // profile warm guided runs only: the first one also faults in the tape's memory (1.3-1.9 GiB), which
                // the memory pool then keeps
                step.run();
                prof.reset();
            }
            if (mode.equals("taped")) {
                Run taped = () -> {
                    try (Tensor t = d.modelTimesteps(idx); Adm.Tape tape = new Adm.Tape(); Tensor out = model.forward(ops, x, t, null, null, tape)) {
                        return out.getFloat(0);
                    }
                };
                double tf = time("taped forward", runs, batch, base, taped);
                System.out.printf(Locale.ROOT, "taped forward / forward = %.3f%n", tf / fwd);
                return;
            }
            double guided = mode.equals("forward") ? Double.NaN : time("guided step", runs, batch, base, step);
            if (profileGuided) {
                System.out.printf(Locale.ROOT, "profile of %d guided steps:%n", runs);
                System.out.print(prof.report());
                prof.reset();
            }
            if (mode.equals("guided") || mode.equals("both")) {
                try (Tensor t = d.modelTimesteps(idx); Adm.Tape tape = new Adm.Tape(); Tensor out = model.forward(ops, x, t, null, null, tape)) {
                    System.out.printf(Locale.ROOT, "saved activations (tape) of one guided step at batch %d: %.2f GiB%n", batch,
                            tape.bytes() / (double) (1L << 30));
                }
            }
            if (mode.equals("both"))
                System.out.printf(Locale.ROOT, "guided step / forward = %.2f (wall), %.2f (CPU time)%n", guided / fwd, lastCpu / fwdCpu);

        }
    }

    interface Run {
        float run();
    }

    /** CPU time of the whole process (every thread, the native kernels' OpenMP threads included), nanoseconds. */
    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /**
     * Median wall seconds of {@code runs} runs; also prints the median process CPU seconds, which a machine shared with
     * other work inflates far less than the wall time (run with OMP_WAIT_POLICY=passive so that waiting threads do not
     * spin): on a loaded machine compare CPU seconds.
     */
    static double time(String what, int runs, int batch, long base, Run r) {
        double[] secs = new double[runs], cpu = new double[runs];
        for (int i = 0; i < runs; i++) {
            NativeMemory.resetPeak();
            long s = System.nanoTime(), c = cpuNanos();
            float v = r.run();
            secs[i] = (System.nanoTime() - s) / 1e9;
            cpu[i] = (cpuNanos() - c) / 1e9;
            System.out.printf(Locale.ROOT, "%s run %d: %.3f s (CPU %.3f s), tensor memory peak beyond weights %.2f GiB (check value %.6f)%n",
                    what, i, secs[i], cpu[i], (NativeMemory.peakBytes() - base) / (double) (1L << 30), v);
        }
        Arrays.sort(secs);
        Arrays.sort(cpu);
        double med = secs[runs / 2];
        System.out.printf(Locale.ROOT, "%s median %.3f s (min %.3f, max %.3f), CPU %.3f s, at batch %d, %.0f GFLOP/s forward-equivalent%n",
                what, med, secs[0], secs[runs - 1], cpu[runs / 2], batch, BenchReport.ADM256_FLOP * batch / med / 1e9);
        lastCpu = cpu[runs / 2];
        return med;
    }

    /** The median CPU seconds of the last {@link #time} call. */
    static double lastCpu;
}
