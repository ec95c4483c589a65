package org.imagenete;

import org.imagenete.dataset.Generator;
import org.imagenete.dataset.Inputs;
import org.imagenete.dataset.Variants;
import org.imagenete.edit.ClassifierGuidance;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.HoleFiller;
import org.imagenete.edit.Seeds;
import org.imagenete.eval.Classifier;
import org.imagenete.eval.Classifiers;
import org.imagenete.eval.ModelSpec;
import org.imagenete.eval.Datasets;
import org.imagenete.eval.EvalItem;
import org.imagenete.eval.Evaluator;
import org.imagenete.eval.Metrics;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.io.Checksums;
import org.imagenete.nn.Adm;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The small public API for embedding imagenet-e in other tools: edit one image, generate a benchmark,
 * evaluate a classifier, run the ADM UNet. Everything here is a thin layer over the packages it imports;
 * use those directly for finer control. Models are {@link AutoCloseable}: close them (their native memory
 * and file mappings are not garbage collected).
 */
public final class ImagenetE {
    private ImagenetE() {}

    /** A compute backend by name: "cpu", "reference", "cuda", "cuda-emulated", or null for the fastest available. */
    public static Ops backend(String name) { return Backends.get(name); }

    /** An ADM diffusion UNet from a guided-diffusion checkpoint (.pt or .safetensors), configuration read off its keys. */
    public static Adm loadAdm(Path weights) { return Adm.open(weights, Map.of()); }

    /** The UNet's output [B,out,H,W] for x [B,3,H,W] in [-1,1] and float timesteps t [B] (0..999). */
    public static Tensor unet(Adm model, Ops ops, Tensor x, Tensor t) { return model.forward(ops, x, t, null, null); }

    /**
     * One image to edit for {@link #edit(ImageEdit, Ops)}: start from {@link #of(Path, Path, String)} and add what the edit
     * needs with the {@code with} methods.
     *
     * @param edits      the syntax of {@code imagenet-e edit --set}, e.g. "size=0.08,direction=30" or "background=20"
     * @param mask       a PNG (non-zero = object) of the image's size
     * @param seed       the edit's seed (each image's own seed is derived from it, its name and the edits)
     * @param label      the image's class (ImageNet-1k index; -1 when unknown): "-adv" edits push the classifier away from it
     * @param adm        the diffusion model, or null: background edits need it; with it, size, position and direction
     *                   edits also get the harmonising pass
     * @param classifier the classifier of "-adv" edits, or null
     */
    public record ImageEdit(Path image, Path mask, String edits, long seed, int label, Adm adm, ResNet classifier) {
        /** Seed 0, label unknown, no diffusion model, no classifier. */
        public static ImageEdit of(Path image, Path mask, String edits) { return new ImageEdit(image, mask, edits, 0, -1, null, null); }

        public ImageEdit withSeed(long s) { return new ImageEdit(image, mask, edits, s, label, adm, classifier); }

        public ImageEdit withLabel(int l) { return new ImageEdit(image, mask, edits, seed, l, adm, classifier); }

        public ImageEdit withAdm(Adm a) { return new ImageEdit(image, mask, edits, seed, label, a, classifier); }

        public ImageEdit withClassifier(ResNet c) { return new ImageEdit(image, mask, edits, seed, label, adm, c); }
    }

    /**
     * Edits one image. "-adv" edits run at the released scale (10) with ImageNet-normalised classifier input
     * ({@link ClassifierGuidance.Input}); they need the request's model, classifier and label. Returns the edited image
     * and mask at the working size (256).
     */
    public static Editor.Result edit(ImageEdit request, Ops ops) {
        RgbImage img = Images.read(request.image());
        Mask m = Masks.readFor(request.mask(), new MaskSource.Binary(), img, false);
        String id = request.image().getFileName().toString();
        List<Edit> e = Edit.parse(request.edits());
        ResNet classifier = request.classifier();
        int label = request.label();
        if (e.stream().anyMatch(x -> x instanceof Edit.Background b && b.adversarial())) {
            if (classifier == null || label < 0)
                throw new IllegalArgumentException("'" + request.edits() + "': an '-adv' edit needs a classifier and the image's label");
            if (label >= classifier.arch().numClasses())
                throw new IllegalArgumentException("label " + label + " is not one of the classifier's " + classifier.arch().numClasses() + " classes");
        }
        Editor editor = new Editor(Editor.Config.defaults(), request.adm(), ops, HoleFiller.fast(), classifier == null ? null : new ClassifierGuidance(classifier));
        return editor.run(List.of(new Editor.Task(new Editor.Source(id, img, m, label, null), e,
                Seeds.derive(request.seed(), id, Edit.name(e))))).getFirst();
    }

    /**
     * Builds a benchmark from {@code images/<wnid>/<image>} and {@code masks/<wnid>/<stem>.png} into {@code out}
     * ({@code variants}: comma list of variant names or a spec file; null for the paper's set that the given models
     * allow). Resumable: call again to finish an interrupted run.
     */
    public static Generator.Summary generate(Path images, Path masks, Path out, String variants, long seed, Adm adm,
                                             ResNet classifier, Ops ops) throws IOException {
        Editor.Config cfg = Editor.Config.defaults().withHoleSource(adm != null ? Editor.HoleSource.DIFFUSION : Editor.HoleSource.FAST);
        Editor editor = new Editor(cfg, adm, ops, HoleFiller.fast(), classifier == null ? null : new ClassifierGuidance(classifier));
        var vs = variants != null ? Variants.parse(variants) : Variants.paper(adm != null, classifier != null);
        Generator g = new Generator(editor, new Generator.Options(vs, seed, 0, 1, cfg.batch()), out,
                new Generator.Provenance(ops.name(), ops.convPrecision().flag(), adm != null ? "diffusion" : "patch", null, null), null);
        return g.run(Inputs.scan(images, masks), null);
    }

    /**
     * Evaluates a classifier (a native checkpoint as {@link org.imagenete.eval.ModelZoo} reads it, run on {@code ops}, or
     * an .onnx model) on a
     * benchmark folder, an ImageFolder or (with {@code data} a CSV file) a labels file; returns per-variant figures.
     */
    public static Metrics.Summary evaluate(Path data, Path model, Ops ops) { return evaluate(data, model, null, ops); }

    /**
     * {@link #evaluate(Path, Path, Ops)} on an ImageFolder whose folder names are not ImageNet wnids: {@code classMap}
     * gives each folder's label ({@code Datasets.classMap("sorted", data)}: torchvision's ImageFolder indices).
     */
    public static Metrics.Summary evaluate(Path data, Path model, Map<String, Integer> classMap, Ops ops) {
        List<EvalItem> items = data.toString().endsWith(".csv") ? Datasets.labelsFile(data) : Datasets.load(data, null, classMap);
        try (Classifier c = Classifiers.open(ModelSpec.ofFile(model), ops, 0, OnnxClassifier.Provider.AUTO)) {
            return Metrics.compute(Evaluator.run(c, items, Evaluator.Options.defaults(), null).predictions());
        }
    }

    /** SHA-256 of a file (cached by path, size and time), for provenance. */
    public static String sha256(Path file) throws IOException { return Checksums.sha256(file); }
}
