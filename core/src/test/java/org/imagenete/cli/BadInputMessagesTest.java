package org.imagenete.cli;

import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The messages that used to be a Java exception's words ("For input string", "/ by zero", a bare path, a negative
 * array size): each is now one line naming the input and what is wrong, with exit 2 for usage and 1 for bad input.
 */
class BadInputMessagesTest {
    @TempDir Path dir;

    private static Path animal(String f) { return Golden.animals().resolve(f); }

    /** The last line of what the command printed: the reason (log lines of the backend may come before it). */
    private static String reason(Cli.Run r) {
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        List<String> lines = r.err().strip().lines().filter(l -> !l.startsWith("(try:")).toList();
        return lines.getLast();
    }

    private static void expect(Cli.Run r, int code, String reason) {
        assertEquals(code, r.code(), r.err());
        assertTrue(reason(r).contains(reason), "'" + reason + "' not in: " + r.err());
    }

    private Cli.Run edit(String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("edit", animal("koala_1.jpg").toString(), "--mask",
                animal("masks/koala_1.png").toString(), "--out", dir.resolve("out").toString()));
        a.addAll(List.of(more));
        return run(a.toArray(String[]::new));
    }

    @Test
    void editValuesThatAreNotNumbers() {
        expect(edit("--set", "background=abc"), 2, "edit: --set background=abc: background=abc: 'abc' is not a number");
        expect(edit("--set", "size=abc"), 2, "edit: --set size=abc: size=abc: 'abc' is not a number");
        expect(edit("--set", "size=NaN"), 2, "size=NaN: the value must be a finite number");
        expect(edit("--set", "direction=1e308"), 2, "direction=1e308: the angle must be within [-360, 360] degrees");
        expect(edit("--set", "size=0.05", "--mask-format", "soft:abc"), 2, "--mask-format soft:abc: 'abc' is not a number");
        expect(edit("--set", "size=0.05", "--mask-format", "imagenet-s:x"), 2, "--mask-format imagenet-s:x: 'x' is not a number");
        expect(edit("--set", "size=0.05", "--mask-format", "soft:7"), 2, "soft mask threshold must be in (0, 1], not 7.0");
        expect(edit("--set", "size=0.05", "--size", "100000"), 2, "--size 100000: the working resolution must be between 16 and 4096");
        expect(edit("--set", "size=0.05", "--threads", "20000"), 2, "--threads 20000: at most ");
        expect(edit("--set", "size=0.05", "--label", "5000"), 2, "--label 5000: ImageNet class indices are 0..999");
        assertFalse(Files.exists(dir.resolve("out")), "nothing written");
    }

    @Test
    void aSizeBelowOnePixelIsUnreachableNotASingularMap() {
        Cli.Run r = edit("--set", "size=1e-300");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("edit: koala_1.size-1.0E-300: size ratio 1.0E-300 is less than one pixel of the 256x256 image"), r.err());
        assertTrue(reason(r).startsWith("edit: 0 of 1 edits"), r.err());
    }

    @Test
    void namesAreUniquePerDistinctEdit() throws IOException {
        Cli.Run r = edit("--set", "size=0.06", "--set", "size=0.0625", "--set", "size=0.0649", "--set", "direction=2.5");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("4 of 4 edits"), r.err());
        for (String n : List.of("size-0.06", "size-0.0625", "size-0.0649", "direction+2.5"))
            assertTrue(Files.isRegularFile(dir.resolve("out/koala_1." + n + ".png")), n);
        try (var s = Files.list(dir.resolve("out"))) {
            assertEquals(12, s.count(), "an image, a mask and a sidecar per edit");
        }
        expect(edit("--set", "size=0.06", "--set", "size=0.060"), 2,
                "--set size=0.06 and --set size=0.060 are the same edit (size-0.06): each --set must differ");
    }

    @Test
    void maskOfAnotherSizeNamesTheFlag() {
        expect(run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/tabby_1.png").toString(), "--set", "size=0.05",
                "--out", dir.resolve("out").toString()), 1, "edit --resize-mask");
    }

    private Path unetInput(Map<String, Tensor> tensors) throws IOException {
        Path p = dir.resolve("in" + tensors.keySet().hashCode() + ".safetensors");
        SafeTensors.write(p, tensors, Map.of());
        tensors.values().forEach(Tensor::close);
        return p;
    }

    private Cli.Run unet(Path in, Path out) {
        return run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(), "--input", in.toString(),
                "--output", out.toString(), "--num-head-channels", "8");
    }

    @Test
    void unetRefusesToOverwriteItsInputAndSaysWhatIsWrongWithIt() throws IOException {
        Path in = unetInput(Map.of("x", Rand.uniform(1, 1, 3, 32, 32), "t", Rand.uniform(2, 1)));
        byte[] before = Files.readAllBytes(in);
        expect(unet(in, in), 2, "--output " + in + " is also an input (" + in + "): choose another file");
        expect(unet(in, dir.resolve(".").resolve(in.getFileName())), 2, "is also an input");
        assertEquals(-1, java.util.Arrays.mismatch(before, Files.readAllBytes(in)), "the input is untouched");
        expect(unet(in, Golden.golden("adm-tiny/weights.safetensors")), 2, "is also an input");

        Tensor t = Tensor.of(new float[]{Float.NaN}, 1);
        Path nan = unetInput(Map.of("x", Rand.uniform(1, 1, 3, 32, 32), "t", t));
        expect(unet(nan, dir.resolve("o.safetensors")), 1, "tensor 't' holds NaN at index 0: timesteps must be finite (0..999)");
        Path empty = unetInput(Map.of("x", Tensor.zeros(org.imagenete.tensor.DType.F32, 0, 3, 32, 32), "t", Tensor.zeros(org.imagenete.tensor.DType.F32, 0)));
        expect(unet(empty, dir.resolve("o.safetensors")), 1, "tensor 'x' has shape [0, 3, 32, 32]: nothing to run");
        assertFalse(Files.exists(dir.resolve("o.safetensors")));
    }

    @Test
    void aFolderWhereAFileIsExpectedIsNamed() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("weights.pt"));
        Path in = unetInput(Map.of("x", Rand.uniform(1, 1, 3, 32, 32), "t", Rand.uniform(2, 1)));
        expect(run("unet", "--weights", folder.toString(), "--input", in.toString(), "--output", dir.resolve("o.safetensors").toString()),
                1, "unet: " + folder + ": a folder, not a file");
    }

    @Test
    void aManifestLabelThatIsNotANumberIsRefused() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        Path bench = Files.createDirectories(dir.resolve("bench"));
        Files.writeString(bench.resolve("manifest.jsonl"), "{\"image\":\"a\",\"variant\":\"original\",\"label\":\"abc\",\"file\":\"a.png\"}\n");
        expect(run("evaluate", "--data", bench.toString(), "--model", onnx.toString(), "--out", dir.resolve("r").toString(), "--quiet"),
                1, "a manifest row's label is \"abc\", not a class index");
    }

    @Test
    void evaluateWithEveryImageMissingWritesNothing() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        Path csv = Files.writeString(dir.resolve("labels.csv"), "path,label\nnope1.jpg,1\nnope2.jpg,2\n");
        Path out = dir.resolve("report");
        Cli.Run r = run("evaluate", "--labels", csv.toString(), "--model", onnx.toString(), "--out", out.toString(), "--quiet");
        expect(r, 1, "evaluate: none of the 2 images could be read (the first: " + dir.resolve("nope1.jpg") + ": ");
        assertTrue(reason(r).endsWith("; nothing written"), r.err());
        assertFalse(Files.exists(out), "no result files left behind");
    }

    @Test
    void evaluateOnAnImageFolderNeverRelabelsSilently() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        Path data = dir.resolve("folder");
        for (String c : List.of("cats", "dogs")) {
            Files.createDirectories(data.resolve(c));
            Files.copy(animal(c.equals("cats") ? "tabby_1.jpg" : "german_shepherd_1.jpg"), data.resolve(c).resolve("a.jpg"));
        }
        Files.createDirectories(data.resolve(".ipynb_checkpoints"));
        Cli.Run r = run("evaluate", "--data", data.toString(), "--model", onnx.toString(), "--out", dir.resolve("r").toString(), "--quiet");
        expect(r, 1, data.resolve("cats") + ": folder name is not an ImageNet-1k wnid; every class folder of " + data
                + " needs a label (give a class map for other names)");
        Cli.Run sorted = run("evaluate", "--data", data.toString(), "--model", onnx.toString(), "--out", dir.resolve("r").toString(),
                "--quiet", "--class-map", "sorted");
        assertEquals(0, sorted.code(), sorted.err());
        Path map = Files.writeString(dir.resolve("map.csv"), "folder,label\ncats,3\n");
        expect(run("evaluate", "--data", data.toString(), "--model", onnx.toString(), "--out", dir.resolve("r2").toString(),
                "--quiet", "--class-map", map.toString()), 1, data.resolve("dogs") + ": folder name is not in the class map");
    }

    @Test
    void generateVariantsAndOutAreChecked() throws IOException {
        Path out = Files.writeString(dir.resolve("file"), "");
        expect(run("generate", "--images", dir.toString(), "--masks", dir.toString(), "--out", out.toString(), "--variants", "size-0.05"),
                1, "generate: --out " + out + ": exists and is not a folder");
        expect(run("generate", "--images", dir.toString(), "--masks", dir.toString(), "--out", dir.resolve("o").toString(),
                "--variants", "size-abc"), 2, "--variants size-abc: size=abc: 'abc' is not a number");
        expect(run("generate", "--images", dir.toString(), "--out", dir.resolve("o").toString()), 2, "give --masks DIR or --auto-masks");
        Path spec = Files.writeString(dir.resolve("sweep.yaml"), "variants:\n  - sweep: {attribute: size, values: [0.005, 0.01, abc]}\n");
        expect(run("generate", "--images", dir.toString(), "--masks", dir.toString(), "--out", dir.resolve("o").toString(),
                "--variants", spec.toString()), 1, "variant 1: sweep value \"abc\" is not a number");
    }
}
