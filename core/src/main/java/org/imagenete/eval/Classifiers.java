package org.imagenete.eval;

import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.Locale;

/** Opens the classifier a {@link ModelSpec} names: an ONNX model, or a native one from a checkpoint ({@link ModelZoo}). */
public final class Classifiers {
    private Classifiers() {}

    /** Whether the file is taken as ONNX (by its name: {@code .onnx}). */
    public static boolean isOnnx(Path file) { return file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx"); }

    /**
     * The model of {@code spec} with its preprocessing: the file's (ImageNet's; an ONNX input size; the robustness
     * library's normaliser) changed by what the spec gives.
     *
     * @param threads ONNX Runtime's intra-op threads (0: its default); @param provider its execution provider
     */
    public static Classifier open(ModelSpec spec, Ops ops, int threads, OnnxClassifier.Provider provider) {
        Classifier c = isOnnx(spec.file()) ? new OnnxClassifier(spec.file(), threads, provider) : ModelZoo.open(spec.file(), ops, null);
        PreprocessSettings pre;
        try {
            pre = spec.apply(c.preprocessing());
            if (c.inputSize() > 0 && pre.crop() != c.inputSize())
                throw new IllegalArgumentException("model '" + spec.name() + "' (" + spec.file() + ") takes " + c.inputSize() + " px images, the"
                        + " preprocessing crops " + pre.crop() + " (input_size)");
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return pre.equals(c.preprocessing()) ? c : new WithPreprocessing(c, pre);
    }

    /** A line when the class count is not ImageNet-1k's, null otherwise. */
    public static String classCountNote(String name, Classifier c) {
        return c.numClasses() == 1000 ? null
                : name + " has " + c.numClasses() + " classes, not ImageNet-1k's 1000: labels are checked against that count";
    }

    /** A classifier with another preprocessing than its file implies (a models file's settings). */
    private record WithPreprocessing(Classifier inner, PreprocessSettings preprocessing) implements Classifier {
        @Override public String name() { return inner.name(); }

        @Override public int numClasses() { return inner.numClasses(); }

        @Override public Tensor logits(Tensor x) { return inner.logits(x); }

        @Override public CamSource cams() { return inner.cams(); }

        @Override public String provider() { return inner.provider(); }

        @Override public int inputSize() { return inner.inputSize(); }

        @Override public void close() { inner.close(); }
    }
}
