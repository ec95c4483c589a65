package org.imagenete.testutil;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The test data that lives in the repository's {@code testdata/} folder (see its README): golden tensors from the
 * original PyTorch code under {@code golden/}, the animal photos with masks and licences under {@code data/animals}.
 * Files the project can make itself (the adm-tiny formula weights as safetensors) are made on first use under
 * {@code target/generated-testdata}.
 */
public final class Golden {
    private static JsonNode tolerances;

    private Golden() {}

    /** The repository's {@code testdata/} folder: {@code -Dimagenete.testdata}, else found above the working folder. */
    public static Path testdata() {
        String prop = System.getProperty("imagenete.testdata");
        if (prop != null) return check(Path.of(prop));
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent())
            if (Files.isDirectory(d.resolve("testdata/golden"))) return d.resolve("testdata");
        throw new IllegalStateException("test data not found: no testdata/golden in " + Path.of("").toAbsolutePath()
                + " or above it (set -Dimagenete.testdata=DIR)");
    }

    private static Path check(Path p) {
        Path n = p.toAbsolutePath().normalize();
        if (!Files.isDirectory(n.resolve("golden"))) throw new IllegalStateException("test data not found: " + n + "/golden (-Dimagenete.testdata)");
        return n;
    }

    /** The animal photos ({@code <name>.jpg}), {@code masks/}, {@code masks-imagenet-s/}, {@code labels.csv}. */
    public static Path animals() { return testdata().resolve("data/animals"); }

    /** A golden file; {@code adm-tiny/weights.safetensors} is made from the weight formula and its manifest. */
    public static Path golden(String rel) {
        if (rel.equals("adm-tiny/weights.safetensors")) return formulaSafetensors("adm-tiny");
        return testdata().resolve("golden").resolve(rel);
    }

    /**
     * {@code <case>/weights.safetensors} as the golden generator wrote it: every tensor of {@code <case>/manifest.json}
     * by the weight formula, in manifest order, with the same metadata. Written once (atomically) per build.
     */
    private static synchronized Path formulaSafetensors(String name) {
        Path out = Path.of(System.getProperty("imagenete.generated", "target/generated-testdata"))
                .toAbsolutePath().resolve("golden").resolve(name).resolve("weights.safetensors");
        if (Files.isRegularFile(out)) return out;
        JsonNode m = json(testdata().resolve("golden").resolve(name).resolve("manifest.json"));
        long salt = m.get("salt").asLong();
        Map<String, Tensor> sd = new LinkedHashMap<>();
        try {
            for (JsonNode t : m.get("tensors")) {
                int[] dims = new int[t.get("shape").size()];
                for (int i = 0; i < dims.length; i++) dims[i] = t.get("shape").get(i).asInt();
                sd.put(t.get("name").asText(), t.get("init").asText().equals("formula")
                        ? FormulaWeights.tensor(t.get("k").asLong(), salt, t.get("offset").asDouble(), t.get("scale").asDouble(), dims)
                        : Tensor.zeros(DType.valueOf(t.get("dtype").asText()), dims));
            }
            Files.createDirectories(out.getParent());
            SafeTensors.write(out, sd, Map.of("case", name, "salt", Long.toString(salt), "formula", "see manifest.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            sd.values().forEach(Tensor::close);
        }
        return out;
    }

    /** Writes a torchvision ResNet-{depth} (1000 classes) with the golden files' formula weights to {@code file}. */
    public static Path formulaResNet(Path file, int depth) throws IOException {
        Map<String, Tensor> sd = FormulaWeights.stateDict(ResNet.Arch.of(depth, 1000).parameterShapes(), 0);
        try {
            SafeTensors.write(file, sd, Map.of());
        } finally {
            sd.values().forEach(Tensor::close);
        }
        return file;
    }

    public static JsonNode json(Path p) {
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The golden README's suggested absolute tolerance for a float32 implementation:
     * max(10 x measured fp32-vs-fp64 error of the reference code, 2e-6 x max(1, max|ref|), 1e-6).
     */
    public static double suggestedAtol(String file, String tensor) {
        if (tolerances == null) tolerances = json(golden("tolerances.json"));
        JsonNode t = tolerances.path("files").path(file).path(tensor);
        if (t.isMissingNode()) throw new IllegalArgumentException("no tolerance for " + file + " " + tensor);
        double measured = t.get("fp32_vs_fp64_maxabs").asDouble();
        double absmax = t.get("ref_absmax").asDouble();
        return Math.max(10 * measured, Math.max(2e-6 * Math.max(1, absmax), 1e-6));
    }
}
