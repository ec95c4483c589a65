package org.imagenete.nn;

import org.imagenete.io.MappedFiles;
import org.imagenete.ops.Checks;
import org.imagenete.ops.Op;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Arrays;
import java.util.Deque;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.imagenete.nn.AdmBackward.AttnRec;
import org.imagenete.nn.AdmBackward.CatRec;
import org.imagenete.nn.AdmBackward.ConvRec;
import org.imagenete.nn.AdmBackward.DownRec;
import org.imagenete.nn.AdmBackward.HeadRec;
import org.imagenete.nn.AdmBackward.ResRec;
import org.imagenete.nn.AdmBackward.UpRec;
import org.imagenete.nn.AdmLayers.AttentionBlock;
import org.imagenete.nn.AdmLayers.Conv;
import org.imagenete.nn.AdmLayers.Down;
import org.imagenete.nn.AdmLayers.Layer;
import org.imagenete.nn.AdmLayers.Resample;
import org.imagenete.nn.AdmLayers.ResBlock;
import org.imagenete.nn.AdmLayers.Up;

/**
 * guided-diffusion's {@code UNetModel}, written only in {@link Ops}. Field and layer names are the state-dict
 * keys; lines that make a tensor end with its shape. Weights are F32 (F16/BF16 checkpoints are converted
 * once at load); F32 checkpoint tensors are used in place (memory-mapped, no copy). Loaded for a backend whose
 * {@link Ops#convWeightType()} is BF16, the convolution weights are BF16 instead (converted once at load, or used
 * in place from a BF16 checkpoint); the linear layers, norms and biases stay F32.
 */
public final class Adm implements AutoCloseable {
    /** Receives named intermediate activations ("time_embed", "input_blocks.3", "middle_block", ...). */
    @FunctionalInterface
    public interface ActivationSink {
        void accept(String name, Tensor activation);
    }

    static final int GROUPS = 32;
    static final float EPS = 1e-5f;

    private final AdmConfig config;
    private final Map<String, Tensor> w;
    private final List<Tensor> owned;
    private final AutoCloseable source;
    final AdmLayers layers;

    /**
     * Builds the model over a state dict. Every expected key must be present with the expected shape and no
     * other key may be present; the error names the key (and {@code file}). F16/BF16 tensors are converted to
     * F32 copies; nothing is kept when any check fails.
     *
     * @param source closed together with the model (the checkpoint mapping the tensors live in), may be null
     */
    public static Adm load(AdmConfig config, Map<String, Tensor> stateDict, Path file, AutoCloseable source) {
        return AdmLoader.load(config, stateDict, file, source, DType.F32);
    }

    /** The same with the convolution weights (rank 3 and 4) in {@code convWeights}: F32 or BF16. */
    public static Adm load(AdmConfig config, Map<String, Tensor> stateDict, Path file, AutoCloseable source, DType convWeights) {
        return AdmLoader.load(config, stateDict, file, source, convWeights);
    }

    /**
     * Opens a checkpoint (PyTorch {@code .pt} or safetensors), infers the configuration, applies
     * {@code flags} (guided-diffusion flag names, see {@link AdmConfig#withFlags}) and loads the model. The weights
     * are copied out of the file's mapping (as F32) and the file is closed before any kernel runs: a weights file
     * overwritten while the model is in use cannot crash the process ({@link org.imagenete.io.MappedFiles}). Logs the
     * configuration once.
     */
    public static Adm open(Path file, Map<String, String> flags) { return AdmLoader.open(file, flags, DType.F32); }

    /** The same with the convolution weights in {@code convWeights} (F32, or BF16 for {@link Ops#convWeightType()}). */
    public static Adm open(Path file, Map<String, String> flags, DType convWeights) { return AdmLoader.open(file, flags, convWeights); }

    /** Over checked weights ({@link AdmLoader}); {@code owned}: the converted copies, closed with the model. */
    Adm(AdmConfig config, Map<String, Tensor> w, List<Tensor> owned, AutoCloseable source) {
        this.config = config;
        this.w = w;
        this.owned = owned;
        this.source = source;
        this.layers = AdmLayers.of(config);
    }

    public AdmConfig config() { return config; }

