package org.imagenete.ops.cuda;

import org.imagenete.device.Device;
import org.imagenete.device.Dim3;
import org.imagenete.device.KernelArgs;
import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The CUDA backend: every op is one or a few kernels of {@code cuda-kernels/*.cu} launched by name on a
 * {@link Device} (a GPU through JCuda, or the emulated device in CI). Outputs stay on the device until host code
 * reads them; weights are uploaded once (see {@link CudaContext}). Arguments are checked with the shared
 * {@link Checks} before anything is launched.
 *
 * <p>Precision: {@link Precision#FP32} runs every op in fp32 (FMA kernels). {@link Precision#BF16} and
 * {@link Precision#FP16} run conv2d and its input-gradient -- 94.5% of the ADM's FLOPs -- on tensor cores with
 * 16-bit operands and fp32 accumulation; every other op, and the tensors between ops, stay fp32.
 */
public final class CudaOps implements Ops {
    /** Operand precision of the convolutions. */
    public enum Precision {
        FP32, BF16, FP16;

        /** The operands' dtype (the tolerance table's key). */
        public org.imagenete.tensor.DType operands() {
            return switch (this) {
                case FP32 -> org.imagenete.tensor.DType.F32;
                case BF16 -> org.imagenete.tensor.DType.BF16;
                case FP16 -> org.imagenete.tensor.DType.F16;
            };
        }
    }

    private final CudaContext ctx;
    private final Device dev;
    private final Precision precision;
    private final Set<Op> supported;
    private final Map<Op, String> unsupported;

    public CudaOps(CudaContext ctx, Precision precision) {
        this.ctx = ctx;
        this.dev = ctx.device();
        this.precision = precision;
        Map<Op, String> missing = new TreeMap<>();
        for (var e : kernelsByOp(precision).entrySet())
            for (String k : e.getValue())
                if (!dev.hasKernel(k)) missing.merge(e.getKey(), "kernel " + k + " missing from the kernel image", (a, b) -> a + "; " + b);
        EnumSet<Op> s = EnumSet.allOf(Op.class);
        s.removeAll(missing.keySet());
        this.supported = Collections.unmodifiableSet(s);
        this.unsupported = Collections.unmodifiableMap(missing);
    }

    /** The kernels each op launches (at some shape) in the given precision. */
    static Map<Op, List<String>> kernelsByOp(Precision p) {
        String conv = switch (p) {
            case FP32 -> "conv2d_f32_v1";
            case BF16 -> "conv2d_bf16_v2";
            case FP16 -> "conv2d_f16_v2";
        };
        String convGrad = switch (p) {
            case FP32 -> "conv2d_grad_f32_v1";
            case BF16 -> "conv2d_grad_bf16_v2";
            case FP16 -> "conv2d_grad_f16_v2";
        };
        List<String> lowp = p == Precision.FP32 ? List.of() : List.of(p == Precision.BF16 ? "convert_f32_bf16_v1" : "convert_f32_f16_v1");
        Map<Op, List<String>> m = new EnumMap<>(Op.class);
        m.put(Op.CONV2D, concat(List.of(conv), lowp));
        m.put(Op.CONV2D_GRAD, concat(List.of(convGrad), lowp));
        m.put(Op.LINEAR, List.of("linear_f32_v1"));
        m.put(Op.LINEAR_GRAD, List.of("linear_grad_f32_v1"));
        List<String> gn = List.of("group_norm_stats_f32_v1", "group_norm_apply_f32_v1");
        m.put(Op.GROUP_NORM, gn);
        m.put(Op.GROUP_NORM_GRAD, concat(gn.subList(0, 1), List.of("group_norm_grad_reduce_f32_v1", "group_norm_grad_apply_f32_v1")));
        m.put(Op.SILU, List.of("silu_f32_v1"));
        m.put(Op.SILU_GRAD, List.of("silu_grad_f32_v1"));
        m.put(Op.ADD, List.of("add_f32_v1"));
        m.put(Op.CONCAT, List.of("concat_f32_v1"));
        m.put(Op.CONCAT_GRAD, List.of("concat_grad_f32_v1"));
        m.put(Op.UPSAMPLE_NEAREST_2X, List.of("upsample_nearest_2x_f32_v1"));
        m.put(Op.UPSAMPLE_NEAREST_2X_GRAD, List.of("upsample_nearest_2x_grad_f32_v1"));
        m.put(Op.AVG_POOL_2X, List.of("avg_pool_2x_f32_v1"));
        m.put(Op.AVG_POOL_2X_GRAD, List.of("avg_pool_2x_grad_f32_v1"));
        List<String> materialised = List.of("gemm_batched_f32_v1", "attention_softmax_f32_v1");
        m.put(Op.ATTENTION, concat(List.of("attention_f32_v1"), materialised));
        m.put(Op.ATTENTION_GRAD, concat(materialised, List.of("attention_softmax_grad_f32_v1")));
        m.put(Op.TIMESTEP_EMBEDDING, List.of("timestep_embedding_f32_v1"));
        m.put(Op.FFT2, List.of("fft2_rows_f32_v1", "fft2_cols_f32_v1"));
        m.put(Op.FFT2_GRAD, List.of("fft2_rows_f32_v1", "fft2_cols_f32_v1"));
        m.put(Op.RELU, List.of("relu_f32_v1"));
        m.put(Op.RELU_GRAD, List.of("relu_grad_f32_v1"));
        m.put(Op.MAX_POOL, List.of("max_pool_f32_v1"));
        m.put(Op.MAX_POOL_GRAD, List.of("max_pool_grad_f32_v1"));
        m.put(Op.GLOBAL_AVG_POOL, List.of("global_avg_pool_f32_v1"));
        m.put(Op.GLOBAL_AVG_POOL_GRAD, List.of("global_avg_pool_grad_f32_v1"));
        m.put(Op.AFFINE_COMPOSITE, List.of("affine_composite_f32_v1"));
        m.put(Op.LAYER_NORM, List.of("layer_norm_f32_v1"));
        m.put(Op.GELU, List.of("gelu_f32_v1"));
        m.put(Op.AXPBY, List.of("axpby_f32_v1"));
        m.put(Op.P_MEAN_VARIANCE, List.of("p_mean_variance_f32_v1"));
        m.put(Op.POSTERIOR_SAMPLE, List.of("posterior_sample_f32_v1"));
        m.put(Op.BLEND, List.of("blend_f32_v1"));
        m.put(Op.PHILOX_NORMAL, List.of("philox_normal_f32_v1"));
        m.put(Op.SPECTRUM_MEAN_ABS, List.of("spectrum_mean_abs_f32_v1"));
        m.put(Op.SPECTRUM_SCALE, List.of("spectrum_scale_f32_v1"));
        m.put(Op.RANGE_GRAD, List.of("range_grad_f32_v1"));
        m.put(Op.NONFINITE_COUNT, List.of("non_finite_f32_v1"));
        return m;
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> r = new ArrayList<>(a);
        r.addAll(b);
        return List.copyOf(r);
    }

    @Override public String name() {
        return "cuda" + (dev.isEmulated() ? "-emulated" : "") + switch (precision) {
            case FP32 -> "";
            case BF16 -> "-bf16";
            case FP16 -> "-fp16";
        };
    }

    @Override public Set<Op> supports() { return supported; }

    /** Ops left out of {@link #supports()}, with the reason (empty with a complete kernel image). */
    public Map<Op, String> unsupported() { return unsupported; }

    public Precision precision() { return precision; }

    @Override
    public org.imagenete.ops.Precision convPrecision() { return org.imagenete.ops.Precision.valueOf(precision.name()); }

    public CudaContext context() { return ctx; }

    @Override public org.imagenete.ops.DeviceSupport device() { return ctx; }

    /** Temporary device blocks of one op (uploads of host inputs, scratch), freed after its launches. */
    private final class Call implements AutoCloseable {
        final List<DeviceBuffer> temps = new ArrayList<>();
        final List<Tensor> outs = new ArrayList<>();
        boolean ok;

        long in(Tensor t) { return ctx.input(t, temps); }

        long weight(Tensor t) { return ctx.weightPtr(t); }

        long scratch(long bytes) {
            DeviceBuffer b = ctx.allocate(bytes);
            temps.add(b);
            return b.ptr;
        }

        Tensor out(int... dims) { return out(DType.F32, dims); }

        Tensor out(DType dtype, int... dims) {
            Tensor t = ctx.output(dtype, dims);
            outs.add(t);
            return t;
        }

        long ptr(Tensor out) { return ctx.resident(out).ptr; }

        /** Marks the outputs as returned: they survive {@link #close()}. */
        <T> T done(T result) {
            ok = true;
            return result;
        }

        @Override public void close() {
            temps.forEach(DeviceBuffer::close);
            if (!ok) outs.forEach(Tensor::close);
        }
    }

    private void ew(String kernel, long n, KernelArgs args) { ctx.launchElementwise(kernel, n, args); }

    // ------------------------------------------------------------------------------------------------ conv
    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, int groups, Tensor add, boolean relu) {
        int[] o = Checks.conv2d(x, w, bias, stride, pad, groups, add);
        try (Call c = new Call()) {
            long px = c.in(x), pw = precision == Precision.FP32 ? c.weight(w) : ctx.weight16(w, precision);
            long pb = c.weight(bias), pa = c.in(add);
            Tensor y = c.out(o);
            KernelArgs a = KernelArgs.of().ptr(px).ptr(pw).ptr(pb).ptr(pa).ptr(c.ptr(y));
            convShape(a, x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, pad, o[2], o[3]);
            a.i32(relu ? 1 : 0).i32(groups);
            long n = (long) o[0] * o[2] * o[3];
            launchConv(precision == Precision.FP32 ? "conv2d_f32_v1" : precision == Precision.BF16 ? "conv2d_bf16_v2" : "conv2d_f16_v2",
                    w.dim(0) / groups, n, groups, a);
            return c.done(y);
        }
    }

    private static void convShape(KernelArgs a, int b, int cin, int h, int w, int cout, int kh, int kw, int stride, int pad, int ho, int wo) {
        a.i32(b).i32(cin).i32(h).i32(w).i32(cout).i32(kh).i32(kw).i32(stride).i32(pad).i32(ho).i32(wo);
    }

    /** Implicit-GEMM grid: (N tiles, M tiles of one group, groups). */
    private void launchConv(String kernel, int m, long n, int groups, KernelArgs a) {
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(kernel + ": " + n + " output pixels exceed the kernel's int indexing");
        if (groups > 65535) throw new IllegalArgumentException(kernel + ": " + groups + " groups exceed the grid's z limit (65535)");
        boolean mma = precision != Precision.FP32;
        int bm = mma ? Kernels.CONV_MMA_BM : Kernels.CONV_F32_BM, bn = mma ? Kernels.CONV_MMA_BN : Kernels.CONV_F32_BN;
        int threads = mma ? Kernels.CONV_MMA_THREADS : Kernels.CONV_F32_THREADS;
        dev.launch(kernel, Dim3.of(Dim3.blocks(n, bn), Dim3.blocks(m, bm), groups), Dim3.of(threads), a);
    }

    @Override
    public Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int groups, int h, int wdt) {
        Checks.conv2dGrad(dy, w, stride, pad, groups, h, wdt);
        int b = dy.dim(0), cout = w.dim(0), cin = w.dim(1) * groups;
        try (Call c = new Call()) {
            long pdy = c.in(dy), pw = precision == Precision.FP32 ? c.weight(w) : ctx.weight16(w, precision);
            Tensor dx = c.out(b, cin, h, wdt);
            KernelArgs a = KernelArgs.of().ptr(pdy).ptr(pw).ptr(c.ptr(dx));
            convShape(a, b, cin, h, wdt, cout, w.dim(2), w.dim(3), stride, pad, dy.dim(2), dy.dim(3));
            a.i32(groups);
            launchConv(precision == Precision.FP32 ? "conv2d_grad_f32_v1" : precision == Precision.BF16 ? "conv2d_grad_bf16_v2"
                    : "conv2d_grad_f16_v2", w.dim(1), (long) b * h * wdt, groups, a);
            return c.done(dx);
        }
    }

    // ------------------------------------------------------------------------------------------------ linear
    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        int[] o = Checks.linear(x, w, bias);
        int n = o[0], k = x.dim(1), m = o[1];
        try (Call c = new Call()) {
            long px = c.in(x), pw = c.weight(w), pb = c.weight(bias);
            Tensor y = c.out(o);
            dev.launch("linear_f32_v1", Dim3.of(Dim3.blocks(m, Kernels.LINEAR_WARPS), rows(n)), Dim3.of(Kernels.LINEAR_WARPS * 32),
                    KernelArgs.of().ptr(px).ptr(pw).ptr(pb).ptr(c.ptr(y)).i32(n).i32(k).i32(m));
            return c.done(y);
        }
    }

    private static int rows(int n) {
        if (n > 65535) throw new IllegalArgumentException("batch of " + n + " rows exceeds the grid's y limit (65535)");
        return Math.max(1, n);
    }

    @Override
    public Tensor linearGrad(Tensor dy, Tensor w) {
        Checks.linearGrad(dy, w);
        int n = dy.dim(0), m = w.dim(0), k = w.dim(1);
        try (Call c = new Call()) {
            long pdy = c.in(dy), pw = c.weight(w);
            Tensor dx = c.out(n, k);
            dev.launch("linear_grad_f32_v1", Dim3.of(Dim3.blocks(k, Kernels.LINEAR_GRAD_THREADS), rows(n)),
                    Dim3.of(Kernels.LINEAR_GRAD_THREADS), KernelArgs.of().ptr(pdy).ptr(pw).ptr(c.ptr(dx)).i32(n).i32(m).i32(k));
            return c.done(dx);
        }
    }

    // ------------------------------------------------------------------------------------------------ group norm
    /** Chunks per group for the statistics kernels: at least GN_CHUNK_MIN values each, at most GN_MAX_CHUNKS. */
    private static int gnChunks(long n) {
        return (int) Math.max(1, Math.min(Kernels.GN_MAX_CHUNKS, n / Kernels.GN_CHUNK_MIN));
    }

    private long gnStats(Call c, long px, int bg, long n, int chunks) {
        long part = c.scratch(24L * bg * chunks);
        dev.launch("group_norm_stats_f32_v1", Dim3.of(bg, chunks), Dim3.of(Kernels.GN_THREADS),
                KernelArgs.of().ptr(px).ptr(part).i64(n).i32(chunks));
        return part;
    }

    @Override
    public Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        return groupNorm(x, gamma, beta, groups, eps, scaleShift, silu, false)[0];
    }

    @Override
    public Tensor[] groupNormWithStats(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu) {
        return groupNorm(x, gamma, beta, groups, eps, scaleShift, silu, true);
    }

    /** {y} or, withStats, {y, stats [B, groups, 2] F64}. */
    private Tensor[] groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu,
                               boolean withStats) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        int b = x.dim(0), ch = x.dim(1);
        long hw = x.numel() / ((long) b * ch), n = hw * (ch / groups);
        int chunks = gnChunks(n);
        try (Call c = new Call()) {
            long px = c.in(x), pg = c.weight(gamma), pb = c.weight(beta), pss = c.in(scaleShift);
            Tensor y = c.out(x.shape().dims());
            Tensor stats = withStats ? c.out(DType.F64, b, groups, 2) : null;
            long part = gnStats(c, px, b * groups, n, chunks);
            dev.launch("group_norm_apply_f32_v1", Dim3.of(b * ch, Dim3.blocks(hw, Kernels.GN_APPLY_PER_BLOCK)), Dim3.of(Kernels.GN_THREADS),
                    KernelArgs.of().ptr(px).ptr(pg).ptr(pb).ptr(pss).ptr(part).ptr(c.ptr(y)).ptr(stats == null ? 0 : c.ptr(stats))
                            .i32(ch).i64(hw).i32(groups).i32(chunks).f32(eps).i32(silu ? 1 : 0));
            return c.done(withStats ? new Tensor[]{y, stats} : new Tensor[]{y});
        }
    }

    @Override
    public Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu,
                                Tensor stats, Tensor add) {
        Checks.groupNorm(x, gamma, beta, groups, scaleShift);
        Checks.same("group_norm_grad", dy, x);
        Checks.groupNormStats(stats, x, groups);
        if (add != null) Checks.same("group_norm_grad", add, x);
        int b = x.dim(0), ch = x.dim(1);
        long hw = x.numel() / ((long) b * ch), n = hw * (ch / groups);
        int chunks = gnChunks(n);
        try (Call c = new Call()) {
            long pdy = c.in(dy), px = c.in(x), pg = c.weight(gamma), pb = c.weight(beta), pss = c.in(scaleShift), padd = c.in(add);
            long pst = c.in(stats);
            Tensor dx = c.out(x.shape().dims());
            long part = stats == null ? gnStats(c, px, b * groups, n, chunks) : 0;   // the forward's statistics, or recomputed
            long part2 = c.scratch(16L * b * groups * chunks);
            dev.launch("group_norm_grad_reduce_f32_v1", Dim3.of(b * groups, chunks), Dim3.of(Kernels.GN_THREADS),
                    KernelArgs.of().ptr(pdy).ptr(px).ptr(pg).ptr(pb).ptr(pss).ptr(part).ptr(pst).ptr(part2).i32(ch).i64(hw).i32(groups)
                            .i32(chunks).f32(eps).i32(silu ? 1 : 0));
            dev.launch("group_norm_grad_apply_f32_v1", Dim3.of(b * ch, Dim3.blocks(hw, Kernels.GN_APPLY_PER_BLOCK)),
                    Dim3.of(Kernels.GN_THREADS), KernelArgs.of().ptr(pdy).ptr(px).ptr(pg).ptr(pb).ptr(pss).ptr(part).ptr(pst).ptr(part2)
                            .ptr(padd).ptr(c.ptr(dx)).i32(ch).i64(hw).i32(groups).i32(chunks).f32(eps).i32(silu ? 1 : 0));
            return c.done(dx);
        }
    }

    // ------------------------------------------------------------------------------------------------ layer norm
    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        Checks.layerNorm(x, gamma, beta);
        int b = x.dim(0), ch = x.dim(1);
        long s = x.numel() / ((long) b * ch);
        try (Call c = new Call()) {
            long px = c.in(x), pg = c.weight(gamma), pb = c.weight(beta);
            Tensor y = c.out(x.shape().dims());
            ew("layer_norm_f32_v1", (long) b * s, KernelArgs.of().ptr(px).ptr(pg).ptr(pb).ptr(c.ptr(y)).i32(b).i32(ch).i64(s).f32(eps));
            return c.done(y);
        }
    }

    // ------------------------------------------------------------------------------------------------ element-wise
    private Tensor unary(String kernel, Tensor x) {
        try (Call c = new Call()) {
            long px = c.in(x);
            Tensor y = c.out(x.shape().dims());
            ew(kernel, x.numel(), KernelArgs.of().ptr(px).ptr(c.ptr(y)).i64(x.numel()));
            return c.done(y);
        }
    }

    private Tensor binary(String kernel, Tensor a, Tensor b) {
        try (Call c = new Call()) {
            long pa = c.in(a), pb = c.in(b);
            Tensor y = c.out(b.shape().dims());
            ew(kernel, b.numel(), KernelArgs.of().ptr(pa).ptr(pb).ptr(c.ptr(y)).i64(b.numel()));
            return c.done(y);
        }
    }

    @Override
    public Tensor silu(Tensor x) {
        Checks.f32("silu input", x);
        return unary("silu_f32_v1", x);
    }

    @Override
    public Tensor siluGrad(Tensor dy, Tensor x) {
        Checks.same("silu_grad", dy, x);
        return binary("silu_grad_f32_v1", dy, x);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        Checks.same("add", a, b);
        return binary("add_f32_v1", a, b);
    }

    @Override
    public Tensor gelu(Tensor x) {
        Checks.f32("gelu input", x);
        return unary("gelu_f32_v1", x);
    }

    @Override
    public Tensor relu(Tensor x) {
        Checks.f32("relu input", x);
        return unary("relu_f32_v1", x);
    }

    @Override
    public Tensor reluGrad(Tensor dy, Tensor y) {
        Checks.same("relu_grad", dy, y);
        return binary("relu_grad_f32_v1", dy, y);
    }

    // ------------------------------------------------------------------------------------------------ resampling
    @Override
    public Tensor concat(Tensor a, Tensor b) {
        int[] o = Checks.concat(a, b);
        long ia = a.numel() / Math.max(1, o[0]), ib = b.numel() / Math.max(1, o[0]);
        try (Call c = new Call()) {
            long pa = c.in(a), pb = c.in(b);
            Tensor y = c.out(o);
            ew("concat_f32_v1", y.numel(), KernelArgs.of().ptr(pa).ptr(pb).ptr(c.ptr(y)).i64(o[0]).i64(ia).i64(ib));
            return c.done(y);
        }
    }

    @Override
    public Tensor[] concatGrad(Tensor dy, int channelsA) {
        int[][] s = Checks.concatGrad(dy, channelsA);
        int[] d = dy.shape().dims();
        long inner = dy.numel() / Math.max(1, (long) d[0] * d[1]);
        try (Call c = new Call()) {
            long pdy = c.in(dy);
            Tensor a = c.out(s[0]), b = c.out(s[1]);
            ew("concat_grad_f32_v1", dy.numel(), KernelArgs.of().ptr(pdy).ptr(c.ptr(a)).ptr(c.ptr(b)).i64(d[0])
                    .i64(channelsA * inner).i64(s[1][1] * inner));
            return c.done(new Tensor[]{a, b});
        }
    }

    private Tensor planes(String kernel, Tensor x, int[] outDims, long outNumel, int h, int w) {
        try (Call c = new Call()) {
            long px = c.in(x);
            Tensor y = c.out(outDims);
            ew(kernel, outNumel, KernelArgs.of().ptr(px).ptr(c.ptr(y)).i64((long) x.dim(0) * x.dim(1)).i32(h).i32(w));
            return c.done(y);
        }
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        Checks.spatial("upsample", x, false);
        int[] o = {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)};
        return planes("upsample_nearest_2x_f32_v1", x, o, 4 * x.numel(), x.dim(2), x.dim(3));
    }

    @Override
    public Tensor upsampleNearest2xGrad(Tensor dy) {
        Checks.spatial("upsample_grad", dy, true);
        int[] o = {dy.dim(0), dy.dim(1), dy.dim(2) / 2, dy.dim(3) / 2};
        return planes("upsample_nearest_2x_grad_f32_v1", dy, o, dy.numel() / 4, o[2], o[3]);
    }

    @Override
    public Tensor avgPool2x(Tensor x) {
        Checks.spatial("avg_pool", x, true);
        int[] o = {x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2};
        return planes("avg_pool_2x_f32_v1", x, o, x.numel() / 4, x.dim(2), x.dim(3));
    }

    @Override
    public Tensor avgPool2xGrad(Tensor dy) {
        Checks.spatial("avg_pool_grad", dy, false);
        int[] o = {dy.dim(0), dy.dim(1), 2 * dy.dim(2), 2 * dy.dim(3)};
        return planes("avg_pool_2x_grad_f32_v1", dy, o, 4 * dy.numel(), dy.dim(2), dy.dim(3));
    }

    // ------------------------------------------------------------------------------------------------ pools
    @Override
    public Tensor maxPool2d(Tensor x, int k, int stride, int pad) {
        int[] o = Checks.maxPool(x, k, stride, pad);
        try (Call c = new Call()) {
            long px = c.in(x);
            Tensor y = c.out(o);
            ew("max_pool_f32_v1", y.numel(), KernelArgs.of().ptr(px).ptr(c.ptr(y)).i64((long) o[0] * o[1]).i32(x.dim(2)).i32(x.dim(3))
                    .i32(k).i32(stride).i32(pad).i32(o[2]).i32(o[3]));
            return c.done(y);
        }
    }

    @Override
    public Tensor maxPool2dGrad(Tensor dy, Tensor x, int k, int stride, int pad) {
        Checks.maxPoolGrad(dy, x, k, stride, pad);
        try (Call c = new Call()) {
            long pdy = c.in(dy), px = c.in(x);
            Tensor dx = c.out(x.shape().dims());
            ew("max_pool_grad_f32_v1", x.numel(), KernelArgs.of().ptr(pdy).ptr(px).ptr(c.ptr(dx)).i64((long) x.dim(0) * x.dim(1))
                    .i32(x.dim(2)).i32(x.dim(3)).i32(k).i32(stride).i32(pad).i32(dy.dim(2)).i32(dy.dim(3)));
            return c.done(dx);
        }
    }

    @Override
    public Tensor globalAvgPool(Tensor x) {
        Checks.rank("global_avg_pool input", x, 4);
        long planes = (long) x.dim(0) * x.dim(1), hw = (long) x.dim(2) * x.dim(3);
        try (Call c = new Call()) {
            long px = c.in(x);
            Tensor y = c.out(x.dim(0), x.dim(1));
            if (planes > 0)
                dev.launch("global_avg_pool_f32_v1", Dim3.of((int) planes), Dim3.of(Kernels.GAP_THREADS), KernelArgs.of().ptr(px).ptr(c.ptr(y)).i64(hw));
            return c.done(y);
        }
    }

    @Override
    public Tensor globalAvgPoolGrad(Tensor dy, int h, int w) {
        Checks.globalAvgPoolGrad(dy, h, w);
        try (Call c = new Call()) {
            long pdy = c.in(dy);
            Tensor dx = c.out(dy.dim(0), dy.dim(1), h, w);
            ew("global_avg_pool_grad_f32_v1", dx.numel(), KernelArgs.of().ptr(pdy).ptr(c.ptr(dx)).i64((long) dy.dim(0) * dy.dim(1))
                    .i64((long) h * w));
            return c.done(dx);
        }
    }

    // ------------------------------------------------------------------------------------------------ attention
    @Override
    public Tensor attention(Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c3 = qkv.dim(1), t = qkv.dim(2), ch = c3 / (3 * heads);
        float scale = (float) (1.0 / Math.sqrt(ch));
        try (Call c = new Call()) {
            long pq = c.in(qkv);
            Tensor y = c.out(b, heads * ch, t);
            if (ch <= Kernels.ATTN_MAX_CH) {
                dev.launch("attention_f32_v1", Dim3.of(Dim3.blocks(t, Kernels.ATTN_BQ), heads, b), Dim3.of(Kernels.ATTN_BQ),
                        KernelArgs.of().ptr(pq).ptr(c.ptr(y)).i32(heads).i32(ch).i32(t).f32(scale));
            } else {
                // wide heads: P = softmax(Q^T K scale) materialised, then out = V P^T
                long cT = (long) ch * t, c3T = (long) c3 * t, tt = (long) t * t, z = (long) b * heads;
                long p = c.scratch(4 * z * tt);
                gemm(c3T, 3 * cT, pq, 1, t, c3T, 3 * cT, pq + 4 * cT, t, 1, heads * tt, tt, p, t, 1, t, t, ch, b, heads, scale);
                softmaxRows("attention_softmax_f32_v1", z * t, KernelArgs.of().ptr(p).i64(z * t).i32(t));
                gemm(c3T, 3 * cT, pq + 8 * cT, t, 1, heads * tt, tt, p, 1, t, (long) heads * cT, cT, c.ptr(y), t, 1, ch, t, t, b, heads, 1f);
            }
            return c.done(y);
        }
    }

    /**
     * C[zo,zi](m,n) = alpha sum_k A(m,k) B(k,n) over a (zo < zoN, zi < ziN) batch. Offsets and strides in elements
     * except the base addresses (bytes); argument order: A (sAo, sAi, base, sAm, sAk), B (sBo, sBi, base, sBk, sBn),
     * C (sCo, sCi, base, sCm, sCn), then M, N, K.
     */
    private void gemm(long sAo, long sAi, long a, long sAm, long sAk, long sBo, long sBi, long bb, long sBk, long sBn,
                      long sCo, long sCi, long cc, long sCm, long sCn, int m, int n, int k, int zoN, int ziN, float alpha) {
        dev.launch("gemm_batched_f32_v1", Dim3.of(Dim3.blocks(n, Kernels.GEMM_BN), Dim3.blocks(m, Kernels.GEMM_BM), zoN * ziN),
                Dim3.of(Kernels.GEMM_THREADS), KernelArgs.of().ptr(a).ptr(bb).ptr(cc).i32(m).i32(n).i32(k).i32(ziN)
                        .i64(sAo).i64(sAi).i64(sAm).i64(sAk).i64(sBo).i64(sBi).i64(sBk).i64(sBn).i64(sCo).i64(sCi).i64(sCm).i64(sCn)
                        .f32(alpha));
    }

    /** A row kernel of attention.cu: one warp per row. */
    private void softmaxRows(String kernel, long rows, KernelArgs a) {
        dev.launch(kernel, Dim3.of(Dim3.blocks(rows, Kernels.ATTN_ROW_WARPS)), Dim3.of(Kernels.ATTN_ROW_WARPS * 32), a);
    }

    /** Scratch for attention's materialised T x T matrices is kept under this many bytes by splitting the batch. */
    private static final long ATTN_SCRATCH_BYTES = 1L << 30;

    @Override
    public Tensor attentionGrad(Tensor dy, Tensor qkv, int heads) {
        Checks.attention(qkv, heads);
        int b = qkv.dim(0), c3 = qkv.dim(1), t = qkv.dim(2), cc = c3 / 3, ch = cc / heads;
        Checks.shape("attention_grad dy", dy, b, cc, t);
        float scale = (float) (1.0 / Math.sqrt(ch));
        long cT = (long) ch * t, c3T = (long) c3 * t, cTall = (long) cc * t, tt = (long) t * t;
        int per = (int) Math.max(1, Math.min(b, ATTN_SCRATCH_BYTES / Math.max(1, 8L * heads * tt)));
        try (Call c = new Call()) {
            long pq = c.in(qkv), pdy = c.in(dy);
            Tensor dq = c.out(qkv.shape().dims());
            long pdq = c.ptr(dq);
            long p = c.scratch(4L * per * heads * tt), dp = c.scratch(4L * per * heads * tt);
            for (int b0 = 0; b0 < b; b0 += per) {
                int nb = Math.min(per, b - b0);
                long q = pq + 4 * b0 * c3T, d = pdy + 4 * b0 * cTall, g = pdq + 4 * b0 * c3T;
                long k = q + 4 * cT, v = q + 8 * cT;
                long sP = heads * tt;
                // S = scale Q^T K  -> P = softmax(S)                  [t, s]
                gemm(c3T, 3 * cT, q, 1, t, c3T, 3 * cT, k, t, 1, sP, tt, p, t, 1, t, t, ch, nb, heads, scale);
                long rows = (long) nb * heads * t;
                softmaxRows("attention_softmax_f32_v1", rows, KernelArgs.of().ptr(p).i64(rows).i32(t));
                // dP = dY^T V                                          [t, s]
                gemm(cTall, cT, d, 1, t, c3T, 3 * cT, v, t, 1, sP, tt, dp, t, 1, t, t, ch, nb, heads, 1f);
                // dV = dY P                                            [c, s]
                gemm(cTall, cT, d, t, 1, sP, tt, p, t, 1, c3T, 3 * cT, g + 8 * cT, t, 1, ch, t, t, nb, heads, 1f);
                // dS = P o (dP - rowsum(dP o P)) scale, in place of dP
                softmaxRows("attention_softmax_grad_f32_v1", rows, KernelArgs.of().ptr(p).ptr(dp).i64(rows).i32(t).f32(scale));
                // dQ = K dS^T                                          [c, t]
                gemm(c3T, 3 * cT, k, t, 1, sP, tt, dp, 1, t, c3T, 3 * cT, g, t, 1, ch, t, t, nb, heads, 1f);
                // dK = Q dS                                            [c, s]
                gemm(c3T, 3 * cT, q, t, 1, sP, tt, dp, t, 1, c3T, 3 * cT, g + 4 * cT, t, 1, ch, t, t, nb, heads, 1f);
            }
            return c.done(dq);
        }
    }

    // ------------------------------------------------------------------------------------------------ composite
    @Override
    public Tensor affineComposite(Tensor bg, Tensor src, float[] inverse) {
        Checks.affineComposite(bg, src, inverse);
        int b = bg.dim(0), ch = bg.dim(1), h = bg.dim(2), w = bg.dim(3);
        try (Call c = new Call(); Tensor inv = Tensor.of(inverse, inverse.length)) {
            long pbg = c.in(bg), psrc = c.in(src), pinv = c.in(inv);
            Tensor y = c.out(b, ch + 1, h, w);
            ew("affine_composite_f32_v1", (long) b * h * w, KernelArgs.of().ptr(pbg).ptr(psrc).ptr(pinv).ptr(c.ptr(y)).i32(b).i32(ch)
                    .i32(h).i32(w).i32(src.dim(2)).i32(src.dim(3)));
            return c.done(y);
        }
    }

    // ------------------------------------------------------------------------------------------------ embedding, fft
    @Override
    public Tensor timestepEmbedding(Tensor t, int dim) {
        Checks.timestep(t, dim);
        int b = t.dim(0);
        try (Call c = new Call()) {
            long pt = c.in(t);
            Tensor y = c.out(b, dim);
            ew("timestep_embedding_f32_v1", (long) b * (dim / 2), KernelArgs.of().ptr(pt).ptr(c.ptr(y)).i32(b).i32(dim)
                    .f32((float) -Math.log(10000.0)));
            return c.done(y);
        }
    }

    @Override
    public Tensor fft2(Tensor x) {
        int[] o = Checks.fft2(x);
        return dft2(x, o, false, x.dim(-2), x.dim(-1), -1);
    }

    @Override
    public Tensor fft2Grad(Tensor g) {
        int[] o = Checks.fft2Grad(g);
        return dft2(g, o, true, g.dim(-3), g.dim(-2), +1);
    }

    /** Separable DFT: rows (W) then columns (H), complex fp64 in between; complexIn/realOut for the adjoint. */
    private Tensor dft2(Tensor in, int[] outDims, boolean adjoint, int h, int w, int sign) {
        long planes = in.numel() / ((long) h * w * (adjoint ? 2 : 1));
        long rows = planes * h;
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException("fft2: too many rows (" + rows + ")");
        try (Call c = new Call()) {
            long pin = c.in(in);
            Tensor y = c.out(outDims);
            if (rows > 0) {
                long tmp = c.scratch(16 * rows * w);
                long twW = ctx.twiddles(w, sign), twH = ctx.twiddles(h, sign);
                Dim3 grid = Dim3.of((int) rows, Dim3.blocks(w, Kernels.FFT_THREADS)), block = Dim3.of(Kernels.FFT_THREADS);
                dev.launch("fft2_rows_f32_v1", grid, block, KernelArgs.of().ptr(pin).i32(adjoint ? 1 : 0).ptr(tmp).ptr(twW).i32(w));
                dev.launch("fft2_cols_f32_v1", grid, block, KernelArgs.of().ptr(tmp).ptr(c.ptr(y)).i32(adjoint ? 1 : 0).ptr(twH).i32(h).i32(w));
            }
            return c.done(y);
        }
    }

    // ------------------------------------------------------------------------------------------------ sampler (sampler.cu)
    private static long per(Tensor t) { return t.numel() / t.dim(0); }

    /** One block per sample of a per-sample reduction kernel. */
    private void perSample(String kernel, int b, KernelArgs a) {
        dev.launch(kernel, Dim3.of(b), Dim3.of(Kernels.SAMPLER_REDUCE_THREADS), a);
    }

    @Override
    public Tensor axpby(Tensor x, Tensor z, Tensor coef, int col) {
        Checks.axpby(x, z, coef, col);
        try (Call c = new Call()) {
            long px = c.in(x), pz = c.in(z), pc = c.in(coef);
            Tensor y = c.out(x.shape().dims());
            ew("axpby_f32_v1", x.numel(), KernelArgs.of().ptr(px).ptr(pz).ptr(pc).ptr(c.ptr(y)).i64(per(x)).i32(x.dim(0))
                    .i32(coef.dim(1)).i32(col));
            return c.done(y);
        }
    }

    @Override
    public Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col) {
        int[] d = Checks.pMeanVariance(out, x, coef, col);
        try (Call c = new Call()) {
            long po = c.in(out), px = c.in(x), pc = c.in(coef);
            Tensor[] r = {c.out(d), c.out(d), c.out(d), c.out(d), c.out(d)};
            KernelArgs a = KernelArgs.of().ptr(po).ptr(px).ptr(pc);
            for (Tensor t : r) a.ptr(c.ptr(t));
            ew("p_mean_variance_f32_v1", x.numel(), a.i64(per(x)).i32(x.dim(0)).i32(coef.dim(1)).i32(col));
            return c.done(r);
        }
    }

    @Override
    public Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col) {
        Checks.posteriorSample(mean, variance, logVariance, g, z, coef, col);
        try (Call c = new Call()) {
            long pm = c.in(mean), pv = c.in(variance), pl = c.in(logVariance), pg = c.in(g), pz = c.in(z), pc = c.in(coef);
            Tensor y = c.out(mean.shape().dims());
            ew("posterior_sample_f32_v1", mean.numel(), KernelArgs.of().ptr(pm).ptr(pv).ptr(pl).ptr(pg).ptr(pz).ptr(pc).ptr(c.ptr(y))
                    .i64(per(mean)).i32(mean.dim(0)).i32(coef.dim(1)).i32(col));
            return c.done(y);
        }
    }

    @Override
    public Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp) {
        Checks.blend(rest, obj, mask);
        try (Call c = new Call()) {
            long pr = c.in(rest), po = c.in(obj), pm = c.in(mask);
            Tensor y = c.out(rest.shape().dims());
            ew("blend_f32_v1", rest.numel(), KernelArgs.of().ptr(pr).ptr(po).ptr(pm).ptr(c.ptr(y)).i64((long) rest.dim(2) * rest.dim(3))
                    .i32(rest.dim(1)).i32(rest.dim(0)).i32(clamp ? 1 : 0));
            return c.done(y);
        }
    }

    @Override
    public Tensor philoxNormal(Tensor keys, int purpose, int... dims) {
        Checks.philoxNormal(keys, purpose, dims);
        try (Call c = new Call()) {
            long pk = c.in(keys);
            Tensor y = c.out(dims);
            long per = per(y);
            ew("philox_normal_f32_v1", (per + 3) / 4 * dims[0], KernelArgs.of().ptr(pk).ptr(c.ptr(y)).i64(per).i32(dims[0]).i32(purpose));
            return c.done(y);
        }
    }

    @Override
    public Tensor spectrumMeanAbs(Tensor f) {
        Checks.spectrum("spectrum_mean_abs", f);
        try (Call c = new Call()) {
            long pf = c.in(f);
            Tensor y = c.out(f.dim(0));
            perSample("spectrum_mean_abs_f32_v1", f.dim(0), KernelArgs.of().ptr(pf).ptr(c.ptr(y)).i64(per(f) / 2));
            return c.done(y);
        }
    }

    @Override
    public Tensor spectrumScale(Tensor f, Tensor coef, int col) {
        Checks.spectrum("spectrum_scale", f);
        Checks.coef("spectrum_scale", coef, col, 1, f.dim(0));
        try (Call c = new Call()) {
            long pf = c.in(f), pc = c.in(coef);
            Tensor y = c.out(f.shape().dims());
            ew("spectrum_scale_f32_v1", f.numel() / 2, KernelArgs.of().ptr(pf).ptr(pc).ptr(c.ptr(y)).i64(per(f) / 2).i32(f.dim(0))
                    .i32(coef.dim(1)).i32(col));
            return c.done(y);
        }
    }

    @Override
    public Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col) {
        Checks.rangeGrad(x, g, coef, col);
        try (Call c = new Call()) {
            long px = c.in(x), pg = c.in(g), pc = c.in(coef);
            Tensor y = c.out(x.shape().dims()), sq = c.out(x.dim(0));
            perSample("range_grad_f32_v1", x.dim(0), KernelArgs.of().ptr(px).ptr(pg).ptr(pc).ptr(c.ptr(y)).ptr(c.ptr(sq)).i64(per(x))
                    .i32(coef.dim(1)).i32(col));
            return c.done(new Tensor[]{y, sq});
        }
    }

    @Override
    public Tensor nonFinite(Tensor x) {
        int b = Checks.batched("non_finite input", x);
        long per = per(x);
        if (per > Integer.MAX_VALUE) throw new IllegalArgumentException("non_finite: " + per + " elements per sample exceed the kernel's int indexing");
        try (Call c = new Call()) {
            long px = c.in(x);
            Tensor y = c.out(b, 2);
            perSample("non_finite_f32_v1", b, KernelArgs.of().ptr(px).ptr(c.ptr(y)).i32((int) per));
            return c.done(y);
        }
    }
}
