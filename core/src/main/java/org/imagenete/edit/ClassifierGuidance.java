package org.imagenete.edit;

import org.imagenete.diffusion.GuidanceClassifier;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * The native ResNet as the adversarial guidance classifier of the "-adv" background variants. It sees the predicted
 * clean image at the diffusion resolution (256 for ADM-256; no crop: torchvision ResNets pool globally), in one of
 * two {@link Input} forms.
 */
public final class ClassifierGuidance implements GuidanceClassifier {
    /**
     * What the classifier is fed. {@code RAW}: pred_x0 as it is, in [-1, 1], as the released tool feeds its ResNet-50
     * (image_editor.py lines 257 and 289; its {@code create_classifier_ours} puts only an Upsample in front).
     * {@code IMAGENET}: (x + 1)/2 normalised with the ImageNet mean and std, xn_c = ((x + 1)/2 - mean_c) / std_c, so
     * d/dx = d/dxn / (2 std_c): the input every torchvision classifier was trained on, so the default. Fed raw, such a
     * classifier takes x for normalised units and sees the pixels mean_c + std_c x, in [0.18, 0.71]: the image at
     * 45% of its contrast around the ImageNet mean colour, on which its predictions, and so the label's log-probability
     * that the term pushes down, are not the ones it makes on the image itself.
     */
    public enum Input {
        RAW, IMAGENET;

        /** The command-line name: raw | imagenet. */
        public String flag() { return name().toLowerCase(Locale.ROOT); }

        public static Input parse(String s) {
            for (Input i : values()) if (i.flag().equals(s)) return i;
            throw new IllegalArgumentException("--adv-input " + s + ": raw (pred_x0 in [-1, 1], the released tool) or imagenet"
                    + " ((x+1)/2 normalised with the ImageNet mean and std, what torchvision classifiers expect)");
        }
    }

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** torchvision's ImageNet normalisation, which the ResNet weights expect (eval's PreprocessSettings.imagenet(), below eval). */
    static final float[] MEAN = {0.485f, 0.456f, 0.406f}, STD = {0.229f, 0.224f, 0.225f};
    private final ResNet net;
    private final Input input;

    public ClassifierGuidance(ResNet net, Input input) {
        this.net = net;
        this.input = input;
    }

    /** ImageNet-normalised input (the default, see {@link Input}). */
    public ClassifierGuidance(ResNet net) { this(net, Input.IMAGENET); }

    public Input input() { return input; }

    public int numClasses() { return net.arch().numClasses(); }

    @Override
    public LogProb logProb(Ops ops, Tensor x, int[] labels) {
        int b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3), classes = net.arch().numClasses();
        if (labels == null || labels.length != b) throw new IllegalArgumentException("adversarial guidance needs one label per sample");
        for (int l : labels)
            if (l < 0 || l >= classes)
                throw new IllegalArgumentException("label " + l + " is not one of the guidance classifier's " + classes + " classes (0.." + (classes - 1) + ")");
        try (Tensor xn = Tensor.allocate(DType.F32, x.shape()); ResNet.Tape tape = new ResNet.Tape()) {
            MemorySegment xs = x.data(), ns = xn.data();
            for (int s = 0; s < b; s++)
                for (int ch = 0; ch < c; ch++) {
                    float mean = MEAN[ch], std = STD[ch];
                    long base = ((long) s * c + ch) * hw;
                    for (long k = base; k < base + hw; k++) {
                        float v = xs.getAtIndex(F, k);
                        ns.setAtIndex(F, k, input == Input.RAW ? v : ((v + 1) / 2 - mean) / std);
                    }
                }
            float[] values = new float[b];
            Tensor v;
            try (Tensor logits = net.forward(ops, xn, null, tape)) {
                // d/dlogits of log_softmax(logits)[y] = onehot(y) - softmax(logits)
                float[] g = new float[b * classes];
                for (int s = 0; s < b; s++) {
                    double max = Double.NEGATIVE_INFINITY, z = 0;
                    for (int k = 0; k < classes; k++) max = Math.max(max, logits.getFloat((long) s * classes + k));
                    for (int k = 0; k < classes; k++) z += Math.exp(logits.getFloat((long) s * classes + k) - max);
                    for (int k = 0; k < classes; k++) g[s * classes + k] = (float) -(Math.exp(logits.getFloat((long) s * classes + k) - max) / z);
                    g[s * classes + labels[s]] += 1;
                    values[s] = (float) (logits.getFloat((long) s * classes + labels[s]) - max - Math.log(z));
                }
                v = Tensor.of(g, b, classes);
            }
            try (v; Tensor dxn = net.inputGradient(ops, tape, v)) {
                if (input == Input.RAW) return new LogProb(values, dxn.copy());
                Tensor dx = Tensor.allocate(DType.F32, x.shape());
                MemorySegment ds = dxn.data(), os = dx.data();
                for (int s = 0; s < b; s++)
                    for (int ch = 0; ch < c; ch++) {
                        float k2 = 1f / (2 * STD[ch]);
                        long base = ((long) s * c + ch) * hw;
                        for (long k = base; k < base + hw; k++) os.setAtIndex(F, k, ds.getAtIndex(F, k) * k2);
                    }
                return new LogProb(values, dx);
            }
        }
    }
}
