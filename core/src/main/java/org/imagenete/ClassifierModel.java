package org.imagenete;

import org.imagenete.nn.ResNet;

/**
 * A ResNet classifier loaded from a torchvision checkpoint ({@link ImagenetE#loadClassifier}): the classifier whose
 * gradient drives "-adv" background edits. Close it: its weights live in native memory.
 */
public final class ClassifierModel implements AutoCloseable {
    final ResNet net;

    ClassifierModel(ResNet net) { this.net = net; }

    /** "resnet50", ... */
    public String name() { return net.arch().name(); }

    public int numClasses() { return net.arch().numClasses(); }

    @Override public void close() { net.close(); }
}
