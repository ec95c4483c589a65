package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code imagenet-e evaluate} on the real animal photos (ImageFolder and benchmark layouts). */
class EvaluateCommandTest {
    @TempDir static Path dir;
    static Path weights;

    @BeforeAll
    static void weights() throws IOException {
        weights = Golden.formulaResNet(dir.resolve("resnet18.safetensors"), 18);
    }

    /** <wnid>/<photo>.jpg for every animal photo (labels.csv), plus one truncated JPEG. */
    static Path imageFolder() throws IOException {
        Path root = dir.resolve("folder");
        Path animals = Golden.animals();
        List<String> rows = Files.readAllLines(animals.resolve("labels.csv"));
        for (String row : rows.subList(1, rows.size())) {
            String[] f = row.split(",");
            Files.createDirectories(root.resolve(f[1]));
            Files.copy(animals.resolve(f[0]), root.resolve(f[1]).resolve(f[0]));
        }
        byte[] jpg = Files.readAllBytes(animals.resolve("hen_1.jpg"));
        Files.write(root.resolve("n01514859").resolve("truncated.jpg"), java.util.Arrays.copyOf(jpg, 700));
        return root;
    }

    @Test
    void imageFolderWithACorruptFile() throws IOException {
        Path data = imageFolderOnce(), out = dir.resolve("report1");
        var r = run("evaluate", "--data", data.toString(), "--model", weights.toString(), "--out", out.toString(), "--batch", "4", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("skipped") && r.err().contains("truncated.jpg"), r.err());
        JsonNode res = Golden.json(out.resolve("results.json"));
        assertEquals("14", res.get("info").get("images classified").asText());
        assertEquals("1", res.get("info").get("unreadable images skipped").asText());
        assertEquals(15, Files.readAllLines(out.resolve("predictions.csv")).size());
        String html = Files.readString(out.resolve("report.html"));
        assertTrue(html.contains("id=\"grid\"") && html.contains("id=\"cams\""), "sample grid and CAM overlays");
    }

    @Test
    void benchmarkLayoutGivesPerVariantFigures() throws IOException {
        Path bench = dir.resolve("bench");
        Path animals = Golden.animals();
        StringBuilder manifest = new StringBuilder();
        for (String[] a : new String[][]{{"tabby_1", "n02123045", "281"}, {"ox_1", "n02403003", "345"}}) {
            for (String variant : List.of("original", "size-0.05")) {
                Path f = bench.resolve(variant).resolve(a[1]).resolve(a[0] + ".jpg");
                Files.createDirectories(f.getParent());
                Files.copy(animals.resolve(a[0] + ".jpg"), f);
                manifest.append(String.format("{\"file\":\"%s/%s/%s.jpg\",\"image\":\"%s\",\"label\":%s,\"variant\":\"%s\",\"attribute\":%s,\"value\":%s}%n",
                        variant, a[1], a[0], a[0], a[2], variant, variant.equals("original") ? "null" : "\"size\"", variant.equals("original") ? "null" : "0.05"));
            }
        }
        Files.writeString(bench.resolve("manifest.jsonl"), manifest);
        Path out = dir.resolve("report2");
        var r = run("evaluate", "--data", bench.toString(), "--model", weights.toString(), "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        JsonNode vs = Golden.json(out.resolve("results.json")).get("variants");
        assertEquals(2, vs.size());
        assertEquals("original", vs.get(0).get("variant").asText());
        assertEquals("size-0.05", vs.get(1).get("variant").asText());
        assertEquals(0.0, vs.get(1).get("flip_rate").asDouble(), "identical pixels give identical predictions");
    }

    @Test
    void labelsThatDoNotFitTheModelFailBeforeAnyWork() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        var r = run("evaluate", "--data", imageFolderOnce().toString(), "--model", onnx.toString(), "--out", dir.resolve("r3").toString(), "--quiet");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("does not fit") && r.err().contains("10 classes"), r.err());
        assertTrue(!Files.exists(dir.resolve("r3")), "nothing written");
    }

    private static Path folder;

    private static synchronized Path imageFolderOnce() throws IOException {
        if (folder == null) folder = Files.isDirectory(dir.resolve("folder")) ? dir.resolve("folder") : imageFolder();
        return folder;
    }
}
