package org.imagenete.eval;

import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** The native torchvision ResNet on a backend; gives class activation maps (layer4 x fc weights). */
public final class ResNetClassifier implements Classifier, Classifier.CamSource {
    private final ResNet net;
    private final Ops ops;
    private final String name;
    private final PreprocessSettings pre;

    public ResNetClassifier(ResNet net, Ops ops, String name, PreprocessSettings pre) {
        this.net = net;
        this.ops = ops;
        this.name = name;
        this.pre = pre;
    }

    public static ResNetClassifier open(Path weights, Ops ops) {
        ResNet net = ResNet.open(weights, ops.convWeightType());
        return new ResNetClassifier(net, ops, net.arch().name() + " (" + weights.getFileName() + ", native " + ops.name() + ")",
                PreprocessSettings.imagenet());
    }

    public ResNet net() { return net; }

    public Ops ops() { return ops; }

    @Override public String name() { return name; }

    @Override public int numClasses() { return net.arch().numClasses(); }

    @Override public PreprocessSettings preprocessing() { return pre; }

    @Override public String provider() { return "native " + ops.name(); }

    @Override public Tensor logits(Tensor x) { return net.forward(ops, x, null, null); }

    @Override public CamSource cams() { return this; }

    /** CAM_b[h, w] = sum_c fc.weight[classes_b, c] * layer4[b, c, h, w] (Zhou et al., 2016). */
    @Override
    public CamResult logitsAndCams(Tensor x, int[] classes) {
        Tensor[] feat = new Tensor[1];
        Tensor logits = net.forward(ops, x, (n, t) -> {
            if (n.equals("layer4")) feat[0] = t.copy();
        }, null);
        try (Tensor f = feat[0]) {
            int b = f.dim(0), c = f.dim(1), hw = f.dim(2) * f.dim(3);
            MemorySegment fs = f.data(), ws = net.fcWeight().data();
            float[][] cams = new float[b][hw];
            for (int s = 0; s < b; s++)
                for (int ch = 0; ch < c; ch++) {
                    float wv = ws.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) classes[s] * c + ch);
                    long base = ((long) s * c + ch) * hw;
                    for (int i = 0; i < hw; i++) cams[s][i] += wv * fs.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + i);
                }
            return new CamResult(logits, cams, f.dim(2), f.dim(3));
        }
    }

    @Override public void close() { net.close(); }
}
