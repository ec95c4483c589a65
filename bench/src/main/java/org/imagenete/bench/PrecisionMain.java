package org.imagenete.bench;

import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Precision;
import org.imagenete.tensor.Tensor;

import java.util.Locale;
import java.util.Map;

/**
 * ADM-256 in fp32 and bf16 on the same formula weights (salt given, default 1: not the golden's), batch 1 and batch 2:
 * the bf16 output's relative L2 distance from the fp32 one, and the cost of one more image in the batch,
 * time(batch 2) - time(batch 1), per precision (less sensitive to what a forward does once per call than the time
 * of one forward). Args: [salt] [runs]. {@code -Dimagenete.winograd.bf16=false} runs the big 3x3 convolutions as
 * the fp32 Winograd on bf16 operands instead of with a bf16 GEMM. Peak memory: one model (2.2 GB fp32, 1.1 GB bf16)
 * and the batch-2 activations.
 */
public final class PrecisionMain {
    public static void main(String[] args) {
        long salt = args.length > 0 ? Long.parseLong(args[0]) : 1;
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        Tensor[] out32 = new Tensor[3], out16 = new Tensor[3];
        double[] t32 = new double[3], t16 = new double[3];
        for (Precision p : new Precision[]{Precision.FP32, Precision.BF16}) {
            Ops ops = Backends.get("cpu", p);
            Map<String, Tensor> sd = FormulaWeights.stateDict(AdmConfig.adm256().parameterShapes(), salt, ops.convWeightType());
            try (Adm model = Adm.load(AdmConfig.adm256(), sd, null, () -> sd.values().forEach(Tensor::close), ops.convWeightType())) {
                for (int b = 1; b <= 2; b++) {
                    try (Tensor x = FormulaWeights.tensor(1_000_000 + salt, salt, 0, 1, b, 3, 256, 256);
                         Tensor t = Tensor.of(b == 1 ? new float[]{500f} : new float[]{500f, 120f}, b)) {
                        double best = Double.POSITIVE_INFINITY;
                        Tensor out = null;
                        for (int r = 0; r < runs; r++) {
                            if (out != null) out.close();
                            long t0 = System.nanoTime();
                            out = model.forward(ops, x, t, null, null);
                            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                        }
                        (p == Precision.FP32 ? out32 : out16)[b] = out;
                        (p == Precision.FP32 ? t32 : t16)[b] = best;
                        System.out.printf(Locale.ROOT, "%s batch %d: %.2f s (best of %d)%n", ops.convPrecision().flag(), b, best, runs);
                    }
                }
            }
        }
        for (int b = 1; b <= 2; b++)
            System.out.printf(Locale.ROOT, "batch %d: bf16 vs fp32 rel L2 %.3e%n", b, relL2(out16[b], out32[b]));
        double m32 = t32[2] - t32[1], m16 = t16[2] - t16[1];
        System.out.printf(Locale.ROOT, "one forward, time(batch 2) - time(batch 1): fp32 %.2f s, bf16 %.2f s: bf16/fp32 %.3f%n", m32, m16, m16 / m32);
        System.out.printf(Locale.ROOT, "batch 1 forward: bf16/fp32 %.3f%n", t16[1] / t32[1]);
        for (int b = 1; b <= 2; b++) {
            out32[b].close();
            out16[b].close();
        }
    }

    static double relL2(Tensor a, Tensor r) {
        double num = 0, den = 0;
        for (long i = 0; i < r.numel(); i++) {
            double d = a.getDouble(i) - r.getDouble(i);
            num += d * d;
            den += r.getDouble(i) * r.getDouble(i);
        }
        return Math.sqrt(num / den);
    }
}
