package org.imagenete.edit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.RgbImage;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.nn.Adm;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;

import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One image's edits as {@code imagenet-e edit} makes them, shared by that command and {@code imagenet-e serve}
 * so that the same inputs give the same bytes: the editor configured from the options, one task per edit list
 * (its seed derived from (seed, stem, variant)), and per output the JSON sidecar with everything needed to
 * reproduce it.
 *
 * @param edits     one list per output (one {@code --set} each)
 * @param fillImage the background image that {@code settings.fill()} names, when it names one
 */
public record EditRequest(Source source, List<List<Edit>> edits, long seed, Settings settings, RgbImage fillImage) {
    /**
     * The options of {@code edit} that shape the outputs.
     *
     * @param fill           fast (= patch) | patch | telea | pushpull | diffusion | anything else: a background image
     * @param steps          diffusion steps of background edits, null for the default (10 of respacing 100)
     * @param harmonizeSteps steps of the harmonising pass of geometric edits (0 = off), null for the background edits' S
     * @param advScale       scale of the adversarial classifier term of "-adv" edits (the released classifier_scale)
     * @param advInput       what that classifier is fed
     */
    public record Settings(int size, String fill, Integer steps, Integer harmonizeSteps, float advScale, ClassifierGuidance.Input advInput) {
        /** {@code edit}'s defaults: 256 px, the fast fill, S of ImageNet-E, scale 10 on ImageNet-normalised input. */
        public static Settings defaults() { return new Settings(256, "fast", null, null, 10f, ClassifierGuidance.Input.IMAGENET); }

        public Settings withSize(int s) { return new Settings(s, fill, steps, harmonizeSteps, advScale, advInput); }

        public Settings withFill(String f) { return new Settings(size, f, steps, harmonizeSteps, advScale, advInput); }

        public Settings withSteps(Integer s) { return new Settings(size, fill, s, harmonizeSteps, advScale, advInput); }

        public Settings withHarmonizeSteps(Integer s) { return new Settings(size, fill, steps, s, advScale, advInput); }

        public Settings withAdversarial(float scale, ClassifierGuidance.Input input) {
            return new Settings(size, fill, steps, harmonizeSteps, scale, input);
        }
    }
    /**
     * The image to edit and where it came from, as the sidecar records it.
     *
     * @param stem  the image's file name without extension: names the outputs and keys their seeds
     * @param label ImageNet class index, -1 when unknown
     * @param maskName null when the mask was computed by ISNet
     */
    public record Source(String stem, RgbImage image, Mask mask, int label, String imageName, String imageSha256,
                         String maskName, String maskSha256, String maskFormat) {}

    /** The models an edit may use (null when absent), with the names and checksums the sidecar records. */
    public record Models(Adm adm, String admName, String admSha256, ResNet classifier, String classifierName,
                         String classifierSha256) {
        public static final Models NONE = new Models(null, null, null, null, null, null);
    }

    /** One output: the editor's result and, when it was made, its sidecar (the JSON text {@code edit} writes). */
    public record Output(Editor.Result result, String sidecar) {
        /** {@code <stem>.<variant>}: the outputs' file names without extension. */
        public String baseName() { return result.task().source().id() + "." + result.task().variant(); }
    }

    public EditRequest {
        edits = List.copyOf(edits);
        if (edits.isEmpty()) throw new IllegalArgumentException("no edits given");
    }

    public Editor.HoleSource holeSource() { return holeSource(settings.fill); }

    /** The editor's fill of a {@code --fill} value. */
    public static Editor.HoleSource holeSource(String fill) {
        return fill.equals("diffusion") ? Editor.HoleSource.DIFFUSION
                : fill.equals("fast") || HoleFiller.NAMES.contains(fill) ? Editor.HoleSource.FAST : Editor.HoleSource.IMAGE;
    }

    /** True when the diffusion model is needed: a background edit or the diffusion fill. */
    public boolean needsModel() {
        return holeSource() == Editor.HoleSource.DIFFUSION || edits.stream().flatMap(List::stream).anyMatch(e -> e instanceof Edit.Background);
    }

    /** True when some edit is geometric (size, position, direction): it gets the harmonising pass. */
    public boolean geometric() { return edits.stream().flatMap(List::stream).anyMatch(e -> !(e instanceof Edit.Background)); }

    /** True when the diffusion model is used: needed, or given and harmonising geometric edits. */
    public boolean usesModel(boolean haveModel) {
        return needsModel() || (haveModel && geometric() && config(null).harmonizeSteps() > 0);
    }

    /** True when the classifier is needed: an adversarial background edit. */
    public boolean needsClassifier() {
        return edits.stream().anyMatch(Edit::anyAdversarial);
    }

    /** Refuses, before any model is loaded, a request that needs a model it was not given. */
    public void checkModels(boolean haveModel, boolean haveClassifier) {
        if (needsModel() && !haveModel)
            throw new IllegalArgumentException("background edits and --fill diffusion need the ADM model: --weights 256x256_diffusion_uncond.pt");
        if (needsClassifier() && (!haveClassifier || source.label < 0))
            throw new IllegalArgumentException("'-adv' edits need --classifier RESNET.pth and --label CLASS");
    }

    /** Refuses a classifier whose classes do not include the image's label (before any edit runs). */
    public void checkClassifier(ResNet classifier, String name) {
        if (classifier != null && source.label >= classifier.arch().numClasses())
            throw new IllegalArgumentException(name + ": the classifier has " + classifier.arch().numClasses() + " classes; the label "
                    + source.label + " is not one of them");
    }

