package org.imagenete.eval;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.Checkpoints;
import org.imagenete.io.StateDict;
import org.imagenete.nn.ResNet;
import org.imagenete.nn.Vit;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Native classifiers from checkpoints as model zoos publish them. The wrapping is removed first: nesting under
 * {@code state_dict} / {@code model} / {@code net} (read by {@link org.imagenete.io.TorchCheckpoint}); a {@code module.}
 * or {@code model.} prefix on every key; the robustness library's layout ({@code model.*} next to its duplicate
 * {@code attacker.model.*} and the normaliser buffers {@code normalizer.new_mean/new_std} and
 * {@code attacker.normalize.*}: the buffers are skipped and the mean and std they hold become the model's
 * preprocessing); pretrainedmodels' {@code last_linear} as torchvision's {@code fc}. Then the architecture is read
 * off the keys: torchvision's ResNet, ResNeXt and Wide ResNet ({@link ResNet}), torchvision's or timm's ViT and
 * DeiT ({@link Vit}).
 */
public final class ModelZoo {
    /** Top-level module names of the layouts understood here; a key under any other cannot be placed. */
    static final Set<String> KNOWN_ROOTS = Set.of("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc",
            "conv_proj", "class_token", "encoder", "heads", "patch_embed", "cls_token", "dist_token", "pos_embed", "blocks", "norm",
            "fc_norm", "head", "head_dist");

    private static final System.Logger LOG = System.getLogger("imagenete");

    private ModelZoo() {}

    /**
     * A state dict in torchvision / timm naming. {@code mean} and {@code std} are the robustness library's
     * normalisation (null when the file holds none); {@code notes} say what was unwrapped.
     */
    public record Layout(Map<String, Tensor> tensors, float[] mean, float[] std, List<String> notes) {}

    /** Removes the zoos' wrapping (see the class comment). The tensors are the same views. */
    public static Layout normalise(Path file, Map<String, Tensor> sd) {
        List<String> notes = new ArrayList<>();
        Map<String, Tensor> t = stripCommon(sd, "module.", notes);
        float[] mean = null, std = null;
        boolean robust = t.keySet().stream().anyMatch(k -> k.startsWith("normalizer.") || k.startsWith("attacker."));
        if (robust) {
            String norm = t.containsKey("normalizer.new_mean") ? "normalizer." : "attacker.normalize.";
            mean = triple(file, t, norm + "new_mean");
            std = triple(file, t, norm + "new_std");
            String body = t.keySet().stream().anyMatch(k -> k.startsWith("model.")) ? "model." : "attacker.model.";
            Map<String, Tensor> out = new LinkedHashMap<>();
            int skipped = 0;
            for (var e : t.entrySet()) {
                String k = e.getKey();
                if (k.startsWith(body)) out.put(k.substring(body.length()), e.getValue());
                else if (k.startsWith("normalizer.") || k.startsWith("attacker.")) skipped++;
                else out.put(k, e.getValue());
            }
            notes.add(String.format(Locale.ROOT, "robustness library layout: weights from %s*, %d normaliser/attacker entries skipped,"
                    + " normalisation mean %s std %s", body, skipped, java.util.Arrays.toString(mean), java.util.Arrays.toString(std)));
            t = out;
        } else {
            t = stripCommon(t, "model.", notes);
        }
        if (t.containsKey("last_linear.weight") && !t.containsKey("fc.weight")) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            t.forEach((k, v) -> out.put(k.startsWith("last_linear.") ? "fc." + k.substring("last_linear.".length()) : k, v));
            notes.add("pretrainedmodels layout: last_linear read as fc");
            t = out;
        }
        return new Layout(t, mean, std, notes);
    }

    private static Map<String, Tensor> stripCommon(Map<String, Tensor> sd, String prefix, List<String> notes) {
        if (sd.isEmpty() || !sd.keySet().stream().allMatch(k -> k.startsWith(prefix))) return sd;
        Map<String, Tensor> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> out.put(k.substring(prefix.length()), v));
        notes.add("prefix '" + prefix + "' removed");
        return out;
    }

    private static float[] triple(Path file, Map<String, Tensor> t, String key) {
        Tensor v = t.get(key);
        if (v == null) throw new CheckpointException(file, key, "missing: the robustness library's normaliser needs new_mean and new_std");
        if (v.numel() != 3) throw new CheckpointException(file, key, "shape " + v.shape() + ": expected 3 values (one per channel)");
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) out[i] = (float) v.getDouble(i);
        return out;
    }

    /** A native classifier from a checkpoint; {@code name} is the model's display name. */
    public static Classifier open(Path file, Ops ops, String name) {
        try (StateDict sd = Checkpoints.open(file)) {
            Layout l = normalise(file, sd.tensors());
            PreprocessSettings pre = PreprocessSettings.imagenet();
            if (l.mean() != null) pre = pre.withNormalisation(l.mean(), l.std());
            if (ResNet.Arch.recognises(l.tensors())) {
                ResNet.Arch arch = infer(file, () -> ResNet.Arch.infer(l.tensors()));
                ResNet net = ResNet.load(arch, l.tensors(), file);
                return new ResNetClassifier(net, ops, label(name, arch.name(), arch.toString(), file, ops, l), pre);
            }
            if (Vit.Config.recognises(l.tensors())) {
                Vit.Config cfg = infer(file, () -> Vit.Config.infer(l.tensors()));
                Vit vit = Vit.load(cfg, l.tensors(), file);
                try {
                    PreprocessSettings p = cfg.imageSize() == pre.crop() ? pre : pre.withCrop(cfg.imageSize());
                    return new VitClassifier(vit, ops, label(name, cfg.name(), cfg.describe(), file, ops, l), p);
                } catch (RuntimeException e) {
                    vit.close();
                    throw e;
                }
            }
            throw unplaced(file, l.tensors());
        }
    }

    /** An architecture read off the keys; what does not fit is an error naming the file. */
    private static <T> T infer(Path file, java.util.function.Supplier<T> f) {
        try {
            return f.get();
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, null, e.getMessage(), e);
        }
    }

    /** The display name; logs (once per model) the architecture read off the keys and what was unwrapped. */
    private static String label(String name, String arch, String details, Path file, Ops ops, Layout l) {
        LOG.log(System.Logger.Level.INFO, file.getFileName() + ": " + details + (l.notes().isEmpty() ? "" : "; " + String.join("; ", l.notes())));
        return (name != null ? name + ": " : "") + arch + " (" + file.getFileName() + ", native " + ops.name() + ")";
    }

    static CheckpointException unplaced(Path file, Map<String, Tensor> t) {
        List<String> bad = t.keySet().stream().filter(k -> !KNOWN_ROOTS.contains(k.split("\\.", 2)[0])).toList();
        if (bad.isEmpty()) bad = List.copyOf(t.keySet());
        List<String> shown = bad.size() > 12 ? new ArrayList<>(bad.subList(0, 12)) : new ArrayList<>(bad);
        if (bad.size() > 12) shown.add("... " + bad.size() + " in all");
        return new CheckpointException(file, null, "neither a known checkpoint layout (torchvision ResNet / ResNeXt / Wide ResNet,"
                + " torchvision or timm ViT / DeiT; nested under state_dict/model/net, module./model./attacker.model. prefixes,"
                + " pretrainedmodels' last_linear) nor ONNX: could not place the keys " + shown);
    }
}