    public Map<String, Tensor> weights() { return w; }

    /** Ops the forward pass needs; checked against a backend before anything runs. */
    public static final Set<Op> FORWARD_OPS = EnumSet.of(Op.CONV2D, Op.LINEAR, Op.GROUP_NORM, Op.SILU, Op.ADD,
            Op.CONCAT, Op.UPSAMPLE_NEAREST_2X, Op.AVG_POOL_2X, Op.ATTENTION, Op.TIMESTEP_EMBEDDING);

    /**
     * Activations saved by one forward pass for the input-gradient ({@link #inputGradient}). Holds
     * references to block inputs and outputs rather than copies; the concatenations of the decoder are not
     * stored but recomputed from their two halves (a copy), which saves about a third of the tape.
     */
    public static final class Tape implements AutoCloseable {
        final List<Object> records = new ArrayList<>();
        private final Set<Tensor> kept = Collections.newSetFromMap(new IdentityHashMap<>());
        private final Set<Tensor> borrowed = Collections.newSetFromMap(new IdentityHashMap<>());
        int[] inputShape;
        private long bytes;

        /** Takes ownership of an intermediate that the backward pass needs. */
        Tensor keep(Tensor t) {
            if (!borrowed.contains(t) && kept.add(t)) bytes += t.byteSize();
            return t;
        }

        /** Closes an intermediate unless the tape kept it (or it belongs to the caller). */
        void release(Tensor t) {
            if (t != null && !kept.contains(t) && !borrowed.contains(t)) t.close();
        }

        /** Bytes of activations this tape holds. */
        public long bytes() { return bytes; }

        @Override public void close() {
            for (Tensor t : kept) t.close();
            kept.clear();
            records.clear();
        }
    }

    /**
     * The UNet forward pass. x [B,in,H,W], t [B] (float timesteps in original 0..999 units), y [B] class
     * labels (F32 holding integers) for class-conditional models, else null -> [B,out,H,W].
     *
     * @param sink receives the output of time_embed, of every input block, of middle_block and of every
     *             output block (borrowed: copy what you keep), or null
     */
    public Tensor forward(Ops ops, Tensor x, Tensor t, Tensor y, ActivationSink sink) {
        return forward(ops, x, t, y, sink, null);
    }

    /** The forward pass, recording on {@code tape} (when not null) what {@link #inputGradient} needs. */
    public Tensor forward(Ops ops, Tensor x, Tensor t, Tensor y, ActivationSink sink, Tape tape) {
        EnumSet<Op> missing = EnumSet.copyOf(tape == null ? FORWARD_OPS : GRADIENT_OPS);
        missing.removeAll(ops.supports());
        if (!missing.isEmpty()) throw new UnsupportedOperationException("backend " + ops.name() + " lacks " + missing);
        Checks.rank("x", x, 4);
        Checks.shape("t", t, x.dim(0));
        if (x.dim(1) != config.inChannels())
            throw new IllegalArgumentException("x must have shape [B," + config.inChannels() + ",H,W], got " + x.shape());
        int levels = config.levels();
        int div = 1 << (levels - 1);
        if (x.dim(2) % div != 0 || x.dim(3) % div != 0)
            throw new IllegalArgumentException("x height and width must be multiples of " + div + " for "
                    + levels + " levels, got " + x.shape());
        if ((config.numClasses() > 0) != (y != null))
            throw new IllegalArgumentException(config.numClasses() > 0 ? "class-conditional model needs labels y" : "labels given to an unconditional model");
        Tape tp = tape != null ? tape : new Tape();   // without a tape nothing is kept: every release closes
        tp.borrowed.add(x);
        tp.inputShape = x.shape().dims();

        try (Tensor emb = timeEmbed(ops, t, y);                  // [B, 4C]
             Tensor embAct = ops.silu(emb)) {                    // emb_layers.0 (SiLU) is the same for every ResBlock
            if (sink != null) sink.accept("time_embed", emb);
            Deque<Tensor> hs = new ArrayDeque<>();
            Fwd f = new Fwd(ops, embAct, tape == null ? null : tp, tp);
            try {
                Tensor h = x;
                for (int i = 0; i < layers.inputBlocks.size(); i++) {
                    h = f.block(layers.inputBlocks.get(i), h, false);   // [B, ch_i, H/ds, W/ds]
                    hs.push(h);
                    if (sink != null) sink.accept("input_blocks." + i, h);
                }
                h = f.block(layers.middleBlock, hs.peek(), false);
                if (sink != null) sink.accept("middle_block", h);
                for (int i = 0; i < layers.outputBlocks.size(); i++) {
                    Tensor skip = hs.pop();
                    Tensor cat = ops.concat(h, skip);            // [B, ch + ch_skip, H', W']
                    if (tape != null) tape.records.add(new CatRec(tape.keep(h), tape.keep(skip), h.dim(1)));
                    tp.release(h);
                    tp.release(skip);
                    f.cat = cat;
                    h = f.block(layers.outputBlocks.get(i), cat, true);
                    if (sink != null) sink.accept("output_blocks." + i, h);
                }
                // out.0 GN, out.1 SiLU
                Tensor[] st = new Tensor[1];
                Tensor hn = f.norm(h, "out.0", null, true, st);
                if (tape != null) tape.records.add(new HeadRec(tape.keep(h), st[0]));
                tp.release(h);
                try (hn) {
                    return ops.conv2d(hn, w("out.2.weight"), w("out.2.bias"), 1, 1);   // [B, out, H, W]
                }
            } finally {
                for (Tensor s : hs) tp.release(s);
                tp.borrowed.remove(x);
            }
        }
    }

