package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.eval.Stats;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.io.OnnxWriter;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code evaluate} with several models in one run: shared decoding must not change a number, the leaderboard's
 * intervals are Wilson's, bad model files and models files are refused before any work with the file and key or
 * field named, a model that fails mid-run is marked failed while the others finish.
 */
class EvaluateManyTest {
    @TempDir static Path dir;
    static Path a, b, bench;

    @BeforeAll
    static void setUp() throws IOException {
        a = Golden.formulaResNet(dir.resolve("a.safetensors"), 18);
        b = dir.resolve("b.safetensors");
        Map<String, Tensor> sd = FormulaWeights.stateDict(ResNet.Arch.of(18, 1000).parameterShapes(), 7);
        try {
            SafeTensors.write(b, sd, Map.of());
        } finally {
            sd.values().forEach(Tensor::close);
        }
        bench = benchmark();
    }

    /**
     * Every animal photo as an original and as a "size-0.05" variant (the photo blurred through 48 px, so predictions
     * change), with made-up complexities in the manifest (what generate records as complexity_before / _after).
     */
    static Path benchmark() throws IOException {
        Path root = dir.resolve("bench"), animals = Golden.animals();
        List<String> rows = Files.readAllLines(animals.resolve("labels.csv"));
        StringBuilder manifest = new StringBuilder();
        int i = 0;
        for (String row : rows.subList(1, rows.size())) {
            String[] f = row.split(",");
            String stem = f[0].replace(".jpg", "");
            int label = org.imagenete.io.ImageNetClasses.get().byWnid(f[1]).index();
            Path o = root.resolve("original").resolve(f[1]).resolve(stem + ".png"), v = root.resolve("size-0.05").resolve(f[1]).resolve(stem + ".png");
            Files.createDirectories(o.getParent());
            Files.createDirectories(v.getParent());
            RgbImage img = Images.read(animals.resolve(f[0]));
            Images.writePng(img, o);
            Images.writePng(Resize.resize(Resize.resize(img, 48, 48, Filter.BILINEAR), img.width(), img.height(), Filter.BILINEAR), v);
            manifest.append(String.format("{\"file\":\"original/%s/%s.png\",\"image\":\"%s\",\"label\":%d,\"variant\":\"original\",\"attribute\":null,"
                    + "\"value\":null,\"values\":{\"ratio\":0.2}}%n", f[1], stem, stem, label));
            manifest.append(String.format("{\"file\":\"size-0.05/%s/%s.png\",\"image\":\"%s\",\"label\":%d,\"variant\":\"size-0.05\",\"attribute\":\"size\","
                    + "\"value\":0.05,\"values\":{\"complexity_before\":%d,\"complexity_after\":%d}}%n", f[1], stem, stem, label, 10 + i, 40 - i));
            i++;
        }
        Files.writeString(root.resolve("manifest.jsonl"), manifest);
        return root;
    }

