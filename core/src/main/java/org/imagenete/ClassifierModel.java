package org.imagenete;

import org.imagenete.nn.ResNet;

/**
 * A ResNet classifier loaded from a torchvision checkpoint ({@link ImagenetE#loadClassifier}): the classifier whose
 * gradient drives "-adv" background edits. Close it: its weights live in native memory.
 */
public final class ClassifierModel implements AutoCloseable {
    final ResNet net;
    final Backend backend;

    ClassifierModel(ResNet net, Backend backend) {
        this.net = net;
        this.backend = backend;
    }

    /** The backend the model was loaded for (its weights are kept in that backend's precision). */
    public Backend backend() { return backend; }

    /** "resnet50", ... */
    public String name() { return net.arch().name(); }

    public int numClasses() { return net.arch().numClasses(); }

    @Override public void close() { net.close(); }
}