    /** Forward state: the backend, the activated embedding, and the tape (null when not recording). */
    private final class Fwd {
        final Ops ops;
        final Tensor embAct;
        final Tape tape;
        final Tape tp;
        /** The decoder block input being consumed: not kept, the backward pass reads it in its halves. */
        Tensor cat;

        Fwd(Ops ops, Tensor embAct, Tape tape, Tape tp) {
            this.ops = ops;
            this.embAct = embAct;
            this.tape = tape;
            this.tp = tp;
        }

        /** GroupNorm {@code key}; with a tape, its statistics are kept there and returned in stats[0]. */
        Tensor norm(Tensor x, String key, Tensor scaleShift, boolean silu, Tensor[] stats) {
            if (tape == null) return ops.groupNorm(x, w(key + ".weight"), w(key + ".bias"), GROUPS, EPS, scaleShift, silu);
            Tensor[] r = ops.groupNormWithStats(x, w(key + ".weight"), w(key + ".bias"), GROUPS, EPS, scaleShift, silu);
            stats[0] = tape.keep(r[1]);
            return r[0];
        }

        /** Runs one TimestepEmbedSequential; releases its input when {@code consumeInput}. */
        Tensor block(List<Layer> block, Tensor x, boolean consumeInput) {
            Tensor h = x;
            boolean ownsH = consumeInput;
            for (Layer layer : block) {
                Tensor next = switch (layer) {
                    case Conv cv -> {
                        if (tape != null) tape.records.add(new ConvRec(cv, h.dim(2), h.dim(3)));
                        yield ops.conv2d(h, w(cv.name() + ".weight"), w(cv.name() + ".bias"), cv.stride(), 1);
                    }
                    case ResBlock rb -> resBlock(rb, h);
                    case AttentionBlock ab -> attention(ab, h);
                    case Down d -> {
                        if (tape != null) tape.records.add(new DownRec(d, h.dim(2), h.dim(3)));
                        yield d.conv() ? ops.conv2d(h, w(d.name() + ".op.weight"), w(d.name() + ".op.bias"), 2, 1) : ops.avgPool2x(h);
                    }
                    case Up u -> {
                        if (tape != null) tape.records.add(new UpRec(u, h.dim(2), h.dim(3)));
                        Tensor up = ops.upsampleNearest2x(h);
                        if (!u.conv()) yield up;
                        try (up) {
                            yield ops.conv2d(up, w(u.name() + ".conv.weight"), w(u.name() + ".conv.bias"), 1, 1);
                        }
                    }
                };
                if (ownsH) tp.release(h);
                h = next;
                ownsH = true;
            }
            return h;
        }

