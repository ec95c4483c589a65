package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.Checkpoints;
import org.imagenete.io.MappedFiles;
import org.imagenete.io.OnnxWriter;
import org.imagenete.io.StateDict;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

    private static final int GROUPS = 32;
    private static final float EPS = 1e-5f;

    private final AdmConfig config;
    private final Map<String, Tensor> w;
    private final List<Tensor> owned;
    private final AutoCloseable source;
    private final List<List<Layer>> inputBlocks = new ArrayList<>();
    private final List<Layer> middleBlock = new ArrayList<>();
    private final List<List<Layer>> outputBlocks = new ArrayList<>();

    private sealed interface Layer permits Conv, ResBlock, AttentionBlock, Down, Up {}

    /** A plain conv (input_blocks.0.0, Downsample.op, Upsample.conv). */
    private record Conv(String name, int stride) implements Layer {}

    /** ResBlock: in_layers (GN, SiLU, conv3x3), emb_layers (SiLU, Linear), out_layers (GN, SiLU, dropout, conv3x3). */
    private record ResBlock(String name, int in, int out, Resample resample) implements Layer {}

    private record AttentionBlock(String name, int channels, int heads) implements Layer {}

    /** Downsample without a conv (avg pool 2x2) or, with conv_resample, conv3x3 stride 2 ({@code op}). */
    private record Down(String name, boolean conv) implements Layer {}

    /** Upsample: nearest x2, then conv3x3 ({@code conv}) when conv_resample. */
    private record Up(String name, boolean conv) implements Layer {}

    private enum Resample { NONE, DOWN, UP }

    /**
     * Builds the model over a state dict. Every expected key must be present with the expected shape and no
     * other key may be present; the error names the key (and {@code file}). F16/BF16 tensors are converted to
     * F32 copies; nothing is kept when any check fails.
     *
     * @param source closed together with the model (the checkpoint mapping the tensors live in), may be null
     */
    public static Adm load(AdmConfig config, Map<String, Tensor> stateDict, Path file, AutoCloseable source) {
        return load(config, stateDict, file, source, DType.F32);
    }

    /** The same with the convolution weights (rank 3 and 4) in {@code convWeights}: F32 or BF16. */
    public static Adm load(AdmConfig config, Map<String, Tensor> stateDict, Path file, AutoCloseable source, DType convWeights) {
        if (convWeights != DType.F32 && convWeights != DType.BF16)
            throw new IllegalArgumentException("convolution weights in " + convWeights + ": F32 or BF16");
        Map<String, int[]> expected = config.parameterShapes();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Tensor t = stateDict.get(e.getKey());
            if (t == null) throw new CheckpointException(file, e.getKey(), "missing (expected shape "
                    + Arrays.toString(e.getValue()) + " for " + config.describe() + ")");
            if (!Arrays.equals(t.shape().dims(), e.getValue()))
                throw new CheckpointException(file, e.getKey(), "shape " + t.shape() + ", expected "
                        + Arrays.toString(e.getValue()));
            if (!t.dtype().isFloating())
                throw new CheckpointException(file, e.getKey(), "unsupported dtype " + t.dtype() + " for a weight");
        }
        List<String> unexpected = new ArrayList<>();
        for (String k : stateDict.keySet()) if (!expected.containsKey(k)) unexpected.add(k);
        if (!unexpected.isEmpty())
            throw new CheckpointException(file, unexpected.getFirst(), "unexpected key" + (unexpected.size() > 1
                    ? " (and " + (unexpected.size() - 1) + " more: " + unexpected.subList(1, Math.min(4, unexpected.size())) + ")" : "")
                    + " for " + config.describe());
        Map<String, Tensor> weights = new LinkedHashMap<>();
        List<Tensor> owned = new ArrayList<>();
        try {
            for (String k : expected.keySet()) {
                Tensor t = stateDict.get(k);
                DType want = t.rank() >= 3 ? convWeights : DType.F32;   // conv2d [out,in,kh,kw], conv1d [out,in,1]
                if (t.dtype() != want) {
                    t = t.convert(want);
                    owned.add(t);
                }
                weights.put(k, t);
            }
        } catch (RuntimeException ex) {
            owned.forEach(Tensor::close);
            throw ex;
        }
        return new Adm(config, weights, owned, source);
    }

    /**
     * Opens a checkpoint (PyTorch {@code .pt} or safetensors), infers the configuration, applies
     * {@code flags} (guided-diffusion flag names, see {@link AdmConfig#withFlags}) and loads the model. The weights
     * are copied out of the file's mapping (as F32) and the file is closed before any kernel runs: a weights file
     * overwritten while the model is in use cannot crash the process ({@link MappedFiles}). Logs the configuration once.
     */
    public static Adm open(Path file, Map<String, String> flags) { return open(file, flags, DType.F32); }

    /** The same with the convolution weights in {@code convWeights} (F32, or BF16 for {@link Ops#convWeightType()}). */
    public static Adm open(Path file, Map<String, String> flags, DType convWeights) {
        AdmConfig config;
        MappedFiles.Resident resident;
        try (StateDict sd = Checkpoints.open(file)) {
            config = configure(file, sd, flags);
            resident = MappedFiles.copyToMemory(sd, dt -> dt.isFloating() ? DType.F32 : dt);
        }
        try {
            return load(config, resident.tensors(), file, resident, convWeights);
        } catch (RuntimeException e) {
            resident.close();
            throw e;
        }
    }

    private static AdmConfig configure(Path file, StateDict sd, Map<String, String> flags) {
        int headChannels = flags.containsKey("num_head_channels") ? Integer.parseInt(flags.get("num_head_channels").trim()) : 64;
        AdmConfig config;
        try {
            config = AdmConfig.infer(sd.tensors(), headChannels).withFlags(flags);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, null, e.getMessage(), e);
        }
        System.getLogger("imagenete").log(System.Logger.Level.INFO, file.getFileName() + ": " + config.describe()
                + (flags.containsKey("num_head_channels") || flags.containsKey("num_heads") ? ""
                : " (head split is not stored in checkpoints: assumed 64 channels per head)"));
        return config;
    }

    private Adm(AdmConfig config, Map<String, Tensor> w, List<Tensor> owned, AutoCloseable source) {
        this.config = config;
        this.w = w;
        this.owned = owned;
        this.source = source;
        build();
    }

    public AdmConfig config() { return config; }

    public Map<String, Tensor> weights() { return w; }

    /** Ops the forward pass needs; checked against a backend before anything runs. */
    public static final Set<Op> FORWARD_OPS = EnumSet.of(Op.CONV2D, Op.LINEAR, Op.GROUP_NORM, Op.SILU, Op.ADD,
            Op.CONCAT, Op.UPSAMPLE_NEAREST_2X, Op.AVG_POOL_2X, Op.ATTENTION, Op.TIMESTEP_EMBEDDING);

    private void build() {
        AdmConfig c = config;
        int mc = c.modelChannels();
        inputBlocks.add(List.of(new Conv("input_blocks.0.0", 1)));
        List<Integer> chans = new ArrayList<>(List.of(mc));
        int ch = mc, ds = 1, idx = 1;
        for (int l = 0; l < c.levels(); l++) {
            for (int r = 0; r < c.numResBlocks(); r++, idx++) {
                int out = c.channelMult().get(l) * mc;
                List<Layer> block = new ArrayList<>();
                block.add(new ResBlock("input_blocks." + idx + ".0", ch, out, Resample.NONE));
                ch = out;
                if (c.attentionDs().contains(ds)) block.add(new AttentionBlock("input_blocks." + idx + ".1", ch, c.heads(ch)));
                inputBlocks.add(block);
                chans.add(ch);
            }
            if (l < c.levels() - 1) {
                String n = "input_blocks." + idx + ".0";
                inputBlocks.add(List.of(c.resblockUpdown() ? new ResBlock(n, ch, ch, Resample.DOWN) : new Down(n, c.convResample())));
                idx++;
                chans.add(ch);
                ds *= 2;
            }
        }
        middleBlock.add(new ResBlock("middle_block.0", ch, ch, Resample.NONE));
        middleBlock.add(new AttentionBlock("middle_block.1", ch, c.heads(ch)));
        middleBlock.add(new ResBlock("middle_block.2", ch, ch, Resample.NONE));
        idx = 0;
        for (int l = c.levels() - 1; l >= 0; l--) {
            for (int r = 0; r <= c.numResBlocks(); r++, idx++) {
                int skip = chans.removeLast();
                int out = c.channelMult().get(l) * mc;
                List<Layer> block = new ArrayList<>();
                block.add(new ResBlock("output_blocks." + idx + ".0", ch + skip, out, Resample.NONE));
                ch = out;
                if (c.attentionDs().contains(ds))
                    block.add(new AttentionBlock("output_blocks." + idx + "." + block.size(), ch, c.heads(ch)));
                if (l > 0 && r == c.numResBlocks()) {
                    String n = "output_blocks." + idx + "." + block.size();
                    block.add(c.resblockUpdown() ? new ResBlock(n, ch, ch, Resample.UP) : new Up(n, c.convResample()));
                    ds /= 2;
                }
                outputBlocks.add(block);
            }
        }
    }

    /**
     * Activations saved by one forward pass for the input-gradient ({@link #inputGradient}). Holds
     * references to block inputs and outputs rather than copies; the concatenations of the decoder are not
     * stored but recomputed from their two halves (a copy), which saves about a third of the tape.
     */
    public static final class Tape implements AutoCloseable {
        private final List<Object> records = new ArrayList<>();
        private final Set<Tensor> kept = Collections.newSetFromMap(new IdentityHashMap<>());
        private final Set<Tensor> borrowed = Collections.newSetFromMap(new IdentityHashMap<>());
        private int[] inputShape;
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

    /** What the backward pass of each layer needs, in forward order. */
    private record ConvRec(Conv layer, int h, int w) {}

    /** x is null for a decoder block's first ResBlock, whose input is rebuilt from the block's {@link CatRec}. */
    private record ResRec(ResBlock layer, Tensor x, Tensor gnOutInput, Tensor scaleShift, int h, int w) {}

    private record AttnRec(AttentionBlock layer, Tensor x, Tensor qkv) {}

    private record DownRec(Down layer, int h, int w) {}

    private record UpRec(Up layer, int h, int w) {}

    /** Start of a decoder block: its input was cat([h, skip]) and the gradient splits at {@code channelsH}. */
    private record CatRec(Tensor h, Tensor skip, int channelsH) {}

    private record HeadRec(Tensor h) {}

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
                for (int i = 0; i < inputBlocks.size(); i++) {
                    h = f.block(inputBlocks.get(i), h, false);   // [B, ch_i, H/ds, W/ds]
                    hs.push(h);
                    if (sink != null) sink.accept("input_blocks." + i, h);
                }
                h = f.block(middleBlock, hs.peek(), false);
                if (sink != null) sink.accept("middle_block", h);
                for (int i = 0; i < outputBlocks.size(); i++) {
                    Tensor skip = hs.pop();
                    Tensor cat = ops.concat(h, skip);            // [B, ch + ch_skip, H', W']
                    if (tape != null) tape.records.add(new CatRec(tape.keep(h), tape.keep(skip), h.dim(1)));
                    tp.release(h);
                    tp.release(skip);
                    f.cat = cat;
                    h = f.block(outputBlocks.get(i), cat, true);
                    if (sink != null) sink.accept("output_blocks." + i, h);
                }
                // out.0 GN, out.1 SiLU
                Tensor hn = ops.groupNorm(h, w("out.0.weight"), w("out.0.bias"), GROUPS, EPS, null, true);
                if (tape != null) tape.records.add(new HeadRec(tape.keep(h)));
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
        /** The decoder block input being consumed: not kept, the backward pass rebuilds it from its halves. */
        Tensor cat;

        Fwd(Ops ops, Tensor embAct, Tape tape, Tape tp) {
            this.ops = ops;
            this.embAct = embAct;
            this.tape = tape;
            this.tp = tp;
        }

        /** Runs one TimestepEmbedSequential; releases its input when {@code consumeInput}. */
        Tensor block(List<Layer> block, Tensor x, boolean consumeInput) {
            Tensor h = x;
            boolean ownsH = consumeInput;
            for (Layer layer : block) {
                Tensor next = switch (layer) {
                    case Conv cv -> {
                        if (tape != null) tape.records.add(new ConvRec(cv, h.dim(2), h.dim(3)));
                        yield ops.conv2d(h, w(cv.name + ".weight"), w(cv.name + ".bias"), cv.stride, 1);
                    }
                    case ResBlock rb -> resBlock(rb, h);
                    case AttentionBlock ab -> attention(ab, h);
                    case Down d -> {
                        if (tape != null) tape.records.add(new DownRec(d, h.dim(2), h.dim(3)));
                        yield d.conv ? ops.conv2d(h, w(d.name + ".op.weight"), w(d.name + ".op.bias"), 2, 1) : ops.avgPool2x(h);
                    }
                    case Up u -> {
                        if (tape != null) tape.records.add(new UpRec(u, h.dim(2), h.dim(3)));
                        Tensor up = ops.upsampleNearest2x(h);
                        if (!u.conv) yield up;
                        try (up) {
                            yield ops.conv2d(up, w(u.name + ".conv.weight"), w(u.name + ".conv.bias"), 1, 1);
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
            String n = rb.name;
            // in_layers.0 GN, in_layers.1 SiLU
            Tensor h = ops.groupNorm(x, w(n + ".in_layers.0.weight"), w(n + ".in_layers.0.bias"), GROUPS, EPS, null, true); // [B, in, H, W]
            Tensor xr = x;                                                                // x after h_upd/x_upd
            if (rb.resample != Resample.NONE) {
                try (Tensor h0 = h) {
                    h = rb.resample == Resample.DOWN ? ops.avgPool2x(h0) : ops.upsampleNearest2x(h0); // [B, in, H', W']
                }
                xr = rb.resample == Resample.DOWN ? ops.avgPool2x(x) : ops.upsampleNearest2x(x);
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
                hh = ops.groupNorm(hc, w(n + ".out_layers.0.weight"), w(n + ".out_layers.0.bias"), GROUPS, EPS, e, true);
            } else {
                try (Tensor e4 = e.view(e.dim(0), e.dim(1), 1, 1)) {
                    gnIn = addBroadcast(ops, hc, e4);
                }
                tp.release(hc);
                hh = ops.groupNorm(gnIn, w(n + ".out_layers.0.weight"), w(n + ".out_layers.0.bias"), GROUPS, EPS, null, true);
            }
            if (tape != null)
                tape.records.add(new ResRec(rb, x == cat ? null : tape.keep(x), tape.keep(gnIn), config.useScaleShiftNorm() ? tape.keep(e) : null,
                        x.dim(2), x.dim(3)));
            tp.release(gnIn);
            tp.release(e);
            try (hh) {
                if (rb.in == rb.out) {   // skip_connection is the identity
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
            String n = ab.name;
            int b = x.dim(0), c = x.dim(1), hgt = x.dim(2), wid = x.dim(3);
            if (config.useNewAttentionOrder())
                throw new UnsupportedOperationException("use_new_attention_order=True checkpoints are not supported yet");
            Tensor qkv;
            try (Tensor xn = ops.groupNorm(x, w(n + ".norm.weight"), w(n + ".norm.bias"), GROUPS, EPS, null, false)) { // [B, C, H, W]
                qkv = ops.conv2d(xn, w(n + ".qkv.weight").view(3 * c, c, 1, 1), w(n + ".qkv.bias"), 1, 0);       // [B, 3C, H, W]
            }
            if (tape != null) tape.records.add(new AttnRec(ab, tape.keep(x), tape.keep(qkv)));
            try (Tensor a = ops.attention(qkv.view(b, 3 * c, hgt * wid), ab.heads)) {                          // [B, C, T]
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
    public Tensor inputGradient(Ops ops, Tape tape, Tensor v) {
        int[] in = tape.inputShape;
        if (in == null) throw new IllegalStateException("tape holds no forward pass");
        Checks.shape("v", v, in[0], config.outChannels(), in[2], in[3]);
        List<Object> recs = tape.records;
        int r = recs.size() - 1;
        // Gradients of the input-block outputs that the decoder's skips receive, by input block index.
        Tensor[] dSkip = new Tensor[inputBlocks.size()];
        Tensor g;
        // head: out = conv(SiLU(GN(h)))
        HeadRec head = (HeadRec) recs.get(r--);
        try (Tensor dhn = ops.conv2dGrad(v, w("out.2.weight"), 1, 1, in[2], in[3])) {
            g = ops.groupNormGrad(dhn, head.h, w("out.0.weight"), w("out.0.bias"), GROUPS, EPS, null, true);
        }
        int nIn = inputBlocks.size();
        for (int i = outputBlocks.size() - 1; i >= 0; i--) {
            int start = r - outputBlocks.get(i).size();     // every layer left one record, after the block's CatRec
            CatRec cat = (CatRec) recs.get(start);
            g = backBlock(ops, recs.subList(start + 1, r + 1), g, cat);
            Tensor[] parts = ops.concatGrad(g, cat.channelsH);
            g.close();
            dSkip[nIn - 1 - i] = parts[1];    // output block i consumed input block (n-1-i)'s output
            g = parts[0];
            r = start - 1;
        }
        int midStart = r - middleBlock.size() + 1;
        g = backBlock(ops, recs.subList(midStart, r + 1), g, null);
        r = midStart - 1;
        for (int i = nIn - 1; i >= 0; i--) {
            Tensor ds = dSkip[i];
            Tensor sum = ops.add(g, ds);
            g.close();
            ds.close();
            int count = inputBlocks.get(i).size();
            g = backBlock(ops, recs.subList(r - count + 1, r + 1), sum, null);
            r -= count;
        }
        tape.close();
        return g;
    }

    /** Backward through one block's records (forward order), consuming {@code g}; cat: the decoder block's input. */
    private Tensor backBlock(Ops ops, List<Object> recs, Tensor g, CatRec cat) {
        for (int k = recs.size() - 1; k >= 0; k--) {
            Tensor next = switch (recs.get(k)) {
                case ConvRec c -> ops.conv2dGrad(g, w(c.layer.name + ".weight"), c.layer.stride, 1, c.h, c.w);
                case ResRec rr -> resBlockGrad(ops, rr, g, cat);
                case AttnRec ar -> attentionGrad(ops, ar, g);
                case DownRec d -> d.layer.conv ? ops.conv2dGrad(g, w(d.layer.name + ".op.weight"), 2, 1, d.h, d.w) : ops.avgPool2xGrad(g);
                case UpRec u -> {
                    if (!u.layer.conv) yield ops.upsampleNearest2xGrad(g);
                    try (Tensor dup = ops.conv2dGrad(g, w(u.layer.name + ".conv.weight"), 1, 1, 2 * u.h, 2 * u.w)) {
                        yield ops.upsampleNearest2xGrad(dup);
                    }
                }
                default -> throw new IllegalStateException("unexpected record " + recs.get(k));
            };
            g.close();
            g = next;
        }
        return g;
    }

    private Tensor resBlockGrad(Ops ops, ResRec rr, Tensor dOut, CatRec cat) {
        ResBlock rb = rr.layer;
        String n = rb.name;
        int h2 = rb.resample == Resample.DOWN ? rr.h / 2 : rb.resample == Resample.UP ? rr.h * 2 : rr.h;
        int w2 = rb.resample == Resample.DOWN ? rr.w / 2 : rb.resample == Resample.UP ? rr.w * 2 : rr.w;
        Tensor dMain;
        try (Tensor dhh = ops.conv2dGrad(dOut, w(n + ".out_layers.3.weight"), 1, 1, h2, w2);               // [B, out, H', W']
             Tensor dhc = ops.groupNormGrad(dhh, rr.gnOutInput, w(n + ".out_layers.0.weight"), w(n + ".out_layers.0.bias"),
                     GROUPS, EPS, rr.scaleShift, true);
             Tensor dh = ops.conv2dGrad(dhc, w(n + ".in_layers.2.weight"), 1, 1, h2, w2)) {                  // [B, in, H', W']
            Tensor da = rb.resample == Resample.NONE ? dh
                    : rb.resample == Resample.DOWN ? ops.avgPool2xGrad(dh) : ops.upsampleNearest2xGrad(dh);  // [B, in, H, W]
            Tensor x = rr.x != null ? rr.x : ops.concat(cat.h, cat.skip);      // recomputed decoder input
            try {
                dMain = ops.groupNormGrad(da, x, w(n + ".in_layers.0.weight"), w(n + ".in_layers.0.bias"), GROUPS, EPS, null, true);
            } finally {
                if (da != dh) da.close();
                if (x != rr.x) x.close();
            }
        }
        rr.gnOutInput.close();
        if (rr.scaleShift != null) rr.scaleShift.close();
        Tensor dxr = rb.in == rb.out ? dOut : ops.conv2dGrad(dOut, w(n + ".skip_connection.weight"), 1, 0, h2, w2);
        Tensor dSkip = rb.resample == Resample.NONE ? dxr
                : rb.resample == Resample.DOWN ? ops.avgPool2xGrad(dxr) : ops.upsampleNearest2xGrad(dxr);
        try (dMain) {
            return ops.add(dMain, dSkip);
        } finally {
            if (dxr != dOut) dxr.close();
            if (dSkip != dxr) dSkip.close();
        }
    }

    private Tensor attentionGrad(Ops ops, AttnRec ar, Tensor dy) {
        AttentionBlock ab = ar.layer;
        String n = ab.name;
        Tensor x = ar.x;
        int b = x.dim(0), c = x.dim(1), hgt = x.dim(2), wid = x.dim(3);
        try (Tensor da = ops.conv2dGrad(dy, w(n + ".proj_out.weight").view(c, c, 1, 1), 1, 0, hgt, wid);       // [B, C, H, W]
             Tensor dqkv = ops.attentionGrad(da.view(b, c, hgt * wid), ar.qkv.view(b, 3 * c, hgt * wid), ab.heads); // [B, 3C, T]
             Tensor dxn = ops.conv2dGrad(dqkv.view(b, 3 * c, hgt, wid), w(n + ".qkv.weight").view(3 * c, c, 1, 1), 1, 0, hgt, wid);
             Tensor dx = ops.groupNormGrad(dxn, x, w(n + ".norm.weight"), w(n + ".norm.bias"), GROUPS, EPS, null, false)) {
            ar.qkv.close();
            return ops.add(dy, dx);                                                                              // residual
        }
    }

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

    /**
     * Exports this UNet as an ONNX graph (opset 13) for {@code size} x {@code size} images and any batch: inputs
     * x [B, in, size, size] and t [B] (float timesteps in original units), output out [B, out, size, size]; the
     * weights (widened where they are BF16) in {@code file}.data beside it (ONNX external data: the ADM-256's 2.2 GB
     * exceed protobuf's limit). GroupNorm is InstanceNormalization over [B, groups, -1] with the affine after it, the
     * legacy-order attention two MatMuls and a Softmax, nearest upsampling a Resize. ONNX Runtime runs it as the
     * benchmarks' kernel 0, on the same weights as the native backend.
     */
    public void writeOnnx(Path file, int size) throws java.io.IOException {
        if (config.numClasses() > 0 || !config.useScaleShiftNorm() || config.useNewAttentionOrder())
            throw new UnsupportedOperationException("ONNX export covers unconditional models with scale-shift norm and legacy attention: "
                    + config.describe());
        try (OnnxWriter g = new OnnxWriter("adm", file.resolveSibling(file.getFileName() + ".data"))) {
            new OnnxGraph(g).build(size);
            g.write(file);
        }
    }

    /** The forward pass as ONNX nodes (see {@link #writeOnnx}); node outputs are named after the layers. */
    private final class OnnxGraph {
        final OnnxWriter g;
        int count;
        String embAct;

        OnnxGraph(OnnxWriter g) { this.g = g; }

        String node(String op, String name, String[] in, org.imagenete.io.Protobuf... attrs) {
            return g.node(op, name + "#" + count++, in, attrs);
        }

        /** Weight key as an F32 initializer (BF16 widened exactly), viewed as dims when given. */
        String weight(String key, int... dims) {
            Tensor t = w(key);
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
            Tensor wt = w(key + ".weight");
            int[] d = wt.rank() == 3 ? new int[]{wt.dim(0), wt.dim(1), 1, 1} : wt.shape().dims();   // conv1d [out,in,1]
            return node("Conv", key, new String[]{in, weight(key + ".weight", d), weight(key + ".bias")},
                    OnnxWriter.ints("kernel_shape", d[2], d[3]), OnnxWriter.ints("strides", stride, stride),
                    OnnxWriter.ints("pads", pad, pad, pad, pad));
        }

        String silu(String in) { return node("Mul", in + ".silu", new String[]{in, node("Sigmoid", in + ".sigmoid", new String[]{in})}); }

        /** GroupNorm(32) with its affine [C] over [B, C, ...]. */
        String groupNorm(String in, String key, int channels) {
            String grouped = node("Reshape", key + ".grouped", new String[]{in, ints("groups", 0, GROUPS, -1)});
            float[] ones = new float[GROUPS], zeros = new float[GROUPS];
            java.util.Arrays.fill(ones, 1f);
            String norm = node("InstanceNormalization", key + ".norm", new String[]{grouped, constant("ones", ones), constant("zeros", zeros)},
                    OnnxWriter.real("epsilon", EPS));
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
            String n = rb.name;
            String h = silu(groupNorm(x, n + ".in_layers.0", rb.in));
            String xr = x;
            if (rb.resample != Resample.NONE) {
                h = resample(h, rb.resample, n + ".h");
                xr = resample(x, rb.resample, n + ".x");
            }
            h = conv(h, n + ".in_layers.2", 1, 1);
            String e = node("Gemm", n + ".emb_layers.1", new String[]{embAct, weight(n + ".emb_layers.1.weight"), weight(n + ".emb_layers.1.bias")},
                    OnnxWriter.integer("transB", 1));                                              // [B, 2 out]
            String axes = ints("axes", 2, 3);
            String scale = node("Unsqueeze", n + ".scale", new String[]{slice(e, 0, rb.out, n + ".scale2"), axes});
            String shift = node("Unsqueeze", n + ".shift", new String[]{slice(e, rb.out, 2L * rb.out, n + ".shift2"), axes});
            String hn = groupNorm(h, n + ".out_layers.0", rb.out);
            hn = node("Mul", n + ".scaled", new String[]{hn, node("Add", n + ".onePlus", new String[]{scale, constant("one", 1f)})});
            String hh = silu(node("Add", n + ".shifted", new String[]{hn, shift}));
            String skip = rb.in == rb.out ? xr : conv(xr, n + ".skip_connection", 1, 0);
            return node("Add", n + ".out", new String[]{conv(hh, n + ".out_layers.3", 1, 1), skip});
        }

        String attention(AttentionBlock ab, String x, int hw) {
            String n = ab.name;
            int c = ab.channels, ch = c / ab.heads;
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
                    case Conv cv -> conv(h, cv.name, cv.stride, 1);
                    case ResBlock rb -> resBlock(rb, h);
                    case AttentionBlock ab -> attention(ab, h, hw);
                    case Down d -> d.conv ? conv(h, d.name + ".op", 2, 1) : resample(h, Resample.DOWN, d.name);
                    case Up u -> u.conv ? conv(resample(h, Resample.UP, u.name), u.name + ".conv", 1, 1) : resample(h, Resample.UP, u.name);
                };
            }
            return h;
        }

        /** Spatial size after a block, from its resampling layers. */
        int after(List<Layer> block, int hw) {
            for (Layer l : block)
                if (l instanceof Down || (l instanceof ResBlock rb && rb.resample == Resample.DOWN)) hw /= 2;
                else if (l instanceof Up || (l instanceof ResBlock rb2 && rb2.resample == Resample.UP)) hw *= 2;
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
            for (List<Layer> b : inputBlocks) {
                h = block(b, h, hw);
                hw = after(b, hw);
                hs.push(h);
            }
            h = block(middleBlock, h, hw);
            for (List<Layer> b : outputBlocks) {
                h = block(b, node("Concat", "cat", new String[]{h, hs.pop()}, OnnxWriter.integer("axis", 1)), hw);
                hw = after(b, hw);
            }
            String out = conv(silu(groupNorm(h, "out.0", w("out.0.weight").dim(0))), "out.2", 1, 1);
            g.node("Identity", "out", new String[]{out});
            g.input("x", "batch", (long) config.inChannels(), (long) size, (long) size).input("t", "batch")
                    .output("out", "batch", (long) config.outChannels(), (long) size, (long) size);
        }
    }

    private Tensor w(String key) {
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
