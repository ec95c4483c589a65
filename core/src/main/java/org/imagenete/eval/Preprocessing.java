package org.imagenete.eval;

/**
 * torchvision's standard evaluation transform, configurable per model: resize the short side to
 * {@code resizeShort} (bilinear, antialiased as PIL does), centre-crop {@code crop} x {@code crop}, scale to
 * [0,1], normalise by mean and std per channel.
 */
public record Preprocessing(int resizeShort, int crop, float[] mean, float[] std) {
    public static Preprocessing imagenet() {
        return new Preprocessing(256, 224, new float[]{0.485f, 0.456f, 0.406f}, new float[]{0.229f, 0.224f, 0.225f});
    }

    public Preprocessing withCrop(int size) {
        return new Preprocessing(Math.round(size * 256f / 224f), size, mean, std);
    }
}
