package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The held-out golden of the adversarial term ({@code testdata/golden/adversarial-step.safetensors}, made by
 * {@code testdata/make/adversarial_step.py} with openai/guided-diffusion and the released {@code cond_fn} semantics):
 * {@code step --classifier ... --adv-scale 10 --adv-input raw} matches every pmv.* and step.* tensor, step.g_adv included.
 */
class AdversarialStepGoldenTest {
    @TempDir static Path dir;
    static Path golden, classifier;
    static Map<String, String> meta;

    /** The golden's classifier: torchvision ResNet-18, 10 classes, the formula weights with salt 12. */
    @BeforeAll
    static void classifier() throws Exception {
        golden = Golden.golden("adversarial-step.safetensors");
        try (SafeTensors g = SafeTensors.open(golden)) {
            meta = g.metadata();
        }
        Map<String, Tensor> sd = FormulaWeights.stateDict(ResNet.Arch.of(18, 10).parameterShapes(), 12);
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Tensor t : sd.values()) {
                if (t.dtype() != DType.F32) continue;
                ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(4 * t.numel())).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < t.numel(); i++) b.putFloat(t.getFloat(i));
                sha.update(b.array());
            }
            assertEquals(meta.get("classifier_weights_sha256"), HexFormat.of().formatHex(sha.digest()),
                    "the formula ResNet-18 is the generator's, bit for bit");
            classifier = dir.resolve("resnet18-10.safetensors");
            SafeTensors.write(classifier, sd, Map.of());
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    static org.imagenete.testutil.Cli.Run step(Path input, Path output, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of("step", "--weights", Golden.golden("adm-tiny/weights.pt").toString(),
                "--input", input.toString(), "--output", output.toString(), "--num-head-channels", "8", "--lambda", "20",
                "--range-lambda", "50", "--respacing", "100", "--backend", "cpu"));
        a.addAll(List.of(extra));
        return run(a.toArray(String[]::new));
    }

    @Test
    void stepWithTheClassifierMatchesEveryGoldenTensor() throws IOException {
        assertEquals("raw", meta.get("adv_input"));
        assertEquals("10.0", meta.get("adv_scale"));
        Path out = dir.resolve("step.safetensors");
        var r = step(golden, out, "--classifier", classifier.toString(), "--adv-scale", "10", "--adv-input", "raw");
        assertEquals(0, r.code(), r.err());
        JsonNode tol = new ObjectMapper().readTree(meta.get("tolerances"));
        int compared = 0;
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(golden)) {
            for (String name : ref.tensors().keySet()) {
                if (!(name.startsWith("pmv.") || name.startsWith("step."))) continue;
                assertTrue(got.has(name), "step wrote " + name);
                if (name.equals("step.t_unscaled")) {
                    for (int i = 0; i < 2; i++) assertEquals(ref.get(name).getLong(i), got.get(name).getLong(i));
                } else {
                    // the golden README's rule: max(10 x the reference code's own fp32-vs-fp64 error, 2e-6 max(1, max|ref|), 1e-6)
                    JsonNode t = tol.get(name);
                    double atol = Math.max(10 * t.get("fp32_vs_fp64_maxabs").asDouble(), Math.max(2e-6 * Math.max(1, t.get("ref_absmax").asDouble()), 1e-6));
                    Compare.assertClose("adversarial step " + name, got.get(name), ref.get(name), atol, 0);
                }
                compared++;
            }
            assertEquals(18, compared, "every pmv.* (5) and step.* (13, g_adv included) output");
            // the adversarial part is a real share of g: g - g_adv is the complexity and range part alone
            double gAdv = 0, g = 0;
            for (long i = 0; i < ref.get("step.g").numel(); i++) {
                gAdv = Math.max(gAdv, Math.abs(ref.get("step.g_adv").getDouble(i)));
                g = Math.max(g, Math.abs(ref.get("step.g").getDouble(i) - ref.get("step.g_adv").getDouble(i)));
            }
            assertTrue(gAdv > 0.3 * g, "g_adv max " + gAdv + " against the rest of g, max " + g);
        }
    }

    /** A label the classifier does not have, or no labels at all: one line naming the file and the tensor. */
    @Test
    void labelsOutsideTheClassifierOrMissingAreNamed() throws IOException {
        Map<String, Tensor> in = new LinkedHashMap<>();
        try (SafeTensors g = SafeTensors.open(golden)) {
            for (String k : List.of("x_t", "x_obj", "m_obj", "noise_sample", "noise_obj", "t_index")) in.put(k, g.get(k).copy());
        }
        Path noLabels = dir.resolve("no-y.safetensors"), badLabel = dir.resolve("bad-y.safetensors");
        SafeTensors.write(noLabels, in, Map.of());
        Tensor y = Tensor.zeros(DType.I64, 2);
        y.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 1, 12);
        in.put("y", y);
        SafeTensors.write(badLabel, in, Map.of());
        in.values().forEach(Tensor::close);
        var missing = step(noLabels, dir.resolve("o1.safetensors"), "--classifier", classifier.toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("no-y.safetensors") && missing.err().contains("'y'"), missing.err());
        var outside = step(badLabel, dir.resolve("o2.safetensors"), "--classifier", classifier.toString());
        assertEquals(1, outside.code());
        assertTrue(outside.err().contains("y[1] = 12") && outside.err().contains("resnet18-10.safetensors") && outside.err().contains("10"),
                outside.err());
    }
}
