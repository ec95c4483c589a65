package org.imagenete.cli;

import org.imagenete.eval.Cams;
import org.imagenete.eval.Classifier;
import org.imagenete.eval.Datasets;
import org.imagenete.eval.EvalItem;
import org.imagenete.eval.Evaluator;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.eval.Metrics;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.eval.Prediction;
import org.imagenete.eval.Preprocess;
import org.imagenete.eval.Report;
import org.imagenete.eval.ResNetClassifier;
import org.imagenete.image.Images;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.image.Filter;
import org.imagenete.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Evaluates a classifier on a benchmark folder, an ImageFolder or a labels file; writes results and the report. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {"Classify every image of a dataset (an imagenet-e benchmark, an ImageFolder of <wnid>/<image>,",
                "or --labels FILE) and write results.json, results.csv, predictions.csv and report.html to --out."})
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

    @Option(names = "--model", required = true, paramLabel = "FILE",
            description = "torchvision ResNet weights (.pth/.pt/.safetensors, run natively) or an .onnx model")
    Path model;

    @Option(names = "--class-map", paramLabel = "FILE|sorted",
            description = {"labels of an ImageFolder whose folders are not ImageNet wnids: a CSV of folder,label (index or wnid),",
                    "or 'sorted' for torchvision's ImageFolder indices (folders in sorted order)"})
    String classMap;

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;

    @Option(names = "--batch", defaultValue = "32") int batch;

    @Option(names = "--decode-threads", paramLabel = "N", description = "threads decoding images ahead of inference")
    Integer decodeThreads;

    @Option(names = "--grid", defaultValue = "6", paramLabel = "N", description = "source images shown in the report's sample grid")
    int grid;

    @Option(names = "--onnx-cuda", description = "ONNX Runtime's CUDA provider") boolean onnxCuda;

    @Option(names = "--quiet", description = "no progress bar") boolean quiet;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        UsageException.require(data != null || labels != null, "give --data DIR or --labels FILE");
        UsageException.require(batch >= 1, "--batch " + batch + ": must be at least 1");
        BackendOptions.checkedThreads("--decode-threads", decodeThreads);
        Main.requireFile(model);
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + ": exists and is not a folder");
        Datasets.Loaded loaded = Datasets.read(data, labels, variantMap,
                classMap == null || data == null ? null : Datasets.classMap(classMap, data));
        List<EvalItem> items = loaded.items();
        for (String line : loaded.skipped()) System.err.println("  skipped " + line);
        if (items.isEmpty()) throw new IllegalArgumentException((data != null ? data : labels) + ": no images");
        boolean onnx = model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx");
        try (Classifier c = onnx ? new OnnxClassifier(model, backend.threadCount(), onnxCuda)
                : ResNetClassifier.open(model, backend.ops())) {
            Datasets.checkLabels(items, c.numClasses(), c.name());
            Evaluator.Options o = Evaluator.Options.defaults();
            o = new Evaluator.Options(batch, decodeThreads != null ? decodeThreads : o.decodeThreads(), o.prefetch());
            Evaluator.Outcome r = Evaluator.run(c, items, o, quiet ? null : Evaluator.consoleProgress("evaluate"));
            if (r.predictions().isEmpty()) {
                Evaluator.Failure f = r.failures().isEmpty() ? null : r.failures().getFirst();
                throw new IllegalArgumentException("none of the " + items.size() + " images could be read"
                        + (f == null ? "" : " (the first: " + f.file() + ": " + f.reason() + ")") + "; nothing written");
            }
            Metrics.Summary summary = Metrics.compute(r.predictions());
            List<Report.Picture> pics = new ArrayList<>(), cams = new ArrayList<>();
            samples(c, items, r.predictions(), pics, cams);
            Map<String, String> info = new LinkedHashMap<>();
            info.put("data", String.valueOf(data != null ? data : labels));
            info.put("images classified", Integer.toString(r.predictions().size()));
            info.put("unreadable images skipped", Integer.toString(r.failures().size()));
            for (Evaluator.Failure f : r.failures()) info.put("skipped " + f.file(), f.reason());
            info.put("dataset entries skipped", Integer.toString(loaded.skipped().size()));
            for (int i = 0; i < loaded.skipped().size(); i++) info.put("skipped entry " + (i + 1), loaded.skipped().get(i));
            info.put("time", String.format(Locale.ROOT, "%.1f s (%.1f img/s; inference %.1f s, decoding %.1f s on %d threads, waited %.1f s)",
                    r.seconds(), r.imagesPerSecond(), r.inferSeconds(), r.decodeSeconds(), o.decodeThreads(), r.waitSeconds()));
            Report.write(out, new Report.Input("imagenet-e evaluation", c.name(), summary, r.predictions(), pics, cams, info));
            for (Metrics.VariantStats v : summary.variants())
                System.err.printf(Locale.ROOT, "  %-22s n=%-5d top-1 %5.1f%%  top-5 %5.1f%%  drop %s%n", v.variant(), v.n(), 100 * v.top1(),
                        100 * v.top5(), Double.isNaN(v.drop()) || v.variant().equals(Metrics.ORIGINAL) ? "-" : String.format(Locale.ROOT, "%+.1f pts", -100 * v.drop()));
            for (Evaluator.Failure f : r.failures()) System.err.println("  skipped " + f.file() + ": " + f.reason());
            System.err.println("report: " + out.resolve("report.html").toAbsolutePath());
        }
        return 0;
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
                RgbImage crop = Preprocess.crop(it.read(), c.preprocessing());
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
                System.arraycopy(Preprocess.normalise(crops.get(i), c.preprocessing()), 0, data, i * 3 * px * px, 3 * px * px);
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
