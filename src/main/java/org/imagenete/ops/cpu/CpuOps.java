package org.imagenete.ops.cpu;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
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

    // ---- fft2 and the input-gradients: native/grad.c and native/fft.c (declared in native/grad.h) ----
    private static final MethodHandle CONV_GRAD = NativeLib.handle("ie_conv2d_grad_f32", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle LINEAR_GRAD = NativeLib.handle("ie_linear_grad_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GROUP_NORM_GRAD = NativeLib.handle("ie_group_norm_grad_f32", voidFn(ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_FLOAT, JAVA_INT));
    private static final MethodHandle SILU_GRAD = NativeLib.handle("ie_silu_grad_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle CONCAT_GRAD = NativeLib.handle("ie_concat_grad_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle UPSAMPLE_GRAD = NativeLib.handle("ie_upsample2x_grad_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle AVGPOOL_GRAD = NativeLib.handle("ie_avgpool2x_grad_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle ATTENTION_GRAD = NativeLib.handle("ie_attention_grad_f32", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FFT2 = NativeLib.handle("ie_fft2_f32", FunctionDescriptor.of(JAVA_INT, ADDRESS,
            ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle FFT2_GRAD = NativeLib.handle("ie_fft2_grad_f32", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT));

    // linear_grad and concat_grad check their arguments as ReferenceOps does (same messages); Checks has no
    // shared helper for these two yet.

    /** The kernels that allocate scratch return -1 when malloc failed. */
    private static void checkAlloc(int rc, String op) {
        if (rc != 0) throw new OutOfMemoryError(op + ": native scratch allocation failed");
    }

    @Override
    public Tensor fft2(Tensor x) {
        Checks.fft2(x);
        int h = x.dim(-2), w = x.dim(-1);
        int[] d = x.shape().dims(), o = Arrays.copyOf(d, d.length + 1);
        o[d.length] = 2;
        Tensor y = Tensor.allocate(DType.F32, o);
        try {
            checkAlloc((int) FFT2.invokeExact(seg(x), seg(y), x.numel() / ((long) h * w), h, w), "fft2");
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor fft2Grad(Tensor g) {
        Checks.fft2Grad(g);
        int h = g.dim(-3), w = g.dim(-2);
        int[] d = g.shape().dims();
        Tensor y = Tensor.allocate(DType.F32, Arrays.copyOf(d, d.length - 1));
        try {
            checkAlloc((int) FFT2_GRAD.invokeExact(seg(g), seg(y), g.numel() / (2L * h * w), h, w), "fft2_grad");
        } catch (Throwable t) {
            y.close();
            throw rethrow(t);
        }
        return y;
    }

    @Override
    public Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int h, int wdt) {
        Checks.conv2dGrad(dy, w, stride, pad, h, wdt);
        Tensor dx = Tensor.allocate(DType.F32, dy.dim(0), w.dim(1), h, wdt);
        try {
            checkAlloc((int) CONV_GRAD.invokeExact(seg(dy), seg(w), seg(dx), dy.dim(0), w.dim(0), w.dim(1), h, wdt,
                    w.dim(2), w.dim(3), stride, pad), "conv2d_grad");
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor linearGrad(Tensor dy, Tensor w) {
        Checks.rank("linear_grad dy", dy, 2);
        Checks.rank("linear_grad weight", w, 2);
        if (dy.dim(1) != w.dim(0)) throw new IllegalArgumentException("linear_grad: dy " + dy.shape() + " vs weight " + w.shape());
        int n = dy.dim(0), m = w.dim(0), k = w.dim(1);
        Tensor dx = Tensor.allocate(DType.F32, n, k);
        try {
            LINEAR_GRAD.invokeExact(seg(dy), seg(w), seg(dx), n, m, k);
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Checks.same("group_norm_grad", dy, x);
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c);
        try {
            GROUP_NORM_GRAD.invokeExact(seg(dy), seg(x), seg(gamma), seg(beta), seg(scaleShift), seg(dx), b, c, hw, groups,
                    eps, silu ? 1 : 0);
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor siluGrad(Tensor dy, Tensor x) {
        Checks.same("silu_grad", dy, x);
        Tensor dx = Tensor.allocate(DType.F32, x.shape());
        try {
            SILU_GRAD.invokeExact(seg(dy), seg(x), seg(dx), x.numel());
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor[] concatGrad(Tensor dy, int channelsA) {
        Checks.f32("concat_grad dy", dy);
        int[] d = dy.shape().dims();
        if (d.length < 2 || channelsA < 0 || channelsA > d[1])
            throw new IllegalArgumentException("concat_grad: cannot split " + dy.shape() + " at channel " + channelsA);
        int[] da = d.clone(), db = d.clone();
        da[1] = channelsA;
        db[1] = d[1] - channelsA;
        long inner = dy.numel() / ((long) d[0] * d[1]);
        Tensor a = Tensor.allocate(DType.F32, da);
        Tensor b = null;
        try {
            b = Tensor.allocate(DType.F32, db);
            CONCAT_GRAD.invokeExact(seg(dy), seg(a), seg(b), d[0], channelsA * inner, db[1] * inner);
        } catch (Throwable t) {
            a.close();
            if (b != null) b.close();
            throw rethrow(t);
        }
        return new Tensor[]{a, b};
    }

    @Override
    public Tensor upsampleNearest2xGrad(Tensor dy) {
        Checks.spatial("upsample_grad", dy, true);
        int h = dy.dim(2) / 2, w = dy.dim(3) / 2;
        Tensor dx = Tensor.allocate(DType.F32, dy.dim(0), dy.dim(1), h, w);
        try {
            UPSAMPLE_GRAD.invokeExact(seg(dy), seg(dx), (long) dy.dim(0) * dy.dim(1), h, w);
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor avgPool2xGrad(Tensor dy) {
        Checks.spatial("avg_pool_grad", dy, false);
        Tensor dx = Tensor.allocate(DType.F32, dy.dim(0), dy.dim(1), 2 * dy.dim(2), 2 * dy.dim(3));
        try {
            AVGPOOL_GRAD.invokeExact(seg(dy), seg(dx), (long) dy.dim(0) * dy.dim(1), dy.dim(2), dy.dim(3));
        } catch (Throwable t) {
            dx.close();
            throw rethrow(t);
        }
        return dx;
    }

    @Override
    public Tensor attentionGrad(Tensor dy, Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c = qkv.dim(1) / 3, t = qkv.dim(2);
        Checks.shape("attention_grad dy", dy, b, c, t);
        Tensor dqkv = Tensor.allocate(DType.F32, qkv.shape());
        try {
            checkAlloc((int) ATTENTION_GRAD.invokeExact(seg(dy), seg(qkv), seg(dqkv), b, heads, c / heads, t), "attention_grad");
        } catch (Throwable e) {
            dqkv.close();
            throw rethrow(e);
        }
        return dqkv;
    }
}
