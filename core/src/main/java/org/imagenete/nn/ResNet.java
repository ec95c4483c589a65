package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.OnnxWriter;
import org.imagenete.io.Checkpoints;
import org.imagenete.io.MappedFiles;
import org.imagenete.io.StateDict;
import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * torchvision's ResNet (18/34 with BasicBlocks, 50/101/152 with Bottlenecks, v1.5: stride on the 3x3 conv), and its
 * ResNeXt (the Bottleneck's 3x3 conv grouped, e.g. 32 groups of 4 channels per 64 planes: resnext50_32x4d) and
 * Wide ResNet (the Bottleneck twice as wide: wide_resnet50_2) variants, in eval mode, written only in {@link Ops}. BatchNorm is folded into the preceding convolution at load:
 * w' = w gamma / sqrt(var + eps), b' = beta - mean gamma / sqrt(var + eps). Names follow the state dict.
 */
public final class ResNet implements AutoCloseable {
    public static final float BN_EPS = 1e-5f;

    /** Receives "maxpool", "layer1".."layer4", "pooled" (borrowed: copy what you keep). */
    @FunctionalInterface
    public interface ActivationSink {
        void accept(String name, Tensor t);
    }

    /**
     * Depth, block type, blocks per stage, and torchvision's {@code groups} and {@code width_per_group}: the
     * Bottleneck's inner width is planes * widthPerGroup / 64 * groups (64 and 1 for ResNet, 4 and 32 for
     * resnext50_32x4d, 128 and 1 for wide_resnet50_2).
     */
    public record Arch(int depth, boolean bottleneck, int[] blocks, int numClasses, int groups, int widthPerGroup) {
        public Arch {
            if (groups < 1 || widthPerGroup < 1 || (!bottleneck && (groups != 1 || widthPerGroup != 64)))
                throw new IllegalArgumentException("ResNet-" + depth + ": groups " + groups + ", width per group " + widthPerGroup
                        + " (BasicBlock networks have 1 and 64)");
        }

        public static Arch of(int depth, int numClasses) { return of(depth, numClasses, 1, 64); }

        public static Arch of(int depth, int numClasses, int groups, int widthPerGroup) {
            return switch (depth) {
                case 18 -> new Arch(18, false, new int[]{2, 2, 2, 2}, numClasses, groups, widthPerGroup);
                case 34 -> new Arch(34, false, new int[]{3, 4, 6, 3}, numClasses, groups, widthPerGroup);
                case 50 -> new Arch(50, true, new int[]{3, 4, 6, 3}, numClasses, groups, widthPerGroup);
                case 101 -> new Arch(101, true, new int[]{3, 4, 23, 3}, numClasses, groups, widthPerGroup);
                case 152 -> new Arch(152, true, new int[]{3, 8, 36, 3}, numClasses, groups, widthPerGroup);
                default -> throw new IllegalArgumentException("ResNet depth " + depth + " (18, 34, 50, 101, 152)");
            };
        }

        /** torchvision's name: resnet50, resnext50_32x4d, wide_resnet50_2 (other combinations spelled the ResNeXt way). */
        public String name() {
            if (groups > 1) return "resnext" + depth + "_" + groups + "x" + widthPerGroup + "d";
            if (widthPerGroup != 64) return widthPerGroup % 64 == 0 ? "wide_resnet" + depth + "_" + widthPerGroup / 64 : "resnet" + depth + "_1x" + widthPerGroup + "d";
            return "resnet" + depth;
        }

        public int expansion() { return bottleneck ? 4 : 1; }

        @Override public String toString() {
            return name() + ": blocks " + Arrays.toString(blocks) + (bottleneck ? " (bottleneck" + (groups > 1 ? ", " + groups + " groups" : "")
                    + ", width " + width(64) + " in layer1)" : "") + ", " + numClasses + " classes";
        }

        /** The Bottleneck's inner width in a stage of {@code planes} (64 << stage). */
        public int width(int planes) { return planes * widthPerGroup / 64 * groups; }

        public int features() { return 512 * expansion(); }

        /** Every state-dict entry of torchvision's model, in order, with its shape. */
        public Map<String, int[]> parameterShapes() {
            Map<String, int[]> p = new LinkedHashMap<>();
            p.put("conv1.weight", new int[]{64, 3, 7, 7});
            bn(p, "bn1", 64);
            int in = 64;
            for (int s = 0; s < 4; s++) {
                int planes = 64 << s;
                for (int b = 0; b < blocks[s]; b++) {
                    String n = "layer" + (s + 1) + "." + b;
                    int stride = b == 0 && s > 0 ? 2 : 1;
                    if (bottleneck) {
                        int w = width(planes);
                        p.put(n + ".conv1.weight", new int[]{w, in, 1, 1});
                        bn(p, n + ".bn1", w);
                        p.put(n + ".conv2.weight", new int[]{w, w / groups, 3, 3});
                        bn(p, n + ".bn2", w);
                        p.put(n + ".conv3.weight", new int[]{planes * 4, w, 1, 1});
                        bn(p, n + ".bn3", planes * 4);
                    } else {
                        p.put(n + ".conv1.weight", new int[]{planes, in, 3, 3});
                        bn(p, n + ".bn1", planes);
                        p.put(n + ".conv2.weight", new int[]{planes, planes, 3, 3});
                        bn(p, n + ".bn2", planes);
                    }
                    int out = planes * expansion();
                    if (b == 0 && (stride != 1 || in != out)) {
                        p.put(n + ".downsample.0.weight", new int[]{out, in, 1, 1});
                        bn(p, n + ".downsample.1", out);
                    }
                    in = out;
                }
            }
            p.put("fc.weight", new int[]{numClasses, in});
            p.put("fc.bias", new int[]{numClasses});
            return p;
        }

        private static void bn(Map<String, int[]> p, String n, int c) {
            for (String k : List.of("weight", "bias", "running_mean", "running_var")) p.put(n + "." + k, new int[]{c});
            p.put(n + ".num_batches_tracked", new int[]{});
        }

        /** Whether the keys are those of a torchvision ResNet family state dict (its stem and first block). */
        public static boolean recognises(Map<String, Tensor> sd) {
            return sd.containsKey("conv1.weight") && sd.containsKey("layer1.0.conv1.weight");
        }

        /** Reads depth, class count, groups and width off a torchvision state dict. */
        public static Arch infer(Map<String, Tensor> sd) {
            int[] blocks = new int[4];
            for (int s = 0; s < 4; s++) while (sd.containsKey("layer" + (s + 1) + "." + blocks[s] + ".conv1.weight")) blocks[s]++;
            boolean bottleneck = sd.containsKey("layer1.0.conv3.weight");
            Tensor fc = sd.get("fc.weight");
            if (fc == null || fc.rank() != 2 || blocks[0] == 0)
                throw new IllegalArgumentException("not a torchvision ResNet state dict (no fc.weight [classes, C] / layer1.0)");
            int groups = 1, widthPerGroup = 64;
            Tensor c2 = sd.get("layer1.0.conv2.weight");
            if (bottleneck && c2 != null && c2.rank() == 4 && c2.dim(1) > 0 && c2.dim(0) % c2.dim(1) == 0) {
                // layer1's conv2 is [width, width / groups, 3, 3] with width = 64 * widthPerGroup / 64 * groups
                groups = c2.dim(0) / c2.dim(1);
                widthPerGroup = c2.dim(1);
            }
            for (int depth : bottleneck ? new int[]{50, 101, 152} : new int[]{18, 34}) {
                Arch a = of(depth, fc.dim(0), groups, widthPerGroup);
                if (Arrays.equals(a.blocks, blocks)) return a;
            }
            throw new IllegalArgumentException("unknown ResNet layout: blocks " + Arrays.toString(blocks) + (bottleneck ? " (bottleneck)" : ""));
        }
    }

    private final Arch arch;
    /** Folded convolutions: name -> {weight, bias}; the fc layer as is. */
    private final Map<String, Tensor[]> convs = new LinkedHashMap<>();
    private final Tensor fcW, fcB;

    private ResNet(Arch arch, Map<String, Tensor[]> convs, Tensor fcW, Tensor fcB) {
        this.arch = arch;
        this.convs.putAll(convs);
        this.fcW = fcW;
        this.fcB = fcB;
    }

    public Arch arch() { return arch; }

    /** Opens a torchvision checkpoint (.pth zip or safetensors), folds BatchNorm, closes the file. */
    public static ResNet open(Path file) { return open(file, DType.F32); }

    /** The same with the folded convolution weights in {@code convWeights} (F32, or BF16: {@link Ops#convWeightType()}). */
    public static ResNet open(Path file, DType convWeights) {
        try (StateDict sd = Checkpoints.open(file)) {
            Arch a;
            try {
                a = Arch.infer(sd.tensors());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(file, null, e.getMessage(), e);
            }
            return MappedFiles.guard(sd, () -> load(a, sd.tensors(), file, convWeights));   // a file truncated meanwhile: one clear error
        }
    }

    /** Folds BatchNorm into copies of the conv weights; the state dict can be closed afterwards. */
    public static ResNet load(Arch arch, Map<String, Tensor> sd, Path file) { return load(arch, sd, file, DType.F32); }

    /** The same, the folded conv weights then converted to {@code convWeights} (F32 or BF16); fc stays F32. */
    public static ResNet load(Arch arch, Map<String, Tensor> sd, Path file, DType convWeights) {
        if (convWeights != DType.F32 && convWeights != DType.BF16)
            throw new IllegalArgumentException("convolution weights in " + convWeights + ": F32 or BF16");
        Map<String, int[]> expected = arch.parameterShapes();
        for (var e : expected.entrySet()) {
            Tensor t = sd.get(e.getKey());
            // num_batches_tracked is unused in eval mode, and absent from checkpoints saved before torch 0.4.1
            if (t == null && e.getKey().endsWith(".num_batches_tracked")) continue;
            if (t == null) throw new CheckpointException(file, e.getKey(), "missing (expected shape " + Arrays.toString(e.getValue()) + ")");
            if (!Arrays.equals(t.shape().dims(), e.getValue()) && !(e.getValue().length == 0 && t.numel() == 1))
                throw new CheckpointException(file, e.getKey(), "shape " + t.shape() + ", expected " + Arrays.toString(e.getValue()));
        }
        for (String k : sd.keySet()) if (!expected.containsKey(k)) throw new CheckpointException(file, k, "unexpected key for " + arch.name());
        Map<String, Tensor[]> convs = new LinkedHashMap<>();
        try {
            fold(convs, sd, "conv1", "bn1");
            for (String k : expected.keySet()) {
                if (!k.startsWith("layer") || !k.endsWith(".weight")) continue;
                String base = k.substring(0, k.length() - ".weight".length());
                if (base.endsWith("downsample.0")) fold(convs, sd, base, base.replace("downsample.0", "downsample.1"));
                else if (base.matches(".*\\.conv\\d")) fold(convs, sd, base, base.replace(".conv", ".bn"));
            }
            if (convWeights != DType.F32)
                for (Tensor[] p : convs.values())
                    try (Tensor f = p[0]) {
                        p[0] = f.convert(convWeights);
                    }
            return new ResNet(arch, convs, sd.get("fc.weight").toF32(), sd.get("fc.bias").toF32());
        } catch (RuntimeException e) {
            convs.values().forEach(p -> { p[0].close(); p[1].close(); });
            throw e;
        }
    }

    private static void fold(Map<String, Tensor[]> out, Map<String, Tensor> sd, String conv, String bn) {
        Tensor w = sd.get(conv + ".weight");
        int cout = w.dim(0);
        long per = w.numel() / cout;
        Tensor g = sd.get(bn + ".weight"), b = sd.get(bn + ".bias"), m = sd.get(bn + ".running_mean"), v = sd.get(bn + ".running_var");
        Tensor wf = Tensor.allocate(DType.F32, w.shape()), bf = Tensor.allocate(DType.F32, cout);
        for (int c = 0; c < cout; c++) {
            double s = g.getFloat(c) / Math.sqrt((double) v.getFloat(c) + BN_EPS);
            for (long i = 0; i < per; i++) wf.setFloat(c * per + i, (float) (w.getFloat(c * per + i) * s));
            bf.setFloat(c, (float) (b.getFloat(c) - m.getFloat(c) * s));
        }
        out.put(conv, new Tensor[]{wf, bf});
    }

    /** ReLU and the residual add are fused into the convolutions in the forward; ADD sums the gradient's branches. */
    public static final Set<Op> FORWARD_OPS = EnumSet.of(Op.CONV2D, Op.MAX_POOL, Op.GLOBAL_AVG_POOL, Op.LINEAR);
    public static final Set<Op> GRADIENT_OPS = EnumSet.of(Op.CONV2D, Op.MAX_POOL, Op.GLOBAL_AVG_POOL, Op.LINEAR, Op.ADD,
            Op.CONV2D_GRAD, Op.RELU_GRAD, Op.MAX_POOL_GRAD, Op.GLOBAL_AVG_POOL_GRAD, Op.LINEAR_GRAD);

    /** Saved activations for the input-gradient. */
    public static final class Tape implements AutoCloseable {
        private final List<Object> recs = new ArrayList<>();
        private final List<Tensor> owned = new ArrayList<>();
        private int[] inputShape;

        Tensor keep(Tensor t) {
            owned.add(t);
            return t;
        }

        @Override public void close() {
            owned.forEach(Tensor::close);
            owned.clear();
            recs.clear();
        }
    }

    private record StemRec(Tensor relu, Tensor pooled, int h, int w) {}

    /** r1, r2: the block's inner ReLU outputs; out: its output (after the final ReLU). */
    private record BlockRec(String name, int stride, boolean downsample, Tensor r1, Tensor r2, Tensor out, int h, int w) {}

    private record HeadRec(int h, int w) {}

    /** x [B,3,H,W] (normalised) -> logits [B, classes]; layer4 features and more via the sink. */
    public Tensor forward(Ops ops, Tensor x, ActivationSink sink, Tape tape) {
        EnumSet<Op> missing = EnumSet.copyOf(tape == null ? FORWARD_OPS : GRADIENT_OPS);
        missing.removeAll(ops.supports());
        if (!missing.isEmpty()) throw new UnsupportedOperationException("backend " + ops.name() + " lacks " + missing);
        Checks.rank("x", x, 4);
        if (x.dim(1) != 3) throw new IllegalArgumentException("x must have shape [B,3,H,W], got " + x.shape());
        if (tape != null) tape.inputShape = x.shape().dims();
        Tensor h;
        Tensor[] c1 = convs.get("conv1");
        Tensor r = ops.conv2d(x, c1[0], c1[1], 2, 3, null, true);                   // conv1 + bn1, relu: [B, 64, H/2, W/2]
        try {
            h = ops.maxPool2d(r, 3, 2, 1);                                               // [B, 64, H/4, W/4]
        } finally {
            if (tape == null) r.close();
        }
        if (tape != null) tape.recs.add(new StemRec(tape.keep(r), null, x.dim(2), x.dim(3)));
        if (tape != null) tape.keep(h);
        if (sink != null) sink.accept("maxpool", h);
        for (int s = 0; s < 4; s++) {
            for (int b = 0; b < arch.blocks[s]; b++) {
                Tensor next = block(ops, "layer" + (s + 1) + "." + b, b == 0 && s > 0 ? 2 : 1, h, tape);
                if (tape == null) h.close();
                h = next;
            }
            if (sink != null) sink.accept("layer" + (s + 1), h);
        }
        try (Tensor pooled = ops.globalAvgPool(h)) {                                   // avgpool: [B, C]
            if (tape != null) tape.recs.add(new HeadRec(h.dim(2), h.dim(3)));
            else h.close();
            if (sink != null) sink.accept("pooled", pooled);
            return ops.linear(pooled, fcW, fcB);                                      // fc: [B, classes]
        }
    }

    private Tensor block(Ops ops, String n, int stride, Tensor x, Tape tape) {
        Tensor[] c1 = convs.get(n + ".conv1"), c2 = convs.get(n + ".conv2"), c3 = convs.get(n + ".conv3"), ds = convs.get(n + ".downsample.0");
        Tensor identity = ds == null ? x : ops.conv2d(x, ds[0], ds[1], stride, 0);    // downsample: [B, out, H/s, W/s]
        // ReLU fused into each convolution (Ops.conv2d's relu flag); the ReLU outputs are what the tape keeps
        Tensor r1 = null, r2 = null, out;
        try {
            if (arch.bottleneck) {
                r1 = ops.conv2d(x, c1[0], c1[1], 1, 0, null, true);                      // conv1 bn1 relu: [B, width, H, W]
                r2 = ops.conv2d(r1, c2[0], c2[1], stride, 1, arch.groups, null, true);   // conv2 bn2 relu (grouped): [B, width, H/s, W/s]
                out = ops.conv2d(r2, c3[0], c3[1], 1, 0, identity, true);                // conv3 bn3 + identity, relu: [B, 4 planes, H/s, W/s]
            } else {
                r1 = ops.conv2d(x, c1[0], c1[1], stride, 1, null, true);                 // conv1 bn1 relu
                out = ops.conv2d(r1, c2[0], c2[1], 1, 1, identity, true);                // conv2 bn2 + identity, relu
            }
        } catch (RuntimeException | Error e) {
            if (r1 != null) r1.close();
            if (r2 != null) r2.close();
            throw e;
        } finally {
            if (identity != x) identity.close();
        }
        if (tape != null) {
            tape.recs.add(new BlockRec(n, stride, ds != null, tape.keep(r1), r2 == null ? null : tape.keep(r2), tape.keep(out), x.dim(2), x.dim(3)));
        } else {
            r1.close();
            if (r2 != null) r2.close();
        }
        return out;
    }

    /** d(sum(logits * v))/dx for the forward recorded on the tape; v [B, classes]. Consumes the tape. */
    public Tensor inputGradient(Ops ops, Tape tape, Tensor v) {
        int[] in = tape.inputShape;
        Checks.shape("v", v, in[0], arch.numClasses);
        List<Object> recs = tape.recs;
        HeadRec head = (HeadRec) recs.getLast();
        Tensor g;
        try (Tensor dp = ops.linearGrad(v, fcW)) {                                       // [B, C]
            g = ops.globalAvgPoolGrad(dp, head.h, head.w);                               // [B, C, h, w]
        }
        for (int k = recs.size() - 2; k >= 1; k--) {
            BlockRec br = (BlockRec) recs.get(k);
            Tensor next = blockGrad(ops, br, g);
            g.close();
            g = next;
        }
        StemRec stem = (StemRec) recs.getFirst();
        try (Tensor dr = ops.maxPool2dGrad(g, stem.relu, 3, 2, 1);
             Tensor da = ops.reluGrad(dr, stem.relu)) {
            g.close();
            Tensor dx = ops.conv2dGrad(da, convs.get("conv1")[0], 2, 3, stem.h, stem.w);
            tape.close();
            return dx;
        }
    }

    private Tensor blockGrad(Ops ops, BlockRec br, Tensor dOut) {
        String n = br.name;
        int ho = br.out.dim(2), wo = br.out.dim(3);
        try (Tensor dSum = ops.reluGrad(dOut, br.out)) {
            Tensor dMain;
            if (arch.bottleneck) {
                int h1 = br.r1.dim(2), w1 = br.r1.dim(3);
                try (Tensor dr2 = ops.conv2dGrad(dSum, convs.get(n + ".conv3")[0], 1, 0, ho, wo);
                     Tensor da2 = ops.reluGrad(dr2, br.r2);
                     Tensor dr1 = ops.conv2dGrad(da2, convs.get(n + ".conv2")[0], br.stride, 1, arch.groups, h1, w1);
                     Tensor da1 = ops.reluGrad(dr1, br.r1)) {
                    dMain = ops.conv2dGrad(da1, convs.get(n + ".conv1")[0], 1, 0, br.h, br.w);
                }
            } else {
                try (Tensor dr1 = ops.conv2dGrad(dSum, convs.get(n + ".conv2")[0], 1, 1, ho, wo);
                     Tensor da1 = ops.reluGrad(dr1, br.r1)) {
                    dMain = ops.conv2dGrad(da1, convs.get(n + ".conv1")[0], br.stride, 1, br.h, br.w);
                }
            }
            try (dMain; Tensor dId = br.downsample ? ops.conv2dGrad(dSum, convs.get(n + ".downsample.0")[0], br.stride, 0, br.h, br.w) : null) {
                return ops.add(dMain, dId != null ? dId : dSum);
            }
        }
    }

    /**
     * The network as an ONNX model (opset 13) with the folded weights: Conv (bias = folded BatchNorm), Relu, MaxPool,
     * Add, GlobalAveragePool, Flatten, Gemm. Input "x" [batch,3,H,W], output "logits" [batch, classes]. Used to run
     * exactly these weights on ONNX Runtime (the benchmarks' kernel 0), and as an export for other tools.
     */
    public byte[] toOnnx() {
        OnnxWriter g = new OnnxWriter(arch.name());
        String h = relu(g, conv(g, "conv1", "x", 2, 3));
        h = g.node("MaxPool", "maxpool", new String[]{h}, OnnxWriter.ints("kernel_shape", 3, 3), OnnxWriter.ints("strides", 2, 2),
                OnnxWriter.ints("pads", 1, 1, 1, 1));
        for (int st = 0; st < 4; st++)
            for (int b = 0; b < arch.blocks[st]; b++) {
                String n = "layer" + (st + 1) + "." + b;
                int stride = b == 0 && st > 0 ? 2 : 1;
                String id = convs.containsKey(n + ".downsample.0") ? conv(g, n + ".downsample.0", h, stride, 0) : h;
                String y;
                if (arch.bottleneck) {
                    y = relu(g, conv(g, n + ".conv1", h, 1, 0));
                    y = relu(g, conv(g, n + ".conv2", y, stride, 1, arch.groups));
                    y = conv(g, n + ".conv3", y, 1, 0);
                } else {
                    y = relu(g, conv(g, n + ".conv1", h, stride, 1));
                    y = conv(g, n + ".conv2", y, 1, 1);
                }
                h = relu(g, g.node("Add", n + ".sum", new String[]{y, id}));
            }
        h = g.node("GlobalAveragePool", "avgpool", new String[]{h});
        h = g.node("Flatten", "flatten", new String[]{h}, OnnxWriter.integer("axis", 1));
        g.node("Gemm", "logits", new String[]{h, g.initializer("fc.weight", fcW), g.initializer("fc.bias", fcB)}, OnnxWriter.integer("transB", 1));
        return g.input("x", "batch", 3L, "height", "width").output("logits", "batch", (long) arch.numClasses).toByteArray();
    }

    private String conv(OnnxWriter g, String name, String in, int stride, int pad) { return conv(g, name, in, stride, pad, 1); }

    private String conv(OnnxWriter g, String name, String in, int stride, int pad, int groups) {
        Tensor[] c = convs.get(name);
        long k = c[0].dim(2);
        String wName;
        try (Tensor w = c[0].dtype() == DType.F32 ? c[0].view(c[0].shape().dims()) : c[0].toF32()) {   // BF16 widened exactly
            wName = g.initializer(name + ".weight", w);
        }
        return g.node("Conv", name + ".out", new String[]{in, wName, g.initializer(name + ".bias", c[1])},
                OnnxWriter.ints("kernel_shape", k, k), OnnxWriter.ints("strides", stride, stride), OnnxWriter.ints("pads", pad, pad, pad, pad),
                OnnxWriter.integer("group", groups));
    }

    private static String relu(OnnxWriter g, String in) { return g.node("Relu", in + ".relu", new String[]{in}); }

    /** fc weights [classes, C], for class activation maps. */
    public Tensor fcWeight() { return fcW; }

    @Override public void close() {
        convs.values().forEach(p -> { p[0].close(); p[1].close(); });
        fcW.close();
        fcB.close();
    }
}
