package org.imagenete.cli;

import org.imagenete.dataset.Generator;
import org.imagenete.dataset.Inputs;
import org.imagenete.dataset.Variant;
import org.imagenete.dataset.Variants;
import org.imagenete.edit.ClassifierGuidance;
import org.imagenete.edit.EditRequest;
import org.imagenete.edit.Editor;
import org.imagenete.edit.HoleFiller;
import org.imagenete.edit.automask.IsNetMasker;
import org.imagenete.eval.Evaluator;
import org.imagenete.image.MaskSource;
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

    @Option(names = "--masks", paramLabel = "DIR", description = "masks mirrored as <wnid>/<stem>.png (see --mask-format)") Path masks;

    @Option(names = "--mask-format", defaultValue = "binary", paramLabel = "FMT",
            description = {"binary (non-zero = object) | imagenet-s (ImageNet-S segmentation PNGs, id = R + 256 G: every id but 0 and",
                    "the ignore label 1000 is object; ignore pixels count as background) | imagenet-s:ID (only that id, for every",
                    "image) | soft[:THRESHOLD] (grey probability masks)"})
    String maskFormat;

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

    @Option(names = "--shard", defaultValue = "0/1", paramLabel = "I/N", converter = Shard.Converter.class,
            description = "run the I-th of N disjoint parts (0 <= I < N)") Shard shard;

    @Option(names = "--force-settings",
            description = "resume even if the folder was generated with other settings (--seed, --fill, ...): mixes them; recorded in settings.json")
    boolean forceSettings;

    @Option(names = "--batch", defaultValue = "4", description = "edits per UNet batch") int batch;

    @Option(names = "--steps", paramLabel = "S", description = "diffusion steps of background edits (default 10 of 100, as ImageNet-E)") Integer steps;

    @Option(names = "--harmonize-steps", paramLabel = "S",
            description = "steps of the harmonising blended-diffusion pass (lambda 0) that size, position and direction variants get with"
                    + " ADM weights, as the released pipeline runs it for every edit; 0 = off (default: --steps)")
    Integer harmonizeSteps;

    @Option(names = "--fill-steps", paramLabel = "S", description = "diffusion steps of the hole fill (default 50 of 100)") Integer fillSteps;

    @Option(names = "--fill-resample", defaultValue = "1", paramLabel = "R",
            description = "RePaint-style resampling of the diffusion fill: each step done R times (default 1: off)") int fillResample;

    @Option(names = "--num-head-channels", paramLabel = "N") Integer numHeadChannels;

    @Option(names = "--size", defaultValue = "256", description = "output resolution (the diffusion model's)") int size;

    /** The working resolutions {@code --size} accepts (edit and generate). */
    static final int MIN_SIZE = 16, MAX_SIZE = 4096;

    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    @Mixin AdversarialOptions adv;

    @Mixin BackendOptions backend;

    @Mixin StatsOptions stats;

    /** Where the demo and generate look for the ADM weights when --weights is not given. */
    public static Path defaultWeights() { return Checksums.cacheDir().resolve("models").resolve("256x256_diffusion_uncond.pt"); }

    @Override
    public Integer call() throws Exception {
        int si = shard.index(), sn = shard.count();
        UsageException.require(masks != null || autoMasks, "give --masks DIR or --auto-masks");
        checkSize(size);
        UsageException.require(batch >= 1, "--batch " + batch + ": must be at least 1");
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + ": exists and is not a folder");
        MaskSource maskSource = UsageException.of(() -> EditRequest.maskSource(maskFormat));
        Path adm = weights != null ? weights : Files.isRegularFile(defaultWeights()) ? defaultWeights() : null;
        if (weights != null) Main.requireFile(weights);
        List<Variant> vs = variants(variants, adm != null, classifier != null);
        boolean needsModel = vs.stream().flatMap(v -> v.edits().stream()).anyMatch(e -> e instanceof org.imagenete.edit.Edit.Background);
        UsageException.require(!needsModel || adm != null,
                "background variants need the ADM model: --weights FILE (or place it at " + defaultWeights() + ")");
        boolean needsClassifier = vs.stream().anyMatch(v -> org.imagenete.edit.Edit.anyAdversarial(v.edits()));
        UsageException.require(!needsClassifier || classifier != null, "'-adv' variants need --classifier RESNET.pth");
        Editor.HoleSource holeSource = switch (fill) {
            case "auto" -> adm != null ? Editor.HoleSource.DIFFUSION : Editor.HoleSource.FAST;
            case "diffusion" -> Editor.HoleSource.DIFFUSION;
            case "fast" -> Editor.HoleSource.FAST;
            default -> {
                UsageException.require(HoleFiller.NAMES.contains(fill), "--fill " + fill + ": one of diffusion | fast | " + String.join(" | ", HoleFiller.NAMES));
                yield Editor.HoleSource.FAST;
            }
        };
        String classical = HoleFiller.NAMES.contains(fill) ? fill : "patch";
        UsageException.require(holeSource != Editor.HoleSource.DIFFUSION || adm != null, "--fill diffusion needs --weights");
        List<Inputs.Item> items = Inputs.scan(images, masks);
        Ops ops = backend.ops();
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        Editor.Config cfg = Editor.Config.defaults().withHoleSource(holeSource).withBatch(batch).withSize(size);
        if (steps != null) cfg = cfg.withBackgroundSteps(steps);
        cfg = cfg.withHarmonizeSteps(harmonizeSteps != null ? harmonizeSteps : cfg.background().skip()).withAdversarialScale(adv.scale);
        ClassifierGuidance.Input advMode = adv.mode();
        if (fillSteps != null || fillResample != 1) cfg = cfg.withFillSteps(fillSteps != null ? fillSteps : cfg.fillOptions().skip(), fillResample);
        boolean geometric = vs.stream().flatMap(v -> v.edits().stream()).anyMatch(e -> !(e instanceof org.imagenete.edit.Edit.Background));
        boolean harmonize = geometric && cfg.harmonizeSteps() > 0;
        boolean useModel = needsModel || holeSource == Editor.HoleSource.DIFFUSION || (harmonize && adm != null);
        stats.start(ops);
        try (Adm model = useModel ? Adm.open(adm, flags, ops.convWeightType()) : null; ResNet cls = needsClassifier ? ResNet.open(classifier, ops.convWeightType()) : null;
             IsNetMasker isnet = autoMasks ? IsNetMasker.open() : null) {
            if (cls != null)
                for (Inputs.Item it : items)
                    if (it.label() >= cls.arch().numClasses())
                        throw new IllegalArgumentException(classifier + ": the classifier has " + cls.arch().numClasses() + " classes; "
                                + it.id() + " is class " + it.label() + " (" + it.wnid() + "), which it cannot push away from");
            Editor editor = new Editor(cfg, model, ops, HoleFiller.named(classical), cls == null ? null : new ClassifierGuidance(cls, advMode));
            Generator.Provenance prov = new Generator.Provenance(ops.name(), ops.convPrecision().flag(), holeSource == Editor.HoleSource.DIFFUSION ? "diffusion" : classical,
                    useModel ? Checksums.sha256(adm) : null, needsClassifier ? Checksums.sha256(classifier) : null);
            Generator g = new Generator(editor, new Generator.Options(vs, seed, si, sn, batch, maskSource, forceSettings), out, prov,
                    isnet == null ? null : isnet::mask);
            System.err.printf(Locale.ROOT, "generate: %d images (shard %d/%d of %d), %d variants: %s; fill %s%s%s%n",
                    Inputs.shard(items, si, sn).size(), si, sn, items.size(), vs.size(), vs.stream().map(Variant::name).toList(),
                    prov.fill(), harmonize && adm != null ? "; harmonising pass " + cfg.harmonizeSteps() + " steps" : "",
                    adm == null ? " (no ADM weights: geometric edits only; add --weights or " + defaultWeights() + " for background edits)" : "");
            if (editor.harmonizeSkipped() && geometric)
                System.err.println("generate: no ADM weights: the harmonising diffusion pass of size, position and direction variants is skipped"
                        + " (the classical fill stays as it is; manifest: harmonize_steps 0)");
            Generator.Summary s = g.run(items, quiet ? null : progress());
            for (String d : s.settingsOverridden()) System.err.println("generate: --force-settings: " + d);
            if (s.remade() > 0)
                System.err.println("generate: " + s.remade() + " output(s) listed in the manifest were missing: made again");
            System.err.printf(Locale.ROOT, "generate: %d images, %d outputs written, %d already done, %d unreachable (recorded), %d failed, %.1f s%n",
                    s.images(), s.written(), s.alreadyDone(), s.unreachable().size(), s.failures().size(), s.seconds());
            s.stageSeconds().forEach((k, v) -> System.err.printf(Locale.ROOT, "  %-22s %8.1f s%n", k, v));
            for (Generator.Failure f : s.unreachable())
                System.err.println("  unreachable: " + f.image() + " [" + f.variant() + "]: " + f.reason());
            for (Generator.Failure f : s.failures())
                System.err.println("  failed: " + f.image() + (f.variant() == null ? "" : " [" + f.variant() + "]") + ": " + f.reason());
            System.err.println("generate: benchmark in " + out.toAbsolutePath());
            if (!s.failures().isEmpty()) {
                System.err.println("generate: " + s.failures().size() + " image(s) failed (exit " + Main.EXIT_SOME_FAILED
                        + "); fix or remove them and run again to finish");
                return Main.EXIT_SOME_FAILED;
            }
            return Main.EXIT_OK;
        } finally {
            stats.print(ops);
        }
    }

    /** {@code --variants}: a list of names is an option value (a usage error when bad); a spec file is input (exit 1). */
    static List<Variant> variants(String spec, boolean diffusion, boolean classifier) {
        if (spec == null) return Variants.paper(diffusion, classifier);
        if (Files.isRegularFile(Path.of(spec))) return Variants.parse(spec);
        try {
            return Variants.parse(spec);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--variants " + spec + ": " + e.getMessage(), e);
        }
    }

    static void checkSize(int size) {
        UsageException.require(size >= MIN_SIZE && size <= MAX_SIZE,
                "--size " + size + ": the working resolution must be between " + MIN_SIZE + " and " + MAX_SIZE + " pixels");
    }

    /** {@code --shard I/N}. */
    record Shard(int index, int count) {
        static final class Converter implements picocli.CommandLine.ITypeConverter<Shard> {
            @Override public Shard convert(String v) {
                String[] p = v.split("/", -1);
                int i, n;
                try {
                    if (p.length != 2) throw new NumberFormatException();
                    i = Integer.parseInt(p[0].trim());
                    n = Integer.parseInt(p[1].trim());
                } catch (NumberFormatException e) {
                    throw new picocli.CommandLine.TypeConversionException("'" + v + "' is not I/N (two whole numbers, e.g. 0/4)");
                }
                if (n < 1 || i < 0 || i >= n)
                    throw new picocli.CommandLine.TypeConversionException("'" + v + "': need N >= 1 and 0 <= I < N");
                return new Shard(i, n);
            }
        }
    }

    private static Generator.Progress progress() {
        Evaluator.Progress p = Evaluator.consoleProgress("generate");
        return p::update;
    }
}
