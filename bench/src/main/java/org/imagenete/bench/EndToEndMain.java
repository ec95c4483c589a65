package org.imagenete.bench;

import org.imagenete.cli.DemoCommand;
import org.imagenete.dataset.Generator;
import org.imagenete.dataset.Inputs;
import org.imagenete.dataset.Variants;
import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.HoleFiller;
import org.imagenete.eval.EvalItem;
import org.imagenete.eval.Evaluator;
import org.imagenete.eval.Datasets;
import org.imagenete.eval.ResNetClassifier;
import org.imagenete.image.Images;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmConfig;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Scripted end-to-end benchmarks on the bundled demo photos (formula weights, no downloads):
 * <ul>
 * <li>{@code generate [copies]}: the geometric variants (size x3, position, direction) with the patch fill: edits/s and
 *     the time per stage;</li>
 * <li>{@code evaluate [copies]}: ResNet-50 over JPEG files through the prefetching pipeline at batch 32: images/s end to end
 *     against the inference-only rate;</li>
 * <li>{@code background [steps] [out.png]}: one full ImageNet-E background edit at 256 with ADM-256 (guided blended
 *     diffusion, 10 steps by default) on the CPU: seconds in all and per step; {@code -Dimagenete.precision=bf16} in
 *     bf16 (weights made in bf16); the edited image written to out.png when given;</li>
 * <li>{@code psnr a.png b.png}: the PSNR of two such images (bf16 against fp32 from the same seed).</li>
 * </ul>
 */
