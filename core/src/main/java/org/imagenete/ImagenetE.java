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
import org.imagenete.eval.Datasets;
import org.imagenete.eval.EvalItem;
import org.imagenete.eval.Evaluator;
import org.imagenete.eval.Metrics;
import org.imagenete.eval.ModelSpec;
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
import org.imagenete.ops.Precision;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The public API for embedding imagenet-e in other tools: edit one image, generate a benchmark, evaluate a classifier,
 * run the ADM UNet. This package ({@code org.imagenete}) is the whole API: its types name nothing outside it and the
 * JDK, and it is the only package the module exports. Everything else is the implementation, which may change.
 * Models are {@link AutoCloseable}: close them (their weights live in native memory).
 */
public final class ImagenetE {
    private ImagenetE() {}

    /** A compute backend by name: "cpu", "reference", "cuda", "cuda-emulated", or null for the fastest available; fp32. */
    public static Backend backend(String name) { return new Backend(Backends.get(name)); }

    /**
     * The same in {@code precision}: "fp32", "bf16" (bf16 products, fp32 sums; on a CPU without AVX-512 BF16 it runs
     * fp32 and logs why) or "fp16" (CUDA only).
     */
    public static Backend backend(String name, String precision) { return new Backend(Backends.get(name, Precision.parse(precision))); }

    /**
     * An ADM diffusion UNet from a guided-diffusion checkpoint (.pt or .safetensors), its configuration read off the
     * keys, its weights kept in the backend's precision.
     */
    public static DiffusionModel loadDiffusion(Path weights, Backend backend) { return loadDiffusion(weights, Map.of(), backend); }

    /**
     * The same for a checkpoint whose configuration the keys do not fully say: {@code flags} are guided-diffusion's
     * model flags as its scripts take them, e.g. {@code Map.of("num_head_channels", "64", "attention_resolutions",
     * "32,16,8", "image_size", "256")}; unknown flags are an error.
     */
    public static DiffusionModel loadDiffusion(Path weights, Map<String, String> flags, Backend backend) {
        return new DiffusionModel(Adm.open(weights, flags, backend.ops.convWeightType()), backend);
    }

    /** A torchvision ResNet (ResNet, ResNeXt, Wide ResNet) from its checkpoint, for "-adv" edits. */
    public static ClassifierModel loadClassifier(Path weights, Backend backend) {
        return new ClassifierModel(ResNet.open(weights, backend.ops.convWeightType()), backend);
    }

    /**
     * Edits one image. "-adv" edits run at the released scale (10) with ImageNet-normalised classifier input; they
     * need the request's diffusion model, classifier and label. Returns the edited image and mask at the working
     * size (256).
     */
    public static EditResult edit(ImageEdit request, Backend backend) {
        RgbImage img = Images.read(request.image());
        Mask m = Masks.readFor(request.mask(), new MaskSource.Binary(), img, false);
        String id = request.image().getFileName().toString();
        List<Edit> e = Edit.parse(request.edits());
        ClassifierModel classifier = request.classifier();
        int label = request.label();
        if (Edit.anyAdversarial(e)) {
            if (classifier == null || label < 0)
                throw new IllegalArgumentException("'" + request.edits() + "': an '-adv' edit needs a classifier and the image's label");
            if (label >= classifier.numClasses())
                throw new IllegalArgumentException("label " + label + " is not one of the classifier's " + classifier.numClasses() + " classes");
        }
        Editor editor = new Editor(Editor.Config.defaults(), adm(request.diffusion(), backend), backend.ops, HoleFiller.fast(),
                guidance(classifier, backend));
        return new EditResult(editor.run(List.of(new Editor.Task(new Editor.Source(id, img, m, label, null), e,
                Seeds.derive(request.seed(), id, Edit.name(e))))).getFirst());
    }

