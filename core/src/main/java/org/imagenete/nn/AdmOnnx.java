package org.imagenete.nn;

import org.imagenete.io.OnnxWriter;
import org.imagenete.io.Protobuf;
import org.imagenete.nn.AdmLayers.AttentionBlock;
import org.imagenete.nn.AdmLayers.Conv;
import org.imagenete.nn.AdmLayers.Down;
import org.imagenete.nn.AdmLayers.Layer;
import org.imagenete.nn.AdmLayers.Resample;
import org.imagenete.nn.AdmLayers.ResBlock;
import org.imagenete.nn.AdmLayers.Up;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/** The {@link Adm} forward pass as ONNX nodes ({@link Adm#writeOnnx}); node outputs are named after the layers. */
final class AdmOnnx {
    private final Adm adm;
    private final AdmConfig config;
    private final OnnxWriter g;
    private int count;
    private String embAct;

    private AdmOnnx(Adm adm, OnnxWriter g) {
        this.adm = adm;
        this.config = adm.config();
        this.g = g;
    }

    /** See {@link Adm#writeOnnx}. */
    static void write(Adm adm, Path file, int size) throws IOException {
        AdmConfig config = adm.config();
        if (config.numClasses() > 0 || !config.useScaleShiftNorm() || config.useNewAttentionOrder())
            throw new UnsupportedOperationException("ONNX export covers unconditional models with scale-shift norm and legacy attention: "
                    + config.describe());
        try (OnnxWriter g = new OnnxWriter("adm", file.resolveSibling(file.getFileName() + ".data"))) {
            new AdmOnnx(adm, g).build(size);
            g.write(file);
        }
    }

    String node(String op, String name, String[] in, Protobuf... attrs) {
        return g.node(op, name + "#" + count++, in, attrs);
    }

    /** Weight key as an F32 initializer (BF16 widened exactly), viewed as dims when given. */
    String weight(String key, int... dims) {
        Tensor t = adm.w(key);
        try (Tensor f = t.dtype() == DType.F32 ? t.view(t.shape().dims()) : t.toF32();
             Tensor v = f.view(dims.length > 0 ? dims : f.shape().dims())) {
            return g.initializer(key + (dims.length > 0 ? "#" + count++ : ""), v);
        }
    }

    String constant(String name, float... v) {
        try (Tensor t = Tensor.of(v, v.length)) {
            return g.initializer(name + "#" + count++, t);
        }
    }

    String ints(String name, long... v) { return g.initializer(name + "#" + count++, v); }

    String conv(String in, String key, int stride, int pad) {
        Tensor wt = adm.w(key + ".weight");
        int[] d = wt.rank() == 3 ? new int[]{wt.dim(0), wt.dim(1), 1, 1} : wt.shape().dims();   // conv1d [out,in,1]
        return node("Conv", key, new String[]{in, weight(key + ".weight", d), weight(key + ".bias")},
                OnnxWriter.ints("kernel_shape", d[2], d[3]), OnnxWriter.ints("strides", stride, stride),
                OnnxWriter.ints("pads", pad, pad, pad, pad));
    }

    String silu(String in) { return node("Mul", in + ".silu", new String[]{in, node("Sigmoid", in + ".sigmoid", new String[]{in})}); }

    /** GroupNorm(32) with its affine [C] over [B, C, ...]. */
    String groupNorm(String in, String key, int channels) {
        String grouped = node("Reshape", key + ".grouped", new String[]{in, ints("groups", 0, Adm.GROUPS, -1)});
        float[] ones = new float[Adm.GROUPS], zeros = new float[Adm.GROUPS];
        Arrays.fill(ones, 1f);
        String norm = node("InstanceNormalization", key + ".norm", new String[]{grouped, constant("ones", ones), constant("zeros", zeros)},
                OnnxWriter.real("epsilon", Adm.EPS));
        String back = node("Reshape", key + ".ungrouped", new String[]{norm, node("Shape", key + ".shape", new String[]{in})});
        String scaled = node("Mul", key + ".gamma", new String[]{back, weight(key + ".weight", channels, 1, 1)});
        return node("Add", key + ".beta", new String[]{scaled, weight(key + ".bias", channels, 1, 1)});
    }

    String resample(String in, Resample r, String name) {
        if (r == Resample.DOWN)
            return node("AveragePool", name + ".down", new String[]{in}, OnnxWriter.ints("kernel_shape", 2, 2), OnnxWriter.ints("strides", 2, 2));
        return node("Resize", name + ".up", new String[]{in, "", constant("scales", 1, 1, 2, 2)}, OnnxWriter.text("mode", "nearest"),
                OnnxWriter.text("coordinate_transformation_mode", "asymmetric"), OnnxWriter.text("nearest_mode", "floor"));
    }

    String slice(String in, long from, long to, String name) {
        return node("Slice", name, new String[]{in, ints("from", from), ints("to", to), ints("axis", 1)});
    }

