package org.imagenete.testutil;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Paths into {@code ../shared} (golden tensors from the original PyTorch code, sample data). */
public final class Golden {
    private static JsonNode tolerances;

    private Golden() {}

    public static Path shared() {
        Path p = Path.of(System.getProperty("imagenete.shared", "../shared")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve("golden")))
            throw new IllegalStateException("golden data not found under " + p + " (set -Dimagenete.shared)");
        return p;
    }

    public static Path golden(String rel) { return shared().resolve("golden").resolve(rel); }

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
