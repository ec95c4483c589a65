package org.imagenete.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.imagenete.cli.Main;
import org.imagenete.io.Checksums;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The adapter in Spark's local mode: 3 shards as 3 tasks give the same files as one plain run. */
class SparkGenerateTest {
    @TempDir Path dir;

    @Test
    void shardsAsSparkTasksEqualOnePlainRun() throws IOException {
        Path shared = Path.of(System.getProperty("imagenete.testdata", "../testdata")).resolve("data/animals");
        Path images = dir.resolve("images"), masks = dir.resolve("masks");
        for (String[] a : new String[][]{{"tabby_1", "n02123045"}, {"hen_1", "n01514859"}, {"ox_1", "n02403003"}, {"macaw_1", "n01818515"}}) {
            Files.createDirectories(images.resolve(a[1]));
            Files.createDirectories(masks.resolve(a[1]));
            Files.copy(shared.resolve(a[0] + ".jpg"), images.resolve(a[1]).resolve(a[0] + ".jpg"));
            Files.copy(shared.resolve("masks/" + a[0] + ".png"), masks.resolve(a[1]).resolve(a[0] + ".png"));
        }
        List<String> args = List.of("--images", images.toString(), "--masks", masks.toString(), "--variants", "size-0.05,position");
        Path plain = dir.resolve("plain"), spark = dir.resolve("spark");
        assertEquals(0, Main.run(Stream.concat(Stream.of("generate", "--out", plain.toString(), "--quiet"), args.stream()).toArray(String[]::new)));
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("test").set("spark.ui.enabled", "false"))) {
            List<String> lines = SparkGenerate.run(sc, Stream.concat(Stream.of("--out", spark.toString()), args.stream()).toList(), 3);
            assertEquals(3, lines.size());
        }
        assertEquals(pngs(plain), pngs(spark));
    }

    static Map<String, String> pngs(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".png")).toList())
                m.put(root.relativize(p).toString(), Checksums.sha256(Files.readAllBytes(p)));
        }
        return m;
    }
}
