package org.imagenete.ops.cpu;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.EnumSet;
import java.util.Set;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.imagenete.ops.cpu.NativeLib.voidFn;

/**
 * The fast CPU backend: C kernels in {@code native/} (AVX-512 or AVX2, OpenMP over all cores) called through
 * the FFM API. Convolutions are implicit GEMMs (Winograd F(4x4,3x3) for 3x3 stride-1 convs at large sizes).
 */
public final class CpuOps implements Ops {
    private static final MethodHandle CONV = NativeLib.handle("ie_conv2d_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle LINEAR = NativeLib.handle("ie_linear_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GROUP_NORM = NativeLib.handle("ie_group_norm_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_FLOAT, JAVA_INT));
    private static final MethodHandle SILU = NativeLib.handle("ie_silu_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle ADD = NativeLib.handle("ie_add_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle CONCAT = NativeLib.handle("ie_concat_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle UPSAMPLE = NativeLib.handle("ie_upsample2x_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle AVGPOOL = NativeLib.handle("ie_avgpool2x_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle ATTENTION = NativeLib.handle("ie_attention_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SET_THREADS = NativeLib.handle("ie_set_num_threads", voidFn(JAVA_INT));

    /** Uses {@code -Dimagenete.threads} threads if set, else all cores. */
    public CpuOps() { this(Integer.getInteger("imagenete.threads", 0)); }

    /** Pins the number of threads every kernel uses ({@code <= 0}: leave as is, all cores by default). */
    public CpuOps(int threads) {
        if (threads <= 0) return;
        try {
            SET_THREADS.invokeExact(threads);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override public String name() { return "cpu"; }

    @Override public Set<Op> supports() { return EnumSet.allOf(Op.class); }

    private static MemorySegment seg(Tensor t) { return t == null ? MemorySegment.NULL : t.data(); }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, Tensor add) {
        int[] o = Checks.conv2d(x, w, bias, stride, pad, add);
        Tensor y = Tensor.allocate(DType.F32, o);
        try {
            CONV.invokeExact(seg(x), seg(w), seg(bias), seg(add), seg(y), x.dim(0), x.dim(1), x.dim(2), x.dim(3),
                    w.dim(0), w.dim(2), w.dim(3), stride, pad);
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        int[] o = Checks.linear(x, w, bias);
        Tensor y = Tensor.allocate(DType.F32, o);
        try {
            LINEAR.invokeExact(seg(x), seg(w), seg(bias), seg(y), o[0], x.dim(1), o[1]);
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c);
        try {
            GROUP_NORM.invokeExact(seg(x), seg(gamma), seg(beta), seg(scaleShift), seg(y), b, c, hw, groups, eps, silu ? 1 : 0);
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor silu(Tensor x) {
        Checks.f32("silu input", x);
        Tensor y = Tensor.allocate(DType.F32, x.shape());
        try {
            SILU.invokeExact(seg(x), seg(y), x.numel());
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        Checks.same("add", a, b);
        Tensor y = Tensor.allocate(DType.F32, a.shape());
        try {
            ADD.invokeExact(seg(a), seg(b), seg(y), a.numel());
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor concat(Tensor a, Tensor b) {
        int[] o = Checks.concat(a, b);
        Tensor y = Tensor.allocate(DType.F32, o);
        try {
            CONCAT.invokeExact(seg(a), seg(b), seg(y), o[0], a.numel() / o[0], b.numel() / o[0]);
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        Checks.spatial("upsample", x, false);
        Tensor y = Tensor.allocate(DType.F32, x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3));
        try {
            UPSAMPLE.invokeExact(seg(x), seg(y), (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3));
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor avgPool2x(Tensor x) {
        Checks.spatial("avg_pool", x, true);
        Tensor y = Tensor.allocate(DType.F32, x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2);
        try {
            AVGPOOL.invokeExact(seg(x), seg(y), (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3));
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor attention(Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c = qkv.dim(1) / 3, t = qkv.dim(2);
        Tensor y = Tensor.allocate(DType.F32, b, c, t);
        try {
            ATTENTION.invokeExact(seg(qkv), seg(y), b, heads, c / heads, t);
        } catch (Throwable e) {
            y.close();
            throw rethrow(e);
        }
        return y;
    }

    @Override
    public Tensor timestepEmbedding(Tensor t, int dim) {
        Checks.timestep(t, dim);
        return ReferenceOps.timestepEmbeddingF32(t, dim);   // O(B * dim): not worth a kernel
    }

    // ---- until the native gradient kernels land, the gradients run on the reference ----
    private static final ReferenceOps REF = new ReferenceOps();

    @Override public Tensor fft2(Tensor x) { return REF.fft2(x); }

    @Override public Tensor fft2Grad(Tensor g) { return REF.fft2Grad(g); }

    @Override public Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int h, int wdt) { return REF.conv2dGrad(dy, w, stride, pad, h, wdt); }

    @Override public Tensor linearGrad(Tensor dy, Tensor w) { return REF.linearGrad(dy, w); }

    @Override
    public Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        return REF.groupNormGrad(dy, x, gamma, beta, groups, eps, scaleShift, silu);
    }

    @Override public Tensor siluGrad(Tensor dy, Tensor x) { return REF.siluGrad(dy, x); }

    @Override public Tensor[] concatGrad(Tensor dy, int channelsA) { return REF.concatGrad(dy, channelsA); }

    @Override public Tensor upsampleNearest2xGrad(Tensor dy) { return REF.upsampleNearest2xGrad(dy); }

    @Override public Tensor avgPool2xGrad(Tensor dy) { return REF.avgPool2xGrad(dy); }

    @Override public Tensor attentionGrad(Tensor dy, Tensor qkv, int heads) { return REF.attentionGrad(dy, qkv, heads); }
}
