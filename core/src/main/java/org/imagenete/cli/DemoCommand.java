package org.imagenete.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.eval.Report;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Resize;
import org.imagenete.io.Checksums;
import org.imagenete.io.Manifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The README's first command: builds a small benchmark from the bundled public-domain photos and writes a report.
 * Uses whatever is available: without ADM weights the geometric edits with the fast fill (not harmonised); with them
 * every variant, the geometric ones harmonised by blended diffusion; with a classifier the accuracies, without one a
 * gallery of the edits.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate a small ImageNet-E benchmark from 6 bundled public-domain photos, evaluate a classifier",
                "on it when one is available, and write report.html. ADM weights: --weights or " + "$IMAGENETE_CACHE/models/256x256_diffusion_uncond.pt;",
                "classifier: --classifier (torchvision ResNet .pth or .onnx) or $IMAGENETE_CACHE/models/resnet50.pth."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "imagenet-e-demo", paramLabel = "DIR") Path out;

    @Option(names = "--weights", paramLabel = "ADM") Path weights;

    @Option(names = "--classifier", paramLabel = "MODEL") Path classifier;

    @Option(names = "--seed", defaultValue = "0") long seed;

    @Mixin BackendOptions backend;

    public static Path defaultClassifier() { return Checksums.cacheDir().resolve("models").resolve("resnet50.pth"); }

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        Path inputs = out.resolve("inputs"), bench = out.resolve("benchmark"), report = out.resolve("report");
        extract(inputs);
        Path adm = weights != null ? weights : Files.isRegularFile(GenerateCommand.defaultWeights()) ? GenerateCommand.defaultWeights() : null;
        Path cls = classifier != null ? classifier : Files.isRegularFile(defaultClassifier()) ? defaultClassifier() : null;
        if (adm == null)
            System.err.println("demo: no ADM diffusion weights: running the geometric edits (size, position, direction) with the fast fill;\n"
                    + "      the harmonising diffusion pass that ImageNet-E runs over their backgrounds is skipped.\n"
                    + "      For background edits and the harmonising pass, download OpenAI's 256x256_diffusion_uncond.pt (guided-diffusion) to\n      "
                    + GenerateCommand.defaultWeights() + " or pass --weights FILE.");
        List<String> gen = new ArrayList<>(List.of("--images", inputs.resolve("images").toString(), "--masks",
                inputs.resolve("masks").toString(), "--out", bench.toString(), "--seed", Long.toString(seed)));
        if (adm != null) gen.addAll(List.of("--weights", adm.toString()));
        if (cls != null && adm != null && !cls.toString().endsWith(".onnx")) gen.addAll(List.of("--classifier", cls.toString()));
        if (backend.backend != null) gen.addAll(List.of("--backend", backend.backend));
        int rc = Main.commandLine(new GenerateCommand()).execute(gen.toArray(String[]::new));
        if (rc != Main.EXIT_OK && rc != Main.EXIT_SOME_FAILED) return rc;
        if (cls != null) {
            rc = Main.commandLine(new EvaluateCommand()).execute("--data", bench.toString(), "--model", cls.toString(), "--out", report.toString());
            if (rc != 0) return rc;
        } else {
            System.err.println("demo: no classifier: the report shows the edits. For accuracies, put torchvision's resnet50 weights at\n      "
                    + defaultClassifier() + " or pass --classifier FILE (.pth or .onnx).");
            gallery(bench, report, adm != null);
        }
        System.err.printf(Locale.ROOT, "demo: done in %.0f s. Report: %s%n", (System.nanoTime() - t0) / 1e9,
                report.resolve("report.html").toAbsolutePath());
        return 0;
    }

    /** Copies the bundled photos, masks and licences (listed in files.txt) to dir. */
    public static void extract(Path dir) throws IOException {
        String base = "/org/imagenete/demo/";
        List<String> files;
        try (InputStream in = DemoCommand.class.getResourceAsStream(base + "files.txt")) {
            files = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        }
        for (String f : files) {
            Path p = dir.resolve(f);
            if (Files.isRegularFile(p)) continue;
            Files.createDirectories(p.getParent());
            try (InputStream in = DemoCommand.class.getResourceAsStream(base + f)) {
                Files.copy(in, p);
            }
        }
    }

    private static void gallery(Path bench, Path report, boolean diffusion) throws IOException {
        List<ObjectNode> rows = Manifest.readAll(bench);
        List<Report.Picture> pics = new ArrayList<>();
        for (ObjectNode r : rows) {
            if (!r.hasNonNull("file")) continue;
            var img = Resize.resize(Images.read(bench.resolve(r.get("file").asText())), 160, 160, Filter.BILINEAR);
            StringBuilder cap = new StringBuilder();
            var v = r.path("values");
            if (v.has("ratio_achieved")) cap.append(String.format(Locale.ROOT, "area %.3f ", v.get("ratio_achieved").asDouble()));
            if (v.has("angle")) cap.append(String.format(Locale.ROOT, "angle %.1f ", v.get("angle").asDouble()));
            if (v.has("complexity_after")) cap.append(String.format(Locale.ROOT, "C %.1f->%.1f", v.get("complexity_before").asDouble(),
                    v.get("complexity_after").asDouble()));
            pics.add(new Report.Picture(r.get("image").asText(), r.get("variant").asText(), Images.encodePng(img), cap.toString().trim(), true));
        }
        pics.sort(java.util.Comparator.comparing(Report.Picture::image));
        Map<String, String> info = new LinkedHashMap<>();
        info.put("benchmark", bench.toAbsolutePath().toString());
        info.put("images", Long.toString(rows.stream().map(r -> r.get("image").asText()).distinct().count()));
        info.put("outputs", Long.toString(rows.stream().filter(r -> r.hasNonNull("file")).count()));
        info.put("classifier", "none (accuracies need --classifier)");
        info.put("diffusion model", diffusion ? "yes" : "none (geometric edits only, harmonising pass skipped)");
        Report.writeGallery(report, "imagenet-e demo: the edits", pics, info);
    }
}
