package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading ADM checkpoints: inferred configuration, overrides, and clear errors for bad state dicts. */
class AdmLoadTest {
    @TempDir Path dir;

    /** Writes the tiny golden weights, edited by {@code edit}, to a safetensors file. */
    private Path edited(Consumer<Map<String, Tensor>> edit) throws IOException {
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            Map<String, Tensor> m = new LinkedHashMap<>(st.tensors());
            edit.accept(m);
            Path p = dir.resolve("w" + System.nanoTime() + ".safetensors");
            SafeTensors.write(p, m, Map.of());
            return p;
        }
    }

    private static void refused(Path p, String... fragments) {
        var e = assertThrows(CheckpointException.class, () -> Adm.open(p, Map.of("num_head_channels", "8")).close());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    @Test
    void missingUnexpectedAndMisshapenKeysAreNamed() throws IOException {
        refused(edited(m -> m.remove("output_blocks.3.0.out_layers.3.bias")), "output_blocks.3.0.out_layers.3.bias", "missing");
        Tensor extra = Tensor.zeros(DType.F32, 3);
        refused(edited(m -> m.put("output_blocks.3.0.extra", extra)), "output_blocks.3.0.extra", "unexpected");
        extra.close();
        Tensor bad = Tensor.zeros(DType.F32, 64, 64, 3, 3);
        refused(edited(m -> m.put("input_blocks.3.0.in_layers.2.weight", bad)), "input_blocks.3.0.in_layers.2.weight",
                "[64, 64, 3, 3]", "expected [64, 32, 3, 3]");
        bad.close();
        refused(edited(m -> m.remove("input_blocks.0.0.weight")), "input_blocks.0.0.weight");
    }

    @Test
    void flagsOverrideTheInferredConfiguration() {
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            AdmConfig c = AdmConfig.infer(st.tensors(), 64).withFlags(Map.of("num_head_channels", "16"));
            assertEquals(16, c.numHeadChannels());
            assertEquals(4, c.heads(64));
            AdmConfig d = AdmConfig.infer(st.tensors(), 64).withFlags(Map.of("image_size", "32", "attention_resolutions", "16"));
            assertEquals(java.util.Set.of(2), d.attentionDs());
            assertThrows(IllegalArgumentException.class, () -> c.withFlags(Map.of("bogus", "1")));
        }
    }

    /** A half-precision checkpoint is converted to F32 at load and still tracks the golden output. */
    @Test
    void f16CheckpointLoadsAndRuns() throws IOException {
        Path p;
        try (SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"))) {
            Map<String, Tensor> half = new LinkedHashMap<>();
            st.tensors().forEach((k, v) -> half.put(k, v.convert(DType.F16)));
            p = dir.resolve("half.safetensors");
            SafeTensors.write(p, half, Map.of());
            half.values().forEach(Tensor::close);
        }
        try (Adm m = Adm.open(p, Map.of("num_head_channels", "8"));
             SafeTensors io = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"));
             Tensor out = m.forward(Backends.get("cpu"), io.get("x"), io.get("t"), null, null)) {
            // fp16 weights carry ~5e-4 relative rounding; measured: the output moves by 3.8e-3 at most
            Compare.assertClose("fp16 weights out", out, io.get("out"), 1e-2, 0);
        }
    }

    /** A checkpoint without learned sigma (3 output channels) loads, runs the UNet, and the sampler says why it cannot use it. */
    @Test
    void samplerRefusesAModelWithoutLearnedSigma() {
        AdmConfig c = AdmGolden.tinyConfig().withFlags(Map.of("learn_sigma", "false"));
        var sd = FormulaWeights.stateDict(c.parameterShapes(), 3);
        try (Adm m = Adm.load(c, sd, null, () -> sd.values().forEach(Tensor::close));
             Tensor x = org.imagenete.testutil.Rand.uniform(1, 1, 3, 32, 32)) {
            var d = new org.imagenete.diffusion.GaussianDiffusion(org.imagenete.diffusion.Schedule.respaced(1000, "100"));
            var e = assertThrows(UnsupportedOperationException.class, () -> org.imagenete.diffusion.GuidedStep.run(m, Backends.get("cpu"), d, x,
                    new int[]{5}, org.imagenete.diffusion.Guidance.Terms.complexity(new float[]{20}, 50, true)));
            assertTrue(e.getMessage().contains("learned-sigma") && e.getMessage().contains("has 3"), e.getMessage());
        }
    }
}
