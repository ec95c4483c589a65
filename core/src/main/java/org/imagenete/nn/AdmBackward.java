package org.imagenete.nn;

import org.imagenete.ops.Checks;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.util.List;

import org.imagenete.nn.AdmLayers.AttentionBlock;
import org.imagenete.nn.AdmLayers.Conv;
import org.imagenete.nn.AdmLayers.Down;
import org.imagenete.nn.AdmLayers.Resample;
import org.imagenete.nn.AdmLayers.ResBlock;
import org.imagenete.nn.AdmLayers.Up;

/** The backward pass of {@link Adm}: the input gradient through the activations a forward pass left on its tape. */
final class AdmBackward {
    private final Adm adm;

    private AdmBackward(Adm adm) { this.adm = adm; }

    /** What the backward pass of each layer needs, in forward order. */
    record ConvRec(Conv layer, int h, int w) {}

    /** x is null for a decoder block's first ResBlock, whose input is the halves in the block's {@link CatRec};
     *  statsIn, statsOut: the statistics of in_layers.0 and out_layers.0 (GroupNorms). */
    record ResRec(ResBlock layer, Tensor x, Tensor gnOutInput, Tensor scaleShift, Tensor statsIn, Tensor statsOut, int h, int w) {}

    record AttnRec(AttentionBlock layer, Tensor x, Tensor qkv, Tensor stats) {}

    record DownRec(Down layer, int h, int w) {}

    record UpRec(Up layer, int h, int w) {}

    /** Start of a decoder block: its input was cat([h, skip]) and the gradient splits at {@code channelsH}. */
    record CatRec(Tensor h, Tensor skip, int channelsH) {}

    record HeadRec(Tensor h, Tensor stats) {}

    /** See {@link Adm#inputGradient}. */
    static Tensor inputGradient(Adm adm, Ops ops, Adm.Tape tape, Tensor v) { return new AdmBackward(adm).run(ops, tape, v); }

    private Tensor run(Ops ops, Adm.Tape tape, Tensor v) {
        int[] in = tape.inputShape;
        if (in == null) throw new IllegalStateException("tape holds no forward pass");
        Checks.shape("v", v, in[0], adm.config().outChannels(), in[2], in[3]);
        List<Object> recs = tape.records;
        int r = recs.size() - 1;
        // Gradients of the input-block outputs that the decoder's skips receive, by input block index.
        Tensor[] dSkip = new Tensor[adm.layers.inputBlocks.size()];
        Tensor g;
        // head: out = conv(SiLU(GN(h)))
        HeadRec head = (HeadRec) recs.get(r--);
        try (Tensor dhn = ops.conv2dGrad(v, w("out.2.weight"), 1, 1, in[2], in[3])) {
            g = ops.groupNormGrad(dhn, head.h(), w("out.0.weight"), w("out.0.bias"), Adm.GROUPS, Adm.EPS, null, true, head.stats(), null);
        }
        int nIn = adm.layers.inputBlocks.size();
        for (int i = adm.layers.outputBlocks.size() - 1; i >= 0; i--) {
            int start = r - adm.layers.outputBlocks.get(i).size();     // every layer left one record, after the block's CatRec
            CatRec cat = (CatRec) recs.get(start);
            // the block's first layer is a ResBlock over cat([h, skip]): its gradient comes in the two parts
            if (!(recs.get(start + 1) instanceof ResRec first))
                throw new IllegalStateException("output block " + i + " does not start with a ResBlock");
            g = backBlock(ops, recs.subList(start + 2, r + 1), g);
            Tensor[] parts;
            try {
                parts = resBlockGrad(ops, first, g, cat);
            } finally {
                g.close();
            }
            dSkip[nIn - 1 - i] = parts[1];    // output block i consumed input block (n-1-i)'s output
            g = parts[0];
            r = start - 1;
        }
        int midStart = r - adm.layers.middleBlock.size() + 1;
        g = backBlock(ops, recs.subList(midStart, r + 1), g);
        r = midStart - 1;
        for (int i = nIn - 1; i >= 0; i--) {
            Tensor ds = dSkip[i];
            Tensor sum = ops.add(g, ds);
            g.close();
            ds.close();
            int count = adm.layers.inputBlocks.get(i).size();
            g = backBlock(ops, recs.subList(r - count + 1, r + 1), sum);
            r -= count;
        }
        tape.close();
        return g;
    }

