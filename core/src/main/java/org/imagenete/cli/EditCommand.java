package org.imagenete.cli;

import org.imagenete.edit.Edit;
import org.imagenete.edit.EditRequest;
import org.imagenete.edit.Editor;
import org.imagenete.edit.automask.IsNetMasker;
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
            description = "binary | imagenet-s (every id but 0 and the ignore label 1000, which counts as background) | imagenet-s:ID | soft[:THRESHOLD]")
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

    @Option(names = "--harmonize-steps", paramLabel = "S",
            description = "steps of the harmonising blended-diffusion pass (lambda 0) that size, position and direction edits get with"
                    + " --weights, as the released pipeline runs it for every edit; 0 = off (default: the --steps of background edits)")
    Integer harmonizeSteps;

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;

    @Option(names = "--num-head-channels", paramLabel = "N") Integer numHeadChannels;

    @Mixin AdversarialOptions adv;

    @Mixin BackendOptions backend;

    @Mixin StatsOptions stats;

    @Override
    public Integer call() throws Exception {
        UsageException.require((mask == null) != !autoMask, "give --mask MASK or --auto-mask");
        GenerateCommand.checkSize(size);
        List<List<Edit>> requests = UsageException.of(() -> EditRequest.parseSets(sets));
        MaskSource maskSource = UsageException.of(() -> EditRequest.maskSource(maskFormat));
        int labelIndex = UsageException.of(() -> EditRequest.label(label));
        Main.requireFile(image);
        Ops ops = backend.ops();
        RgbImage img = Images.read(image);
        Mask m;
        if (autoMask) {
            try (IsNetMasker isnet = IsNetMasker.open()) {
                m = isnet.mask(img);
            }
        } else m = Masks.readFor(mask, maskSource, img, resizeMask);
        String stem = image.getFileName().toString().replaceFirst("\\.[^.]+$", "");
        var source = new EditRequest.Source(stem, img, m, labelIndex, image.toString(), Checksums.sha256(image),
                mask == null ? null : mask.toString(), mask == null ? null : Checksums.sha256(mask), maskFormat);
        RgbImage fillImage = EditRequest.holeSource(fill) == Editor.HoleSource.IMAGE ? Images.read(Path.of(fill)) : null;
        var settings = EditRequest.Settings.defaults().withSize(size).withFill(fill).withSteps(steps).withHarmonizeSteps(harmonizeSteps)
                .withAdversarial(adv.scale, adv.mode());
        EditRequest req = new EditRequest(source, requests, seed, settings, fillImage);
        try {
            req.checkModels(weights != null, classifier != null);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage(), e);
        }
        if (req.geometric() && req.config(null).harmonizeSteps() > 0 && weights == null)
            System.err.println("edit: no ADM weights: the harmonising diffusion pass of size, position and direction edits is skipped"
                    + " (the classical fill stays as it is); add --weights FILE, or --harmonize-steps 0 to silence this");
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        long t0 = System.nanoTime();
        stats.start(ops);
        try (Adm model = req.usesModel(weights != null) ? Adm.open(weights, flags, ops.convWeightType()) : null;
             ResNet cls = req.needsClassifier() ? ResNet.open(classifier, ops.convWeightType()) : null) {
            req.checkClassifier(cls, String.valueOf(classifier));
            var models = new EditRequest.Models(model, model == null ? null : weights.toString(), model == null ? null : Checksums.sha256(weights),
                    cls, cls == null ? null : classifier.toString(), cls == null ? null : Checksums.sha256(classifier));
            List<EditRequest.Output> results = req.run(models, ops, null, req.filler());
            int failed = 0;
            for (EditRequest.Output o : results) {
                String base = o.baseName();
                if (!o.result().ok()) {
                    failed++;
                    System.err.println("edit: " + base + ": " + o.result().unreachable());
                    continue;
                }
                Images.writePng(o.result().image(), out.resolve(base + ".png"));
                Masks.write(o.result().mask(), out.resolve(base + ".mask.png"));
                AtomicFiles.write(out.resolve(base + ".json"), o.sidecar().getBytes(StandardCharsets.UTF_8));
                System.err.println("edit: wrote " + out.resolve(base + ".png"));
            }
            System.err.printf(Locale.ROOT, "edit: %d of %d edits in %.1f s (%s, %s)%n", results.size() - failed, results.size(),
                    (System.nanoTime() - t0) / 1e9, ops.name(), ops.convPrecision().flag());
            return failed == 0 ? 0 : 1;
        } finally {
            stats.print(ops);
        }
    }
}
