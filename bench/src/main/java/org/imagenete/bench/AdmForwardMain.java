package org.imagenete.bench;

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
 * ADM-256 forward outside JMH, for whole-process figures: run under {@code /usr/bin/time -v} for peak RSS.
 * Args: [runs] [batch] [backend]. Prints each run's seconds and the median.
 */
public final class AdmForwardMain {
    public static void main(String[] args) {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        Ops ops = Backends.get(args.length > 2 ? args[2] : "cpu");
        long t0 = System.nanoTime();
        Map<String, Tensor> sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), 0);
        System.out.printf(Locale.ROOT, "weights by formula: %.1f s, %.2f GiB%n", (System.nanoTime() - t0) / 1e9,
                NativeMemory.liveBytes() / (double) (1L << 30));
        try (Adm model = Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close));
             Tensor x = FormulaWeights.tensor(1_000_000, 0, 0, 1, batch, 3, 256, 256)) {
            float[] tv = new float[batch];
            Arrays.fill(tv, 500f);
            try (Tensor t = Tensor.of(tv, batch)) {
                double[] secs = new double[runs];
                long base = NativeMemory.liveBytes();
                for (int r = 0; r < runs; r++) {
                    NativeMemory.resetPeak();
                    long s = System.nanoTime();
                    try (Tensor out = model.forward(ops, x, t, null, null)) {
                        secs[r] = (System.nanoTime() - s) / 1e9;
                        System.out.printf(Locale.ROOT, "run %d: %.3f s (%.0f GFLOP/s), activation peak %.2f GiB, out[0]=%.6f%n", r, secs[r],
                                BenchReport.ADM256_FLOP * batch / secs[r] / 1e9,
                                (NativeMemory.peakBytes() - base) / (double) (1L << 30), out.getFloat(0));
                    }
                }
                Arrays.sort(secs);
                System.out.printf(Locale.ROOT, "median %.3f s (min %.3f, max %.3f), %.0f GFLOP/s%n", secs[runs / 2], secs[0],
                        secs[runs - 1], BenchReport.ADM256_FLOP * batch / secs[runs / 2] / 1e9);
            }
        }
    }
}
