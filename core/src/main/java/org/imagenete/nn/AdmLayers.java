package org.imagenete.nn;

import java.util.ArrayList;
import java.util.List;

/** The UNet's architecture: its blocks as layer descriptions named after the checkpoint keys (no weights, no compute). */
final class AdmLayers {
    final List<List<Layer>> inputBlocks = new ArrayList<>();
    final List<Layer> middleBlock = new ArrayList<>();
    final List<List<Layer>> outputBlocks = new ArrayList<>();

    private AdmLayers() {}

    sealed interface Layer permits Conv, ResBlock, AttentionBlock, Down, Up {}

    /** A plain conv (input_blocks.0.0, Downsample.op, Upsample.conv). */
    record Conv(String name, int stride) implements Layer {}

    /** ResBlock: in_layers (GN, SiLU, conv3x3), emb_layers (SiLU, Linear), out_layers (GN, SiLU, dropout, conv3x3). */
    record ResBlock(String name, int in, int out, Resample resample) implements Layer {}

    record AttentionBlock(String name, int channels, int heads) implements Layer {}

    /** Downsample without a conv (avg pool 2x2) or, with conv_resample, conv3x3 stride 2 ({@code op}). */
    record Down(String name, boolean conv) implements Layer {}

    /** Upsample: nearest x2, then conv3x3 ({@code conv}) when conv_resample. */
    record Up(String name, boolean conv) implements Layer {}

    enum Resample { NONE, DOWN, UP }

    /** The layers of guided-diffusion's UNetModel for {@code c}, named after their state-dict keys. */
    static AdmLayers of(AdmConfig c) {
        AdmLayers layers = new AdmLayers();
        List<List<Layer>> inputBlocks = layers.inputBlocks, outputBlocks = layers.outputBlocks;
        List<Layer> middleBlock = layers.middleBlock;
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
        return layers;
    }
}