        Tensor resBlock(ResBlock rb, Tensor x) {
            String n = rb.name();
            // in_layers.0 GN, in_layers.1 SiLU
            Tensor[] stIn = new Tensor[1], stOut = new Tensor[1];
            Tensor h = norm(x, n + ".in_layers.0", null, true, stIn);                    // [B, in, H, W]
            Tensor xr = x;                                                                // x after h_upd/x_upd
            if (rb.resample() != Resample.NONE) {
                try (Tensor h0 = h) {
                    h = rb.resample() == Resample.DOWN ? ops.avgPool2x(h0) : ops.upsampleNearest2x(h0); // [B, in, H', W']
                }
                xr = rb.resample() == Resample.DOWN ? ops.avgPool2x(x) : ops.upsampleNearest2x(x);
            }
            Tensor hc, e, gnIn;
            try (Tensor hn = h) {
                hc = ops.conv2d(hn, w(n + ".in_layers.2.weight"), w(n + ".in_layers.2.bias"), 1, 1);   // [B, out, H', W']
            }
            e = ops.linear(embAct, w(n + ".emb_layers.1.weight"), w(n + ".emb_layers.1.bias"));        // [B, 2out] (or [B, out])
            Tensor hh;
            if (config.useScaleShiftNorm()) {
                // out_layers.0 GN, then h * (1 + scale) + shift, out_layers.1 SiLU, out_layers.2 dropout(0)
                gnIn = hc;
                hh = norm(hc, n + ".out_layers.0", e, true, stOut);
            } else {
                try (Tensor e4 = e.view(e.dim(0), e.dim(1), 1, 1)) {
                    gnIn = addBroadcast(ops, hc, e4);
                }
                tp.release(hc);
                hh = norm(gnIn, n + ".out_layers.0", null, true, stOut);
            }
            if (tape != null)
                tape.records.add(new ResRec(rb, x == cat ? null : tape.keep(x), tape.keep(gnIn), config.useScaleShiftNorm() ? tape.keep(e) : null,
                        stIn[0], stOut[0], x.dim(2), x.dim(3)));
            tp.release(gnIn);
            tp.release(e);
            try (hh) {
                if (rb.in() == rb.out()) {   // skip_connection is the identity
                    return ops.conv2d(hh, w(n + ".out_layers.3.weight"), w(n + ".out_layers.3.bias"), 1, 1, xr); // [B, out, H', W']
                }
                try (Tensor skip = ops.conv2d(xr, w(n + ".skip_connection.weight"), w(n + ".skip_connection.bias"), 1, 0)) { // [B, out, H', W']
                    return ops.conv2d(hh, w(n + ".out_layers.3.weight"), w(n + ".out_layers.3.bias"), 1, 1, skip);
                }
            } finally {
                if (xr != x) xr.close();
            }
        }

        Tensor attention(AttentionBlock ab, Tensor x) {
            String n = ab.name();
            int b = x.dim(0), c = x.dim(1), hgt = x.dim(2), wid = x.dim(3);
            if (config.useNewAttentionOrder())
                throw new UnsupportedOperationException("use_new_attention_order=True checkpoints are not supported yet");
            Tensor qkv;
            Tensor[] st = new Tensor[1];
            try (Tensor xn = norm(x, n + ".norm", null, false, st)) {                                            // [B, C, H, W]
                qkv = ops.conv2d(xn, w(n + ".qkv.weight").view(3 * c, c, 1, 1), w(n + ".qkv.bias"), 1, 0);       // [B, 3C, H, W]
            }
            if (tape != null) tape.records.add(new AttnRec(ab, tape.keep(x), tape.keep(qkv), st[0]));
            try (Tensor a = ops.attention(qkv.view(b, 3 * c, hgt * wid), ab.heads())) {                          // [B, C, T]
                return ops.conv2d(a.view(b, c, hgt, wid), w(n + ".proj_out.weight").view(c, c, 1, 1),
                        w(n + ".proj_out.bias"), 1, 0, x);                                                       // x + proj_out(a): [B, C, H, W]
            } finally {
                tp.release(qkv);
            }
        }
    }

