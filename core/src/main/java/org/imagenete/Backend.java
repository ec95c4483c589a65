package org.imagenete;

import org.imagenete.ops.Ops;

/**
 * Where the models compute: the fast CPU kernels, a CUDA GPU, the plain reference or the emulated CUDA device, in
 * fp32 or bf16 ({@link ImagenetE#backend(String)}). Cheap to keep and share; it holds no memory of its own.
 */
public final class Backend {
    final Ops ops;

    Backend(Ops ops) { this.ops = ops; }

    /** "cpu", "cuda", "reference", "cuda-emulated". */
    public String name() { return ops.name(); }

    /** The precision the convolutions and matrix products compute in: "fp32", "bf16" or "fp16". */
    public String precision() { return ops.convPrecision().flag(); }

    @Override public String toString() { return name() + " (" + precision() + ")"; }
}
