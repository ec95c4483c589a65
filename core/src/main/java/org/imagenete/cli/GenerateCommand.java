package org.imagenete.cli;

import org.imagenete.dataset.Generator;
import org.imagenete.dataset.Inputs;
import org.imagenete.dataset.Variant;
import org.imagenete.dataset.Variants;
import org.imagenete.edit.ClassifierGuidance;
import org.imagenete.edit.Editor;
import org.imagenete.edit.Fills;
import org.imagenete.edit.automask.IsNetMasker;
import org.imagenete.eval.Evaluator;
import org.imagenete.io.Checksums;
import org.imagenete.nn.Adm;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Builds an ImageNet-E style benchmark from an ImageFolder of images and masks. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Build an ImageNet-E style benchmark from <wnid>/<image> folders (masks mirrored as <wnid>/<stem>.png):",
                "original/ and one folder per variant, object masks under masks/, and manifest.jsonl. Resumable; --shard i/n",
                "runs the i-th of n disjoint parts (0-based) whose union is the full run."})
public final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--images", required = true, paramLabel = "DIR") Path images;

    @Option(names = "--masks", paramLabel = "DIR", description = "masks mirrored as <wnid>/<stem>.png (non-zero = object)") Path masks;

    @Option(names = "--auto-masks", description = "ISNet masks for images without one (scripts/install-isnet.sh)") boolean autoMasks;

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;

    @Option(names = "--variants", paramLabel = "LIST|FILE",
            description = "comma list of variant names, or a JSON/YAML spec file (default: the paper's variants available)")
    String variants;

    @Option(names = "--weights", paramLabel = "ADM", description = "ADM checkpoint (default: " + "$IMAGENETE_CACHE/models/256x256_diffusion_uncond.pt when present)")
    Path weights;

    @Option(names = "--classifier", paramLabel = "RESNET", description = "torchvision ResNet for the '-adv' variants") Path classifier;

    @Option(names = "--fill", defaultValue = "auto", paramLabel = "MODE",
            description = "diffusion | fast (= patch) | patch | telea | pushpull (default: diffusion with weights, else patch)")
    String fill;

    @Option(names = "--seed", defaultValue = "0") long seed;

    @Option(names = "--shard", defaultValue = "0/1", paramLabel = "I/N") String shard;

    @Option(names = "--batch", defaultValue = "4", description = "edits per UNet batch") int batch;

    @Option(names = "--steps", paramLabel = "S", description = "diffusion steps of background edits (default 10 of 100, as ImageNet-E)") Integer steps;

    @Option(names = "--fill-steps", paramLabel = "S", description = "diffusion steps of the hole fill (default 50 of 100)") Integer fillSteps;

    @Option(names = "--fill-resample", defaultValue = "1", paramLabel = "R",
            description = "RePaint-style resampling of the diffusion fill: each step done R times (default 1: off)") int fillResample;

    @Option(names = "--num-head-channels", paramLabel = "N") Integer numHeadChannels;

    @Option(names = "--size", defaultValue = "256", description = "output resolution (the diffusion model's)") int size;

    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    @Mixin BackendOptions backend;

    /** Where the demo and generate look for the ADM weights when --weights is not given. */
    public static Path defaultWeights() { return Checksums.cacheDir().resolve("models").resolve("256x256_diffusion_uncond.pt"); }

    @Override
    public Integer call() throws Exception {
        String[] sh = shard.split("/");
        if (sh.length != 2) throw new IllegalArgumentException("--shard I/N, e.g. 0/4");
        int si = Integer.parseInt(sh[0].trim()), sn = Integer.parseInt(sh[1].trim());
        if (masks == null && !autoMasks) throw new IllegalArgumentException("give --masks DIR or --auto-masks");
        Path adm = weights != null ? weights : Files.isRegularFile(defaultWeights()) ? defaultWeights() : null;
        if (weights != null && !Files.isRegularFile(weights)) throw new IllegalArgumentException(weights + ": no such file");
        List<Variant> vs = variants != null ? Variants.parse(variants) : Variants.paper(adm != null, classifier != null);
        boolean needsModel = vs.stream().flatMap(v -> v.edits().stream()).anyMatch(e -> e instanceof org.imagenete.edit.Edit.Background);
        if (needsModel && adm == null)
            throw new IllegalArgumentException("background variants need the ADM model: --weights FILE (or place it at " + defaultWeights() + ")");
        boolean needsClassifier = vs.stream().flatMap(v -> v.edits().stream())
                .anyMatch(e -> e instanceof org.imagenete.edit.Edit.Background b && b.adversarial());
        if (needsClassifier && classifier == null) throw new IllegalArgumentException("'-adv' variants need --classifier RESNET.pth");
        Editor.Fill fillMode = switch (fill) {
            case "auto" -> adm != null ? Editor.Fill.DIFFUSION : Editor.Fill.FAST;
            case "diffusion" -> Editor.Fill.DIFFUSION;
            case "fast" -> Editor.Fill.FAST;
            default -> {
                if (!Fills.NAMES.contains(fill)) throw new IllegalArgumentException("--fill diffusion | fast | " + String.join(" | ", Fills.NAMES));
                yield Editor.Fill.FAST;
            }
        };
        String classical = Fills.NAMES.contains(fill) ? fill : "patch";
        if (fillMode == Editor.Fill.DIFFUSION && adm == null) throw new IllegalArgumentException("--fill diffusion needs --weights");
        List<Inputs.Item> items = Inputs.scan(images, masks);
        Ops ops = backend.ops();
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        boolean useModel = needsModel || fillMode == Editor.Fill.DIFFUSION;
        Editor.Config cfg = Editor.Config.defaults().withFill(fillMode).withBatch(batch).withSize(size);
        if (steps != null) {
            var b = cfg.background();
            cfg = new Editor.Config(cfg.size(), cfg.fill(), cfg.holeDilation(), new org.imagenete.diffusion.BlendedSampler.Options(b.respacing(), steps,
                    b.rangeLambda(), b.perSample(), b.ddim(), b.eta(), null, b.adversarialScale(), null), cfg.fillOptions(), cfg.batch());
        }
        if (fillSteps != null || fillResample != 1) {
            var f = cfg.fillOptions();
            cfg = new Editor.Config(cfg.size(), cfg.fill(), cfg.holeDilation(), cfg.background(), new org.imagenete.diffusion.BlendedSampler.Options(
                    f.respacing(), fillSteps != null ? fillSteps : f.skip(), f.rangeLambda(), f.perSample(), f.ddim(), f.eta(), null, 0f, null)
                    .withResample(fillResample), cfg.batch());
        }
        try (Adm model = useModel ? Adm.open(adm, flags, ops.convWeightType()) : null;
             ResNet cls = needsClassifier ? ResNet.open(classifier, ops.convWeightType()) : null;
             IsNetMasker isnet = autoMasks ? IsNetMasker.open() : null) {
            Editor editor = new Editor(cfg, model, ops, Fills.named(classical), cls == null ? null : new ClassifierGuidance(cls));
            Generator.Provenance prov = new Generator.Provenance(ops.name(), ops.convPrecision().flag(), fillMode == Editor.Fill.DIFFUSION ? "diffusion" : classical,
                    useModel ? Checksums.sha256(adm) : null, needsClassifier ? Checksums.sha256(classifier) : null);
            Generator g = new Generator(editor, new Generator.Options(vs, seed, si, sn, Math.max(1, batch)), out, prov,
                    isnet == null ? null : isnet::mask);
            System.err.printf(Locale.ROOT, "generate: %d images (shard %d/%d of %d), %d variants: %s; fill %s%s%n",
                    Inputs.shard(items, si, sn).size(), si, sn, items.size(), vs.size(), vs.stream().map(Variant::name).toList(),
                    prov.fill(), adm == null ? " (no ADM weights: geometric edits only; add --weights or " + defaultWeights() + " for background edits)" : "");
            Generator.Summary s = g.run(items, quiet ? null : progress());
            System.err.printf(Locale.ROOT, "generate: %d images, %d outputs written, %d already done, %d failed, %.1f s%n",
                    s.images(), s.written(), s.alreadyDone(), s.failures().size(), s.seconds());
            s.stageSeconds().forEach((k, v) -> System.err.printf(Locale.ROOT, "  %-22s %8.1f s%n", k, v));
            for (Generator.Failure f : s.failures())
                System.err.println("  failed: " + f.image() + (f.variant() == null ? "" : " [" + f.variant() + "]") + ": " + f.reason());
            System.err.println("generate: benchmark in " + out.toAbsolutePath());
            return 0;
        }
    }

    private static Generator.Progress progress() {
        Evaluator.Progress p = Evaluator.consoleProgress("generate");
        return p::update;
    }
}
