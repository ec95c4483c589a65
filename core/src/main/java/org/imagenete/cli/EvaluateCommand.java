package org.imagenete.cli;

import org.imagenete.eval.Cams;
import org.imagenete.eval.Classifier;
import org.imagenete.eval.Classifiers;
import org.imagenete.eval.Datasets;
import org.imagenete.eval.EvalItem;
import org.imagenete.eval.Evaluator;
import org.imagenete.eval.Leaderboard;
import org.imagenete.eval.ModelSpec;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.eval.Metrics;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.eval.Prediction;
import org.imagenete.eval.Preprocessor;
import org.imagenete.eval.Report;
import org.imagenete.image.Images;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.image.Filter;
import org.imagenete.ops.Ops;
import org.imagenete.ops.cuda.CudaOps;
import org.imagenete.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * Evaluates one or many classifiers on a benchmark folder, an ImageFolder or a labels file; writes each model's results
 * and report, and the leaderboard of all of them.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {"Classify every image of a dataset (an imagenet-e benchmark, an ImageFolder of <wnid>/<image>,",
                "or --labels FILE) with every model and write results.json, results.csv, predictions.csv and report.html",
                "(to --out with one model, to --out/<model name>/ with several), leaderboard.csv, and with several models",
                "report.html: the leaderboard laid out like the paper's table. Each image is decoded once."})
