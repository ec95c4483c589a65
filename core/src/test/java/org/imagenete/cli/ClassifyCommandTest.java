package org.imagenete.cli;

import org.imagenete.io.SafeTensors;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ClassifyCommandTest {
    @TempDir Path dir;

    @Test
    void nativeResNet50MatchesGoldenLogits() throws Exception {
        Path w = Golden.formulaResNet(dir.resolve("resnet50.safetensors"), 50);
        Path out = dir.resolve("logits.safetensors");
        var r = run("classify", "--weights", w.toString(), "--input", Golden.golden("resnet50/io.safetensors").toString(),
                "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("resnet50/io.safetensors"))) {
            Compare.assertClose("classify resnet50 logits", got.get("logits"), ref.get("logits"),
                    Golden.suggestedAtol("resnet50/io.safetensors", "logits"), 0);
        }
    }

    /** An ONNX model exported by PyTorch (src/test/resources/onnx/make_tiny.py) against the same net in our ops. */
    @Test
    void onnxModelMatchesTheSameNetworkInOurOps() throws Exception {
        Path onnx = Path.of(getClass().getResource("/onnx/tiny.onnx").toURI());
        Path in = dir.resolve("x.safetensors");
        try (Tensor x = Rand.uniform(9, 3, 3, 32, 32)) {
            SafeTensors.write(in, Map.of("x", x), Map.of());
        }
        Path out = dir.resolve("o.safetensors");
        var r = run("classify", "--onnx", onnx.toString(), "--input", in.toString(), "--output", out.toString());
        assertEquals(0, r.code(), r.err());
        ReferenceOps ops = new ReferenceOps();
        try (SafeTensors w = SafeTensors.open(Path.of(getClass().getResource("/onnx/tiny.safetensors").toURI()));
             SafeTensors x = SafeTensors.open(in); SafeTensors got = SafeTensors.open(out);
             Tensor c = ops.conv2d(x.get("x"), w.get("conv.weight"), w.get("conv.bias"), 1, 1);
             Tensor a = ops.relu(c); Tensor p = ops.globalAvgPool(a);
             Tensor logits = ops.linear(p, w.get("fc.weight"), w.get("fc.bias"))) {
            assertEquals(3, got.get("logits").dim(0), "dynamic batch");
            Compare.assertClose("onnx tiny logits", got.get("logits"), logits, 1e-5, 1e-5);
        }
    }

    @Test
    void badInputsAreOneLine() {
        var r = run("classify", "--onnx", dir.resolve("nope.onnx").toString(), "--input", "x", "--output", "y");
        assertEquals(1, r.code());
        var both = run("classify", "--onnx", "a", "--weights", "b", "--input", "x", "--output", "y");
        assertEquals(2, both.code(), "mutually exclusive");
    }
}