    @Test
    void twoModelsInOneRunEqualTwoSingleRuns() throws IOException {
        Path one = dir.resolve("one-a"), two = dir.resolve("one-b"), both = dir.resolve("both");
        for (Object[] r : new Object[][]{{a, one}, {b, two}}) {
            var res = run("evaluate", "--data", bench.toString(), "--model", r[0].toString(), "--out", r[1].toString(), "--batch", "5", "--quiet");
            assertEquals(0, res.code(), res.err());
        }
        var res = run("evaluate", "--data", bench.toString(), "--model", a.toString(), "--model", "bee=" + b, "--out", both.toString(),
                "--batch", "5", "--quiet");
        assertEquals(0, res.code(), res.err());
        assertTrue(res.err().contains("img/s inference"), "img/s per model in the summary: " + res.err());
        for (String f : List.of("results.csv", "predictions.csv")) {
            assertEquals(Files.readString(one.resolve(f)), Files.readString(both.resolve("a").resolve(f)), "model a, " + f);
            assertEquals(Files.readString(two.resolve(f)), Files.readString(both.resolve("bee").resolve(f)), "model bee, " + f);
        }
        // formula weights predict much the same class everywhere; the confidences (6 digits) tell the images apart
        assertTrue(Files.readString(one.resolve("predictions.csv")).lines().skip(1).map(l -> l.split(",")[6]).distinct().count() > 20,
                "the check needs outputs that differ between images");
        assertFalse(Files.readString(one.resolve("predictions.csv")).equals(Files.readString(two.resolve("predictions.csv"))), "two different models");
        // leaderboard: long format with the required columns, one row per model and variant, Wilson intervals
        List<String> lb = Files.readAllLines(both.resolve("leaderboard.csv"));
        assertTrue(lb.getFirst().startsWith("model,variant,n,top1,top1_low,top1_high,drop,drop_p"), lb.getFirst());
        assertEquals(1 + 2 * 2, lb.size(), "header + 2 models x 2 variants");
        for (String row : lb.subList(1, lb.size())) {
            String[] c = row.split(",", -1);
            int n = Integer.parseInt(c[2]);
            long k = Math.round(Double.parseDouble(c[3]) * n);
            Stats.Interval w = Stats.wilson95(k, n);
            assertEquals(w.low(), Double.parseDouble(c[4]), 1e-5, row);
            assertEquals(w.high(), Double.parseDouble(c[5]), 1e-5, row);
            if (c[1].equals("size-0.05")) assertFalse(c[7].isEmpty(), "a McNemar p for the drop: " + row);
        }
        String page = Files.readString(both.resolve("report.html"));
        assertTrue(page.contains("id=\"leaderboard\"") && page.contains("href=\"bee/report.html\"") && page.contains("Size"), "leaderboard page");
        assertTrue(page.contains("id=\"chart-complexity\""), "accuracy per complexity bin for every model");
        JsonNode bins = Golden.json(both.resolve("a").resolve("results.json")).get("complexity_bins");
        assertEquals(5, bins.size());
        int total = 0;
        for (JsonNode bin : bins) total += bin.get("n").asInt();
        assertEquals(28, total, "every image has a complexity: the originals take their edits' complexity_before");
    }