public final class EvaluateCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR",
            description = {"benchmark folder (manifest.jsonl), ImageFolder, a folder of variant folders (<variant>/<wnid>/<image>,",
                    "ImageNet-E as published), or WebDataset shards (a .tar, or a folder of them: <key>.jpg|png|webp + <key>.cls;",
                    "variant = the key's first path segment, else the shard set)"})
    Path data;

    @Option(names = "--variant-map", paramLabel = "CSV",
            description = "name,variant lines renaming the variants read off folders, shard sets or key prefixes ('original': the originals)")
    Path variantMap;

    @Option(names = "--labels", paramLabel = "CSV", description = "path,label rows (label: index or wnid) instead of --data")
    Path labels;

    @Option(names = "--model", paramLabel = "[NAME=]FILE",
            description = {"a model (repeatable): torchvision ResNet / ResNeXt / Wide ResNet or torchvision / timm ViT / DeiT weights",
                    "(.pth/.pt/.safetensors, as model zoos publish them; run natively) or an .onnx model; named after the file"})
    List<String> models = new ArrayList<>();

    @Option(names = "--models", paramLabel = "FILE",
            description = {"a YAML/JSON list of models: models: [{name, file, input_size, resize | crop_pct,",
                    "interpolation: bilinear|bicubic, mean: [r,g,b], std: [r,g,b]}] (files relative to it)"})
    Path modelsFile;

    @Option(names = "--class-map", paramLabel = "FILE|sorted",
            description = {"labels of an ImageFolder whose folders are not ImageNet wnids: a CSV of folder,label (index or wnid),",
                    "or 'sorted' for torchvision's ImageFolder indices (folders in sorted order)"})
    String classMap;

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;

    @Option(names = "--batch", paramLabel = "N", description = "images per batch (default 32; 128 on a CUDA backend)") Integer batch;

    @Option(names = "--decode-threads", paramLabel = "N", description = "threads decoding images ahead of inference")
    Integer decodeThreads;

    @Option(names = "--grid", defaultValue = "6", paramLabel = "N", description = "source images shown in the report's sample grid")
    int grid;

    @Option(names = "--complexity-bins", defaultValue = "5", paramLabel = "N",
            description = "bins of background complexity (equal counts) for accuracy against complexity")
    int complexityBins;

    @Option(names = "--onnx-provider", defaultValue = "auto", paramLabel = "auto|cpu|cuda",
            description = "ONNX Runtime's execution provider (auto: CUDA when this ONNX Runtime has it and it starts, else CPU)")
    String onnxProvider;

    @Option(names = "--onnx-cuda", hidden = true, description = "the same as --onnx-provider cuda") boolean onnxCuda;

    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        UsageException.require(data != null || labels != null, "give --data DIR or --labels FILE");
        UsageException.require(batch == null || batch >= 1, "--batch " + batch + ": must be at least 1");
        BackendOptions.checkedThreads("--decode-threads", decodeThreads);
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + ": exists and is not a folder");
        List<ModelSpec> specs = new ArrayList<>();
        if (modelsFile != null) {
            Main.requireFile(modelsFile);
            specs.addAll(ModelSpec.readFile(modelsFile));
        }
        for (String m : models) specs.add(ModelSpec.parseArgument(m));
        for (ModelSpec m : specs) Main.requireFile(m.file());
        if (specs.isEmpty()) throw new CommandLine.ParameterException(new CommandLine(this), "give --model FILE (repeatable) or --models FILE");
        Set<String> names = new HashSet<>();
        for (ModelSpec m : specs)
            if (!names.add(m.name())) throw new IllegalArgumentException("two models are named '" + m.name() + "': name them (--model NAME=FILE)");
        OnnxClassifier.Provider provider = onnxCuda ? OnnxClassifier.Provider.CUDA : switch (onnxProvider.toLowerCase(Locale.ROOT)) {
            case "auto" -> OnnxClassifier.Provider.AUTO;
            case "cpu" -> OnnxClassifier.Provider.CPU;
            case "cuda" -> OnnxClassifier.Provider.CUDA;
            default -> throw new CommandLine.ParameterException(new CommandLine(this), "--onnx-provider " + onnxProvider + ": auto, cpu or cuda");
        };
        if (complexityBins < 1) throw new CommandLine.ParameterException(new CommandLine(this), "--complexity-bins must be >= 1");
        Datasets.Loaded loaded = Datasets.read(data, labels, variantMap,
                classMap == null || data == null ? null : Datasets.classMap(classMap, data));
        List<EvalItem> items = loaded.items();
        for (String line : loaded.skipped()) System.err.println("  skipped " + line);
        if (items.isEmpty()) throw new IllegalArgumentException((data != null ? data : labels) + ": no images");
        Ops ops = specs.stream().allMatch(m -> Classifiers.isOnnx(m.file())) ? null : backend.ops();
        List<Classifier> cs = new ArrayList<>();
        try {
            for (ModelSpec m : specs) cs.add(Classifiers.open(m, ops, backend.threadCount(), provider));
            return evaluate(specs, cs, items, loaded.skipped(), ops);
        } finally {
            cs.forEach(Classifier::close);
        }
    }

    private int evaluate(List<ModelSpec> specs, List<Classifier> cs, List<EvalItem> items, List<String> skippedEntries, Ops ops) throws IOException {
        for (int i = 0; i < cs.size(); i++) {
            Datasets.checkLabels(items, cs.get(i).numClasses(), cs.get(i).name());
            String note = Classifiers.classCountNote(specs.get(i).name(), cs.get(i));
            if (note != null) System.err.println("note: " + note);
        }
        Evaluator.Options d = Evaluator.Options.defaults();
        int b = batch != null ? batch : ops instanceof CudaOps ? 128 : d.batch();
        Evaluator.Options o = new Evaluator.Options(b, decodeThreads != null ? decodeThreads : d.decodeThreads(), d.prefetch());
        Evaluator.MultiOutcome r = Evaluator.runAll(cs, items, o, quiet ? null : Evaluator.consoleProgress("evaluate"));
        if (r.failures().size() >= items.size()) {
            Evaluator.Failure f = r.failures().isEmpty() ? null : r.failures().getFirst();
            throw new IllegalArgumentException("none of the " + items.size() + " images could be read"
                    + (f == null ? "" : " (the first: " + f.file() + ": " + f.reason() + ")") + "; nothing written");
        }
        double[] edges = Metrics.complexityEdges(items.stream().map(EvalItem::complexity).toList(), complexityBins);
        boolean many = cs.size() > 1;
        Files.createDirectories(out);
        List<Leaderboard.Entry> board = new ArrayList<>();
        for (int i = 0; i < cs.size(); i++) {
            ModelSpec spec = specs.get(i);
            Classifier c = cs.get(i);
            Evaluator.ModelOutcome mo = r.models().get(i);
            if (mo.failed()) {
                board.add(new Leaderboard.Entry(spec.name(), c.provider(), null, List.of(), Double.NaN, mo.failure()));
                continue;
            }
            Metrics.Summary summary = Metrics.compute(mo.predictions());
            List<Metrics.ComplexityBin> bins = Metrics.byComplexity(mo.predictions(), edges);
            board.add(new Leaderboard.Entry(spec.name(), c.provider(), summary, bins, mo.imagesPerSecond(), null));
            List<Report.Picture> pics = new ArrayList<>(), cams = new ArrayList<>();
            samples(c, items, mo.predictions(), pics, cams);
            Map<String, String> info = new LinkedHashMap<>();
            info.put("data", String.valueOf(data != null ? data : labels));
            info.put("model file", spec.file().toString());
            info.put("runs on", c.provider());
            info.put("preprocessing", c.preprocessing().toString());
            info.put("images classified", Integer.toString(mo.predictions().size()));
            info.put("unreadable images skipped", Integer.toString(r.failures().size()));
            for (Evaluator.Failure f : r.failures()) info.put("skipped " + f.file(), f.reason());
            info.put("dataset entries skipped", Integer.toString(skippedEntries.size()));
            for (int k = 0; k < skippedEntries.size(); k++) info.put("skipped entry " + (k + 1), skippedEntries.get(k));
            info.put("time", String.format(Locale.ROOT, "%.1f s (%.1f img/s; inference %.1f s = %.1f img/s, decoding %.1f s on %d threads%s, waited %.1f s)",
                    r.seconds(), mo.predictions().size() / r.seconds(), mo.inferSeconds(), mo.imagesPerSecond(), r.decodeSeconds(), o.decodeThreads(),
                    many ? " shared by " + cs.size() + " models" : "", r.waitSeconds()));
            String note = Classifiers.classCountNote(spec.name(), c);
            if (note != null) info.put("note", note);
            Path dir = many ? out.resolve(spec.name()) : out;
            Report.write(dir, new Report.Input("imagenet-e evaluation", c.name(), summary, mo.predictions(), pics, cams, info, bins));
        }
        Leaderboard.writeCsv(out.resolve("leaderboard.csv"), board);
        if (many) {
            Map<String, String> info = new LinkedHashMap<>();
            info.put("data", String.valueOf(data != null ? data : labels));
            info.put("models", Integer.toString(cs.size()));
            info.put("images", items.size() + " (" + r.failures().size() + " unreadable, skipped)");
            info.put("time", String.format(Locale.ROOT, "%.1f s; decoding %.1f s on %d threads, each image once", r.seconds(), r.decodeSeconds(),
                    o.decodeThreads()));
            Leaderboard.writePage(out.resolve("report.html"), "imagenet-e leaderboard", board, info);
        }
        summary(board, r);
        long failed = board.stream().filter(Leaderboard.Entry::failed).count();
        if (failed > 0) System.err.println(failed + " of " + board.size() + " models failed; the others' results are complete");
        return failed > 0 ? 1 : 0;
    }

    /** Per model: where it ran, img/s of its inference, top-1 and drop per variant (n.s.: not significant at 5%). */
    private void summary(List<Leaderboard.Entry> board, Evaluator.MultiOutcome r) {
        for (Leaderboard.Entry e : board) {
            if (e.failed()) {
                System.err.println(e.model() + ": FAILED: " + e.failure());
                continue;
            }
            System.err.printf(Locale.ROOT, "%s (%s): %.1f img/s inference%n", e.model(), e.provider(), e.imagesPerSecond());
            for (Metrics.VariantStats v : e.summary().variants())
                System.err.printf(Locale.ROOT, "  %-22s n=%-5d top-1 %5.1f%% [%4.1f, %4.1f]  top-5 %5.1f%%  drop %s%n", v.variant(), v.n(), 100 * v.top1(),
                        100 * v.top1Ci().low(), 100 * v.top1Ci().high(), 100 * v.top5(),
                        Double.isNaN(v.drop()) || v.variant().equals(Metrics.ORIGINAL) ? "-"
                                : String.format(Locale.ROOT, "%+.1f pts (p=%.2g%s)", -100 * v.drop(), v.dropP(), v.dropSignificant() ? "" : ", n.s."));
        }
        for (Evaluator.Failure f : r.failures()) System.err.println("  skipped " + f.file() + ": " + f.reason());
        System.err.println("report: " + out.resolve("report.html").toAbsolutePath());
    }

    /** Thumbnails (the classifier's crop) of the first sources with their edits, and CAM overlays when available. */
    private void samples(Classifier c, List<EvalItem> items, List<Prediction> preds, List<Report.Picture> pics, List<Report.Picture> cams) {
        Map<String, Prediction> byKey = new LinkedHashMap<>();
        for (Prediction p : preds) byKey.put(p.image() + "\u0000" + p.variant(), p);
        LinkedHashSet<String> sources = new LinkedHashSet<>();
        for (EvalItem it : items) if (sources.size() < grid && byKey.containsKey(it.image() + "\u0000" + it.variant())) sources.add(it.image());
        ImageNetClasses names = ImageNetClasses.get();
        for (String src : sources) {
            List<EvalItem> group = items.stream().filter(i -> i.image().equals(src) && byKey.containsKey(i.image() + "\u0000" + i.variant())).toList();
            List<RgbImage> crops = new ArrayList<>();
            for (EvalItem it : group) {
                RgbImage crop = Preprocessor.crop(it.read(), c.preprocessing());
                crops.add(crop);
                Prediction p = byKey.get(it.image() + "\u0000" + it.variant());
                String name = p.predicted() < names.size() ? names.get(p.predicted()).shortName() : Integer.toString(p.predicted());
                pics.add(new Report.Picture(src, it.variant(), Images.encodePng(Resize.resize(crop, 160, 160, Filter.BILINEAR)),
                        String.format(Locale.ROOT, "%s %.0f%%", name, 100 * p.confidence()), p.top1()));
            }
            Classifier.CamSource cs = c.cams();
            if (cs == null || group.isEmpty()) continue;
            int n = group.size(), px = c.preprocessing().crop();
            float[] data = new float[n * 3 * px * px];
            int[] classes = new int[n];
            for (int i = 0; i < n; i++) {
                System.arraycopy(Preprocessor.normalise(crops.get(i), c.preprocessing()), 0, data, i * 3 * px * px, 3 * px * px);
                classes[i] = byKey.get(src + "\u0000" + group.get(i).variant()).predicted();
            }
            try (Tensor x = Tensor.of(data, n, 3, px, px); Classifier.CamResult cr = cs.logitsAndCams(x, classes)) {
                for (int i = 0; i < n; i++) {
                    Prediction p = byKey.get(src + "\u0000" + group.get(i).variant());
                    RgbImage ov = Cams.overlay(crops.get(i), cr.cams()[i], cr.h(), cr.w());
                    String name = classes[i] < names.size() ? names.get(classes[i]).shortName() : Integer.toString(classes[i]);
                    cams.add(new Report.Picture(src, group.get(i).variant(), Images.encodePng(Resize.resize(ov, 160, 160, Filter.BILINEAR)),
                            "CAM of " + name, p.top1()));
                }
            }
        }
    }
}
