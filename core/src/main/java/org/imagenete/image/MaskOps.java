package org.imagenete.image;

import org.imagenete.tensor.Tensor;

/** Operations on object masks: growing, inverting, and the object's RGBA layer cut out of its image. */
public final class MaskOps {
    private MaskOps() {}

    /** The mask grown by r pixels (square structuring element). */
    public static Mask dilate(Mask m, int r) {
        if (r <= 0) return m;
        int w = m.width(), h = m.height();
        boolean[] rows = new boolean[w * h], out = new boolean[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                boolean any = false;
                for (int k = Math.max(0, x - r); k <= Math.min(w - 1, x + r) && !any; k++) any = m.get(k, y);
                rows[y * w + x] = any;
            }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                boolean any = false;
                for (int k = Math.max(0, y - r); k <= Math.min(h - 1, y + r) && !any; k++) any = rows[k * w + x];
                out[y * w + x] = any;
            }
        return Mask.of(w, h, out);
    }

    /** Object and background swapped. */
    public static Mask invert(Mask m) {
        boolean[] b = m.toBooleanArray();
        for (int i = 0; i < b.length; i++) b[i] = !b[i];
        return Mask.of(m.width(), m.height(), b);
    }

    /** Premultiplied RGBA [4, H, W] in [0, 1]: the object's colours where the mask is set, transparent elsewhere. */
    public static Tensor objectLayer(RgbImage img, Mask mask) {
        int w = img.width(), h = img.height(), plane = w * h;
        float[] v = new float[4 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!mask.get(x, y)) continue;
                int i = y * w + x;
                for (int c = 0; c < 3; c++) v[c * plane + i] = img.get(x, y, c) / 255f;
                v[3 * plane + i] = 1f;
            }
        return Tensor.of(v, 4, h, w);
    }
}
