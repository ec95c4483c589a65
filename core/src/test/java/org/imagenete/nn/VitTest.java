package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The native vision transformer on small configurations: backends agree, the qkv reordering, the checks at load. */
class VitTest {
    /** A DeiT-style distilled ViT small enough for the float64 reference: 48 wide (3 heads of 16), 2 blocks, 3x3 patches of 8. */
    static final Vit.Config SMALL = new Vit.Config(Vit.Layout.TIMM, 8, 3, 48, 2, 3, 96, 10, true, 1e-6f);

    static Vit small(Vit.Config cfg) {
        Map<String, Tensor> sd = FormulaWeights.stateDict(cfg.parameterShapes(), 3);
        try {
            return Vit.load(cfg, sd, null);
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    @Test
    void fastBackendAgreesWithTheReference() {
        Ops ref = new ReferenceOps(), cpu = Backends.get("cpu");
        for (Vit.Config cfg : new Vit.Config[]{SMALL, new Vit.Config(Vit.Layout.TORCHVISION, 8, 3, 48, 2, 3, 96, 10, false, 1e-6f)}) {
            try (Vit vit = small(cfg); Tensor x = Rand.uniform(7, 3, 24, 24)) {
                Tensor x3 = Rand.uniform(7, 3, 3, 24, 24);
                try (x3; Tensor a = vit.forward(ref, x3, null); Tensor b = vit.forward(cpu, x3, null)) {
                    assertArrayEquals(new int[]{3, 10}, a.shape().dims());
                    Compare.assertClose(cfg.name() + " cpu vs reference", b, a, 2e-5, 1e-4);
                }
            }
        }
    }

    /** torch's q | k | v rows (heads of hd rows each) -> per head q|k|v: row (part, head n, c) goes to (n, part, c). */
    @Test
    void qkvRowsFollowTheAttentionOpsLayout() {
        int d = 6, heads = 3;   // hd = 2
        float[] rows = new float[3 * d];
        for (int r = 0; r < rows.length; r++) rows[r] = r;   // q0 q0' q1 q1' q2 q2' | k... | v...
        assertArrayEquals(new float[]{0, 1, 6, 7, 12, 13, 2, 3, 8, 9, 14, 15, 4, 5, 10, 11, 16, 17}, Vit.qkvRows(rows, d, heads, 1));
    }

    @Test
    void loadNamesTheKeyAtFault() {
        Vit.Config cfg = new Vit.Config(Vit.Layout.TORCHVISION, 8, 3, 128, 2, 2, 256, 10, false, 1e-6f);   // 2 heads of 64, as inferred
        Map<String, Tensor> sd = new LinkedHashMap<>(FormulaWeights.stateDict(cfg.parameterShapes(), 0));
        try {
            // torchvision < 0.13 named the MLP's layers linear_1 / linear_2: read as mlp.0 / mlp.3
            Map<String, Tensor> old = new LinkedHashMap<>();
            sd.forEach((k, v) -> old.put(k.replace(".mlp.0.", ".mlp.linear_1.").replace(".mlp.3.", ".mlp.linear_2."), v));
            try (Vit v = Vit.load(Vit.Config.infer(old), old, null)) {
                assertEquals(cfg, v.config());
            }
            Map<String, Tensor> extra = new LinkedHashMap<>(sd);
            extra.put("fc_norm.weight", sd.get("encoder.ln.weight"));
            var e = assertThrows(CheckpointException.class, () -> Vit.load(cfg, extra, null));
            assertTrue(e.getMessage().contains("'fc_norm.weight': unexpected key"), e.getMessage());
            Map<String, Tensor> missing = new LinkedHashMap<>(sd);
            missing.remove("encoder.layers.encoder_layer_1.ln_2.bias");
            e = assertThrows(CheckpointException.class, () -> Vit.load(cfg, missing, null));
            assertTrue(e.getMessage().contains("'encoder.layers.encoder_layer_1.ln_2.bias': missing (expected shape [128])"), e.getMessage());
            try (Vit v = Vit.load(cfg, sd, null); Tensor x = Rand.uniform(1, 1, 3, 32, 32)) {
                var e2 = assertThrows(IllegalArgumentException.class, () -> v.forward(Backends.get("cpu"), x, null));
                assertTrue(e2.getMessage().contains("takes [B, 3, 24, 24] images"), e2.getMessage());
            }
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    @Test
    void namesAndHeadsOfTheKnownModels() {
        assertEquals("vit_b_16", Vit.Config.vitB16(1000).name());
        assertEquals("deit_tiny_distilled_patch16_224 (timm keys)", new Vit.Config(Vit.Layout.TIMM, 16, 14, 192, 12, 3, 768, 1000, true, 1e-6f).name());
        assertEquals(86_567_656L, Vit.Config.vitB16(1000).parameterShapes().values().stream()
                .mapToLong(s -> java.util.Arrays.stream(s).asLongStream().reduce(1, (a, b) -> a * b)).sum(), "torchvision's vit_b_16 parameter count");
    }
}
