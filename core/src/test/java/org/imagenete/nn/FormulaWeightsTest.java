package org.imagenete.nn;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.io.TorchCheckpoint;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class FormulaWeightsTest {

    @Test
    void selfCheckValuesAreBitExact() {
        JsonNode checks = Golden.json(Golden.golden("formula_selfcheck.json")).get("checks");
        int n = 0;
        for (JsonNode c : checks) {
            for (int i = 0; i < 4; i++) {
                float w = FormulaWeights.value(c.get("k").asLong(), i, c.get("salt").asLong(),
                        c.get("offset").asDouble(), c.get("scale").asDouble());
                int bits = Integer.parseUnsignedInt(c.get("w_float32_bits").get(i).asText().substring(2), 16);
                assertEquals(bits, Float.floatToRawIntBits(w), c.get("what").asText() + " element " + i);
                n++;
            }
        }
        assertEquals(12, n);
    }

    /** The manifest's names, shapes and per-tensor offset/scale match what our model config and policy produce. */
    private static void checkManifest(String manifest, Map<String, int[]> shapes, long paramCount) {
        JsonNode m = Golden.json(Golden.golden(manifest));
        List<String> names = new ArrayList<>(shapes.keySet());
        JsonNode ts = m.get("tensors");
        assertEquals(ts.size(), names.size(), "tensor count");
        long count = 0;
        for (JsonNode t : ts) {
            int k = t.get("k").asInt();
            String name = t.get("name").asText();
            assertEquals(name, names.get(k), "state-dict order at k=" + k);
            int[] shape = new int[t.get("shape").size()];
            for (int i = 0; i < shape.length; i++) shape[i] = t.get("shape").get(i).asInt();
            assertArrayEquals(shape, shapes.get(name), name);
            double[] p = FormulaWeights.policy(name, shape);
            assertEquals(t.get("offset").asDouble(), p[0], 0, name + " offset");
            assertEquals(t.get("scale").asDouble(), p[1], 1e-15, name + " scale");
            count += Arrays.stream(shape).asLongStream().reduce(1, (a, b) -> a * b);
        }
        assertEquals(paramCount, count);
    }

    @Test
    void admTinyShapesAndOrderMatchManifest() {
        checkManifest("adm-tiny/manifest.json", AdmGolden.tinyConfig().parameterShapes(), 1_422_278);
    }

    @Test
    void adm256ShapesAndOrderMatchManifest() {
        checkManifest("adm-256/manifest.json", AdmConfig.adm256().parameterShapes(), 552_814_086);
    }

    /** The formula against the file torch.save wrote (the safetensors copy the tests use is made by the formula). */
    @Test
    void admTinyWeightsEqualTheTorchFileBitForBit() {
        Map<String, Tensor> gen = FormulaWeights.stateDict(AdmGolden.tinyConfig().parameterShapes(), 0);
        try (TorchCheckpoint pt = TorchCheckpoint.open(Golden.golden("adm-tiny/weights.pt"))) {
            assertEquals(new ArrayList<>(pt.tensors().keySet()), new ArrayList<>(gen.keySet()));
            for (var e : gen.entrySet()) {
                Tensor ref = pt.get(e.getKey());
                assertEquals(ref.shape(), e.getValue().shape(), e.getKey());
                assertEquals(ref.data().mismatch(e.getValue().data()), -1L, e.getKey() + " differs");
            }
        } finally {
            gen.values().forEach(Tensor::close);
        }
    }
}
