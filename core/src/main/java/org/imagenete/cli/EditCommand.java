package org.imagenete.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.edit.ClassifierGuidance;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.Fills;
import org.imagenete.edit.Seeds;
import org.imagenete.edit.automask.IsNetMasker;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.io.AtomicFiles;
import org.imagenete.io.Checksums;
import org.imagenete.nn.Adm;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Edits one image: each --set gives one output (PNG, its object mask as PNG, and a JSON sidecar). */
@Command(name = "edit", mixinStandardHelpOptions = true,
        description = {"Edit the object attributes of one image. Each --set writes one output; a --set may combine",
                "attributes: background=L (L signed, '-adv' suffix for the adversarial term), size=R (object area",
                "over image area), position (seeded random placement), direction=D (degrees counter-clockwise,",
                "'@object' to turn about the object's centre). Example: --set background=20 --set size=0.08,direction=30"})
public final class EditCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "IMAGE") Path image;

    @Option(names = "--mask", paramLabel = "MASK", description = "object mask PNG (non-zero = object), or an ImageNet-S PNG with --mask-format")
    Path mask;

    @Option(names = "--auto-mask", description = "compute the mask with ISNet (install it with scripts/install-isnet.sh)")
    boolean autoMask;

    @Option(names = "--mask-format", defaultValue = "binary", paramLabel = "FMT",
            description = "binary | imagenet-s | imagenet-s:ID | soft[:THRESHOLD]")
    String maskFormat;

    @Option(names = "--resize-mask", description = "resize a mask of another size to the image (nearest) instead of failing")
    boolean resizeMask;

    @Option(names = "--set", required = true, paramLabel = "EDITS", description = "one output's edits (repeatable)")
    List<String> sets;

    @Option(names = "--weights", paramLabel = "ADM", description = "ADM diffusion checkpoint (.pt/.safetensors): background edits, diffusion fill")
    Path weights;

    @Option(names = "--classifier", paramLabel = "RESNET", description = "torchvision ResNet weights for '-adv' background edits")
    Path classifier;

    @Option(names = "--label", paramLabel = "CLASS", description = "the image's ImageNet class (index or wnid), for '-adv' edits and provenance")
    String label;

    @Option(names = "--fill", defaultValue = "fast", paramLabel = "MODE",
            description = "fast (= patch) | patch | telea | pushpull | diffusion | a background image file")
    String fill;

    @Option(names = "--seed", defaultValue = "0") long seed;

    @Option(names = "--size", defaultValue = "256", description = "working resolution (the diffusion model's)") int size;

    @Option(names = "--steps", paramLabel = "S", description = "diffusion steps of background edits (default 10 of respacing 100, as ImageNet-E)")
    Integer steps;

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;

    @Option(names = "--num-head-channels", paramLabel = "N") Integer numHeadChannels;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(image)) throw new IllegalArgumentException(image + ": no such file");
        if ((mask == null) == !autoMask) throw new IllegalArgumentException("give --mask MASK or --auto-mask");
        List<List<Edit>> requests = new ArrayList<>();
        for (String s : sets) requests.add(Edit.parse(s));
        Ops ops = backend.ops();
        RgbImage img = Images.read(image);
        Mask m;
        if (autoMask) {
            try (IsNetMasker isnet = IsNetMasker.open()) {
                m = isnet.mask(img);
            }
        } else m = Masks.readFor(mask, maskSource(maskFormat), img, resizeMask);
        int labelIndex = parseLabel(label);
        Editor.Fill fillMode = fill.equals("diffusion") ? Editor.Fill.DIFFUSION
                : fill.equals("fast") || Fills.NAMES.contains(fill) ? Editor.Fill.FAST : Editor.Fill.IMAGE;
        RgbImage userBg = fillMode == Editor.Fill.IMAGE ? Images.read(Path.of(fill)) : null;
        boolean needsModel = fillMode == Editor.Fill.DIFFUSION || requests.stream().flatMap(List::stream).anyMatch(e -> e instanceof Edit.Background);
        boolean needsClassifier = requests.stream().flatMap(List::stream).anyMatch(e -> e instanceof Edit.Background b && b.adversarial());
        if (needsModel && weights == null)
            throw new IllegalArgumentException("background edits and --fill diffusion need the ADM model: --weights 256x256_diffusion_uncond.pt");
        if (needsClassifier && (classifier == null || labelIndex < 0))
            throw new IllegalArgumentException("'-adv' edits need --classifier RESNET.pth and --label CLASS");
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        String stem = image.getFileName().toString().replaceFirst("\\.[^.]+$", "");
        Editor.Config cfg = Editor.Config.defaults().withSize(size).withFill(fillMode);
        if (steps != null) {
            var b = cfg.background();
            cfg = new Editor.Config(cfg.size(), cfg.fill(), cfg.holeDilation(), new org.imagenete.diffusion.BlendedSampler.Options(
                    b.respacing(), steps, b.rangeLambda(), b.perSample(), b.ddim(), b.eta(), null, b.adversarialScale(), null), cfg.fillOptions(), cfg.batch());
        }
        long t0 = System.nanoTime();
        try (Adm model = needsModel ? Adm.open(weights, flags, ops.convWeightType()) : null;
             ResNet cls = needsClassifier ? ResNet.open(classifier, ops.convWeightType()) : null) {
            Editor editor = new Editor(cfg, model, ops, Fills.NAMES.contains(fill) ? Fills.named(fill) : Fills.fast(),
                    cls == null ? null : new ClassifierGuidance(cls));
            Editor.Source src = new Editor.Source(stem, img, m, labelIndex, userBg);
            List<Editor.Task> tasks = new ArrayList<>();
            for (List<Edit> r : requests) tasks.add(new Editor.Task(src, r, Seeds.derive(seed, stem, Edit.name(r))));
            List<Editor.Result> results = editor.run(tasks);
            String modelSha = weights == null ? null : Checksums.sha256(weights);
            String clsSha = needsClassifier ? Checksums.sha256(classifier) : null;
            int failed = 0;
            for (Editor.Result r : results) {
                String base = stem + "." + r.task().variant();
                if (!r.ok()) {
                    failed++;
                    System.err.println("edit: " + base + ": " + r.unreachable());
                    continue;
                }
                Images.writePng(r.image(), out.resolve(base + ".png"));
                Masks.write(r.mask(), out.resolve(base + ".mask.png"));
                AtomicFiles.write(out.resolve(base + ".json"), sidecar(r, ops, fillMode, modelSha, clsSha, labelIndex).getBytes(StandardCharsets.UTF_8));
                System.err.println("edit: wrote " + out.resolve(base + ".png"));
            }
            System.err.printf(Locale.ROOT, "edit: %d of %d edits in %.1f s (%s, %s)%n", results.size() - failed, results.size(),
                    (System.nanoTime() - t0) / 1e9, ops.name(), ops.convPrecision().flag());
            return failed == 0 ? 0 : 1;
        }
    }

    /** Everything needed to reproduce the output (no timings: same inputs and seed give the same bytes). */
    private String sidecar(Editor.Result r, Ops ops, Editor.Fill fillMode, String modelSha, String clsSha, int labelIndex) throws Exception {
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode o = json.createObjectNode();
        o.put("tool", "imagenet-e 0.1.0");
        o.put("variant", r.task().variant());
        ObjectNode src = o.putObject("source");
        src.put("image", image.toString());
        src.put("image_sha256", Checksums.sha256(image));
        if (mask != null) {
            src.put("mask", mask.toString());
            src.put("mask_sha256", Checksums.sha256(mask));
            src.put("mask_format", maskFormat);
        } else src.put("mask", "isnet");
        if (labelIndex >= 0) {
            src.put("label", labelIndex);
            src.put("wnid", ImageNetClasses.get().get(labelIndex).wnid());
        }
        ArrayNode edits = o.putArray("edits");
        for (Edit e : r.task().edits()) edits.add(e.toString());
        o.put("seed", seed);
        o.put("derived_seed", r.task().seed());
        o.put("size", size);
        o.put("fill", fillMode == Editor.Fill.FAST && fill.equals("fast") ? "patch" : fill);
        o.put("backend", ops.name());
        o.put("precision", ops.convPrecision().flag());
        if (modelSha != null) {
            o.put("model", weights.toString());
            o.put("model_sha256", modelSha);
        }
        if (clsSha != null) {
            o.put("classifier", classifier.toString());
            o.put("classifier_sha256", clsSha);
        }
        ObjectNode values = o.putObject("values");
        r.values().forEach((k, v) -> values.set(k, json.valueToTree(v)));
        return json.writeValueAsString(o) + "\n";
    }

    static int parseLabel(String label) {
        if (label == null) return -1;
        if (label.matches("\\d+")) return Integer.parseInt(label);
        ImageNetClasses.ImageNetClass c = ImageNetClasses.get().byWnid(label);
        if (c == null) throw new IllegalArgumentException("--label " + label + " is neither a class index nor an ImageNet wnid");
        return c.index();
    }

    static MaskSource maskSource(String f) {
        if (f.equals("binary")) return new MaskSource.Binary();
        if (f.equals("imagenet-s")) return new MaskSource.ImageNetS();
        if (f.startsWith("imagenet-s:")) return new MaskSource.ImageNetSId(Integer.parseInt(f.substring(11)));
        if (f.equals("soft")) return new MaskSource.Soft(0.5);
        if (f.startsWith("soft:")) return new MaskSource.Soft(Double.parseDouble(f.substring(5)));
        throw new IllegalArgumentException("--mask-format " + f + ": binary, imagenet-s, imagenet-s:ID, soft[:THRESHOLD]");
    }
}