    /** Ops the forward pass with a tape and {@link #inputGradient} need. */
    public static final Set<Op> GRADIENT_OPS = EnumSet.of(Op.CONV2D, Op.LINEAR, Op.GROUP_NORM, Op.SILU, Op.ADD,
            Op.CONCAT, Op.UPSAMPLE_NEAREST_2X, Op.AVG_POOL_2X, Op.ATTENTION, Op.TIMESTEP_EMBEDDING, Op.CONV2D_GRAD,
            Op.GROUP_NORM_GRAD, Op.CONCAT_GRAD, Op.UPSAMPLE_NEAREST_2X_GRAD, Op.AVG_POOL_2X_GRAD, Op.ATTENTION_GRAD);

    /**
     * The vector-Jacobian product d(sum(out * v))/dx of the forward pass recorded on {@code tape}: one backward
     * pass through the saved activations, no weight gradients. v [B,out,H,W] -> dx [B,in,H,W]. The tape is
     * consumed (its tensors are freed as the backward pass walks past them).
     */
    public Tensor inputGradient(Ops ops, Tape tape, Tensor v) { return AdmBackward.inputGradient(this, ops, tape, v); }

    /**
     * Exports this UNet as an ONNX graph (opset 13) for {@code size} x {@code size} images and any batch: inputs
     * x [B, in, size, size] and t [B] (float timesteps in original units), output out [B, out, size, size]; the
     * weights (widened where they are BF16) in {@code file}.data beside it (ONNX external data: the ADM-256's 2.2 GB
     * exceed protobuf's limit). GroupNorm is InstanceNormalization over [B, groups, -1] with the affine after it, the
     * legacy-order attention two MatMuls and a Softmax, nearest upsampling a Resize. ONNX Runtime runs it as the
     * benchmarks' kernel 0, on the same weights as the native backend.
     */
    public void writeOnnx(Path file, int size) throws java.io.IOException { AdmOnnx.write(this, file, size); }

    private Tensor timeEmbed(Ops ops, Tensor t, Tensor y) {
        int mc = config.modelChannels();
        try (Tensor sin = ops.timestepEmbedding(t, mc);                                          // [B, C]
             Tensor h1 = ops.linear(sin, w("time_embed.0.weight"), w("time_embed.0.bias"));      // [B, 4C]
             Tensor a1 = ops.silu(h1)) {                                                         // time_embed.1 is SiLU
            Tensor emb = ops.linear(a1, w("time_embed.2.weight"), w("time_embed.2.bias"));      // [B, 4C]
            if (y == null) return emb;
            try (emb; Tensor lab = labelEmbedding(y)) {
                return ops.add(emb, lab);
            }
        }
    }

    private Tensor labelEmbedding(Tensor y) {
        Tensor table = w("label_emb.weight");                                                   // [classes, 4C]
        int b = y.dim(0), e = table.dim(1);
        Tensor out = Tensor.allocate(DType.F32, b, e);
        for (int i = 0; i < b; i++) {
            int label = Math.round(y.getFloat(i));
            if (label < 0 || label >= table.dim(0))
                throw new IllegalArgumentException("label " + label + " outside [0, " + table.dim(0) + ")");
            java.lang.foreign.MemorySegment.copy(table.data(), (long) label * e * 4, out.data(), (long) i * e * 4, (long) e * 4);
        }
        return out;
    }

    /** h + e broadcast over H, W (only for checkpoints without scale-shift norm). */
    private static Tensor addBroadcast(Ops ops, Tensor h, Tensor e) {
        int b = h.dim(0), c = h.dim(1), hw = h.dim(2) * h.dim(3);
        float[] ev = e.toFloatArray();
        float[] full = new float[b * c * hw];
        for (int i = 0; i < b * c; i++) Arrays.fill(full, i * hw, (i + 1) * hw, ev[i]);
        try (Tensor et = Tensor.of(full, h.shape().dims())) {
            return ops.add(h, et);
        }
    }

    Tensor w(String key) {
        Tensor t = w.get(key);
        if (t == null) throw new IllegalStateException("no weight " + key);
        return t;
    }

    @Override public void close() {
        owned.forEach(Tensor::close);
        if (source != null) {
            try {
                source.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing checkpoint", e);
            }
        }
    }
}