    /** The editor's configuration; {@code listener} (may be null) hears every diffusion step. */
    public Editor.Config config(BlendedSampler.StepListener listener) {
        Editor.Config cfg = Editor.Config.defaults().withSize(settings.size).withHoleSource(holeSource());
        if (settings.steps != null) cfg = cfg.withBackgroundSteps(settings.steps);
        cfg = cfg.withHarmonizeSteps(settings.harmonizeSteps != null ? settings.harmonizeSteps : cfg.background().skip());
        return cfg.withAdversarialScale(settings.advScale).withListener(listener);
    }

    /** The hole filler that the fill setting names (the fast one for "fast", "diffusion" and an image). */
    public HoleFiller filler() { return HoleFiller.NAMES.contains(settings.fill) ? HoleFiller.named(settings.fill) : HoleFiller.fast(); }

    /**
     * Runs every edit; failed ones (unreachable) come back with {@code sidecar} null and the reason in the result.
     * {@code filler} is {@link #filler()} or one that gives the same pixels (a cache of it).
     */
    public List<Output> run(Models models, Ops ops, BlendedSampler.StepListener listener, HoleFiller filler) {
        Editor editor = new Editor(config(listener), models.adm, ops, filler,
                models.classifier == null ? null : new ClassifierGuidance(models.classifier, settings.advInput));
        Editor.Source src = new Editor.Source(source.stem, source.image, source.mask, source.label, fillImage);
        List<Editor.Task> tasks = new ArrayList<>();
        for (List<Edit> e : edits) tasks.add(new Editor.Task(src, e, Seeds.derive(seed, source.stem, Edit.name(e))));
        List<Output> out = new ArrayList<>();
        for (Editor.Result r : editor.run(tasks)) out.add(new Output(r, r.ok() ? sidecar(r, models, ops) : null));
        return out;
    }

    /** Everything needed to reproduce the output (no timings: same inputs and seed give the same bytes). */
    String sidecar(Editor.Result r, Models models, Ops ops) {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode o = json.createObjectNode();
        o.put("tool", "imagenet-e 0.1.0");
        o.put("variant", r.task().variant());
        ObjectNode src = o.putObject("source");
        src.put("image", source.imageName);
        src.put("image_sha256", source.imageSha256);
        if (source.maskName != null) {
            src.put("mask", source.maskName);
            src.put("mask_sha256", source.maskSha256);
            src.put("mask_format", source.maskFormat);
        } else src.put("mask", "isnet");
        if (source.label >= 0) {
            src.put("label", source.label);
            src.put("wnid", ImageNetClasses.get().get(source.label).wnid());
        }
        ArrayNode list = o.putArray("edits");
        for (Edit e : r.task().edits()) list.add(e.toString());
        o.put("seed", seed);
        o.put("derived_seed", r.task().seed());
        o.put("size", settings.size);
        o.put("fill", holeSource() == Editor.HoleSource.FAST && settings.fill.equals("fast") ? "patch" : settings.fill);
        o.put("backend", ops.name());
        o.put("precision", ops.convPrecision().flag());
        if (models.admSha256 != null) {
            o.put("model", models.admName);
            o.put("model_sha256", models.admSha256);
        }
        if (needsClassifier() && models.classifierSha256 != null) {
            o.put("classifier", models.classifierName);
            o.put("classifier_sha256", models.classifierSha256);
        }
        ObjectNode values = o.putObject("values");
        r.values().forEach((k, v) -> values.set(k, json.valueToTree(v)));
        try {
            return json.writeValueAsString(o) + "\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An ImageNet class given as an index or a wnid ({@code --label}); -1 for null. */
    public static int label(String label) {
        if (label == null) return -1;
        ImageNetClasses classes = ImageNetClasses.get();
        if (label.matches("\\d{1,9}")) {
            int i = Integer.parseInt(label);
            if (i >= classes.size()) throw new IllegalArgumentException("--label " + label + ": ImageNet class indices are 0.." + (classes.size() - 1));
            return i;
        }
        ImageNetClasses.ImageNetClass c = classes.byWnid(label);
        if (c == null) throw new IllegalArgumentException("--label " + label + " is neither a class index nor an ImageNet wnid");
        return c.index();
    }

    /**
     * The edits of each set ({@code --set}, the form's {@code edits} fields); a bad one is an error naming it, and so
     * are two sets that are the same edit (they would write the same files).
     */
    public static List<List<Edit>> parseSets(List<String> sets) {
        List<List<Edit>> out = new ArrayList<>();
        Map<String, String> byName = new LinkedHashMap<>();
        for (String s : sets) {
            List<Edit> e;
            try {
                e = Edit.parse(s);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("--set " + s + ": " + ex.getMessage(), ex);
            }
            String before = byName.putIfAbsent(Edit.name(e), s);
            if (before != null)
                throw new IllegalArgumentException("--set " + before + " and --set " + s + " are the same edit (" + Edit.name(e) + "): each --set must differ");
            out.add(e);
        }
        return out;
    }

    /** How a mask file's pixels become the object ({@code --mask-format}). */
    public static MaskSource maskSource(String f) {
        try {
            if (f.equals("binary")) return new MaskSource.Binary();
            if (f.equals("imagenet-s")) return new MaskSource.ImageNetS();
            if (f.startsWith("imagenet-s:")) return new MaskSource.ImageNetSId(Integer.parseInt(f.substring(11)));
            if (f.equals("soft")) return new MaskSource.Soft(0.5);
            if (f.startsWith("soft:")) return new MaskSource.Soft(Double.parseDouble(f.substring(5)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--mask-format " + f + ": '" + f.substring(f.indexOf(':') + 1) + "' is not a number");
        }
        throw new IllegalArgumentException("--mask-format " + f + ": binary, imagenet-s, imagenet-s:ID, soft[:THRESHOLD]");
    }
}