    @Test
    void unknownFieldInTheModelsFileIsNamed() throws IOException {
        Path yaml = dir.resolve("models.yaml");
        Files.writeString(yaml, "models:\n  - name: r18\n    file: a.safetensors\n    crop_pct: 0.875\n    interpolaton: bicubic\n");
        var r = run("evaluate", "--data", bench.toString(), "--models", yaml.toString(), "--out", dir.resolve("bad-yaml").toString(), "--quiet");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("unknown field 'interpolaton'") && r.err().contains("models.yaml"), r.err());
        assertFalse(Files.exists(dir.resolve("bad-yaml")), "nothing written");
    }

    /** A models file sets the preprocessing (timm's conventions); models with equal settings share their floats. */
    @Test
    void modelsFileSetsThePreprocessing() throws IOException {
        Path yaml = dir.resolve("models2.yaml");
        Files.writeString(yaml, "models:\n  - {name: r18-bicubic, file: a.safetensors, input_size: 160, crop_pct: 0.9, interpolation: bicubic}\n"
                + "  - {name: r18, file: a.safetensors}\n");
        Path out = dir.resolve("yaml-run");
        var r = run("evaluate", "--data", bench.toString(), "--models", yaml.toString(), "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        JsonNode info = Golden.json(out.resolve("r18-bicubic").resolve("results.json")).get("info");
        assertEquals("resize 177 bicubic, crop 160, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]", info.get("preprocessing").asText());
        assertEquals("resize 256 bilinear, crop 224, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]",
                Golden.json(out.resolve("r18").resolve("results.json")).get("info").get("preprocessing").asText());
        assertEquals(5, Files.readAllLines(out.resolve("leaderboard.csv")).size());
    }

    @Test
    void aFileOfNoKnownLayoutNamesTheFileAndKeys() throws IOException {
        Path f = dir.resolve("densenet.safetensors");
        try (Tensor t = Tensor.zeros(org.imagenete.tensor.DType.F32, 4, 3, 3, 3); Tensor u = Tensor.zeros(org.imagenete.tensor.DType.F32, 4)) {
            SafeTensors.write(f, Map.of("features.conv0.weight", t, "features.norm0.weight", u), Map.of());
        }
        var r = run("evaluate", "--data", bench.toString(), "--model", a.toString(), "--model", f.toString(), "--out", dir.resolve("bad").toString(), "--quiet");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("densenet.safetensors") && r.err().contains("nor ONNX") && r.err().contains("features.conv0.weight")
                && r.err().contains("features.norm0.weight"), r.err());
        assertFalse(Files.exists(dir.resolve("bad")), "nothing written");
    }

    /**
     * An ONNX model exported with a fixed batch of 5 runs the first batches and fails on the last (4 images): its
     * row is marked failed with ONNX Runtime's reason, the native model's results are complete, the exit code is 1.
     */
    @Test
    void aModelThatFailsMidRunIsMarkedAndTheOthersFinish() throws IOException {
        Path onnx = dir.resolve("fixed-batch.onnx");
        try (Tensor w = org.imagenete.tensor.SeededRandom.uniform(3, 0.5f, 1000, 3); Tensor bias = Tensor.zeros(org.imagenete.tensor.DType.F32, 1000)) {
            OnnxWriter g = new OnnxWriter("fixed");
            String h = g.node("GlobalAveragePool", "gap", new String[]{"x"});
            h = g.node("Flatten", "flat", new String[]{h}, OnnxWriter.integer("axis", 1));
            g.node("Gemm", "logits", new String[]{h, g.initializer("w", w), g.initializer("b", bias)}, OnnxWriter.integer("transB", 1));
            Files.write(onnx, g.input("x", 5L, 3L, 224L, 224L).output("logits", 5L, 1000L).toByteArray());
        }
        Path out = dir.resolve("partial");
        var r = run("evaluate", "--data", bench.toString(), "--model", onnx.toString(), "--model", a.toString(), "--out", out.toString(),
                "--batch", "5", "--quiet");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("fixed-batch: FAILED") && r.err().contains("1 of 2 models failed"), r.err());
        List<String> lb = Files.readAllLines(out.resolve("leaderboard.csv"));
        String failed = lb.stream().filter(l -> l.startsWith("fixed-batch,")).findFirst().orElseThrow();
        assertTrue(failed.contains(",failed,") && failed.contains("images 25-27"), failed);
        assertEquals(4, lb.size(), "header, the failed row, and a's two variants: " + lb);
        assertEquals(29, Files.readAllLines(out.resolve("a").resolve("predictions.csv")).size(), "a finished every image");
        assertTrue(Files.readString(out.resolve("report.html")).contains("failed: "), "the failure is on the leaderboard page");
    }

    /** A 10-class model runs on labels that fit it, and says that labels are checked against its class count. */
    @Test
    void aModelOfAnotherClassCountRunsWithANote() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        Path csv = dir.resolve("ten.csv");
        List<String> lines = new ArrayList<>(List.of("path,label"));
        int i = 0;
        for (String f : List.of("hen_1.jpg", "ox_1.jpg", "tabby_1.jpg")) lines.add(Golden.animals().resolve(f) + "," + i++);
        Files.write(csv, lines);
        var r = run("evaluate", "--labels", csv.toString(), "--model", onnx.toString(), "--out", dir.resolve("ten").toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("has 10 classes") && r.err().contains("labels are checked against that count"), r.err());
        assertTrue(r.err().contains("onnxruntime cpu"), "the run says which provider ran: " + r.err());
    }
}