    /**
     * Builds a benchmark from {@code images/<wnid>/<image>} and {@code masks/<wnid>/<stem>.png} into {@code out}
     * ({@code variants}: comma list of variant names or a spec file; null for the paper's set that the given models
     * allow; {@code diffusion} and {@code classifier} may be null). Resumable: call again to finish an interrupted run.
     */
    public static BenchmarkSummary generate(Path images, Path masks, Path out, String variants, long seed,
                                            DiffusionModel diffusion, ClassifierModel classifier, Backend backend) throws IOException {
        Editor.Config cfg = Editor.Config.defaults().withHoleSource(diffusion != null ? Editor.HoleSource.DIFFUSION : Editor.HoleSource.FAST);
        Editor editor = new Editor(cfg, adm(diffusion, backend), backend.ops, HoleFiller.fast(), guidance(classifier, backend));
        var vs = variants != null ? Variants.parse(variants) : Variants.paper(diffusion != null, classifier != null);
        Generator g = new Generator(editor, new Generator.Options(vs, seed, 0, 1, cfg.batch()), out,
                new Generator.Provenance(backend.name(), backend.precision(), diffusion != null ? "diffusion" : "patch", null, null), null);
        Generator.Summary s = g.run(Inputs.scan(images, masks), null);
        return new BenchmarkSummary(s.images(), s.written(), s.alreadyDone(), problems(s.failures()), problems(s.unreachable()), s.seconds());
    }

    /**
     * Evaluates a classifier (a native checkpoint: ResNet, ResNeXt, Wide ResNet or ViT in the layouts the README's
     * "Checkpoints" section lists, run on {@code backend}; or an .onnx model) on a benchmark folder, an ImageFolder or
     * (with {@code data} a CSV file) a labels file; returns per-variant figures.
     */
    public static EvaluationSummary evaluate(Path data, Path model, Backend backend) { return evaluate(data, model, null, backend); }

    /**
     * {@link #evaluate(Path, Path, Backend)} on an ImageFolder whose folder names are not ImageNet wnids: {@code classMap}
     * gives each folder's label (torchvision's ImageFolder gives the sorted folder names 0, 1, 2, ...).
     */
    public static EvaluationSummary evaluate(Path data, Path model, Map<String, Integer> classMap, Backend backend) {
        List<EvalItem> items = data.toString().endsWith(".csv") ? Datasets.labelsFile(data) : Datasets.load(data, null, classMap);
        try (Classifier c = Classifiers.open(ModelSpec.ofFile(model), backend.ops, 0, OnnxClassifier.Provider.AUTO)) {
            Metrics.Summary s = Metrics.compute(Evaluator.run(c, items, Evaluator.Options.defaults(), null).predictions());
            return new EvaluationSummary(s.variants().stream().map(v -> new EvaluationSummary.VariantAccuracy(v.variant(), v.n(),
                    v.top1(), v.top5(), v.paired(), v.lost(), v.gained(), v.drop(), v.dropP(), v.flipRate(), v.meanConfidence(),
                    v.ece())).toList());
        }
    }

    /** SHA-256 of a file (cached by path, size and time), for provenance. */
    public static String sha256(Path file) throws IOException { return Checksums.sha256(file); }

    private static Adm adm(DiffusionModel d, Backend b) {
        if (d == null) return null;
        sameWeights("diffusion model", d.backend, b);
        return d.adm;
    }

    private static ClassifierGuidance guidance(ClassifierModel c, Backend b) {
        if (c == null) return null;
        sameWeights("classifier", c.backend, b);
        return new ClassifierGuidance(c.net);
    }

    /** A model keeps its weights in the precision of the backend it was loaded for; another backend may not read them. */
    private static void sameWeights(String what, Backend loadedFor, Backend used) {
        if (loadedFor.ops.convWeightType() != used.ops.convWeightType())
            throw new IllegalArgumentException("the " + what + " was loaded for backend " + loadedFor + " (weights in "
                    + loadedFor.ops.convWeightType() + "), not for " + used + ": load it with the backend that runs it");
    }

    private static List<BenchmarkSummary.Problem> problems(List<Generator.Failure> fs) {
        return fs.stream().map(f -> new BenchmarkSummary.Problem(f.image(), f.variant(), f.reason())).toList();
    }
}
