package org.imagenete.eval;

import org.imagenete.image.Images;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;

import java.nio.file.Path;

/** Applies a {@link PreprocessSettings}: decode, resize the short side (PIL bilinear or bicubic, antialiased), centre crop, normalise. */
public final class Preprocessor {
    private Preprocessor() {}

    /** The crop as an 8-bit image (for thumbnails and CAM overlays). */
    public static RgbImage crop(RgbImage img, PreprocessSettings p) {
        RgbImage r = Resize.resizeShortSide(img, p.resizeShort(), p.interpolation());
        return r.centerCrop(p.crop(), p.crop());
    }

    /** Normalised CHW floats of the crop: (v / 255 - mean_c) / std_c. */
    public static float[] normalise(RgbImage crop, PreprocessSettings p) {
        int n = crop.width() * crop.height();
        float[] out = new float[3 * n], mean = p.mean(), std = p.std();
        for (int y = 0; y < crop.height(); y++)
            for (int x = 0; x < crop.width(); x++)
                for (int c = 0; c < 3; c++)
                    out[c * n + y * crop.width() + x] = (crop.get(x, y, c) / 255f - mean[c]) / std[c];
        return out;
    }

    public static RgbImage read(Path file) { return Images.read(file); }
}
