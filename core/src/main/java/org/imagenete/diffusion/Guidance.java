package org.imagenete.diffusion;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

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
 *
 * <p>Everything image-sized is an op of the backend (fft2, {@link Ops#spectrumMeanAbs}, {@link Ops#spectrumScale},
 * the adjoint fft2, {@link Ops#rangeGrad}); only the per-sample values (B x 2 floats) come to the host.
 */
public final class Guidance {
    /**
     * The terms of the loss. lambda is per sample (background complexity; > 0 busier, < 0 smoother). {@code extra}
     * is an optional term added to g itself, computed on the backend from pred_x0 (see {@link GradientTerm}).
     */
    public record Terms(float[] lambda, float rangeLambda, boolean perSample, GuidanceClassifier classifier,
                        float adversarialScale, int[] labels, GradientTerm extra) {
        public Terms(float[] lambda, float rangeLambda, boolean perSample, GuidanceClassifier classifier, float adversarialScale,
                     int[] labels) {
            this(lambda, rangeLambda, perSample, classifier, adversarialScale, labels, null);
        }

        public static Terms complexity(float[] lambda, float rangeLambda, boolean perSample) {
            return new Terms(lambda, rangeLambda, perSample, null, 0, null, null);
        }

        public boolean active() { return throughUnet() || adversarial() || extra != null; }

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
     * the gradient is not taken through the UNet. It pushes each sample away from its label. The scale is the
     * step table's {@link StepScalars#ADVERSARIAL} column; the log-probabilities (B floats) come back with it.
     */
    record Adversarial(Tensor g, float[] logProb) {}

    static Adversarial adversarial(Ops ops, Tensor x0, Tensor scal, Terms terms) {
        try (GuidanceClassifier.LogProb lp = terms.classifier.logProb(ops, x0, terms.labels)) {
            return new Adversarial(ops.axpby(lp.gradient(), null, scal, StepScalars.ADVERSARIAL), lp.values());
        }
    }

    /** {@link #adversarial(Ops, Tensor, Tensor, Terms)} outside a step (the {@code step} command's g_adv, tests). */
    public static Tensor adversarial(Ops ops, Tensor x0, Terms terms) {
        try (Tensor scal = StepScalars.of(null, null, terms, 0, x0.numel() / x0.dim(0))) {
            return adversarial(ops, x0, scal, terms).g();
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
        try (Tensor f = ops.fft2(y); Tensor m = ops.spectrumMeanAbs(f)) {      // [B, C, H, W, 2], [B]
            float[] cs = m.toFloatArray();
            double total = 0;
            for (float c : cs) total += c;
            if (weights == null) return new Complexity(total / b, cs, null);
            float[] w = new float[b];
            for (int s = 0; s < b; s++) w[s] = (float) (weights[s] / (double) (perSample ? per : per * b));
            try (Tensor wt = Tensor.of(w, b, 1); Tensor p = ops.spectrumScale(f, wt, 0)) {
                return new Complexity(total / b, cs, ops.fft2Grad(p));
            }
        }
    }

    /** The device part of the loss gradient: dL/dx0 and the values [B,2] = (C_b, range mean square_b). */
    record OnDevice(Tensor grad, Tensor values) {}

    /** dL/dx0 of {@code x0} with the step scalars {@code scal} ({@link StepScalars}); reads nothing back. */
    static OnDevice lossGradient(Ops ops, Tensor x0, Tensor scal, Terms terms) {
        Checks.rank("pred_x0", x0, 4);
        int b = x0.dim(0);
        if (terms.lambda.length != b) throw new IllegalArgumentException(terms.lambda.length + " lambdas for a batch of " + b);
        Tensor[] range;
        Tensor mean;
        try (Tensor y = ops.axpby(x0, null, scal, StepScalars.HALF);            // (x0 + 1)/2
             Tensor f = ops.fft2(y)) {                                          // [B, C, H, W, 2]
            mean = ops.spectrumMeanAbs(f);                                      // [B]
            // complexity of y: dL/dx0 = -lambda_b * 0.5 * dC/dy, folded into the spectrum's weight
            try (Tensor p = ops.spectrumScale(f, scal, StepScalars.SPECTRUM); Tensor gc = ops.fft2Grad(p)) {
                // range: rangeLambda * sum_b mean((x0 - clamp(x0))^2); d/dx0 = rangeLambda * 2 (x0 - clamp) / (C H W)
                range = ops.rangeGrad(x0, gc, scal, StepScalars.RANGE);
            }
        }
        Tensor values;
        try (mean; Tensor sq = range[1]) {
            values = ops.concat(mean.view(b, 1), sq.view(b, 1));               // [B, 2]
        }
        return new OnDevice(range[0], values);
    }

    /** The loss terms of a batch from the values read back ([B,2] in {@code read} under "loss"). */
    record Values(double complexity, double range, double loss, float[] complexityPerSample) {
        static Values of(StepStats.Read read, Terms terms, float[] extra) {
            int b = terms.lambda.length;
            float[] cs = new float[b];
            double total = 0, range = 0, loss = 0;
            for (int s = 0; s < b; s++) {
                cs[s] = read.value("loss", s, 0);
                total += cs[s];
                range += read.value("loss", s, 1);
                loss -= terms.lambda[s] * (terms.perSample ? cs[s] : cs[s] / (double) b);
            }
            loss += terms.rangeLambda * range;
            if (extra != null) for (float v : extra) loss += v;
            return new Values(total / b, range, loss, cs);
        }
    }

    /** The loss at x0 and dLoss/dx0. */
    public static Result lossGradient(Ops ops, Tensor x0, Terms terms) {
        StepStats stats = new StepStats(ops);
        OnDevice d;
        try (Tensor scal = StepScalars.of(null, null, terms, 0, x0.numel() / x0.dim(0))) {
            d = lossGradient(ops, x0, scal, terms);
        }
        stats.values("loss", d.values());
        StepStats.Layout layout = stats.layout();
        try (Tensor s = stats.gather()) {
            Values v = Values.of(StepStats.read(s, layout), terms, null);
            return new Result(d.grad(), v.complexity(), v.range(), v.loss(), v.complexityPerSample());
        }
    }
}
