package org.imagenete.edit.fill;

import org.imagenete.edit.HoleFiller;
import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

/**
 * Push-pull hole filling (Gortler et al., "The Lumigraph", SIGGRAPH 1996, section 3.3): a smooth fill that
 * interpolates the colours around the hole over any distance, in {@code O(n)}.
 *
 * <p><b>Pull</b>: a pyramid of (colour, weight) images. Level 0 is the image with weight 1 on known pixels and 0
 * in the hole. Level {@code l+1} (half size, rounded up) takes each pixel from the 4x4 children
 * {@code 2X-1 .. 2X+2} of level {@code l} with the binomial taps {@code [1 3 3 1] x [1 3 3 1]}: colour =
 * {@code sum(f a v) / sum(f a)}, weight = {@code sum(f a) / sum(f)} over the taps inside the level. Pulling
 * stops at the first level without a zero weight (at the latest 1x1).
 *
 * <p><b>Push</b>: from the coarsest level down, each pixel's colour becomes {@code a v + (1 - a) u}, where
 * {@code u} is the next coarser level bilinearly interpolated at the pixel's centre (the transpose of the
 * {@code [1 3 3 1]} pull). Hole pixels of level 0 (a = 0) get {@code u}; known pixels keep their colour.
 *
 * <p>The result is blurred, without edges or texture, but it has the right colours at every scale and no
 * streaks: of the three fills its mean colour stays closest to the surroundings'. 2-6 ms for a 30 % hole in
 * 256x256. {@link PatchFill} starts from it and adds texture.
 */
public record PushPullFill() implements HoleFiller {
    @Override
    public RgbImage fill(RgbImage image, Mask hole) {
        boolean[] bits = Holes.check(image, hole);
        byte[] rgb = image.toByteArray();
        if (hole.isEmpty()) return RgbImage.of(image.width(), image.height(), rgb);
        float[] px = Holes.toFloat(rgb);
        float[] a = new float[bits.length];
        for (int i = 0; i < bits.length; i++) a[i] = bits[i] ? 0f : 1f;
        pushPull(px, a, image.width(), image.height());
        return Holes.toImage(image.width(), image.height(), rgb, px, bits);
    }

    private static final float[] TAPS = {1f, 3f, 3f, 1f};

    /**
     * Fills, in place, the colours {@code v} (interleaved RGB, {@code 3 * w * h}) where the weights {@code a}
     * (0..1, one per pixel) are below 1, blending with the pushed-down coarser levels as described above. Needs a
     * non-zero weight somewhere.
     */
    static void pushPull(float[] v, float[] a, int w, int h) {
        boolean anyZero = false;
        for (float x : a) if (x <= 0f) { anyZero = true; break; }
        if (!anyZero || (w == 1 && h == 1)) return;
        int cw = (w + 1) / 2, ch = (h + 1) / 2;
        float[] cv = new float[3 * cw * ch], ca = new float[cw * ch];
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++) {
                double s0 = 0, s1 = 0, s2 = 0, sa = 0, sf = 0;
                for (int j = 0; j < 4; j++) {
                    int fy = 2 * y - 1 + j;
                    if (fy < 0 || fy >= h) continue;
                    for (int i = 0; i < 4; i++) {
                        int fx = 2 * x - 1 + i;
                        if (fx < 0 || fx >= w) continue;
                        float f = TAPS[i] * TAPS[j];
                        int p = fy * w + fx;
                        double fa = f * a[p];
                        s0 += fa * v[3 * p];
                        s1 += fa * v[3 * p + 1];
                        s2 += fa * v[3 * p + 2];
                        sa += fa;
                        sf += f;
                    }
                }
                int c = y * cw + x;
                if (sa > 0) {
                    cv[3 * c] = (float) (s0 / sa);
                    cv[3 * c + 1] = (float) (s1 / sa);
                    cv[3 * c + 2] = (float) (s2 / sa);
                }
                ca[c] = (float) (sa / sf);
            }
        }
        pushPull(cv, ca, cw, ch);
        // push: bilinear from the coarse level at fine pixel x's centre, coarse coordinate (x - 0.5) / 2
        for (int y = 0; y < h; y++) {
            float gy = (y - 0.5f) * 0.5f;
            int y0 = (int) Math.floor(gy);
            float ty = gy - y0;
            int ya = Math.max(0, y0), yb = Math.min(ch - 1, y0 + 1);
            for (int x = 0; x < w; x++) {
                int p = y * w + x;
                float ap = a[p];
                if (ap >= 1f) continue;
                float gx = (x - 0.5f) * 0.5f;
                int x0 = (int) Math.floor(gx);
                float tx = gx - x0;
                int xa = Math.max(0, x0), xb = Math.min(cw - 1, x0 + 1);
                int c00 = 3 * (ya * cw + xa), c01 = 3 * (ya * cw + xb), c10 = 3 * (yb * cw + xa), c11 = 3 * (yb * cw + xb);
                for (int c = 0; c < 3; c++) {
                    float top = cv[c00 + c] + tx * (cv[c01 + c] - cv[c00 + c]);
                    float bot = cv[c10 + c] + tx * (cv[c11 + c] - cv[c10 + c]);
                    float u = top + ty * (bot - top);
                    v[3 * p + c] = ap * v[3 * p + c] + (1f - ap) * u;
                }
            }
        }
    }
}
