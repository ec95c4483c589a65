package org.imagenete.diffusion;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ImageNet-E's guidance loss on the predicted clean image x0 [B,3,H,W] and its gradient dLoss/dx0:
 * <pre>
 * loss = sum_b -lambda_b C_b((x0_b + 1)/2) + rangeLambda sum_b mean_chw((x0 - clamp(x0,-1,1))^2)
 * C(y) = mean |FFT2(y)| (unnormalised 2-D DFT per channel), dC/dy = (1/N) Re(ifft2_unnormalised(F/|F|))
 * </pre>
 * The adversarial classifier term is not part of the loss: the released {@code cond_fn} takes its gradient with
 * respect to pred_x0 itself and adds it to g as it is ({@link #adversarial}).
 * The released code averages C over the whole batch (N = B*3*H*W), so a sample's guidance shrinks with the
 * batch size; {@code perSample} normalises per sample (N = 3*H*W), making each sample's result independent of
 * what it is batched with (equal to the released code at batch 1). The golden check uses the batch mean.
 */
public final class Guidance {
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** The terms of the loss. lambda is per sample (background complexity; > 0 busier, < 0 smoother). */
    public record Terms(float[] lambda, float rangeLambda, boolean perSample, GuidanceClassifier classifier,
                        float adversarialScale, int[] labels) {
        public static Terms complexity(float[] lambda, float rangeLambda, boolean perSample) {
            return new Terms(lambda, rangeLambda, perSample, null, 0, null);
        }

        public boolean active() { return throughUnet() || adversarial(); }

        /** Whether the loss (complexity, range) has a gradient to take through the UNet. */
        public boolean throughUnet() {
            boolean any = rangeLambda != 0;
            for (float l : lambda) any |= l != 0;
            return any;
        }

        public boolean adversarial() { return classifier != null && adversarialScale != 0; }
    }

    /**
     * The released adversarial term (easyrobust image_editor.py {@code class_guided}, lines 252-262, added to g at
     * line 344): g_adv = -adversarialScale * d/dx0 sum_b log_softmax(f(x0_b))[y_b], with x0 = pred_x0 detached, so
     * the gradient is not taken through the UNet. It pushes each sample away from its label.
     */
    public static Tensor adversarial(Ops ops, Tensor x0, Terms terms) {
        try (GuidanceClassifier.LogProb lp = terms.classifier.logProb(ops, x0, terms.labels)) {
            Tensor g = Tensor.allocate(DType.F32, x0.shape());
            MemorySegment gs = g.data(), ls = lp.gradient().data();
            for (long k = 0; k < x0.numel(); k++) gs.setAtIndex(F, k, -terms.adversarialScale * ls.getAtIndex(F, k));
            return g;
        }
    }

    /** dLoss/dx0 and the loss values (complexity C over the batch, range term, total). */
    public record Result(Tensor dLossDx0, double complexity, double range, double loss, float[] complexityPerSample)
            implements AutoCloseable {
        @Override public void close() { dLossDx0.close(); }
    }

    /** C(y) per sample and over the batch, and optionally dC_b/dy scaled per sample. */
    public record Complexity(double batch, float[] perSample, Tensor gradient) implements AutoCloseable {
        @Override public void close() {
            if (gradient != null) gradient.close();
        }
    }

    private Guidance() {}

    /**
     * C(y) = mean|FFT2(y)| of y [B,C,H,W]; when {@code weights} is given, also sum_b weights_b dC/dy_b with the
     * normalisation N = B*C*H*W (perSample false) or C*H*W (true).
     */
    public static Complexity complexity(Ops ops, Tensor y, float[] weights, boolean perSample) {
        Checks.rank("complexity input", y, 4);
        int b = y.dim(0);
        long per = y.numel() / b;
        try (Tensor f = ops.fft2(y)) {                                           // [B, C, H, W, 2]
            MemorySegment fs = f.data();
            float[] cs = new float[b];
            double total = 0;
            for (int s = 0; s < b; s++) {
                double sum = 0;
                for (long k = s * per; k < (s + 1) * per; k++) {
                    float re = fs.getAtIndex(F, 2 * k), im = fs.getAtIndex(F, 2 * k + 1);
                    sum += Math.sqrt((double) re * re + (double) im * im);
                }
                cs[s] = (float) (sum / per);
                total += sum;
            }
            if (weights == null) return new Complexity(total / (per * b), cs, null);
            // P = F/|F| (0 where F = 0, as PyTorch), times weight_b / N, in place; then Re(ifft2 unnormalised)
            for (int s = 0; s < b; s++) {
                double scale = weights[s] / (double) (perSample ? per : per * b);
                for (long k = s * per; k < (s + 1) * per; k++) {
                    float re = fs.getAtIndex(F, 2 * k), im = fs.getAtIndex(F, 2 * k + 1);
                    double mag = Math.sqrt((double) re * re + (double) im * im);
                    double q = mag == 0 ? 0 : scale / mag;
                    fs.setAtIndex(F, 2 * k, (float) (re * q));
                    fs.setAtIndex(F, 2 * k + 1, (float) (im * q));
                }
            }
            return new Complexity(total / (per * b), cs, ops.fft2Grad(f));
        }
    }

    /** The loss at x0 and dLoss/dx0. */
    public static Result lossGradient(Ops ops, Tensor x0, Terms terms) {
        Checks.rank("pred_x0", x0, 4);
        int b = x0.dim(0);
        if (terms.lambda.length != b) throw new IllegalArgumentException(terms.lambda.length + " lambdas for a batch of " + b);
        long per = x0.numel() / b;
        Tensor grad = Tensor.zeros(DType.F32, x0.shape().dims());
        MemorySegment gs = grad.data(), xs = x0.data();
        // complexity of y = (x0 + 1)/2: dL/dx0 = -lambda_b * 0.5 * dC/dy
        float[] w = new float[b];
        for (int s = 0; s < b; s++) w[s] = -terms.lambda[s] * 0.5f;
        double loss = 0, cBatch, range = 0;
        float[] cPer;
        try (Tensor y = Tensor.allocate(DType.F32, x0.shape())) {
            MemorySegment ys = y.data();
            for (long k = 0; k < x0.numel(); k++) ys.setAtIndex(F, k, (xs.getAtIndex(F, k) + 1) / 2);
            try (Complexity c = complexity(ops, y, w, terms.perSample)) {
                MemorySegment cg = c.gradient.data();
                for (long k = 0; k < x0.numel(); k++) gs.setAtIndex(F, k, cg.getAtIndex(F, k));
                cBatch = c.batch;
                cPer = c.perSample;
                for (int s = 0; s < b; s++) loss -= terms.lambda[s] * (terms.perSample ? c.perSample[s] : c.perSample[s] / (double) b);
            }
        }
        // range: rangeLambda * sum_b mean((x0 - clamp(x0))^2); d/dx0 = rangeLambda * 2 (x0 - clamp) / (C H W)
        for (int s = 0; s < b; s++) {
            double sq = 0;
            for (long k = s * per; k < (s + 1) * per; k++) {
                float v = xs.getAtIndex(F, k);
                float over = v - Math.max(-1f, Math.min(1f, v));
                sq += (double) over * over;
                if (over != 0 && terms.rangeLambda != 0)
                    gs.setAtIndex(F, k, gs.getAtIndex(F, k) + terms.rangeLambda * 2 * over / per);
            }
            range += sq / per;
        }
        loss += terms.rangeLambda * range;
        return new Result(grad, cBatch, range, loss, cPer);
    }
}
