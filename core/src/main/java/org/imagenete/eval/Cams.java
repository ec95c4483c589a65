package org.imagenete.eval;

import org.imagenete.image.RgbImage;

/** Class activation map overlays: the CAM min-max normalised, upsampled bilinearly, jet colours at 50% over the image. */
public final class Cams {
    private Cams() {}

    public static RgbImage overlay(RgbImage img, float[] cam, int h, int w) {
        float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
        for (float v : cam) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        float range = hi > lo ? hi - lo : 1;
        int W = img.width(), H = img.height();
        byte[] out = new byte[W * H * 3];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                // bilinear sample of the h x w map at the pixel centre (align_corners = False)
                double sy = Math.max(0, Math.min(h - 1, (y + 0.5) * h / H - 0.5)), sx = Math.max(0, Math.min(w - 1, (x + 0.5) * w / W - 0.5));
                int y0 = (int) sy, x0 = (int) sx, y1 = Math.min(h - 1, y0 + 1), x1 = Math.min(w - 1, x0 + 1);
                double fy = sy - y0, fx = sx - x0;
                double v = (1 - fy) * ((1 - fx) * cam[y0 * w + x0] + fx * cam[y0 * w + x1]) + fy * ((1 - fx) * cam[y1 * w + x0] + fx * cam[y1 * w + x1]);
                double t = (v - lo) / range;
                int[] jet = jet(t);
                for (int c = 0; c < 3; c++) out[(y * W + x) * 3 + c] = (byte) Math.round(0.5 * img.get(x, y, c) + 0.5 * jet[c]);
            }
        return RgbImage.of(W, H, out);
    }

    /** The classic jet colour map: blue (0) - cyan - yellow - red (1). */
    static int[] jet(double t) {
        t = Math.max(0, Math.min(1, t));
        double r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 3)));
        double g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 2)));
        double b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - 1)));
        return new int[]{(int) Math.round(255 * r), (int) Math.round(255 * g), (int) Math.round(255 * b)};
    }
}
