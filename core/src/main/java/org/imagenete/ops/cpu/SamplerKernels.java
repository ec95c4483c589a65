package org.imagenete.ops.cpu;

import org.imagenete.ops.Checks;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.imagenete.ops.cpu.NativeLib.voidFn;

/**
 * The sampler's ops on the fast CPU backend: {@code native/sampler.c} through FFM (memory-bound passes, OpenMP).
 * Part of {@link CpuOps}; inputs are read with {@link Tensor#read()}, outputs are new host tensors.
 */
final class SamplerKernels {
    private static final MethodHandle AXPBY = NativeLib.handle("ie_axpby_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle PMV = NativeLib.handle("ie_p_mean_variance_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle SAMPLE = NativeLib.handle("ie_posterior_sample_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle BLEND = NativeLib.handle("ie_blend_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle PHILOX = NativeLib.handle("ie_philox_normal_f32", voidFn(ADDRESS, JAVA_INT, ADDRESS,
            JAVA_INT, JAVA_LONG));
    private static final MethodHandle SPECTRUM_MEAN_ABS = NativeLib.handle("ie_spectrum_mean_abs_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG));
    private static final MethodHandle SPECTRUM_SCALE = NativeLib.handle("ie_spectrum_scale_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle RANGE_GRAD = NativeLib.handle("ie_range_grad_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle NON_FINITE = NativeLib.handle("ie_non_finite_f32", voidFn(ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG));

    private SamplerKernels() {}

    /** An input (read-only; NULL for null): reading keeps a device copy where there is one. */
    private static MemorySegment in(Tensor t) { return t == null ? MemorySegment.NULL : t.read(); }

    /** A native call with every output closed when it fails. */
    @FunctionalInterface
    private interface Call {
        void run() throws Throwable;
    }

    private static void call(Call c, Tensor... outs) {
        try {
            c.run();
        } catch (Throwable t) {
            for (Tensor o : outs) if (o != null) o.close();
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }

    private static Tensor like(Tensor t) { return Tensor.allocate(DType.F32, t.shape()); }

    private static long per(Tensor t) { return t.numel() / t.dim(0); }

    static Tensor axpby(Tensor x, Tensor z, Tensor coef, int col) {
        Checks.axpby(x, z, coef, col);
        Tensor y = like(x);
        call(() -> { AXPBY.invokeExact(in(x), in(z), in(coef), y.data(), x.dim(0), per(x), coef.dim(1), col); }, y);
        return y;
    }

    static Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) {
        Checks.pMeanVariance(out, x, coef, col);
        Tensor m = like(x), v = like(x), lv = like(x), px = like(x), e = like(x);
        call(() -> { PMV.invokeExact(in(out), in(x), in(coef), m.data(), v.data(), lv.data(), px.data(), e.data(), x.dim(0), per(x),
                coef.dim(1), col); }, m, v, lv, px, e);
        return new Tensor[]{m, v, lv, px, e};
    }

    static Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        Checks.posteriorSample(mean, variance, logVariance, g, z, coef, col);
        Tensor y = like(mean);
        call(() -> { SAMPLE.invokeExact(in(mean), in(variance), in(logVariance), in(g), in(z), in(coef), y.data(), mean.dim(0),
                per(mean), coef.dim(1), col); }, y);
        return y;
    }

    static Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp) {
        Checks.blend(rest, obj, mask);
        Tensor y = like(rest);
        call(() -> { BLEND.invokeExact(in(rest), in(obj), in(mask), y.data(), rest.dim(0), rest.dim(1), (long) rest.dim(2) * rest.dim(3),
                clamp ? 1 : 0); }, y);
        return y;
    }

    static Tensor philoxNormal(Tensor keys, int purpose, int[] dims) {
        Checks.philoxNormal(keys, purpose, dims);
        Tensor y = Tensor.allocate(DType.F32, dims);
        call(() -> { PHILOX.invokeExact(in(keys), purpose, y.data(), dims[0], per(y)); }, y);
        return y;
    }

    static Tensor spectrumMeanAbs(Tensor f) {
        Checks.spectrum("spectrum_mean_abs", f);
        Tensor y = Tensor.allocate(DType.F32, f.dim(0));
        call(() -> { SPECTRUM_MEAN_ABS.invokeExact(in(f), y.data(), f.dim(0), per(f) / 2); }, y);
        return y;
    }

    static Tensor spectrumScale(Tensor f, Tensor coef, int col) {
        Checks.spectrum("spectrum_scale", f);
        Checks.coef("spectrum_scale", coef, col, 1, f.dim(0));
        Tensor y = like(f);
        call(() -> { SPECTRUM_SCALE.invokeExact(in(f), in(coef), y.data(), f.dim(0), per(f) / 2, coef.dim(1), col); }, y);
        return y;
    }

    static Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col) {
        Checks.rangeGrad(x, g, coef, col);
        Tensor y = like(x), sq = Tensor.allocate(DType.F32, x.dim(0));
        call(() -> { RANGE_GRAD.invokeExact(in(x), in(g), in(coef), y.data(), sq.data(), x.dim(0), per(x), coef.dim(1), col); }, y, sq);
        return new Tensor[]{y, sq};
    }

    static Tensor nonFinite(Tensor x) {
        int b = Checks.batched("non_finite input", x);
        Tensor y = Tensor.allocate(DType.F32, b, 2);
        call(() -> { NON_FINITE.invokeExact(in(x), y.data(), b, per(x)); }, y);
        return y;
    }
}
