package org.imagenete.diffusion;

import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

/**
 * A term added to the guidance gradient g itself (not chained through the UNet), computed on the sampler's
 * backend from pred_x0 taken as a constant: the hook for a classifier term in the released form
 * g += -s d/dpred_x0 sum_b log_softmax(f(pred_x0))[b, y_b]. The step adds {@link Addend#toG()} to g and the
 * per-sample {@link Addend#loss()} values to the reported loss. A term that keeps its work in ops (no host reads,
 * no host tensors as op inputs) lets a CUDA step be captured as one graph; any other runs the step eagerly.
 */
@FunctionalInterface
public interface GradientTerm {
    /** The addend [B,C,H,W] to g at {@code predX0} [B,C,H,W] for samples of the given labels. */
    Addend at(Ops ops, Tensor predX0, int[] labels);

    /** @param loss per-sample contributions to the loss, on the host (may be null: none) */
    record Addend(Tensor toG, float[] loss) implements AutoCloseable {
        @Override public void close() { toG.close(); }
    }
}
