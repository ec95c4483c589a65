package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Tar;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code evaluate --data} on ImageNet-E as others publish it: a folder of variant folders, and WebDataset tar shards
 * (a variant per shard set, per folder of shards, or per key prefix renamed by {@code --variant-map}). A small
 * synthetic set (4 animal photos; each variant shows each image's own photo or another animal's) is written in every
 * layout; each must give the figures that the same images give through a benchmark manifest: accuracy, drop and flip
 * rate against the originals of the same images. The class of each photo is the formula-weight model's own
 * prediction on it, so that the originals score 100% and the drops are not all zero.
 */
class EvaluatePublishedLayoutsTest {
    @TempDir static Path dir;
    static Path weights;
    /** stem, then (set in {@link #setUp}) the wnid and index of the class the model predicts for the photo. */
    static final String[][] PHOTOS = {{"tabby_1", null, null}, {"hen_1", null, null}, {"ox_1", null, null}, {"koala_1", null, null}};
    /** variant -> offset of the photo shown for image i (i + offset mod 4): 0 = its own. */
    static final Map<String, Integer> VARIANTS = Map.of("original", 0, "background+20", 1, "background-20", 0, "size-0.05", 2);
    static Map<String, String> reference;

    @BeforeAll
    static void setUp() throws IOException {
        weights = Golden.formulaResNet(dir.resolve("resnet18.safetensors"), 18);
        Path csv = dir.resolve("labels.csv");
        StringBuilder b = new StringBuilder("path,label\n");
        for (String[] p : PHOTOS) b.append(Golden.animals().resolve(p[0] + ".jpg")).append(",0\n");
        Files.writeString(csv, b);
        Path out = dir.resolve("out-labels");
        var r = run("evaluate", "--labels", csv.toString(), "--model", weights.toString(), "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        for (String line : Files.readAllLines(out.resolve("predictions.csv")).subList(1, 5)) {
            String[] f = line.split(",");
            for (String[] p : PHOTOS)
                if (p[0].equals(f[0])) {
                    p[2] = f[5];
                    p[1] = org.imagenete.io.ImageNetClasses.get().get(Integer.parseInt(f[5])).wnid();
                }
        }
        reference = manifestFigures();
        assertTrue(reference.get("original").contains("top1=1.0"), "the originals are right by construction: " + reference);
        assertTrue(!reference.get("background+20").contains("drop=0.0"), "another animal's photo costs accuracy: " + reference);
        assertTrue(reference.get("background-20").contains("drop=0.0 flip=0.0"), "the same pixels as the originals: " + reference);
    }

    static Path photo(int i, String variant) { return Golden.animals().resolve(PHOTOS[(i + VARIANTS.get(variant)) % 4][0] + ".jpg"); }

    static Map<String, String> figures(Path data, String... extra) {
        Path out = dir.resolve("out-" + data.getFileName());
        List<String> a = new ArrayList<>(List.of("evaluate", "--data", data.toString(), "--model", weights.toString(), "--out", out.toString(), "--quiet"));
        a.addAll(List.of(extra));
        var r = run(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        Map<String, String> m = new TreeMap<>();
        for (JsonNode v : Golden.json(out.resolve("results.json")).get("variants"))
            m.put(v.get("variant").asText(), String.format(java.util.Locale.ROOT, "n=%d top1=%s drop=%s flip=%s", v.get("n").asInt(),
                    v.get("top1").asText(), v.get("drop").asText(), v.get("flip_rate").asText()));
        return m;
    }

    /** The reference: the same images through a benchmark manifest. */
    private static Map<String, String> manifestFigures() throws IOException {
        Path bench = dir.resolve("manifest");
        StringBuilder manifest = new StringBuilder();
        for (String variant : VARIANTS.keySet())
            for (int i = 0; i < 4; i++) {
                Path f = bench.resolve(variant).resolve(PHOTOS[i][1]).resolve(PHOTOS[i][0] + ".jpg");
                Files.createDirectories(f.getParent());
                Files.copy(photo(i, variant), f);
                manifest.append(String.format("{\"file\":\"%s/%s/%s.jpg\",\"image\":\"%s/%s\",\"label\":%s,\"variant\":\"%s\"}%n",
                        variant, PHOTOS[i][1], PHOTOS[i][0], PHOTOS[i][1], PHOTOS[i][0], PHOTOS[i][2], variant));
            }
        Files.writeString(bench.resolve("manifest.jsonl"), manifest);
        return figures(bench);
    }

    @Test
    void variantFoldersGiveTheManifestsFigures() throws IOException {
        Map<String, String> ref = reference;
        Path root = dir.resolve("variant-folders");
        for (String variant : VARIANTS.keySet())
            for (int i = 0; i < 4; i++) {
                Path f = root.resolve(variant).resolve(PHOTOS[i][1]).resolve(PHOTOS[i][0] + ".JPEG");
                Files.createDirectories(f.getParent());
                Files.copy(photo(i, variant), f);
            }
        Map<String, String> got = figures(root);
        System.out.println("manifest:        " + ref + "\nvariant folders: " + got);
        assertEquals(ref, got);
    }

    /** Staging folder of WebDataset samples: {@code <prefix><stem>.jpg} and {@code .cls} (the class index as text). */
    static List<String> samples(Path staging, String variant, String prefix) throws IOException {
        List<String> files = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String key = prefix + PHOTOS[i][0];
            Files.createDirectories(staging.resolve(key).getParent());
            Files.copy(photo(i, variant), staging.resolve(key + ".jpg"));
            Files.writeString(staging.resolve(key + ".cls"), PHOTOS[i][2] + "\n");
            files.add(key + ".jpg");
            files.add(key + ".cls");
        }
        return files;
    }

