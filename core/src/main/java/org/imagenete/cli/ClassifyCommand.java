package org.imagenete.cli;

import org.imagenete.eval.Classifier;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.eval.ModelZoo;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Runs a classifier on preprocessed images from a safetensors file: a checking tool like {@code unet}. */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = {"Classify x [B,3,H,W] (already normalised) from a safetensors file; writes logits [B,classes].",
                "--weights: a torchvision ResNet / ResNeXt / Wide ResNet or torchvision / timm ViT / DeiT state dict (.pth or",
                ".safetensors, as model zoos publish them), run natively; --onnx: any ONNX model."})
public final class ClassifyCommand implements Callable<Integer> {
    static final class Model {
        @Option(names = "--weights", paramLabel = "FILE", description = "a native classifier's weights (.pth, .safetensors)")
        Path weights;

        @Option(names = "--onnx", paramLabel = "MODEL", description = "an ONNX classifier (ONNX Runtime)")
        Path onnx;
    }

    @ArgGroup(exclusive = true, multiplicity = "1") Model model;

    @Option(names = "--input", required = true, paramLabel = "IN") Path input;

    @Option(names = "--output", required = true, paramLabel = "OUT") Path output;

    @Option(names = "--onnx-cuda", description = "use ONNX Runtime's CUDA provider") boolean onnxCuda;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        Path m = model.weights != null ? model.weights : model.onnx;
        UnetCommand.checkOutput(output, input, m);
        Main.requireFile(input);
        Main.requireFile(m);
        List<Tensor> owned = new ArrayList<>();
        Ops ops = model.weights != null ? backend.ops() : null;
        try (Classifier c = model.weights != null ? ModelZoo.open(model.weights, ops, null)
                : new OnnxClassifier(model.onnx, backend.threadCount(), onnxCuda);
             SafeTensors in = SafeTensors.open(input)) {
            Tensor x = UnetCommand.f32(in, "x", owned);
            if (x.rank() != 4 || x.dim(1) != 3)
                throw new IllegalArgumentException(input + ": tensor 'x' has shape " + x.shape() + ", expected [B,3,H,W]");
            long t0 = System.nanoTime();
            try (Tensor logits = c.logits(x)) {
                double s = (System.nanoTime() - t0) / 1e9;
                SafeTensors.write(output, Map.of("logits", logits), Map.of("model", c.name()));
                System.err.printf(Locale.ROOT, "classify: %s -> %s logits%s in %.2f s (%s)%n", input, output, logits.shape(), s, c.name());
            }
        } finally {
            owned.forEach(Tensor::close);
        }
        return 0;
    }
}
