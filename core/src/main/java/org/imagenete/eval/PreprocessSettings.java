package org.imagenete.eval;

import org.imagenete.image.Filter;

import java.util.Arrays;
import java.util.Locale;

/**
 * torchvision's / timm's standard evaluation transform, configurable per model: resize the short side to
 * {@code resizeShort} (bilinear or bicubic, antialiased as PIL does), centre-crop {@code crop} x {@code crop}, scale
 * to [0,1], normalise by mean and std per channel. Two models with equal preprocessing see the same floats, so an
 * evaluation of several models prepares each image once per distinct preprocessing.
 */
public record PreprocessSettings(int resizeShort, int crop, float[] mean, float[] std, Filter interpolation) {
    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f}, IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    public PreprocessSettings {
        if (crop < 1 || resizeShort < crop)
            throw new IllegalArgumentException("preprocessing: resize " + resizeShort + " must be at least the crop " + crop);
        if (mean.length != 3 || std.length != 3) throw new IllegalArgumentException("preprocessing: mean and std need 3 values");
        for (float s : std) if (!(s > 0)) throw new IllegalArgumentException("preprocessing: std " + Arrays.toString(std) + " must be positive");
        if (interpolation != Filter.BILINEAR && interpolation != Filter.BICUBIC)
            throw new IllegalArgumentException("preprocessing: interpolation " + interpolation + " (bilinear or bicubic)");
        mean = mean.clone();
        std = std.clone();
    }

    public PreprocessSettings(int resizeShort, int crop, float[] mean, float[] std) {
        this(resizeShort, crop, mean, std, Filter.BILINEAR);
    }

    /** torchvision's: resize 256, crop 224, bilinear, ImageNet mean and std. */
    public static PreprocessSettings imagenet() { return new PreprocessSettings(256, 224, IMAGENET_MEAN, IMAGENET_STD); }

    /** timm's convention: the short side resized to floor(crop / cropPct) (224 at 0.875 -> 256). */
    public static int resizeForCropPct(int crop, double cropPct) {
        if (!(cropPct > 0 && cropPct <= 1)) throw new IllegalArgumentException("crop_pct " + cropPct + " must be in (0, 1]");
        return (int) Math.floor(crop / cropPct);
    }

    public PreprocessSettings withCrop(int size) {
        return new PreprocessSettings(Math.round(size * 256f / 224f), size, mean, std, interpolation);
    }

    public PreprocessSettings withNormalisation(float[] newMean, float[] newStd) {
        return new PreprocessSettings(resizeShort, crop, newMean, newStd, interpolation);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PreprocessSettings p && p.resizeShort == resizeShort && p.crop == crop && Arrays.equals(p.mean, mean)
                && Arrays.equals(p.std, std) && p.interpolation == interpolation;
    }

    @Override
    public int hashCode() { return Arrays.hashCode(new int[]{resizeShort, crop, Arrays.hashCode(mean), Arrays.hashCode(std), interpolation.ordinal()}); }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "resize %d %s, crop %d, mean %s, std %s", resizeShort, interpolation.name().toLowerCase(Locale.ROOT),
                crop, Arrays.toString(mean), Arrays.toString(std));
    }
}
