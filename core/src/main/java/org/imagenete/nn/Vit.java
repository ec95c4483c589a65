package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The vision transformer as torchvision ({@code vit_b_16}, {@code vit_l_16}, ...) and timm (ViT, DeiT, and DeiT's
 * distilled variants with their distillation token and second head) define it, in eval mode, written only in
 * {@link Ops}. Pre-norm blocks: h += proj(attention(qkv(LN1(h)))); h += fc2(GELU(fc1(LN2(h)))); the class token's
 * final LayerNorm goes through the head (DeiT distilled: the mean of head(class token) and head_dist(distillation
 * token)). LayerNorm eps 1e-6 and exact GELU in both libraries.
 *
 * <p>Tokens are kept channel-major, [B, D, T] viewed as [B, D, T, 1], as guided-diffusion's attention blocks keep
 * theirs: every linear layer is then a 1x1 {@code conv2d} over the tokens (its residual fused), {@code attention}
 * takes the qkv projection as it comes out ([B, 3D, T]: the projection's rows are reordered at load from torch's
 * q | k | v, each head-major, into the op's per-head q|k|v layout), and {@code layer_norm} normalises each token's
 * channels. The patch embedding (a stride-p p x p convolution) is an unfold of the image on the host and a 1x1
 * convolution whose fused addend carries the position embedding and, in the first token(s), the class
 * (distillation) token: the unfolded image has zeros there, so that column of the output is exactly token + position.
 */
public final class Vit implements AutoCloseable {
    /** Whose state-dict keys. */
    public enum Layout { TORCHVISION, TIMM }

    /** The key names of one layout (block keys relative to the block's prefix). */
    private record Keys(String cls, String pos, String dist, String patch, String block, String ln1, String qkvWeight, String qkvBias,
                        String proj, String ln2, String fc1, String fc2, String norm, String head, String headDist) {
        static final Keys TORCHVISION = new Keys("class_token", "encoder.pos_embedding", null, "conv_proj", "encoder.layers.encoder_layer_",
                "ln_1", "self_attention.in_proj_weight", "self_attention.in_proj_bias", "self_attention.out_proj", "ln_2", "mlp.0", "mlp.3",
                "encoder.ln", "heads.head", null);
        static final Keys TIMM = new Keys("cls_token", "pos_embed", "dist_token", "patch_embed.proj", "blocks.", "norm1", "attn.qkv.weight",
                "attn.qkv.bias", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2", "norm", "head", "head_dist");

        static Keys of(Layout l) { return l == Layout.TORCHVISION ? TORCHVISION : TIMM; }

        String block(int i) { return block + i + "."; }
    }

    /**
     * The architecture: patch size, grid (image size / patch), width D, depth, heads, MLP width, classes, whether there
     * is a distillation token (timm's DeiT distilled), LayerNorm eps.
     */
    public record Config(Layout layout, int patch, int grid, int dim, int depth, int heads, int mlpDim, int numClasses, boolean distilled,
                         float eps) {
        public Config {
            if (distilled && layout != Layout.TIMM) throw new IllegalArgumentException("a distillation token is timm's (DeiT)");
            if (heads < 1 || dim % heads != 0) throw new IllegalArgumentException("ViT width " + dim + " is not " + heads + " heads");
        }

        /** torchvision's ViT-B/16 (86.6 M parameters). */
        public static Config vitB16(int numClasses) { return new Config(Layout.TORCHVISION, 16, 14, 768, 12, 12, 3072, numClasses, false, 1e-6f); }

        /** Tokens before the patches: the class token, and DeiT's distillation token. */
        public int prefix() { return distilled ? 2 : 1; }

        public int tokens() { return grid * grid + prefix(); }

        public int imageSize() { return grid * patch; }

        /** torchvision's or timm's model name, where the width and depth are one of theirs. */
        public String name() {
            String size = switch (dim) {
                case 192 -> "tiny";
                case 384 -> "small";
                case 768 -> "base";
                case 1024 -> "large";
                case 1280 -> "huge";
                default -> null;
            };
            if (layout == Layout.TORCHVISION)
                return size != null && !size.equals("tiny") && !size.equals("small") ? "vit_" + size.charAt(0) + "_" + patch
                        : "vit_d" + dim + "x" + depth + "_" + patch;
            String base = (size != null ? size : "d" + dim + "x" + depth) + (distilled ? "_distilled" : "") + "_patch" + patch + "_" + imageSize();
            return (distilled || dim <= 384 ? "deit_" : "vit_") + base + " (timm keys)";
        }

        /** The configuration as read off the weights, for the log. */
        public String describe() {
            return String.format(java.util.Locale.ROOT, "%s: %s keys, patch %d, %d px, width %d, %d blocks, %d heads, MLP %d, %d classes%s",
                    name(), layout.name().toLowerCase(java.util.Locale.ROOT), patch, imageSize(), dim, depth, heads, mlpDim, numClasses,
                    distilled ? ", distillation token" : "");
        }

        /** Every state-dict entry, in the layout's order (torchvision's state_dict(); timm's for ViT / DeiT). */
        public Map<String, int[]> parameterShapes() {
            Keys k = Keys.of(layout);
            Map<String, int[]> p = new LinkedHashMap<>();
            int[] token = {1, 1, dim};
            p.put(k.cls, token);
            if (layout == Layout.TIMM) {
                p.put(k.pos, new int[]{1, tokens(), dim});
                if (distilled) p.put(k.dist, token);
            }
            p.put(k.patch + ".weight", new int[]{dim, 3, patch, patch});
            p.put(k.patch + ".bias", new int[]{dim});
            if (layout == Layout.TORCHVISION) p.put(k.pos, new int[]{1, tokens(), dim});
            for (int i = 0; i < depth; i++) {
                String b = k.block(i);
                p.put(b + k.ln1 + ".weight", new int[]{dim});
                p.put(b + k.ln1 + ".bias", new int[]{dim});
                p.put(b + k.qkvWeight, new int[]{3 * dim, dim});
                p.put(b + k.qkvBias, new int[]{3 * dim});
                p.put(b + k.proj + ".weight", new int[]{dim, dim});
                p.put(b + k.proj + ".bias", new int[]{dim});
                p.put(b + k.ln2 + ".weight", new int[]{dim});
                p.put(b + k.ln2 + ".bias", new int[]{dim});
                p.put(b + k.fc1 + ".weight", new int[]{mlpDim, dim});
                p.put(b + k.fc1 + ".bias", new int[]{mlpDim});
                p.put(b + k.fc2 + ".weight", new int[]{dim, mlpDim});
                p.put(b + k.fc2 + ".bias", new int[]{dim});
            }
            p.put(k.norm + ".weight", new int[]{dim});
            p.put(k.norm + ".bias", new int[]{dim});
            p.put(k.head + ".weight", new int[]{numClasses, dim});
            p.put(k.head + ".bias", new int[]{numClasses});
            if (distilled) {
                p.put(k.headDist + ".weight", new int[]{numClasses, dim});
                p.put(k.headDist + ".bias", new int[]{numClasses});
            }
            return p;
        }

        /** Whether the keys are a torchvision or timm vision transformer's (its patch embedding and first block). */
        public static boolean recognises(Map<String, Tensor> sd) {
            return (sd.containsKey("conv_proj.weight") && sd.containsKey("class_token"))
                    || (sd.containsKey("patch_embed.proj.weight") && sd.containsKey("cls_token"));
        }

        /**
         * Reads the architecture off the weights. Heads are not stored: D / 64 (every ViT and DeiT but ViT-H, whose
         * 1280 channels are 16 heads of 80).
         */
        public static Config infer(Map<String, Tensor> sdIn) {
            Map<String, Tensor> sd = upgradeKeys(sdIn);
            Layout layout = sd.containsKey("conv_proj.weight") ? Layout.TORCHVISION : Layout.TIMM;
            Keys k = Keys.of(layout);
            Tensor pe = sd.get(k.patch + ".weight"), pos = sd.get(k.pos), fc1 = sd.get(k.block(0) + k.fc1 + ".weight"), head = sd.get(k.head + ".weight");
            if (pe == null || pe.rank() != 4 || pe.dim(1) != 3 || pe.dim(2) != pe.dim(3))
                throw new IllegalArgumentException("vision transformer: " + k.patch + ".weight must be [D, 3, p, p]");
            if (pos == null || pos.rank() != 3) throw new IllegalArgumentException("vision transformer: no position embedding " + k.pos + " [1, T, D]");
            if (fc1 == null || fc1.rank() != 2) throw new IllegalArgumentException("vision transformer: no " + k.block(0) + k.fc1 + ".weight [M, D]");
            if (head == null || head.rank() != 2)
                throw new IllegalArgumentException("vision transformer without a classification head (" + k.head + ".weight [classes, D]): a feature"
                        + " extractor cannot be evaluated");
            int dim = pe.dim(0), depth = 0;
            while (sd.containsKey(k.block(depth) + k.ln1 + ".weight")) depth++;
            boolean distilled = layout == Layout.TIMM && sd.containsKey(k.dist);
            int patches = pos.dim(1) - (distilled ? 2 : 1), grid = (int) Math.round(Math.sqrt(patches));
            if (grid * grid != patches) throw new IllegalArgumentException("vision transformer: " + pos.dim(1) + " position embeddings are not a square grid"
                    + " plus " + (distilled ? "2 tokens" : "the class token"));
            int heads = dim == 1280 ? 16 : Math.max(1, dim / 64);
            return new Config(layout, pe.dim(2), grid, dim, depth, heads, fc1.dim(0), head.dim(0), distilled, 1e-6f);
        }
    }

    /** Receives "tokens" (after the patch embedding) and "block{i}" (after block i), [B, D, T, 1]; borrowed. */
    @FunctionalInterface
    public interface ActivationSink {
        void accept(String name, Tensor t);
    }

    /** One encoder block's weights; linear layers as 1x1 convolutions, the qkv rows in the per-head layout. */
    private record Block(Tensor ln1W, Tensor ln1B, Tensor qkvW, Tensor qkvB, Tensor projW, Tensor projB, Tensor ln2W, Tensor ln2B,
                         Tensor fc1W, Tensor fc1B, Tensor fc2W, Tensor fc2B) {
        List<Tensor> all() { return List.of(ln1W, ln1B, qkvW, qkvB, projW, projB, ln2W, ln2B, fc1W, fc1B, fc2W, fc2B); }
    }

    public static final Set<Op> FORWARD_OPS = EnumSet.of(Op.CONV2D, Op.LAYER_NORM, Op.ATTENTION, Op.GELU, Op.LINEAR, Op.ADD);

    private final Config cfg;
    private final Tensor patchW, patchB, normW, normB, headW, headB, headDistW, headDistB;
    /** [D, T]: what the patch embedding's output gets added per token (see the class comment). */
    private final float[] tokenBase;
    private final List<Block> blocks;
    /** The addend [B, D, T, 1] per batch size, made once by an op (so that a device backend keeps it in device memory). */
    private final Map<Integer, Tensor> tokenAdd = new HashMap<>();

    private Vit(Config cfg, Tensor patchW, Tensor patchB, float[] tokenBase, List<Block> blocks, Tensor normW, Tensor normB, Tensor headW,
                Tensor headB, Tensor headDistW, Tensor headDistB) {
        this.cfg = cfg;
        this.patchW = patchW;
        this.patchB = patchB;
        this.tokenBase = tokenBase;
        this.blocks = blocks;
        this.normW = normW;
        this.normB = normB;
        this.headW = headW;
        this.headB = headB;
        this.headDistW = headDistW;
        this.headDistB = headDistB;
    }

    public Config config() { return cfg; }

    /**
     * Checks every key and shape against the configuration (a missing, misshapen or unexpected key is an error naming
     * it), then copies the weights into the forms the forward uses; the state dict can be closed afterwards.
     * torchvision's pre-0.13 MLP names ({@code mlp.linear_1}, {@code mlp.linear_2}) are read as {@code mlp.0},
     * {@code mlp.3}, as torchvision itself upgrades them.
     */
    public static Vit load(Config cfg, Map<String, Tensor> sdIn, Path file) {
        Map<String, Tensor> sd = upgradeKeys(sdIn);
        Map<String, int[]> expected = cfg.parameterShapes();
        for (var e : expected.entrySet()) {
            Tensor t = sd.get(e.getKey());
            if (t == null) throw new CheckpointException(file, e.getKey(), "missing (expected shape " + Arrays.toString(e.getValue()) + ") for " + cfg.name());
            if (!Arrays.equals(t.shape().dims(), e.getValue()))
                throw new CheckpointException(file, e.getKey(), "shape " + t.shape() + ", expected " + Arrays.toString(e.getValue()) + " for " + cfg.name());
        }
        for (String key : sd.keySet()) if (!expected.containsKey(key)) throw new CheckpointException(file, key, "unexpected key for " + cfg.name());
        Keys k = Keys.of(cfg.layout);
        int d = cfg.dim, t = cfg.tokens(), p = cfg.patch;
        List<Tensor> made = new ArrayList<>();
        try {
            Tensor patchW = keep(made, Tensor.of(sd.get(k.patch + ".weight").toFloatArray(), d, 3 * p * p, 1, 1));   // [D, 3 p p, 1, 1]
            float[] pb = sd.get(k.patch + ".bias").toFloatArray(), pos = sd.get(k.pos).toFloatArray(), cls = sd.get(k.cls).toFloatArray();
            float[] dist = cfg.distilled ? sd.get(k.dist).toFloatArray() : null;
            float[] base = new float[d * t];
            for (int c = 0; c < d; c++)
                for (int j = 0; j < t; j++) {
                    double v = pos[j * d + c];                                           // pos [1, T, D] -> [D, T]
                    if (j == 0) v += cls[c] - (double) pb[c];
                    if (j == 1 && dist != null) v += dist[c] - (double) pb[c];
                    base[c * t + j] = (float) v;
                }
            Tensor patchB = keep(made, Tensor.of(pb, d));
            List<Block> blocks = new ArrayList<>();
            for (int i = 0; i < cfg.depth; i++) {
                String b = k.block(i);
                blocks.add(new Block(vec(made, sd, b + k.ln1 + ".weight"), vec(made, sd, b + k.ln1 + ".bias"),
                        keep(made, Tensor.of(qkvRows(sd.get(b + k.qkvWeight).toFloatArray(), d, cfg.heads, d), 3 * d, d, 1, 1)),
                        keep(made, Tensor.of(qkvRows(sd.get(b + k.qkvBias).toFloatArray(), d, cfg.heads, 1), 3 * d)),
                        conv1x1(made, sd, b + k.proj + ".weight"), vec(made, sd, b + k.proj + ".bias"),
                        vec(made, sd, b + k.ln2 + ".weight"), vec(made, sd, b + k.ln2 + ".bias"),
                        conv1x1(made, sd, b + k.fc1 + ".weight"), vec(made, sd, b + k.fc1 + ".bias"),
                        conv1x1(made, sd, b + k.fc2 + ".weight"), vec(made, sd, b + k.fc2 + ".bias")));
            }
            return new Vit(cfg, patchW, patchB, base, blocks, vec(made, sd, k.norm + ".weight"), vec(made, sd, k.norm + ".bias"),
                    vec(made, sd, k.head + ".weight"), vec(made, sd, k.head + ".bias"),
                    cfg.distilled ? vec(made, sd, k.headDist + ".weight") : null, cfg.distilled ? vec(made, sd, k.headDist + ".bias") : null);
        } catch (RuntimeException | Error e) {
            made.forEach(Tensor::close);
            throw e;
        }
    }

    /** torchvision's pre-0.13 MLP names as torchvision's own loading upgrades them: mlp.linear_1 -> mlp.0, mlp.linear_2 -> mlp.3. */
    static Map<String, Tensor> upgradeKeys(Map<String, Tensor> sd) {
        if (!sd.containsKey("conv_proj.weight")) return sd;
        Map<String, Tensor> out = new LinkedHashMap<>();
        sd.forEach((key, v) -> out.put(key.replace(".mlp.linear_1.", ".mlp.0.").replace(".mlp.linear_2.", ".mlp.3."), v));
        return out;
    }

    private static Tensor keep(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    /** An F32 copy with the checkpoint's shape. */
    private static Tensor vec(List<Tensor> made, Map<String, Tensor> sd, String key) { return keep(made, sd.get(key).toF32()); }

    /** A linear weight [out, in] as a 1x1 convolution's [out, in, 1, 1]. */
    private static Tensor conv1x1(List<Tensor> made, Map<String, Tensor> sd, String key) {
        Tensor w = sd.get(key);
        return keep(made, Tensor.of(w.toFloatArray(), w.dim(0), w.dim(1), 1, 1));
    }

    /**
     * Rows of torch's qkv projection, q (all heads) | k | v with heads of hd = D / heads rows each, reordered into the
     * attention op's layout: head n owns rows [3 hd n, 3 hd (n+1)) as its q | k | v. {@code cols} values per row.
     */
    static float[] qkvRows(float[] w, int d, int heads, int cols) {
        int hd = d / heads;
        float[] out = new float[w.length];
        for (int r = 0; r < 3 * d; r++) {
            int part = r / d, n = (r % d) / hd, c = r % hd;
            System.arraycopy(w, r * cols, out, ((n * 3 + part) * hd + c) * cols, cols);
        }
        return out;
    }

    /** x [B, 3, H, W] (normalised, H = W = grid x patch) -> logits [B, classes]; "tokens" and "block{i}" to the sink. */
    public Tensor forward(Ops ops, Tensor x, ActivationSink sink) {
        EnumSet<Op> missing = EnumSet.copyOf(FORWARD_OPS);
        missing.removeAll(ops.supports());
        if (!missing.isEmpty()) throw new UnsupportedOperationException("backend " + ops.name() + " lacks " + missing);
        Checks.rank("x", x, 4);
        int b = x.dim(0), d = cfg.dim, t = cfg.tokens(), f = 3 * cfg.patch * cfg.patch;
        if (x.dim(1) != 3 || x.dim(2) != cfg.imageSize() || x.dim(3) != cfg.imageSize())
            throw new IllegalArgumentException(cfg.name() + " takes [B, 3, " + cfg.imageSize() + ", " + cfg.imageSize() + "] images, got " + x.shape());
        Tensor h;
        try (Tensor patches = Tensor.of(unfold(x.toFloatArray(), b), b, f, t, 1)) {
            h = ops.conv2d(patches, patchW, patchB, 1, 0, tokenAdd(ops, b));          // patch embedding + tokens + position: [B, D, T, 1]
        }
        if (sink != null) sink.accept("tokens", h);
        for (int i = 0; i < blocks.size(); i++) {
            Tensor next = block(ops, blocks.get(i), h, b);
            h.close();
            h = next;
            if (sink != null) sink.accept("block" + i, h);
        }
        float[] all;
        try (Tensor last = h) {
            all = last.toFloatArray();
        }
        float[] logits = head(ops, all, b, 0, headW, headB);
        if (cfg.distilled) {
            float[] dist = head(ops, all, b, 1, headDistW, headDistB);
            for (int i = 0; i < logits.length; i++) logits[i] = (float) (((double) logits[i] + dist[i]) / 2);   // timm's eval: the two heads' mean
        }
        return Tensor.of(logits, b, cfg.numClasses);
    }

    private Tensor block(Ops ops, Block w, Tensor h, int b) {
        int d = cfg.dim, t = cfg.tokens();
        Tensor h2;
        try (Tensor a = ops.layerNorm(h, w.ln1W, w.ln1B, cfg.eps);                      // ln_1: [B, D, T, 1]
             Tensor qkv = ops.conv2d(a, w.qkvW, w.qkvB, 1, 0);                           // qkv: [B, 3D, T, 1], per-head q|k|v
             Tensor qkv3 = qkv.view(b, 3 * d, t);
             Tensor o = ops.attention(qkv3, cfg.heads);                                  // [B, D, T]
             Tensor o4 = o.view(b, d, t, 1)) {
            h2 = ops.conv2d(o4, w.projW, w.projB, 1, 0, h);                              // out_proj + residual: [B, D, T, 1]
        }
        try (h2; Tensor a = ops.layerNorm(h2, w.ln2W, w.ln2B, cfg.eps);                  // ln_2
             Tensor m = ops.conv2d(a, w.fc1W, w.fc1B, 1, 0);                             // mlp.0 / fc1: [B, M, T, 1]
             Tensor g = ops.gelu(m)) {                                                   // mlp.1 GELU (mlp.2 dropout: identity)
            return ops.conv2d(g, w.fc2W, w.fc2B, 1, 0, h2);                              // mlp.3 / fc2 + residual: [B, D, T, 1]
        }
    }

    /** The final LayerNorm and a head on token {@code token} of the last block's output (channel-major, on the host). */
    private float[] head(Ops ops, float[] h, int b, int token, Tensor w, Tensor bias) {
        int d = cfg.dim, t = cfg.tokens();
        float[] tok = new float[b * d];
        for (int s = 0; s < b; s++)
            for (int c = 0; c < d; c++) tok[s * d + c] = h[(s * d + c) * t + token];
        try (Tensor x = Tensor.of(tok, b, d); Tensor y = ops.layerNorm(x, normW, normB, cfg.eps); Tensor l = ops.linear(y, w, bias)) {
            return l.toFloatArray();                                                     // [B, classes]
        }
    }

    /**
     * The image as the patch embedding's 1x1 convolution reads it: [B, 3 p p, T], feature (c, ky, kx) as the conv weight
     * flattens, token prefix + (gy grid + gx) for patch (gy, gx); the prefix tokens' columns are zero.
     */
    private float[] unfold(float[] x, int b) {
        int p = cfg.patch, g = cfg.grid, s = cfg.imageSize(), t = cfg.tokens(), f = 3 * p * p, pre = cfg.prefix();
        float[] out = new float[b * f * t];
        for (int n = 0; n < b; n++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < s; y++)
                    for (int xx = 0; xx < s; xx++) {
                        int feature = (c * p + y % p) * p + xx % p, token = pre + (y / p) * g + xx / p;
                        out[(n * f + feature) * t + token] = x[((n * 3 + c) * s + y) * s + xx];
                    }
        return out;
    }

    /** The patch embedding's addend for batch size b: tokenBase repeated over the batch; made once per size. */
    private synchronized Tensor tokenAdd(Ops ops, int b) {
        Tensor a = tokenAdd.get(b);
        if (a != null && !a.isClosed()) return a;
        int n = tokenBase.length;
        float[] rep = new float[b * n];
        for (int s = 0; s < b; s++) System.arraycopy(tokenBase, 0, rep, s * n, n);
        // ops.add(rep, 0) is rep exactly; as an op's output it stays in device memory on a device backend, so the
        // addend crosses to the device once per batch size instead of with every batch
        try (Tensor host = Tensor.of(rep, b, cfg.dim, cfg.tokens(), 1); Tensor zero = Tensor.zeros(DType.F32, b, cfg.dim, cfg.tokens(), 1)) {
            a = ops.add(host, zero);
        }
        tokenAdd.put(b, a);
        return a;
    }

    @Override
    public synchronized void close() {
        tokenAdd.values().forEach(Tensor::close);
        tokenAdd.clear();
        for (Block bl : blocks) bl.all().forEach(Tensor::close);
        for (Tensor t : new Tensor[]{patchW, patchB, normW, normB, headW, headB, headDistW, headDistB}) if (t != null) t.close();
    }
}
