package org.imagenete.edit.fill;

import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

/** Checks shared by the fills, and the float working copy they write into. */
final class Holes {
    private Holes() {}

    /**
     * The hole's pixels (row-major, true = to fill) after checking that it fits the image and leaves at least
     * one known pixel to fill from.
     */
    static boolean[] check(RgbImage image, Mask hole) {
        if (image.width() != hole.width() || image.height() != hole.height())
            throw new IllegalArgumentException("hole mask is " + hole.width() + "x" + hole.height() + " but the image is "
                    + image.width() + "x" + image.height());
        if (hole.count() == image.width() * image.height())
            throw new IllegalArgumentException("the hole covers the whole " + image.width() + "x" + image.height()
                    + " image: there is no known pixel to fill it from");
        return hole.toBooleanArray();
    }

    /** Interleaved R, G, B floats, 0..255. */
    static float[] toFloat(byte[] rgb) {
        float[] px = new float[rgb.length];
        for (int i = 0; i < rgb.length; i++) px[i] = rgb[i] & 0xff;
        return px;
    }

    /**
     * The result: known pixels are the original bytes (exactly), hole pixels the working values rounded half up
     * and clamped to 0..255.
     */
    static RgbImage toImage(int width, int height, byte[] original, float[] px, boolean[] hole) {
        byte[] out = original.clone();
        for (int i = 0; i < hole.length; i++) {
            if (!hole[i]) continue;
            for (int c = 0; c < 3; c++) out[3 * i + c] = quantize(px[3 * i + c]);
        }
        return RgbImage.of(width, height, out);
    }

    static byte quantize(float v) {
        int q = (int) Math.floor(v + 0.5f);
        return (byte) (q < 0 ? 0 : Math.min(q, 255));
    }
}
