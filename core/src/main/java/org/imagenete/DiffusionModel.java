package org.imagenete;

import org.imagenete.nn.Adm;
import org.imagenete.tensor.Tensor;

import java.util.Objects;

/**
 * An ADM diffusion UNet (OpenAI guided-diffusion) loaded from its checkpoint ({@link ImagenetE#loadDiffusion}). Background
 * edits need it; with it, size, position and direction edits also get the harmonising pass. Close it: its weights
 * live in native memory.
 */
public final class DiffusionModel implements AutoCloseable {
    final Adm adm;
    final Backend backend;

    DiffusionModel(Adm adm, Backend backend) {
        this.adm = adm;
        this.backend = backend;
    }

    /** The backend the model was loaded for (its weights are kept in that backend's precision). */
    public Backend backend() { return backend; }

    /** Channels of the UNet's output: 6 for the learned-variance checkpoints (epsilon, then the variance interpolation), else 3. */
    public int outChannels() { return adm.config().outChannels(); }

    /**
     * One UNet forward: {@code x} is [batch, 3, size, size] in [-1, 1] (row-major, as PyTorch lays it out), {@code t}
     * one timestep per image (0..999). Returns [batch, {@link #outChannels()}, size, size].
     */
    public float[] unet(float[] x, int batch, int size, float[] t) {
        Objects.requireNonNull(x, "x");
        Objects.requireNonNull(t, "t");
        if (batch < 1 || size < 1 || (long) batch * 3 * size * size != x.length)
            throw new IllegalArgumentException("x has " + x.length + " values, not batch x 3 x size x size = " + batch + " x 3 x " + size + " x " + size);
        if (t.length != batch) throw new IllegalArgumentException(t.length + " timesteps for a batch of " + batch);
        try (Tensor in = Tensor.of(x, batch, 3, size, size); Tensor ts = Tensor.of(t, batch);
             Tensor out = adm.forward(backend.ops, in, ts, null, null)) {
            return out.toFloatArray();
        }
    }

    @Override public void close() { adm.close(); }
}
