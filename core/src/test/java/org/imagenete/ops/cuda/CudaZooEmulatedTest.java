package org.imagenete.ops.cuda;

import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.nn.Vit;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;

import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model-zoo architectures on the CUDA backend, emulated, against the CPU backend: ResNeXt-50 32x4d (grouped
 * convolutions on the grid's z dimension) forward and input-gradient, and a distilled DeiT-style ViT (layer_norm,
 * gelu, attention, the token addend made on the device).
 */
class CudaZooEmulatedTest {
    @Test
    void resnext50AgreesWithTheCpuBackend() {
        ResNet.Arch a = ResNet.Arch.of(50, 1000, 32, 4);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        Ops cuda = Backends.get("cuda-emulated"), cpu = Backends.get("cpu");
        try (ResNet net = ResNet.load(a, sd, null); Tensor x = Rand.uniform(3, 1.7f, 2, 3, 32, 32); Tensor v = Rand.uniform(5, 2, 1000)) {
            sd.values().forEach(Tensor::close);
            long t0 = System.nanoTime();
            try (ResNet.Tape tape = new ResNet.Tape(); Tensor logits = net.forward(cuda, x, null, tape); Tensor ref = net.forward(cpu, x, null, null)) {
                Compare.assertClose("resnext50_32x4d 32x32 cuda-emulated vs cpu logits", logits, ref, 2e-5, 1e-4);
                try (Tensor dx = net.inputGradient(cuda, tape, v); ResNet.Tape t2 = new ResNet.Tape();
                     Tensor l2 = net.forward(cpu, x, null, t2); Tensor dxRef = net.inputGradient(cpu, t2, v)) {
                    // Not element-wise: one layer3 activation of this input lies within fp32 noise of the ReLU's kink
                    // (the backends' forwards differ by ~1e-6, as the logits show) and switches sides, so the gradient
                    // takes another path through it; the relative L2 error stays small. (The grouped convolution's
                    // gradient agrees element-wise in CudaCheck's grouped cases, and did at each of this model's layers
                    // when given the same inputs.)
                    double num = 0, den = 0;
                    for (long i = 0; i < dx.numel(); i++) {
                        double d = dx.getFloat(i) - dxRef.getFloat(i);
                        num += d * d;
                        den += (double) dxRef.getFloat(i) * dxRef.getFloat(i);
                    }
                    double rel = Math.sqrt(num / den);
                    System.out.printf(Locale.ROOT, "resnext50_32x4d 32x32 cuda-emulated vs cpu dx: relative L2 %.3g%n", rel);
                    assertTrue(den > 0 && rel < 3e-3, "relative L2 error of dx " + rel);
                }
            }
            System.out.printf(Locale.ROOT, "resnext50_32x4d at 32x32, batch 2, forward + input-gradient on cuda-emulated and cpu: %.2f s%n",
                    (System.nanoTime() - t0) / 1e9);
        }
    }

    @Test
    void distilledVitAgreesWithTheCpuBackend() {
        Vit.Config cfg = new Vit.Config(Vit.Layout.TIMM, 8, 4, 64, 2, 4, 128, 10, true, 1e-6f);
        Map<String, Tensor> sd = FormulaWeights.stateDict(cfg.parameterShapes(), 1);
        Ops cuda = Backends.get("cuda-emulated"), cpu = Backends.get("cpu");
        try (Vit vit = Vit.load(cfg, sd, null); Tensor x = Rand.uniform(4, 3, 3, 32, 32)) {
            sd.values().forEach(Tensor::close);
            for (int pass = 0; pass < 2; pass++)   // the second pass reuses the token addend kept on the device
                try (Tensor y = vit.forward(cuda, x, null); Tensor ref = vit.forward(cpu, x, null)) {
                    Compare.assertClose("distilled ViT cuda-emulated vs cpu, pass " + pass, y, ref, 2e-5, 1e-4);
                }
        }
    }
}