    @Test
    void webDatasetShardsGiveTheManifestsFigures() throws Exception {
        Map<String, String> ref = reference;
        // a shard set per variant, side by side: <variant>-000000.tar
        Path sets = dir.resolve("wds-sets");
        Files.createDirectories(sets);
        for (String variant : VARIANTS.keySet()) {
            Path staging = dir.resolve("staging-" + variant);
            Tar.create(sets.resolve(variant + "-000000.tar"), staging, "pax", samples(staging, variant, ""));
        }
        assertEquals(ref, figures(sets));
        // a folder of shards per variant: <variant>/0.tar
        Path folders = dir.resolve("wds-folders");
        for (String variant : VARIANTS.keySet()) {
            Files.createDirectories(folders.resolve(variant));
            Files.copy(sets.resolve(variant + "-000000.tar"), folders.resolve(variant).resolve("0.tar"));
        }
        assertEquals(ref, figures(folders));
        // every variant in two shards, the variant as the key's first segment under other names, renamed by --variant-map
        Path keys = dir.resolve("wds-keys"), staging = dir.resolve("staging-keys");
        Files.createDirectories(keys);
        Map<String, String> published = Map.of("original", "ori", "background+20", "bg_20", "background-20", "bg_-20", "size-0.05", "size_0.05");
        List<String> all = new ArrayList<>();
        for (String variant : VARIANTS.keySet()) all.addAll(samples(staging, variant, published.get(variant) + "/"));
        Tar.create(keys.resolve("imagenet-e-000000.tar"), staging, "gnu", all.subList(0, all.size() / 2));
        Tar.create(keys.resolve("imagenet-e-000001.tar"), staging, "gnu", all.subList(all.size() / 2, all.size()));
        StringBuilder map = new StringBuilder("name,variant\n");
        published.forEach((ours, theirs) -> map.append(theirs).append(',').append(ours).append('\n'));
        Path mapFile = dir.resolve("variant-map.csv");
        Files.writeString(mapFile, map);
        assertEquals(ref, figures(keys, "--variant-map", mapFile.toString()));
    }

    /**
     * Bad entries in a WebDataset: a sample without .cls, an image that does not decode and a shard that is not a tar
     * each give one line naming the shard and the key; everything else is evaluated.
     */
    @Test
    void brokenSamplesAndShardsAreNamedAndTheRestIsEvaluated() throws Exception {
        Path root = dir.resolve("wds-broken"), staging = dir.resolve("staging-broken");
        Files.createDirectories(root);
        List<String> files = samples(staging, "original", "");
        Files.writeString(staging.resolve("nolabel_1.jpg"), "x");
        Files.write(staging.resolve("garbage_1.jpg"), new byte[]{(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, 0x00, 1, 2, 3});
        Files.writeString(staging.resolve("garbage_1.cls"), "8");
        files.addAll(List.of("nolabel_1.jpg", "garbage_1.jpg", "garbage_1.cls"));
        Tar.create(root.resolve("original-000000.tar"), staging, "pax", files);
        Files.writeString(root.resolve("original-000001.tar"), "not a tar archive\n".repeat(40));
        Path out = dir.resolve("out-broken");
        var r = run("evaluate", "--data", root.toString(), "--model", weights.toString(), "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        String err = r.err();
        assertTrue(err.contains("original-000000.tar: sample 'nolabel_1' has no .cls label"), err);
        assertTrue(err.contains("original-000001.tar") && err.contains("not a tar file"), err);
        assertTrue(err.contains("original-000000.tar:garbage_1.jpg"), err);
        JsonNode info = Golden.json(out.resolve("results.json")).get("info");
        assertEquals("4", info.get("images classified").asText());
        assertEquals("1", info.get("unreadable images skipped").asText());
        assertEquals("2", info.get("dataset entries skipped").asText());
    }
}