    /** Backward through one block's records (forward order), consuming {@code g}. */
    private Tensor backBlock(Ops ops, List<Object> recs, Tensor g) {
        for (int k = recs.size() - 1; k >= 0; k--) {
            Tensor next = switch (recs.get(k)) {
                case ConvRec c -> ops.conv2dGrad(g, w(c.layer().name() + ".weight"), c.layer().stride(), 1, c.h(), c.w());
                case ResRec rr -> resBlockGrad(ops, rr, g, null)[0];
                case AttnRec ar -> attentionGrad(ops, ar, g);
                case DownRec d -> d.layer().conv() ? ops.conv2dGrad(g, w(d.layer().name() + ".op.weight"), 2, 1, d.h(), d.w()) : ops.avgPool2xGrad(g);
                case UpRec u -> {
                    if (!u.layer().conv()) yield ops.upsampleNearest2xGrad(g);
                    try (Tensor dup = ops.conv2dGrad(g, w(u.layer().name() + ".conv.weight"), 1, 1, 2 * u.h(), 2 * u.w())) {
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

    /** {dx}; or, for a decoder block's first ResBlock (cat: its input cat([h, skip]), not kept), {dh, dskip}. */
    private Tensor[] resBlockGrad(Ops ops, ResRec rr, Tensor dOut, CatRec cat) {
        ResBlock rb = rr.layer();
        String n = rb.name();
        int h2 = rb.resample() == Resample.DOWN ? rr.h() / 2 : rb.resample() == Resample.UP ? rr.h() * 2 : rr.h();
        int w2 = rb.resample() == Resample.DOWN ? rr.w() / 2 : rb.resample() == Resample.UP ? rr.w() * 2 : rr.w();
        // the skip path's gradient first: the main path's last op adds it (fused residual)
        Tensor dxr = rb.in() == rb.out() ? dOut : ops.conv2dGrad(dOut, w(n + ".skip_connection.weight"), 1, 0, h2, w2);
        Tensor dSkip;                                                                                         // [B, in, H, W]
        try {
            dSkip = rb.resample() == Resample.NONE ? dxr
                    : rb.resample() == Resample.DOWN ? ops.avgPool2xGrad(dxr) : ops.upsampleNearest2xGrad(dxr);
        } finally {
            if (dxr != dOut && rb.resample() != Resample.NONE) dxr.close();
        }
        try (Tensor dhh = ops.conv2dGrad(dOut, w(n + ".out_layers.3.weight"), 1, 1, h2, w2);               // [B, out, H', W']
             Tensor dhc = ops.groupNormGrad(dhh, rr.gnOutInput(), w(n + ".out_layers.0.weight"), w(n + ".out_layers.0.bias"),
                     Adm.GROUPS, Adm.EPS, rr.scaleShift(), true, rr.statsOut(), null);
             Tensor dh = ops.conv2dGrad(dhc, w(n + ".in_layers.2.weight"), 1, 1, h2, w2)) {                  // [B, in, H', W']
            rr.gnOutInput().close();
            rr.statsOut().close();
            if (rr.scaleShift() != null) rr.scaleShift().close();
            Tensor da = rb.resample() == Resample.NONE ? dh
                    : rb.resample() == Resample.DOWN ? ops.avgPool2xGrad(dh) : ops.upsampleNearest2xGrad(dh);  // [B, in, H, W]
            try {
                if (cat == null)
                    return new Tensor[]{ops.groupNormGrad(da, rr.x(), w(n + ".in_layers.0.weight"), w(n + ".in_layers.0.bias"),
                            Adm.GROUPS, Adm.EPS, null, true, rr.statsIn(), dSkip)};
                return ops.groupNormGradConcat(da, cat.h(), cat.skip(), w(n + ".in_layers.0.weight"), w(n + ".in_layers.0.bias"),
                        Adm.GROUPS, Adm.EPS, null, true, rr.statsIn(), dSkip);
            } finally {
                rr.statsIn().close();
                if (da != dh) da.close();
            }
        } finally {
            if (dSkip != dOut) dSkip.close();
        }
    }

    private Tensor attentionGrad(Ops ops, AttnRec ar, Tensor dy) {
        AttentionBlock ab = ar.layer();
        String n = ab.name();
        Tensor x = ar.x();
        int b = x.dim(0), c = x.dim(1), hgt = x.dim(2), wid = x.dim(3);
        try (Tensor da = ops.conv2dGrad(dy, w(n + ".proj_out.weight").view(c, c, 1, 1), 1, 0, hgt, wid);       // [B, C, H, W]
             Tensor dqkv = ops.attentionGrad(da.view(b, c, hgt * wid), ar.qkv().view(b, 3 * c, hgt * wid), ab.heads()); // [B, 3C, T]
             Tensor dxn = ops.conv2dGrad(dqkv.view(b, 3 * c, hgt, wid), w(n + ".qkv.weight").view(3 * c, c, 1, 1), 1, 0, hgt, wid)) {
            ar.qkv().close();
            try (Tensor st = ar.stats()) {
                return ops.groupNormGrad(dxn, x, w(n + ".norm.weight"), w(n + ".norm.bias"), Adm.GROUPS, Adm.EPS, null, false, st, dy); // + residual
            }
        }
    }

    private Tensor w(String key) { return adm.w(key); }
}
