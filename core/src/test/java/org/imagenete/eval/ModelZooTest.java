package org.imagenete.eval;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.SeededRandom;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.TorchSave;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checkpoints in the layouts the model zoos publish, made synthetically (a formula-weight ResNet-18 wrapped the way
 * each zoo wraps it, written as torch.save zips): each must give the same logits as the plain torchvision state dict.
 */
class ModelZooTest {
    @TempDir static Path dir;
    static Map<String, Tensor> sd;
    static Ops ops;
    static Tensor x;
    static float[] plain;

    @BeforeAll
    static void setUp() throws IOException {
        sd = FormulaWeights.stateDict(ResNet.Arch.of(18, 1000).parameterShapes(), 0);
        ops = Backends.get("cpu");
        x = SeededRandom.uniform(5, 1, 2, 3, 64, 64);
        Path f = dir.resolve("plain.safetensors");
        SafeTensors.write(f, sd, Map.of());
        plain = logits(f);
    }

    @AfterAll
    static void tearDown() {
        sd.values().forEach(Tensor::close);
        x.close();
    }

    static float[] logits(Path f) {
        try (Classifier c = ModelZoo.open(f, ops, null); Tensor y = c.logits(x)) {
            return y.toFloatArray();
        }
    }

    /**
     * The state dict with every float tensor under {@code prefix}; the int64 num_batches_tracked buffers are left out,
     * as in checkpoints saved before torch 0.4.1 (torchvision's original ResNet files, pretrainedmodels).
     */
    static Map<String, Object> prefixed(String prefix, Map<String, Tensor> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, v) -> {
            if (v.dtype() == DType.F32) out.put(prefix + k, v);
        });
        return out;
    }

    /**
     * The robustness library (MadryLab): {'model': {'module.model.*', 'module.attacker.model.*' (the same
     * parameters), 'module.normalizer.new_mean/new_std', 'module.attacker.normalize.*'}, 'optimizer', 'epoch'}.
     */
    @Test
    void robustnessLibraryCheckpoint() throws IOException {
        Map<String, Object> model = new LinkedHashMap<>(prefixed("module.model.", sd));
        model.putAll(prefixed("module.attacker.model.", sd));
        try (Tensor mean = Tensor.of(new float[]{0.485f, 0.456f, 0.406f}, 3, 1, 1); Tensor std = Tensor.of(new float[]{0.229f, 0.224f, 0.225f}, 3, 1, 1);
             Tensor mean2 = Tensor.of(new float[]{0.5f, 0.5f, 0.5f}, 3, 1, 1)) {
            model.put("module.normalizer.new_mean", mean);
            model.put("module.normalizer.new_std", std);
            model.put("module.attacker.normalize.new_mean", mean2);
            model.put("module.attacker.normalize.new_std", std);
            Map<String, Object> top = new LinkedHashMap<>();
            top.put("model", model);
            top.put("optimizer", Map.of());
            top.put("schedule", "step");
            top.put("epoch", 89);
            Path f = dir.resolve("imagenet_l2_3_0.pt");
            TorchSave.write(f, top);
            assertArrayEquals(plain, logits(f), "the same network");
            try (Classifier c = ModelZoo.open(f, ops, null)) {
                assertArrayEquals(new float[]{0.485f, 0.456f, 0.406f}, c.preprocessing().mean(), "the normaliser's mean, not the attacker's");
                assertArrayEquals(new float[]{0.229f, 0.224f, 0.225f}, c.preprocessing().std());
            }
        }
    }

    /** pretrainedmodels (Cadene): last_linear for fc; here nested under 'state_dict' with nn.DataParallel's 'module.'. */
    @Test
    void pretrainedmodelsCheckpoint() throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        prefixed("module.", sd).forEach((k, v) -> m.put(k.replace("module.fc.", "module.last_linear."), v));
        Path f = dir.resolve("resnet18-pretrainedmodels.pth");
        TorchSave.write(f, Map.of("state_dict", m, "arch", "resnet18"));
        assertArrayEquals(plain, logits(f));
    }

    /** 'net' nesting and a 'model.' prefix (timm-style training scripts), as safetensors and zip. */
    @Test
    void netNestingAndModelPrefix() throws IOException {
        Path f = dir.resolve("net.pth");
        TorchSave.write(f, Map.of("net", prefixed("model.", sd), "epoch", 3));
        assertArrayEquals(plain, logits(f));
    }

    @Test
    void normaliseIsPureKeyWork() {
        try (Tensor t = Tensor.zeros(DType.F32, 2)) {
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("model.fc.weight", t);
            m.put("model.last_linear.bias", t);
            ModelZoo.Layout l = ModelZoo.normalise(null, m);
            assertEquals(List.of("fc.weight", "last_linear.bias"), List.copyOf(l.tensors().keySet()), "last_linear kept when fc exists");
            assertNull(l.mean());
            m.clear();
            m.put("last_linear.weight", t);
            m.put("conv1.weight", t);
            assertEquals(List.of("fc.weight", "conv1.weight"), List.copyOf(ModelZoo.normalise(null, m).tensors().keySet()));
        }
    }

    /** Unknown layouts: the file and the keys that no layout places are named, after the wrapping was removed. */
    @Test
    void unknownLayoutNamesFileAndKeys() throws IOException {
        Path f = dir.resolve("densenet121.pth");
        try (Tensor t = Tensor.zeros(DType.F32, 3, 3)) {
            TorchSave.write(f, Map.of("net", Map.of("module.features.conv0.weight", t, "module.classifier.weight", t)));
        }
        var e = assertThrows(CheckpointException.class, () -> ModelZoo.open(f, ops, null));
        assertTrue(e.getMessage().startsWith(f + ": neither a known checkpoint layout"), e.getMessage());
        assertTrue(e.getMessage().contains("features.conv0.weight") && e.getMessage().contains("classifier.weight")
                && !e.getMessage().contains("module.features"), e.getMessage());
    }
}