public final class EndToEndMain {
    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "generate";
        Path dir = Files.createTempDirectory("imagenete-e2e");
        Path inputs = dir.resolve("inputs");
        extractDemo(inputs);
        Ops ops = Backends.get("cpu");
        switch (mode) {
            case "generate" -> generate(inputs, dir, args.length > 1 ? Integer.parseInt(args[1]) : 4, ops);
            case "evaluate" -> evaluate(inputs, args.length > 1 ? Integer.parseInt(args[1]) : 16, ops);
            case "background" -> background(inputs, args.length > 1 ? Integer.parseInt(args[1]) : 10, ops,
                    args.length > 2 ? Path.of(args[2]) : null);
            case "psnr" -> System.out.printf(Locale.ROOT, "PSNR %.2f dB%n", psnr(Images.read(Path.of(args[1])), Images.read(Path.of(args[2]))));
            default -> throw new IllegalArgumentException("mode: generate | evaluate | background | psnr");
        }
    }

    static void extractDemo(Path dir) throws Exception { DemoCommand.extract(dir); }

    /** copies of every photo under other names, so that there is enough work */
    static void replicate(Path images, Path masks, int copies) throws Exception {
        List<Path> jpgs;
        try (Stream<Path> s = Files.walk(images)) {
            jpgs = s.filter(p -> p.toString().endsWith(".jpg")).toList();
        }
        for (Path j : jpgs)
            for (int c = 1; c < copies; c++) {
                String stem = j.getFileName().toString().replace(".jpg", "");
                Path wnid = images.relativize(j.getParent());
                Files.copy(j, j.resolveSibling(stem + "_copy" + c + ".jpg"));
                Files.copy(masks.resolve(wnid).resolve(stem + ".png"), masks.resolve(wnid).resolve(stem + "_copy" + c + ".png"));
            }
    }

    static void generate(Path inputs, Path dir, int copies, Ops ops) throws Exception {
        replicate(inputs.resolve("images"), inputs.resolve("masks"), copies);
        Editor editor = new Editor(Editor.Config.defaults(), null, ops, HoleFiller.fast(), null);
        var vs = Variants.paper(false, false);
        Generator g = new Generator(editor, new Generator.Options(vs, 0, 0, 1, 4), dir.resolve("bench"),
                new Generator.Provenance(ops.name(), "patch", null, null), null);
        List<Inputs.Item> items = Inputs.scan(inputs.resolve("images"), inputs.resolve("masks"));
        Generator.Summary s = g.run(items, null);
        int edits = s.written() - s.images();
        System.out.printf(Locale.ROOT, "generate: %d images x %d geometric variants = %d edits (+%d originals) in %.1f s: %.2f edits/s, %.2f images/s%n",
                s.images(), vs.size(), edits, s.images(), s.seconds(), edits / s.seconds(), s.images() / s.seconds());
        s.stageSeconds().forEach((k, v) -> System.out.printf(Locale.ROOT, "  %-20s %7.2f s (%4.1f%%)%n", k, v, 100 * v / s.seconds()));
    }

    static void evaluate(Path inputs, int copies, Ops ops) throws Exception {
        replicate(inputs.resolve("images"), inputs.resolve("masks"), copies);
        List<EvalItem> items = Datasets.imageFolder(inputs.resolve("images"));
        ResNet.Arch a = ResNet.Arch.of(50, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        ResNet net = ResNet.load(a, sd, null);
        sd.values().forEach(Tensor::close);
        try (ResNetClassifier c = new ResNetClassifier(net, ops, "resnet50 (formula)", org.imagenete.eval.PreprocessSettings.imagenet())) {
            Evaluator.run(c, items.subList(0, Math.min(32, items.size())), new Evaluator.Options(32, 1, 3), null);   // warm-up
            Evaluator.Outcome o = Evaluator.run(c, items, new Evaluator.Options(32, 1, 3), null);
            System.out.printf(Locale.ROOT, "evaluate: %d JPEG images in %.1f s: %.1f img/s end to end; inference alone %.1f img/s "
                            + "(%.1f s); decoding %.1f s on 1 thread ahead of it; inference waited %.2f s for data%n",
                    o.predictions().size(), o.seconds(), o.imagesPerSecond(), o.predictions().size() / o.inferSeconds(), o.inferSeconds(),
                    o.decodeSeconds(), o.waitSeconds());
        }
    }

    static void background(Path inputs, int steps, Ops ops, Path out) throws Exception {
        try (Adm adm = AdmForwardBench.formula(ops)) {
            Path img = inputs.resolve("images/n02123045/tabby_1.jpg");
            RgbImage image = Images.read(img);
            var mask = Masks.readFor(inputs.resolve("masks/n02123045/tabby_1.png"), new MaskSource.Binary(), image, false);
            Editor.Config cfg = Editor.Config.defaults();
            List<double[]> stepTimes = new ArrayList<>();
            long[] last = {System.nanoTime()};
            BlendedSampler.Options o = BlendedSampler.Options.defaults().withSkip(steps).withListener(
                    (i, done, total, c) -> {
                        long now = System.nanoTime();
                        stepTimes.add(new double[]{i, (now - last[0]) / 1e9, c});
                        last[0] = now;
                    });
            cfg = cfg.withBackground(o).withBatch(1).withHarmonizeSteps(o.skip());
            Editor e = new Editor(cfg, adm, ops, HoleFiller.fast(), null);
            long t0 = System.nanoTime();
            last[0] = t0;
            Editor.Result r = e.run(List.of(new Editor.Task(new Editor.Source("tabby_1", image, mask, 281, null), Edit.parse("background=20"), 0))).getFirst();
            double total = (System.nanoTime() - t0) / 1e9;
            for (double[] st : stepTimes) System.out.printf(Locale.ROOT, "  step index %2.0f: %.2f s, complexity of pred_x0 %.2f%n", st[0], st[1], st[2]);
            System.out.printf(Locale.ROOT, "background+20 edit at 256 with ADM-256 on the CPU (%s): %d steps in %.1f s (%.2f s per guided step); "
                    + "complexity %.2f -> %.2f; ok=%s%n", ops.convPrecision().flag(), steps, total, total / steps,
                    (double) r.values().get("complexity_before"), (double) r.values().get("complexity_after"), r.ok());
            if (out != null) Images.writePng(r.image(), out);
        }
    }

    /** 10 log10(255^2 / MSE) over all pixels and channels. */
    static double psnr(RgbImage a, RgbImage b) {
        if (a.width() != b.width() || a.height() != b.height()) throw new IllegalArgumentException("image sizes differ");
        double se = 0;
        for (int y = 0; y < a.height(); y++)
            for (int x = 0; x < a.width(); x++)
                for (int c = 0; c < 3; c++) {
                    double d = a.get(x, y, c) - b.get(x, y, c);
                    se += d * d;
                }
        double mse = se / (3.0 * a.width() * a.height());
        return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(255.0 * 255.0 / mse);
    }
}
