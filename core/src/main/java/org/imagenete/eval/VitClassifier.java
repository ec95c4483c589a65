package org.imagenete.eval;

import org.imagenete.nn.Vit;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

/** The native vision transformer (torchvision's ViT, timm's ViT / DeiT) on a backend. No class activation maps. */
public final class VitClassifier implements Classifier {
    private final Vit net;
    private final Ops ops;
    private final String name;
    private final PreprocessSettings pre;

    public VitClassifier(Vit net, Ops ops, String name, PreprocessSettings pre) {
        if (pre.crop() != net.config().imageSize())
            throw new IllegalArgumentException(name + ": takes " + net.config().imageSize() + " px images, the preprocessing crops " + pre.crop());
        this.net = net;
        this.ops = ops;
        this.name = name;
        this.pre = pre;
    }

    public Vit net() { return net; }

    @Override public String name() { return name; }

    @Override public int numClasses() { return net.config().numClasses(); }

    @Override public PreprocessSettings preprocessing() { return pre; }

    @Override public String provider() { return "native " + ops.name(); }

    @Override public int inputSize() { return net.config().imageSize(); }

    @Override public Tensor logits(Tensor x) { return net.forward(ops, x, null); }

    @Override public void close() { net.close(); }
}