    String resBlock(ResBlock rb, String x) {
        String n = rb.name();
        String h = silu(groupNorm(x, n + ".in_layers.0", rb.in()));
        String xr = x;
        if (rb.resample() != Resample.NONE) {
            h = resample(h, rb.resample(), n + ".h");
            xr = resample(x, rb.resample(), n + ".x");
        }
        h = conv(h, n + ".in_layers.2", 1, 1);
        String e = node("Gemm", n + ".emb_layers.1", new String[]{embAct, weight(n + ".emb_layers.1.weight"), weight(n + ".emb_layers.1.bias")},
                OnnxWriter.integer("transB", 1));                                              // [B, 2 out]
        String axes = ints("axes", 2, 3);
        String scale = node("Unsqueeze", n + ".scale", new String[]{slice(e, 0, rb.out(), n + ".scale2"), axes});
        String shift = node("Unsqueeze", n + ".shift", new String[]{slice(e, rb.out(), 2L * rb.out(), n + ".shift2"), axes});
        String hn = groupNorm(h, n + ".out_layers.0", rb.out());
        hn = node("Mul", n + ".scaled", new String[]{hn, node("Add", n + ".onePlus", new String[]{scale, constant("one", 1f)})});
        String hh = silu(node("Add", n + ".shifted", new String[]{hn, shift}));
        String skip = rb.in() == rb.out() ? xr : conv(xr, n + ".skip_connection", 1, 0);
        return node("Add", n + ".out", new String[]{conv(hh, n + ".out_layers.3", 1, 1), skip});
    }

    String attention(AttentionBlock ab, String x, int hw) {
        String n = ab.name();
        int c = ab.channels(), ch = c / ab.heads();
        String qkv = conv(groupNorm(x, n + ".norm", c), n + ".qkv", 1, 0);                     // [B, 3C, H, W]
        String heads = node("Reshape", n + ".heads", new String[]{qkv, ints("shape", -1, 3L * ch, (long) hw * hw)});   // [B*heads, 3ch, T]
        String s = constant("scale", (float) (1 / Math.sqrt(Math.sqrt(ch))));
        String q = node("Mul", n + ".q", new String[]{slice(heads, 0, ch, n + ".q0"), s});
        String k = node("Mul", n + ".k", new String[]{slice(heads, ch, 2L * ch, n + ".k0"), s});
        String v = slice(heads, 2L * ch, 3L * ch, n + ".v");
        String logits = node("MatMul", n + ".logits", new String[]{node("Transpose", n + ".qT", new String[]{q}, OnnxWriter.ints("perm", 0, 2, 1)), k});
        String wts = node("Softmax", n + ".weights", new String[]{logits}, OnnxWriter.integer("axis", 2));  // [B*heads, T, T]
        String a = node("MatMul", n + ".a", new String[]{v, node("Transpose", n + ".wT", new String[]{wts}, OnnxWriter.ints("perm", 0, 2, 1))});
        String img = node("Reshape", n + ".img", new String[]{a, ints("shape", -1, c, hw, hw)});
        return node("Add", n + ".out", new String[]{conv(img, n + ".proj_out", 1, 0), x});
    }

    String block(List<Layer> block, String x, int hw) {
        String h = x;
        for (Layer layer : block) {
            h = switch (layer) {
                case Conv cv -> conv(h, cv.name(), cv.stride(), 1);
                case ResBlock rb -> resBlock(rb, h);
                case AttentionBlock ab -> attention(ab, h, hw);
                case Down d -> d.conv() ? conv(h, d.name() + ".op", 2, 1) : resample(h, Resample.DOWN, d.name());
                case Up u -> u.conv() ? conv(resample(h, Resample.UP, u.name()), u.name() + ".conv", 1, 1) : resample(h, Resample.UP, u.name());
            };
        }
        return h;
    }

    /** Spatial size after a block, from its resampling layers. */
    int after(List<Layer> block, int hw) {
        for (Layer l : block)
            if (l instanceof Down || (l instanceof ResBlock rb && rb.resample() == Resample.DOWN)) hw /= 2;
            else if (l instanceof Up || (l instanceof ResBlock rb2 && rb2.resample() == Resample.UP)) hw *= 2;
        return hw;
    }

    void build(int size) {
        int mc = config.modelChannels(), half = mc / 2;
        // timestep embedding exactly as ReferenceOps.timestepEmbeddingF32: float32 frequencies, [cos | sin]
        float negLog = (float) -Math.log(10000.0);
        float[] f = new float[half];
        for (int j = 0; j < half; j++) f[j] = (float) Math.exp((negLog * j) / half);
        String args = node("Mul", "temb.args", new String[]{node("Unsqueeze", "t1", new String[]{"t", ints("axes", 1)}), constant("freqs", f)});
        String sin = node("Concat", "temb", new String[]{node("Cos", "cos", new String[]{args}), node("Sin", "sin", new String[]{args})},
                OnnxWriter.integer("axis", 1));
        String h1 = node("Gemm", "time_embed.0", new String[]{sin, weight("time_embed.0.weight"), weight("time_embed.0.bias")}, OnnxWriter.integer("transB", 1));
        String emb = node("Gemm", "time_embed.2", new String[]{silu(h1), weight("time_embed.2.weight"), weight("time_embed.2.bias")},
                OnnxWriter.integer("transB", 1));
        embAct = silu(emb);
        Deque<String> hs = new ArrayDeque<>();
        String h = "x";
        int hw = size;
        for (List<Layer> b : adm.layers.inputBlocks) {
            h = block(b, h, hw);
            hw = after(b, hw);
            hs.push(h);
        }
        h = block(adm.layers.middleBlock, h, hw);
        for (List<Layer> b : adm.layers.outputBlocks) {
            h = block(b, node("Concat", "cat", new String[]{h, hs.pop()}, OnnxWriter.integer("axis", 1)), hw);
            hw = after(b, hw);
        }
        String out = conv(silu(groupNorm(h, "out.0", adm.w("out.0.weight").dim(0))), "out.2", 1, 1);
        g.node("Identity", "out", new String[]{out});
        g.input("x", "batch", (long) config.inChannels(), (long) size, (long) size).input("t", "batch")
                .output("out", "batch", (long) config.outChannels(), (long) size, (long) size);
    }
}
