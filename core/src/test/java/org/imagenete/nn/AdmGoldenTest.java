package org.imagenete.nn;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.NativeMemory;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ADM UNet against tensors computed by guided-diffusion itself (float64 reference, README tolerances). */
class AdmGoldenTest {

    @Test
    void configIsInferredFromTheTinyCheckpoint() {
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            assertEquals(AdmGolden.tinyConfig(), AdmConfig.infer(st.tensors(), 8));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"reference", "cpu"})
    void admTinyMatchesEveryActivation(String backend) {
        Ops ops = Backends.get(backend);
        String file = "adm-tiny/io.safetensors";
        try (Adm model = AdmGolden.tinyModel(); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            Map<String, Tensor> acts = new HashMap<>();
            try (Tensor out = model.forward(ops, io.get("x"), io.get("t"), null, (n, t) -> acts.put(n, t.copy()))) {
                assertEquals(14, acts.size(), "activations seen: " + acts.keySet());
                for (var e : acts.entrySet()) {
                    String key = "act." + e.getKey();
                    Compare.assertClose(backend + " tiny " + key, e.getValue(), io.get(key), Golden.suggestedAtol(file, key), 0);
                }
                Compare.assertClose(backend + " tiny out", out, io.get("out"), Golden.suggestedAtol(file, "out"), 0);
            } finally {
                acts.values().forEach(Tensor::close);
            }
        }
    }

    /** d(sum(out * v))/dx by one forward with a tape and one backward pass, against guided-diffusion's autograd. */
    @ParameterizedTest
    @ValueSource(strings = {"reference", "cpu"})
    void admTinyInputGradientMatchesGolden(String backend) {
        Ops ops = Backends.get(backend);
        String file = "adm-tiny/io.safetensors";
        try (Adm model = AdmGolden.tinyModel(); SafeTensors io = SafeTensors.open(Golden.golden(file));
             Adm.Tape tape = new Adm.Tape()) {
            try (Tensor out = model.forward(ops, io.get("x"), io.get("t"), null, null, tape)) {
                Compare.assertClose(backend + " tiny out (taped)", out, io.get("out"), Golden.suggestedAtol(file, "out"), 0);
            }
            System.out.printf(Locale.ROOT, "tape holds %.2f MiB%n", tape.bytes() / 1048576.0);
            try (Tensor dx = model.inputGradient(ops, tape, io.get("v"))) {
                Compare.assertClose(backend + " tiny dx", dx, io.get("dx"), Golden.suggestedAtol(file, "dx"), 0);
            }
        }
    }

    /** The full-size 256x256 ADM (552 M formula weights) on the fast backend: output, four activations and
     *  the mean/std/first values of every block output in stats.json. */
    @Test
    void adm256MatchesGolden() {
        Ops ops = Backends.get("cpu");
        String file = "adm-256/io.safetensors";
        JsonNode stats = Golden.json(Golden.golden("adm-256/stats.json"));
        try (Adm model = AdmGolden.model256(); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            Map<String, Tensor> acts = new HashMap<>();
            long t0 = System.nanoTime();
            try (Tensor out = model.forward(ops, io.get("x"), io.get("t"), null, (n, t) -> {
                String key = "act." + n;
                if (io.has(key)) acts.put(key, t.copy());
                checkStats(stats, key, t);
            })) {
                System.out.printf(Locale.ROOT, "adm-256 forward (with checks) %.2f s%n", (System.nanoTime() - t0) / 1e9);
                assertEquals(4, acts.size());
                for (var e : acts.entrySet())
                    Compare.assertClose("adm-256 " + e.getKey(), e.getValue(), io.get(e.getKey()), Golden.suggestedAtol(file, e.getKey()), 0);
                Compare.assertClose("adm-256 out", out, io.get("out"), Golden.suggestedAtol(file, "out"), 0);
            } finally {
                acts.values().forEach(Tensor::close);
            }
        }
        assertTrue(NativeMemory.liveBytes() < 1L << 30, "tensor memory leaked: " + NativeMemory.liveBytes());
    }

    private static void checkStats(JsonNode stats, String key, Tensor t) {
        JsonNode s = findStats(stats, key);
        if (s == null) return;
        double sum = 0, sq = 0;
        long n = t.numel();
        for (long i = 0; i < n; i++) {
            double v = t.getFloat(i);
            sum += v;
            sq += v * v;
        }
        double mean = sum / n, std = Math.sqrt(Math.max(0, sq / n - mean * mean));
        double atol = Golden.suggestedAtol("adm-256/io.safetensors", key);
        assertEquals(s.get("mean").asDouble(), mean, atol, key + " mean");
        assertEquals(s.get("std").asDouble(), std, atol, key + " std");
        JsonNode first = s.get("first8");
        for (int i = 0; i < first.size(); i++)
            assertEquals(first.get(i).asDouble(), t.getFloat(i), atol, key + " element " + i);
    }

    private static JsonNode findStats(JsonNode stats, String key) {
        JsonNode s = stats.path("stats").get(key);
        return s == null || s.isNull() ? null : s;
    }
}
