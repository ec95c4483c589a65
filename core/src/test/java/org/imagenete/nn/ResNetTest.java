package org.imagenete.nn;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** torchvision ResNet with BatchNorm folded: golden ResNet-50 logits, reference agreement, input-gradient. */
public class ResNetTest {

    /** torchvision ResNet of this depth with the golden formula weights (salt 0), BatchNorm folded. */
    public static ResNet formula(int depth) {
        ResNet.Arch a = ResNet.Arch.of(depth, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        try {
            return ResNet.load(a, sd, null);
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    @Test
    void stateDictOrderMatchesTorchvision() {
        JsonNode m = Golden.json(Golden.golden("resnet50/manifest.json"));
        List<String> names = new ArrayList<>(ResNet.Arch.of(50, 1000).parameterShapes().keySet());
        assertEquals(m.get("tensors").size(), names.size());
        long params = 0;
        for (JsonNode t : m.get("tensors")) {
            String name = t.get("name").asText();
            assertEquals(name, names.get(t.get("k").asInt()));
            int[] shape = new int[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asInt();
            assertArrayEquals(shape, ResNet.Arch.of(50, 1000).parameterShapes().get(name), name);
            if (t.get("dtype").asText().equals("F32")) params += t.get("numel").asLong();
        }
        assertEquals(m.get("param_count_float").asLong(), params, "float tensors incl. BatchNorm running statistics");
        long learned = 0;
        for (var e : ResNet.Arch.of(50, 1000).parameterShapes().entrySet())
            if (!e.getKey().contains("running_") && !e.getKey().endsWith("num_batches_tracked"))
                learned += Arrays.stream(e.getValue()).asLongStream().reduce(1, (a, b) -> a * b);
        assertEquals(25_557_032, learned, "torchvision ResNet-50 parameter count");
    }

    @Test
    void resnet50MatchesGoldenLogits() {
        String file = "resnet50/io.safetensors";
        Ops ops = Backends.get("cpu");
        try (ResNet net = formula(50); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            assertEquals(ResNet.Arch.of(50, 1000).depth(), net.arch().depth());
            Map<String, Tensor> acts = new HashMap<>();
            try (Tensor logits = net.forward(ops, io.get("x"), (n, t) -> acts.put(n, t.copy()), null)) {
                Compare.assertClose("resnet50 act.maxpool", acts.get("maxpool"), io.get("act.maxpool"), Golden.suggestedAtol(file, "act.maxpool"), 0);
                Compare.assertClose("resnet50 layer4", acts.get("layer4"), io.get("layer4"), Golden.suggestedAtol(file, "layer4"), 0);
                Compare.assertClose("resnet50 pooled", acts.get("pooled"), io.get("pooled"), Golden.suggestedAtol(file, "pooled"), 0);
                Compare.assertClose("resnet50 logits", logits, io.get("logits"), Golden.suggestedAtol(file, "logits"), 0);
                for (int b = 0; b < 2; b++) {
                    int best = 0;
                    for (int c = 1; c < 1000; c++) if (logits.getFloat(b * 1000L + c) > logits.getFloat(b * 1000L + best)) best = c;
                    assertEquals(994, best, "golden argmax");
                }
            } finally {
                acts.values().forEach(Tensor::close);
            }
        }
    }

    /**
     * The golden input repeated to batch 32, the benchmark's batch: there the CPU backend takes the batch-wide paths
     * (Winograd with tiles of several images at 28x28, 14x14 and 7x7; one GEMM over the batch for the 14x14 and 7x7
     * 1x1 convolutions) that batch 2 does not reach. Every copy must meet the golden tolerances.
     */
    @Test
    void resnet50MatchesGoldenLogitsAtBatch32() {
        String file = "resnet50/io.safetensors";
        try (ResNet net = formula(50); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            Map<String, Tensor> acts = new HashMap<>();
            try (Tensor x = repeat(io.get("x"), 16); Tensor l4 = repeat(io.get("layer4"), 16); Tensor gl = repeat(io.get("logits"), 16);
                 Tensor logits = net.forward(Backends.get("cpu"), x, (n, t) -> { if (n.equals("layer4")) acts.put(n, t.copy()); }, null)) {
                Compare.assertClose("resnet50 batch 32 layer4", acts.get("layer4"), l4, Golden.suggestedAtol(file, "layer4"), 0);
                Compare.assertClose("resnet50 batch 32 logits", logits, gl, Golden.suggestedAtol(file, "logits"), 0);
            } finally {
                acts.values().forEach(Tensor::close);
            }
        }
    }

    /** t [B, ...] repeated r times along the batch: [r B, ...]. */
    private static Tensor repeat(Tensor t, int r) {
        float[] v = t.toFloatArray(), out = new float[v.length * r];
        for (int i = 0; i < r; i++) System.arraycopy(v, 0, out, i * v.length, v.length);
        int[] d = t.shape().dims();
        d[0] *= r;
        return Tensor.of(out, d);
    }

    @Test
    void fastBackendAgreesWithReferenceOnResNet18() {
        try (ResNet net = formula(18); Tensor x = Rand.uniform(3, 1.7f, 2, 3, 64, 48);
             Tensor ref = net.forward(new ReferenceOps(), x, null, null);
             Tensor fast = net.forward(Backends.get("cpu"), x, null, null)) {
            Compare.assertClose("resnet18 reference vs cpu logits", fast, ref, 2e-5, 1e-4);
        }
    }

    /**
     * d(sum(logits * v))/dx by one backward pass, against central finite differences. ReLU and max pooling
     * make the network piecewise linear, so single differences jump where a step crosses a kink (seen: +-15%
     * at h = 1e-2) and float32 rounding of the loss dominates below h ~ 1e-3. So the check is statistical:
     * over 40 random directions (ResNet-18: BasicBlocks; ResNet-50: Bottlenecks and downsampling) the least-squares slope of the differences against the VJP must be 1 within
     * 2% and their correlation above 0.99. A wrong backward (a missing branch, a transposed kernel) gives a
     * slope far from 1 or no correlation.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {18, 50})
    void inputGradientMatchesFiniteDifferences(int depth) {
        Ops ops = Backends.get("cpu");
        try (ResNet net = formula(depth); Tensor x = Rand.uniform(4, 1.7f, 2, 3, 40, 40); Tensor v = Rand.uniform(5, 2, 1000);
             ResNet.Tape tape = new ResNet.Tape()) {
            try (Tensor logits = net.forward(ops, x, null, tape)) {
                assertEquals(2000, logits.numel());
            }
            try (Tensor dx = net.inputGradient(ops, tape, v)) {
                double saa = 0, saf = 0, sff = 0, h = 3e-3;
                int n = 40;
                for (int k = 0; k < n; k++) {
                    try (Tensor d = Rand.uniform(60 + k, 2, 3, 40, 40)) {
                        double an = 0;
                        for (long i = 0; i < d.numel(); i++) an += dx.getDouble(i) * d.getDouble(i);
                        double fd = (loss(net, ops, x, d, h, v) - loss(net, ops, x, d, -h, v)) / (2 * h);
                        saa += an * an;
                        saf += an * fd;
                        sff += fd * fd;
                    }
                }
                double slope = saf / saa, corr = saf / Math.sqrt(saa * sff);
                System.out.printf(Locale.ROOT, "resnet%d input-gradient vs finite differences over %d directions: slope %.4f, correlation %.5f%n", depth, n, slope, corr);
                assertEquals(1.0, slope, 0.02);
                assertTrue(corr > 0.99, "correlation " + corr);
            }
        }
    }

    private static double loss(ResNet net, Ops ops, Tensor x, Tensor d, double h, Tensor v) {
        try (Tensor xe = x.copy()) {
            for (long i = 0; i < xe.numel(); i++) xe.setFloat(i, (float) (x.getDouble(i) + h * d.getDouble(i)));
            try (Tensor l = net.forward(ops, xe, null, null)) {
                double s = 0;
                for (long i = 0; i < l.numel(); i++) s += l.getDouble(i) * v.getDouble(i);
                return s;
            }
        }
    }

    @Test
    void inferredArchitectures() {
        for (int depth : new int[]{18, 34, 50, 101, 152}) {
            Map<String, Tensor> fake = new HashMap<>();
            ResNet.Arch a = ResNet.Arch.of(depth, 10);
            for (var e : a.parameterShapes().entrySet())
                if (e.getKey().endsWith("conv1.weight") || e.getKey().endsWith("conv3.weight") || e.getKey().equals("fc.weight"))
                    fake.put(e.getKey(), Tensor.allocate(org.imagenete.tensor.DType.F32, Math.max(1, e.getValue().length == 0 ? 1 : e.getValue()[0]), 1));
            ResNet.Arch got = ResNet.Arch.infer(fake);
            assertEquals(depth, got.depth());
            assertEquals(10, got.numClasses());
            assertEquals(Arrays.toString(a.blocks()), Arrays.toString(got.blocks()));
            fake.values().forEach(Tensor::close);
        }
    }

    /** The ONNX export runs on ONNX Runtime and gives the native logits (the same folded weights). */
    @Test
    void onnxExportMatchesNativeLogits(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path onnx = dir.resolve("resnet18.onnx");
        try (ResNet net = formula(18); Tensor x = Rand.uniform(11, 1.7f, 2, 3, 64, 64)) {
            java.nio.file.Files.write(onnx, net.toOnnx());
            try (org.imagenete.eval.OnnxClassifier ort = new org.imagenete.eval.OnnxClassifier(onnx, 2, false);
                 Tensor a = ort.logits(x); Tensor b = net.forward(Backends.get("cpu"), x, null, null)) {
                assertEquals(1000, ort.numClasses());
                Compare.assertClose("resnet18 onnxruntime vs native", a, b, 1e-4, 1e-4);
            }
        }
    }
}
