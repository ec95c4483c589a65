package org.imagenete.diffusion;

import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

/**
 * A differentiable classifier for the adversarial guidance term ("+20-adv" variants): log p(label | x) and its
 * input-gradient. x is the predicted clean image, [B,3,H,W] in [-1, 1] at the diffusion model's resolution;
 * the implementation does its own resizing and input normalisation (and documents it).
 */
public interface GuidanceClassifier {
    /** Per-sample log_softmax(f(x_b))[labels_b] and d(sum_b of them)/dx [B,3,H,W]. */
    LogProb logProb(Ops ops, Tensor x, int[] labels);

    record LogProb(float[] values, Tensor gradient) implements AutoCloseable {
        @Override public void close() { gradient.close(); }
    }
}
