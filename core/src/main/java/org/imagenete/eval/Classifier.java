package org.imagenete.eval;

import org.imagenete.tensor.Tensor;

/**
 * An image classifier: logits for a batch of preprocessed images. Implementations: the native ResNet family
 * ({@link ResNetClassifier}), the native ViT / DeiT ({@link VitClassifier}) and any ONNX model ({@link OnnxClassifier}).
 */
public interface Classifier extends AutoCloseable {
    String name();

    int numClasses();

    /** How images must be prepared for this model (resize, crop, normalisation). */
    PreprocessSettings preprocessing();

    /** x [B,3,H,W] preprocessed -> logits [B, classes] (owned by the caller). */
    Tensor logits(Tensor x);

    /** The only image size the model takes (a ViT's, an ONNX model's fixed input), or 0 when any size runs. */
    default int inputSize() { return 0; }

    /** Where the model runs, for the run's summary ("native cpu", "onnxruntime cuda", ...). */
    default String provider() { return "?"; }

    /** Class activation maps, or null when the model cannot give them. */
    default CamSource cams() { return null; }

    @Override void close();

    /** The last conv features and the classifier weights of a model whose head is global-average-pool + fc. */
    interface CamSource {
        /** Logits for x, and for each sample the CAM of {@code classes[b]} ([h, w] floats, not normalised). */
        CamResult logitsAndCams(Tensor x, int[] classes);
    }

    record CamResult(Tensor logits, float[][] cams, int h, int w) implements AutoCloseable {
        @Override public void close() { logits.close(); }
    }
}
