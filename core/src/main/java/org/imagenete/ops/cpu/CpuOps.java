package org.imagenete.ops.cpu;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Precision;
import org.imagenete.ops.ref.ReferenceOps;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
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
 * the FFM API. Each op checks its arguments (shared {@link Checks}), allocates its output and runs one kernel;
 * kernels that need scratch memory return -1 when malloc fails.
 * <p>Convolutions with BF16 weights (a model loaded for {@link Precision#BF16}, see {@link #convWeightType}) run
 * with bf16 operands and fp32 sums ({@code vdpbf16ps}): the activations are rounded to bf16 as they are packed.
 * Everything else stays fp32.
 */
public final class CpuOps implements Ops {
    private static final MethodHandle CONV = NativeLib.handle("ie_conv2d_auto_ex_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONV_GROUPED = NativeLib.handle("ie_conv2d_grouped_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONV_GROUPED_GRAD = NativeLib.handle("ie_conv2d_grouped_grad_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle LINEAR = NativeLib.handle("ie_linear_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GROUP_NORM = NativeLib.handle("ie_group_norm_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_FLOAT, JAVA_INT));
    private static final MethodHandle SILU = NativeLib.handle("ie_silu_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle ADD = NativeLib.handle("ie_add_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle CONCAT = NativeLib.handle("ie_concat_f32", voidFn(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle UPSAMPLE = NativeLib.handle("ie_upsample2x_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle AVGPOOL = NativeLib.handle("ie_avgpool2x_f32", voidFn(ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_INT, JAVA_INT));
    private static final MethodHandle ATTENTION = NativeLib.handle("ie_attention_f32", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));

    private static final MethodHandle RELU = NativeLib.handle("ie_relu_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle RELU_GRAD = NativeLib.handle("ie_relu_grad_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle MAXPOOL = NativeLib.handle("ie_maxpool2d_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle MAXPOOL_GRAD = NativeLib.handle("ie_maxpool2d_grad_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GAP = NativeLib.handle("ie_global_avgpool_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle GAP_GRAD = NativeLib.handle("ie_global_avgpool_grad_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle AFFINE_COMPOSITE = NativeLib.handle("ie_affine_composite_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SET_THREADS = NativeLib.handle("ie_set_num_threads", voidFn(JAVA_INT));
    private static final MethodHandle SET_WINOGRAD = NativeLib.handle("ie_set_winograd", voidFn(JAVA_INT));
    private static final MethodHandle CONV_BF16 = NativeLib.handle("ie_conv2d_auto_ex_bf16", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CONV_GRAD_BF16 = NativeLib.handle("ie_conv2d_grad_bf16", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle HAS_BF16 = NativeLib.handle("ie_has_bf16", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SET_WINOGRAD_BF16 = NativeLib.handle("ie_set_winograd_bf16", voidFn(JAVA_INT));

    private final Precision precision;

    /**
     * Uses {@code -Dimagenete.threads} threads if set, else all cores; {@code -Dimagenete.winograd=false} keeps every
     * convolution on the direct implicit GEMM.
     */
    public CpuOps() { this(Integer.getInteger("imagenete.threads", 0)); }

    /** Whether this CPU runs the bf16 kernels (AVX-512 BF16); without it BF16 weights are widened to fp32. */
    public static boolean bf16Supported() {
        try {
            return (int) HAS_BF16.invokeExact() == 1;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * In bf16 mode the 3x3 convolutions where Winograd pays run Winograd F(4x4,3x3) with a bf16 GEMM (the default:
     * twice the arithmetic rate, ~1% relative L2 per convolution, 2.2% at the ADM-256 output, see native/imagenete.h)
     * when {@code on}, else ({@code -Dimagenete.winograd.bf16=false}) the fp32 Winograd on the bf16 operands (the
     * direct bf16 convolution's accuracy, 0.7% at the ADM-256 output).
     */
    public static void setWinogradBf16(boolean on) {
        run(null, () -> { SET_WINOGRAD_BF16.invokeExact(on ? 1 : 0); });
    }

    /** Winograd F(4x4,3x3) for the 3x3 convolutions where it pays (the default), or the direct path only. */
    public static void setWinograd(boolean on) {
        run(null, () -> { SET_WINOGRAD.invokeExact(on ? 1 : 0); });
    }

    static {
        if (!Boolean.parseBoolean(System.getProperty("imagenete.winograd", "true"))) setWinograd(false);
        if (!Boolean.parseBoolean(System.getProperty("imagenete.winograd.bf16", "true"))) setWinogradBf16(false);
    }

    /** Pins the number of threads every kernel uses ({@code <= 0}: leave as is, all cores by default). */
    public CpuOps(int threads) { this(threads, Precision.FP32); }

    /**
     * The same, asking models to load their convolution weights in {@code precision} (FP32 or BF16; BF16 needs
     * {@link #bf16Supported()}).
     */
    public CpuOps(int threads, Precision precision) {
        if (precision == Precision.FP16)
            throw new IllegalArgumentException("--precision fp16 is for the CUDA backend; the cpu backend computes in fp32 or bf16");
        if (precision == Precision.BF16 && !bf16Supported())
            throw new IllegalStateException("this CPU has no AVX-512 BF16 (vdpbf16ps): the cpu backend runs fp32 only");
        this.precision = precision;
        if (threads > 0) run(null, () -> { SET_THREADS.invokeExact(threads); });
    }

    @Override public String name() { return "cpu"; }

    @Override public Precision convPrecision() { return precision; }

    @Override public DType convWeightType() { return precision == Precision.BF16 ? DType.BF16 : DType.F32; }

    @Override public Set<Op> supports() { return EnumSet.allOf(Op.class); }

    private static MemorySegment seg(Tensor t) { return t == null ? MemorySegment.NULL : t.data(); }

    /** A native call. Use a block lambda, {@code () -> { H.invokeExact(...); }}: as an expression lambda the
     *  signature-polymorphic call would be typed as returning Object and fail at run time. */
    @FunctionalInterface
    private interface Kernel {
        void call() throws Throwable;
    }

    /** A native call returning 0, or -1 when its scratch allocation failed. */
    @FunctionalInterface
    private interface AllocatingKernel {
        int call() throws Throwable;
    }

    /** Runs the kernel and returns {@code out}; on failure frees {@code out} and rethrows. */
    private static Tensor run(Tensor out, Kernel k) {
        try {
            k.call();
            return out;
        } catch (Throwable t) {
            if (out != null) out.close();
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            throw new IllegalStateException(t);
        }
    }

    private static Tensor runAlloc(Tensor out, String op, AllocatingKernel k) {
        return run(out, () -> {
            if (k.call() != 0) throw new OutOfMemoryError(op + ": native scratch allocation failed");
        });
    }

    private static Tensor f32(int... dims) { return Tensor.allocate(DType.F32, dims); }

    /** The grouped kernel computes in fp32: bf16 weights (a cpu-bf16 model's) widened exactly for the call, F32 ones as a view. */
    private static Tensor groupedWeights(Tensor w) { return w.dtype() == DType.BF16 ? w.toF32() : w.view(w.shape().dims()); }

    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, int groups, Tensor add, boolean relu) {
        int[] o = Checks.conv2d(x, w, bias, stride, pad, groups, add, true);
        Tensor y = f32(o);
        if (groups > 1) {
            // grouped (ResNeXt): a direct kernel, one output plane per task (native/grouped.c)
            try (Tensor wf = groupedWeights(w)) {
                return run(y, () -> { CONV_GROUPED.invokeExact(seg(x), seg(wf), seg(bias), seg(add), seg(y), x.dim(0), x.dim(1), x.dim(2),
                        x.dim(3), wf.dim(0), wf.dim(2), wf.dim(3), stride, pad, groups, relu ? 1 : 0); });
            }
        }
        if (w.dtype() == DType.BF16)
            return runAlloc(y, "conv2d", () -> (int) CONV_BF16.invokeExact(seg(x), seg(w), seg(bias), seg(add), seg(y), x.dim(0),
                    x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, pad, relu ? 1 : 0));
        return run(y, () -> { CONV.invokeExact(seg(x), seg(w), seg(bias), seg(add), seg(y), x.dim(0), x.dim(1), x.dim(2),
                x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, pad, relu ? 1 : 0); });
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        int[] o = Checks.linear(x, w, bias);
        Tensor y = f32(o);
        return run(y, () -> { LINEAR.invokeExact(seg(x), seg(w), seg(bias), seg(y), o[0], x.dim(1), o[1]); });
    }

    @Override
    public Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        return groupNorm(x, gamma, beta, groups, eps, scaleShift, silu, null);
    }

    @Override
    public Tensor[] groupNormWithStats(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Tensor stats = Tensor.allocate(DType.F64, x.dim(0), groups, 2);
        try {
            return new Tensor[]{groupNorm(x, gamma, beta, groups, eps, scaleShift, silu, stats), stats};
        } catch (RuntimeException | Error e) {
            stats.close();
            throw e;
        }
    }

    /** stats: null, or F64 [B, groups, 2] to receive the statistics. */
    private Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu, Tensor stats) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Tensor y = f32(x.shape().dims());
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c);
        return run(y, () -> { GROUP_NORM.invokeExact(seg(x), seg(gamma), seg(beta), seg(scaleShift), seg(y), seg(stats), b, c, hw,
                groups, eps, silu ? 1 : 0); });
    }

    @Override
    public Tensor silu(Tensor x) {
        Checks.f32("silu input", x);
        Tensor y = f32(x.shape().dims());
        return run(y, () -> { SILU.invokeExact(seg(x), seg(y), x.numel()); });
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        Checks.same("add", a, b);
        Tensor y = f32(a.shape().dims());
        return run(y, () -> { ADD.invokeExact(seg(a), seg(b), seg(y), a.numel()); });
    }

    @Override
    public Tensor concat(Tensor a, Tensor b) {
        int[] o = Checks.concat(a, b);
        Tensor y = f32(o);
        return run(y, () -> { CONCAT.invokeExact(seg(a), seg(b), seg(y), o[0], a.numel() / o[0], b.numel() / o[0]); });
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        Checks.spatial("upsample", x, false);
        Tensor y = f32(x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3));
        return run(y, () -> { UPSAMPLE.invokeExact(seg(x), seg(y), (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3)); });
    }

    @Override
    public Tensor avgPool2x(Tensor x) {
        Checks.spatial("avg_pool", x, true);
        Tensor y = f32(x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2);
        return run(y, () -> { AVGPOOL.invokeExact(seg(x), seg(y), (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3)); });
    }

    @Override
    public Tensor attention(Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c = qkv.dim(1) / 3, t = qkv.dim(2);
        Tensor y = f32(b, c, t);
        return runAlloc(y, "attention", () -> (int) ATTENTION.invokeExact(seg(qkv), seg(y), b, heads, c / heads, t));
    }

    @Override
    public Tensor timestepEmbedding(Tensor t, int dim) {
        Checks.timestep(t, dim);
        return ReferenceOps.timestepEmbeddingF32(t, dim);   // O(B * dim): not worth a kernel
    }

    @Override
    public Tensor relu(Tensor x) {
        Checks.f32("relu input", x);
        Tensor y = f32(x.shape().dims());
        return run(y, () -> { RELU.invokeExact(seg(x), seg(y), x.numel()); });
    }

    @Override
    public Tensor maxPool2d(Tensor x, int k, int stride, int pad) {
        int[] o = Checks.maxPool(x, k, stride, pad);
        Tensor y = f32(o);
        return run(y, () -> { MAXPOOL.invokeExact(seg(x), seg(y), (long) o[0] * o[1], x.dim(2), x.dim(3), k, stride, pad, o[2], o[3]); });
    }

    @Override
    public Tensor globalAvgPool(Tensor x) {
        Checks.rank("global_avg_pool input", x, 4);
        Tensor y = f32(x.dim(0), x.dim(1));
        return run(y, () -> { GAP.invokeExact(seg(x), seg(y), (long) x.dim(0) * x.dim(1), (long) x.dim(2) * x.dim(3)); });
    }

    // ---- the vision transformers' ops: native/transformer.c ----
    private static final MethodHandle LAYER_NORM = NativeLib.handle("ie_layer_norm_f32", voidFn(ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_FLOAT));
    private static final MethodHandle GELU = NativeLib.handle("ie_gelu_f32", voidFn(ADDRESS, ADDRESS, JAVA_LONG));

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        Checks.layerNorm(x, gamma, beta);
        Tensor y = f32(x.shape().dims());
        int b = x.dim(0), c = x.dim(1);
        long s = x.numel() / ((long) b * c);
        return run(y, () -> { LAYER_NORM.invokeExact(seg(x), seg(gamma), seg(beta), seg(y), b, c, s, eps); });
    }

    @Override
    public Tensor gelu(Tensor x) {
        Checks.f32("gelu input", x);
        Tensor y = f32(x.shape().dims());
        return run(y, () -> { GELU.invokeExact(seg(x), seg(y), x.numel()); });
    }

    @Override
    public Tensor affineComposite(Tensor bg, Tensor src, float[] inverse) {
        Checks.affineComposite(bg, src, inverse);
        int b = bg.dim(0), c = bg.dim(1);
        Tensor y = f32(b, c + 1, bg.dim(2), bg.dim(3));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment inv = arena.allocateFrom(JAVA_FLOAT, inverse);
            return run(y, () -> { AFFINE_COMPOSITE.invokeExact(seg(bg), seg(src), inv, seg(y), b, c, bg.dim(2), bg.dim(3), src.dim(2), src.dim(3)); });
        }
    }

    // ---- fft2 and the input-gradients: native/grad.c, native/fft.c (native/imagenete.h), native/pool.c ----
    private static final MethodHandle CONV_GRAD = NativeLib.handle("ie_conv2d_grad_f32", FunctionDescriptor.of(JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle LINEAR_GRAD = NativeLib.handle("ie_linear_grad_f32", voidFn(ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GROUP_NORM_GRAD = NativeLib.handle("ie_group_norm_grad_f32", voidFn(ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_FLOAT, JAVA_INT));
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


    @Override
    public Tensor fft2(Tensor x) {
        int[] o = Checks.fft2(x);
        int h = x.dim(-2), w = x.dim(-1);
        Tensor y = f32(o);
        return runAlloc(y, "fft2", () -> (int) FFT2.invokeExact(seg(x), seg(y), x.numel() / ((long) h * w), h, w));
    }

    @Override
    public Tensor fft2Grad(Tensor g) {
        int[] o = Checks.fft2Grad(g);
        int h = g.dim(-3), w = g.dim(-2);
        Tensor y = f32(o);
        return runAlloc(y, "fft2_grad", () -> (int) FFT2_GRAD.invokeExact(seg(g), seg(y), g.numel() / (2L * h * w), h, w));
    }

    @Override
    public Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int groups, int h, int wdt) {
        Checks.conv2dGrad(dy, w, stride, pad, groups, h, wdt, true);
        Tensor dx = f32(dy.dim(0), w.dim(1) * groups, h, wdt);
        if (groups > 1) {
            try (Tensor wf = groupedWeights(w)) {
                return run(dx, () -> { CONV_GROUPED_GRAD.invokeExact(seg(dy), seg(wf), seg(dx), dy.dim(0), wf.dim(1) * groups, h, wdt, wf.dim(0),
                        wf.dim(2), wf.dim(3), stride, pad, groups); });
            }
        }
        MethodHandle grad = w.dtype() == DType.BF16 ? CONV_GRAD_BF16 : CONV_GRAD;
        return runAlloc(dx, "conv2d_grad", () -> (int) grad.invokeExact(seg(dy), seg(w), seg(dx), dy.dim(0), w.dim(0),
                w.dim(1), h, wdt, w.dim(2), w.dim(3), stride, pad));
    }

    @Override
    public Tensor linearGrad(Tensor dy, Tensor w) {
        Checks.linearGrad(dy, w);
        int n = dy.dim(0), m = w.dim(0), k = w.dim(1);
        Tensor dx = f32(n, k);
        return run(dx, () -> { LINEAR_GRAD.invokeExact(seg(dy), seg(w), seg(dx), n, m, k); });
    }

    @Override
    public Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu,
                                Tensor stats, Tensor add) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Checks.same("group_norm_grad", dy, x);
        Checks.groupNormStats(stats, x, groups);
        if (add != null) Checks.same("group_norm_grad", add, x);
        Tensor dx = f32(x.shape().dims());
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c);
        return run(dx, () -> { GROUP_NORM_GRAD.invokeExact(seg(dy), seg(x), seg(gamma), seg(beta), seg(scaleShift), seg(stats),
                seg(add), seg(dx), b, c, hw, groups, eps, silu ? 1 : 0); });
    }

    private static final MethodHandle GROUP_NORM_GRAD_CAT = NativeLib.handle("ie_group_norm_grad_cat_f32", voidFn(ADDRESS,
            ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,
            JAVA_INT, JAVA_FLOAT, JAVA_INT));

    @Override
    public Tensor[] groupNormGradConcat(Tensor dy, Tensor xa, Tensor xb, Tensor gamma, Tensor beta, int groups, float eps,
                                        Tensor scaleShift, boolean silu, Tensor stats, Tensor add) {
        // without the forward's statistics, they are recomputed over the concatenation, exactly as the forward did
        if (stats == null) return Ops.super.groupNormGradConcat(dy, xa, xb, gamma, beta, groups, eps, scaleShift, silu, null, add);
        Shape cat = Shape.of(Checks.concat(xa, xb));
        if (!dy.shape().equals(cat))
            throw new IllegalArgumentException("group_norm_grad: parts " + xa.shape() + " + " + xb.shape() + " do not make dy " + dy.shape());
        Checks.groupNorm(dy, gamma, beta, groups, scaleShift);
        Checks.groupNormStats(stats, dy, groups);
        if (add != null) Checks.same("group_norm_grad", add, dy);
        int b = dy.dim(0), c = dy.dim(1), ca = xa.dim(1);
        long hw = dy.numel() / ((long) b * c);
        Tensor da = f32(xa.shape().dims());
        try {
            Tensor db = f32(xb.shape().dims());
            run(db, () -> { GROUP_NORM_GRAD_CAT.invokeExact(seg(dy), seg(xa), seg(xb), ca, seg(gamma), seg(beta), seg(scaleShift),
                    seg(stats), seg(add), seg(da), seg(db), b, c, hw, groups, eps, silu ? 1 : 0); });
            return new Tensor[]{da, db};
        } catch (RuntimeException | Error e) {
            da.close();
            throw e;
        }
    }

    @Override
    public Tensor siluGrad(Tensor dy, Tensor x) {
        Checks.same("silu_grad", dy, x);
        Tensor dx = f32(x.shape().dims());
        return run(dx, () -> { SILU_GRAD.invokeExact(seg(dy), seg(x), seg(dx), x.numel()); });
    }

    @Override
    public Tensor[] concatGrad(Tensor dy, int channelsA) {
        int[][] shapes = Checks.concatGrad(dy, channelsA);
        int[] d = dy.shape().dims();
        long inner = dy.numel() / ((long) d[0] * d[1]);
        Tensor a = f32(shapes[0]);
        Tensor b = f32(shapes[1]);
        try {
            run(b, () -> { CONCAT_GRAD.invokeExact(seg(dy), seg(a), seg(b), d[0], channelsA * inner, shapes[1][1] * inner); });
        } catch (RuntimeException | Error e) {
            a.close();
            throw e;
        }
        return new Tensor[]{a, b};
    }

    @Override
    public Tensor upsampleNearest2xGrad(Tensor dy) {
        Checks.spatial("upsample_grad", dy, true);
        int h = dy.dim(2) / 2, w = dy.dim(3) / 2;
        Tensor dx = f32(dy.dim(0), dy.dim(1), h, w);
        return run(dx, () -> { UPSAMPLE_GRAD.invokeExact(seg(dy), seg(dx), (long) dy.dim(0) * dy.dim(1), h, w); });
    }

    @Override
    public Tensor avgPool2xGrad(Tensor dy) {
        Checks.spatial("avg_pool_grad", dy, false);
        Tensor dx = f32(dy.dim(0), dy.dim(1), 2 * dy.dim(2), 2 * dy.dim(3));
        return run(dx, () -> { AVGPOOL_GRAD.invokeExact(seg(dy), seg(dx), (long) dy.dim(0) * dy.dim(1), dy.dim(2), dy.dim(3)); });
    }

    @Override
    public Tensor attentionGrad(Tensor dy, Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c = qkv.dim(1) / 3, t = qkv.dim(2);
        Checks.shape("attention_grad dy", dy, b, c, t);
        Tensor dqkv = f32(qkv.shape().dims());
        return runAlloc(dqkv, "attention_grad", () -> (int) ATTENTION_GRAD.invokeExact(seg(dy), seg(qkv), seg(dqkv), b, heads, c / heads, t));
    }

    @Override
    public Tensor reluGrad(Tensor dy, Tensor y) {
        Checks.same("relu_grad", dy, y);
        Tensor dx = f32(y.shape().dims());
        return run(dx, () -> { RELU_GRAD.invokeExact(seg(dy), seg(y), seg(dx), y.numel()); });
    }

    @Override
    public Tensor maxPool2dGrad(Tensor dy, Tensor x, int k, int stride, int pad) {
        Checks.maxPoolGrad(dy, x, k, stride, pad);
        Tensor dx = f32(x.shape().dims());
        return run(dx, () -> { MAXPOOL_GRAD.invokeExact(seg(dy), seg(x), seg(dx), (long) x.dim(0) * x.dim(1), x.dim(2), x.dim(3),
                k, stride, pad, dy.dim(2), dy.dim(3)); });
    }

    @Override
    public Tensor globalAvgPoolGrad(Tensor dy, int h, int w) {
        Checks.globalAvgPoolGrad(dy, h, w);
        Tensor dx = f32(dy.dim(0), dy.dim(1), h, w);
        return run(dx, () -> { GAP_GRAD.invokeExact(seg(dy), seg(dx), (long) dy.dim(0) * dy.dim(1), (long) h * w); });
    }

    // ---- the sampler's arithmetic: native/sampler.c (SamplerKernels) ----
    @Override public Tensor axpby(Tensor x, Tensor z, Tensor coef, int col) { return SamplerKernels.axpby(x, z, coef, col); }

    @Override public Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) { return SamplerKernels.pMeanVariance(out, x, coef, col); }

    @Override public Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        return SamplerKernels.posteriorSample(mean, variance, logVariance, g, z, coef, col);
    }

    @Override public Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp) { return SamplerKernels.blend(rest, obj, mask, clamp); }

    @Override public Tensor philoxNormal(Tensor keys, int purpose, int... dims) { return SamplerKernels.philoxNormal(keys, purpose, dims); }

    @Override public Tensor spectrumMeanAbs(Tensor f) { return SamplerKernels.spectrumMeanAbs(f); }

    @Override public Tensor spectrumScale(Tensor f, Tensor coef, int col) { return SamplerKernels.spectrumScale(f, coef, col); }

    @Override public Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col) { return SamplerKernels.rangeGrad(x, g, coef, col); }

    @Override public Tensor nonFinite(Tensor x) { return SamplerKernels.nonFinite(x); }
}
