package org.imagenete.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Logits of torchvision's resnext50_32x4d, wide_resnet50_2 and vit_b_16 and of timm-layout DeiT-tiny (plain and
 * distilled) against the original code's (testdata/golden/zoo, made by make_zoo.py), all with the formula weights
 * the golden lists in state-dict order. Tolerance as the golden README suggests for a float32 implementation:
 * max(10 x the measured fp32-vs-fp64 error of the reference code, 2e-6 x max(1, max |ref|), 1e-6).
 */
class ZooGoldenTest {
    static SafeTensors io;
    static JsonNode models;
    static Ops ops;
    static Tensor x;

    @BeforeAll
    static void setUp() throws IOException {
        io = SafeTensors.open(Golden.golden("zoo/io.safetensors"));
        models = new ObjectMapper().readTree(io.metadata().get("models"));
        ops = Backends.get("cpu");
        x = FormulaWeights.tensor(1_000_000, 0, 0, Math.sqrt(3), 2, 3, 224, 224);
    }

    @AfterAll
    static void tearDown() {
        io.close();
        x.close();
    }

    /** The golden's state-dict entries (name -> shape), in order. */
    static Map<String, int[]> entries(String model) {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (JsonNode e : models.get(model).get("state_dict")) {
            int[] s = new int[e.get(1).size()];
            for (int i = 0; i < s.length; i++) s[i] = e.get(1).get(i).asInt();
            m.put(e.get(0).asText(), s);
        }
        return m;
    }

    static double atol(String model) {
        JsonNode m = models.get(model);
        return Math.max(10 * m.get("fp32_vs_fp64_maxabs").asDouble(), Math.max(2e-6 * Math.max(1, m.get("ref_absmax").asDouble()), 1e-6));
    }

    static void assertShapes(Map<String, int[]> want, Map<String, int[]> got) {
        assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()), "state-dict keys in torchvision's / timm's order");
        want.forEach((k, v) -> assertArrayEquals(v, got.get(k), k));
    }

    static void argmax(String model, Tensor logits) {
        JsonNode want = models.get(model).get("argmax");
        for (int b = 0; b < 2; b++) {
            int best = 0;
            for (int c = 1; c < 1000; c++) if (logits.getFloat(b * 1000L + c) > logits.getFloat(b * 1000L + best)) best = c;
            assertEquals(want.get(b).asInt(), best, model + " argmax of sample " + b);
        }
    }

    void resnet(String model, String name, int groups, int widthPerGroup) {
        Map<String, int[]> shapes = entries(model);
        Map<String, Tensor> sd = FormulaWeights.stateDict(shapes, 0);
        try {
            ResNet.Arch arch = ResNet.Arch.infer(sd);
            assertEquals(name, arch.name());
            assertEquals(groups, arch.groups());
            assertEquals(widthPerGroup, arch.widthPerGroup());
            assertShapes(shapes, arch.parameterShapes());
            try (ResNet net = ResNet.load(arch, sd, null); Tensor logits = net.forward(ops, x, null, null)) {
                Compare.assertClose(model + " logits", logits, io.get(model + ".logits"), atol(model), 0);
                argmax(model, logits);
            }
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    @Test
    void resnext50() { resnet("resnext50_32x4d", "resnext50_32x4d", 32, 4); }

    @Test
    void wideResnet50() { resnet("wide_resnet50_2", "wide_resnet50_2", 1, 128); }

    /** The full ViT-B/16, and the class token after every encoder block. */
    @Test
    void vitB16() {
        Map<String, int[]> shapes = entries("vit_b_16");
        Map<String, Tensor> sd = FormulaWeights.stateDict(shapes, 0);
        try {
            Vit.Config cfg = Vit.Config.infer(sd);
            assertEquals(Vit.Config.vitB16(1000), cfg);
            assertEquals("vit_b_16", cfg.name());
            assertShapes(shapes, cfg.parameterShapes());
            Map<String, float[]> cls = new HashMap<>();
            try (Vit vit = Vit.load(cfg, sd, null);
                 Tensor logits = vit.forward(ops, x, (n, t) -> cls.put(n, column0(t)))) {
                double atol = atol("vit_b_16");
                for (int i = 0; i < 12; i++)
                    try (Tensor c = Tensor.of(cls.get("block" + i), 2, 768)) {
                        Compare.assertClose("vit_b_16 block " + i + " class token", c, io.get("vit_b_16.block" + i + ".cls"), atol, 0);
                    }
                Compare.assertClose("vit_b_16 logits", logits, io.get("vit_b_16.logits"), atol, 0);
                argmax("vit_b_16", logits);
            }
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    /** Token 0 of each sample of [B, D, T, 1]: [B * D]. */
    static float[] column0(Tensor t) {
        int b = t.dim(0), d = t.dim(1), n = t.dim(2);
        float[] all = t.toFloatArray(), out = new float[b * d];
        for (int s = 0; s < b; s++) for (int c = 0; c < d; c++) out[s * d + c] = all[(s * d + c) * n];
        return out;
    }

    void deit(String model, boolean distilled) {
        Map<String, int[]> shapes = entries(model);
        Map<String, Tensor> sd = FormulaWeights.stateDict(shapes, 0);
        try {
            Vit.Config cfg = Vit.Config.infer(sd);
            assertEquals(new Vit.Config(Vit.Layout.TIMM, 16, 14, 192, 12, 3, 768, 1000, distilled, 1e-6f), cfg);
            assertShapes(shapes, cfg.parameterShapes());
            try (Vit vit = Vit.load(cfg, sd, null); Tensor logits = vit.forward(ops, x, null)) {
                Compare.assertClose(model + " logits", logits, io.get(model + ".logits"), atol(model), 0);
                argmax(model, logits);
            }
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    @Test
    void deitTiny() { deit("deit_tiny", false); }

    @Test
    void deitTinyDistilled() { deit("deit_tiny_distilled", true); }
}
