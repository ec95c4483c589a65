package org.imagenete.diffusion;

import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmGolden;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** The tiny golden ADM (32x32) on one backend for a test class, and the input tensors the class makes (closed with it). */
final class TinyAdmFixture implements AutoCloseable {
    final Adm model = AdmGolden.tinyModel();
    final Ops ops;
    private final List<Tensor> inputs = new ArrayList<>();

    TinyAdmFixture(String backend) { ops = Backends.get(backend); }

    /** {@code t}, closed with the fixture. */
    Tensor in(Tensor t) {
        inputs.add(t);
        return t;
    }

    @Override public void close() {
        model.close();
        inputs.forEach(Tensor::close);
    }
}
