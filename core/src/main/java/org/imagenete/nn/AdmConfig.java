package org.imagenete.nn;

import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Configuration of guided-diffusion's {@code UNetModel}. Everything but the attention head split can be read
 * off a state dict's key names and shapes ({@link #infer}); the head split is not stored in checkpoints, so it
 * defaults to 64 channels per head (every released ADM checkpoint) and can be overridden.
 *
 * @param attentionDs downsample factors (1, 2, 4, ...) at which AttentionBlocks follow ResBlocks
 * @param numHeadChannels channels per head, or -1 to use {@code numHeads}
 * @param numClasses 0 for unconditional models, else the size of {@code label_emb}
 * @param convResample whether plain (non-ResBlock) Upsample/Downsample layers carry a conv
 */
public record AdmConfig(int inChannels, int modelChannels, int outChannels, int numResBlocks,
                        List<Integer> channelMult, Set<Integer> attentionDs, int numHeadChannels, int numHeads,
                        boolean useScaleShiftNorm, boolean resblockUpdown, boolean convResample,
                        boolean useNewAttentionOrder, int numClasses) {

    public AdmConfig {
        channelMult = List.copyOf(channelMult);
        attentionDs = java.util.Collections.unmodifiableSortedSet(new TreeSet<>(attentionDs));
        if (numHeadChannels <= 0 && numHeads <= 0) throw new IllegalArgumentException("need num_head_channels or num_heads");
    }

    /** The configuration of {@code 256x256_diffusion_uncond.pt}, as ImageNet-E uses it. */
    public static AdmConfig adm256() {
        return new AdmConfig(3, 256, 6, 2, List.of(1, 1, 2, 2, 4, 4), Set.of(8, 16, 32), 64, 4,
                true, true, true, false, 0);
    }

    /**
     * adm-tiny, the 32x32 test configuration (the golden tensors' and the GPU check's toy scale): ADM-256's with
     * num_channels 32, 1 res block, channel_mult 1,2,2, attention at ds 2 and 4 (16 and 8 px), 8 channels per head.
     */
    public static AdmConfig tiny() {
        return adm256().withModelChannels(32).withNumResBlocks(1).withChannelMult(List.of(1, 2, 2)).withAttentionDs(Set.of(2, 4))
                .withNumHeadChannels(8);
    }

    public boolean learnSigma() { return outChannels == 2 * inChannels; }

    public int embedChannels() { return 4 * modelChannels; }

    public int levels() { return channelMult.size(); }

    /** Number of attention heads for a block of {@code channels}. */
    public int heads(int channels) {
        if (numHeadChannels > 0) {
            if (channels % numHeadChannels != 0)
                throw new IllegalArgumentException(channels + " channels not divisible by num_head_channels " + numHeadChannels);
            return channels / numHeadChannels;
        }
        return numHeads;
    }

    public AdmConfig withModelChannels(int c) {
        return new AdmConfig(inChannels, c, outChannels, numResBlocks, channelMult, attentionDs, numHeadChannels, numHeads,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withNumResBlocks(int n) {
        return new AdmConfig(inChannels, modelChannels, outChannels, n, channelMult, attentionDs, numHeadChannels, numHeads,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withChannelMult(List<Integer> mult) {
        return new AdmConfig(inChannels, modelChannels, outChannels, numResBlocks, mult, attentionDs, numHeadChannels, numHeads,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withAttentionDs(Set<Integer> ds) {
        return new AdmConfig(inChannels, modelChannels, outChannels, numResBlocks, channelMult, ds, numHeadChannels, numHeads,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withNumHeadChannels(int n) {
        return new AdmConfig(inChannels, modelChannels, outChannels, numResBlocks, channelMult, attentionDs, n, numHeads,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withNumHeads(int n) {
        return new AdmConfig(inChannels, modelChannels, outChannels, numResBlocks, channelMult, attentionDs, -1, n,
                useScaleShiftNorm, resblockUpdown, convResample, useNewAttentionOrder, numClasses);
    }

    public AdmConfig withNewAttentionOrder(boolean b) {
        return new AdmConfig(inChannels, modelChannels, outChannels, numResBlocks, channelMult, attentionDs, numHeadChannels,
                numHeads, useScaleShiftNorm, resblockUpdown, convResample, b, numClasses);
    }

    /**
     * Applies guided-diffusion flags (the names of {@code create_model_and_diffusion}) on top of this
     * configuration: num_channels, num_res_blocks, channel_mult ("1,1,2,2,4,4"), attention_resolutions
     * ("32,16,8", in pixels, needs image_size), num_head_channels, num_heads, use_scale_shift_norm,
     * resblock_updown, use_new_attention_order, learn_sigma, class_cond (with num_classes). Unknown flags
     * are an error; diffusion-only flags (diffusion_steps, noise_schedule, ...) are accepted and ignored.
     */
    public AdmConfig withFlags(Map<String, String> flags) {
        int in = inChannels, mc = modelChannels, out = outChannels, nrb = numResBlocks, nhc = numHeadChannels, nh = numHeads;
        int classes = numClasses;
        List<Integer> mult = channelMult;
        Set<Integer> ds = attentionDs;
        boolean ssn = useScaleShiftNorm, updown = resblockUpdown, newOrder = useNewAttentionOrder;
        Integer imageSize = flags.containsKey("image_size") ? Integer.parseInt(flags.get("image_size").trim()) : null;
        for (Map.Entry<String, String> f : flags.entrySet()) {
            String v = f.getValue().trim();
            switch (f.getKey()) {
                case "num_channels" -> mc = Integer.parseInt(v);
                case "num_res_blocks" -> nrb = Integer.parseInt(v);
                case "channel_mult" -> { if (!v.isEmpty()) mult = ints(v); }
                case "attention_resolutions" -> {
                    if (imageSize == null) throw new IllegalArgumentException("attention_resolutions needs image_size");
                    Set<Integer> d = new TreeSet<>();
                    for (int r : ints(v)) d.add(imageSize / r);
                    ds = d;
                }
                case "num_head_channels" -> nhc = Integer.parseInt(v);
                case "num_heads" -> nh = Integer.parseInt(v);
                case "use_scale_shift_norm" -> ssn = bool(v);
                case "resblock_updown" -> updown = bool(v);
                case "use_new_attention_order" -> newOrder = bool(v);
                case "learn_sigma" -> out = bool(v) ? 2 * in : in;
                case "class_cond" -> { if (!bool(v)) classes = 0; else if (classes == 0) classes = 1000; }
                case "num_classes" -> classes = Integer.parseInt(v);
                case "in_channels" -> in = Integer.parseInt(v);
                case "image_size", "num_heads_upsample", "dropout", "use_checkpoint", "use_fp16", "diffusion_steps",
                     "noise_schedule", "timestep_respacing", "use_kl", "predict_xstart", "rescale_timesteps",
                     "rescale_learned_sigmas" -> { }
                default -> throw new IllegalArgumentException("unknown ADM flag '" + f.getKey() + "'");
            }
        }
        return new AdmConfig(in, mc, out, nrb, mult, ds, nhc, nh, ssn, updown, convResample, newOrder, classes);
    }

    private static List<Integer> ints(String v) {
        List<Integer> out = new ArrayList<>();
        for (String p : v.split(",")) if (!p.isBlank()) out.add(Integer.parseInt(p.trim()));
        return out;
    }

    private static boolean bool(String v) {
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException("not a boolean: " + v);
        };
    }

    /** Human-readable one-liner for logs. */
    public String describe() {
        return "ADM UNet: in " + inChannels + ", model_channels " + modelChannels + ", out " + outChannels
                + (learnSigma() ? " (learned sigma)" : "") + ", channel_mult " + channelMult + ", num_res_blocks "
                + numResBlocks + ", attention at ds " + attentionDs + ", "
                + (numHeadChannels > 0 ? numHeadChannels + " channels per head" : numHeads + " heads")
                + (useNewAttentionOrder ? " (new qkv order)" : "") + ", scale_shift_norm " + useScaleShiftNorm
                + ", resblock_updown " + resblockUpdown + (numClasses > 0 ? ", " + numClasses + " classes" : "");
    }

    /**
     * Reads the configuration off a state dict. {@code numHeadChannels} is not stored in checkpoints and must
     * be passed (64 for every released ADM model). Fails with a message naming the missing key when the dict
     * is not a guided-diffusion UNet.
     */
    public static AdmConfig infer(Map<String, Tensor> sd, int numHeadChannels) {
        Function<String, Tensor> req = k -> {
            Tensor t = sd.get(k);
            if (t == null) throw new IllegalArgumentException("not a guided-diffusion UNet state dict: no '" + k + "'");
            return t;
        };
        Tensor in0 = req.apply("input_blocks.0.0.weight");      // [C, in, 3, 3]
        int c = in0.dim(0), inCh = in0.dim(1);
        int outCh = req.apply("out.2.weight").dim(0);          // [out, C, 3, 3]
        int numClasses = sd.containsKey("label_emb.weight") ? sd.get("label_emb.weight").dim(0) : 0;

        int nOut = 0;
        while (hasPrefix(sd, "output_blocks." + nOut + ".")) nOut++;
        // The first output block that ends with an upsampler sits at index num_res_blocks.
        int nrb = -1;
        for (int j = 0; j < nOut && nrb < 0; j++) if (upsamplerIndex(sd, "output_blocks." + j) >= 0) nrb = j;
        if (nrb < 0) nrb = nOut - 1; // a single-level model has no upsampler
        if (nOut == 0 || nOut % (nrb + 1) != 0)
            throw new IllegalArgumentException("cannot infer num_res_blocks from " + nOut + " output blocks");
        int levels = nOut / (nrb + 1);

        List<Integer> mult = new ArrayList<>();
        Set<Integer> attn = new TreeSet<>();
        int idx = 1;
        for (int l = 0; l < levels; l++) {
            for (int r = 0; r < nrb; r++, idx++) {
                String p = "input_blocks." + idx;
                int out = req.apply(p + ".0.in_layers.2.weight").dim(0);
                if (r == 0) {
                    if (out % c != 0) throw new IllegalArgumentException(p + " has " + out + " channels, not a multiple of " + c);
                    mult.add(out / c);
                }
                if (sd.containsKey(p + ".1.qkv.weight")) attn.add(1 << l);
            }
            if (l < levels - 1) idx++;
        }
        String firstRes = "input_blocks.1.0";
        int firstOut = req.apply(firstRes + ".in_layers.2.weight").dim(0);
        boolean scaleShift = req.apply(firstRes + ".emb_layers.1.weight").dim(0) == 2 * firstOut;
        boolean updown = false, convResample = true;
        if (levels > 1) {
            String down = "input_blocks." + (nrb + 1) + ".0";
            updown = sd.containsKey(down + ".in_layers.2.weight");
            convResample = updown || sd.containsKey(down + ".op.weight");
        }
        return new AdmConfig(inCh, c, outCh, nrb, mult, attn, numHeadChannels, 4, scaleShift, updown, convResample,
                false, numClasses);
    }

    private static boolean hasPrefix(Map<String, Tensor> sd, String prefix) {
        for (String k : sd.keySet()) if (k.startsWith(prefix)) return true;
        return false;
    }

    /** Index of the layer inside an output block that upsamples, or -1. */
    private static int upsamplerIndex(Map<String, Tensor> sd, String block) {
        for (int i = 1; i <= 2; i++) {
            String p = block + "." + i;
            if (sd.containsKey(p + ".conv.weight")) return i;              // Upsample with conv
            if (sd.containsKey(p + ".in_layers.2.weight")) return i;       // up ResBlock
        }
        return -1;
    }

    /** Every parameter of the model in state-dict order with its shape: what a checkpoint must contain. */
    public Map<String, int[]> parameterShapes() {
        Map<String, int[]> p = new LinkedHashMap<>();
        int c = modelChannels, e = embedChannels();
        linear(p, "time_embed.0", c, e);
        linear(p, "time_embed.2", e, e);
        if (numClasses > 0) p.put("label_emb.weight", new int[]{numClasses, e});
        conv(p, "input_blocks.0.0", inChannels, c, 3);
        List<Integer> chans = new ArrayList<>();
        chans.add(c);
        int ch = c, ds = 1, idx = 1;
        for (int l = 0; l < levels(); l++) {
            for (int r = 0; r < numResBlocks; r++, idx++) {
                int out = channelMult.get(l) * c;
                resBlock(p, "input_blocks." + idx + ".0", ch, out);
                ch = out;
                if (attentionDs.contains(ds)) attention(p, "input_blocks." + idx + ".1", ch);
                chans.add(ch);
            }
            if (l < levels() - 1) {
                downOrUp(p, "input_blocks." + idx + ".0", ch);
                idx++;
                chans.add(ch);
                ds *= 2;
            }
        }
        resBlock(p, "middle_block.0", ch, ch);
        attention(p, "middle_block.1", ch);
        resBlock(p, "middle_block.2", ch, ch);
        idx = 0;
        for (int l = levels() - 1; l >= 0; l--) {
            for (int r = 0; r <= numResBlocks; r++, idx++) {
                int skip = chans.removeLast();
                int out = channelMult.get(l) * c;
                resBlock(p, "output_blocks." + idx + ".0", ch + skip, out);
                ch = out;
                int layer = 1;
                if (attentionDs.contains(ds)) attention(p, "output_blocks." + idx + "." + layer++, ch);
                if (l > 0 && r == numResBlocks) {
                    downOrUp(p, "output_blocks." + idx + "." + layer, ch);
                    ds /= 2;
                }
            }
        }
        norm(p, "out.0", ch);
        conv(p, "out.2", ch, outChannels, 3);
        return p;
    }

    private void downOrUp(Map<String, int[]> p, String name, int ch) {
        if (resblockUpdown) resBlock(p, name, ch, ch);
        else if (convResample) conv(p, name + (name.startsWith("input") ? ".op" : ".conv"), ch, ch, 3);
    }

    private void resBlock(Map<String, int[]> p, String n, int in, int out) {
        norm(p, n + ".in_layers.0", in);
        conv(p, n + ".in_layers.2", in, out, 3);
        linear(p, n + ".emb_layers.1", embedChannels(), useScaleShiftNorm ? 2 * out : out);
        norm(p, n + ".out_layers.0", out);
        conv(p, n + ".out_layers.3", out, out, 3);
        if (in != out) conv(p, n + ".skip_connection", in, out, 1);
    }

    private static void attention(Map<String, int[]> p, String n, int ch) {
        norm(p, n + ".norm", ch);
        p.put(n + ".qkv.weight", new int[]{3 * ch, ch, 1});
        p.put(n + ".qkv.bias", new int[]{3 * ch});
        p.put(n + ".proj_out.weight", new int[]{ch, ch, 1});
        p.put(n + ".proj_out.bias", new int[]{ch});
    }

    private static void norm(Map<String, int[]> p, String n, int ch) {
        p.put(n + ".weight", new int[]{ch});
        p.put(n + ".bias", new int[]{ch});
    }

    private static void conv(Map<String, int[]> p, String n, int in, int out, int k) {
        p.put(n + ".weight", new int[]{out, in, k, k});
        p.put(n + ".bias", new int[]{out});
    }

    private static void linear(Map<String, int[]> p, String n, int in, int out) {
        p.put(n + ".weight", new int[]{out, in});
        p.put(n + ".bias", new int[]{out});
    }
}
