package org.imagenete.image;

import java.util.Arrays;
import java.util.Objects;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

/**
 * An immutable 8-bit sRGB image: {@code width x height} pixels stored row-major and interleaved as
 * {@code R, G, B} bytes (index {@code 3 * (y * width + x) + c}).
 *
 * <p>Tensor conversion uses the layout the models take, F32 {@code [3, H, W]}, in one of two ranges:
 * {@link Range#MINUS_ONE_ONE} ({@code v / 127.5 - 1}, guided-diffusion's input) or {@link Range#ZERO_ONE}
 * ({@code v / 255}, torchvision's {@code ToTensor}), both computed in float32 as numpy/torch do.
 */
public final class RgbImage {
    /** The value range of a float tensor that holds an image. */
    public enum Range {
        /** {@code x = v / 127.5 - 1}, so 0 maps to -1 and 255 to 1 (guided-diffusion). */
        MINUS_ONE_ONE,
        /** {@code x = v / 255} (torchvision {@code ToTensor}). */
        ZERO_ONE
    }

    /** How a float in [0, 255] becomes a byte when a tensor is turned back into an image. */
    public enum Quantize {
        /** Nearest integer, halves up ({@code floor(v + 0.5)}). The default. */
        ROUND,
        /**
         * Towards zero, as torch's {@code .to(torch.uint8)} after {@code clamp(0, 255)} does
         * (guided-diffusion's and Blended Diffusion's way of saving samples).
         */
        TRUNCATE
    }

    private final int width;
    private final int height;
    private final byte[] rgb;

    /** Takes ownership of {@code rgb}; callers in this package never modify it afterwards. */
    RgbImage(int width, int height, byte[] rgb) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size must be positive: " + width + "x" + height);
        if (rgb.length != 3L * width * height)
            throw new IllegalArgumentException(rgb.length + " bytes do not hold a " + width + "x" + height + " RGB image");
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /** An image over a copy of {@code rgb} (interleaved R, G, B, row-major; length {@code 3 * width * height}). */
    public static RgbImage of(int width, int height, byte[] rgb) {
        return new RgbImage(width, height, rgb.clone());
    }

    /** An image of one colour. */
    public static RgbImage filled(int width, int height, int r, int g, int b) {
        byte[] d = new byte[Math.multiplyExact(3, Math.multiplyExact(width, height))];
        for (int i = 0; i < d.length; i += 3) {
            d[i] = (byte) r;
            d[i + 1] = (byte) g;
            d[i + 2] = (byte) b;
        }
        return new RgbImage(width, height, d);
    }

    public int width() { return width; }

    public int height() { return height; }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        Objects.checkIndex(x, width);
        Objects.checkIndex(y, height);
        Objects.checkIndex(c, 3);
        return rgb[3 * (y * width + x) + c] & 0xff;
    }

    /** Pixel (x, y) packed as {@code 0xRRGGBB}. */
    public int rgb(int x, int y) {
        Objects.checkIndex(x, width);
        Objects.checkIndex(y, height);
        int i = 3 * (y * width + x);
        return (rgb[i] & 0xff) << 16 | (rgb[i + 1] & 0xff) << 8 | (rgb[i + 2] & 0xff);
    }

    /** A copy of the interleaved RGB bytes. */
    public byte[] toByteArray() { return rgb.clone(); }

    /** The pixels without a copy, for this package's codecs and resamplers; never modified. */
    byte[] data() { return rgb; }

    /** The {@code w x h} region with top-left corner (x, y), which must lie inside the image. */
    public RgbImage crop(int x, int y, int w, int h) {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > width || y + h > height)
            throw new IllegalArgumentException("crop " + w + "x" + h + " at (" + x + ", " + y + ") outside a "
                    + width + "x" + height + " image");
        byte[] d = new byte[3 * w * h];
        for (int r = 0; r < h; r++) System.arraycopy(rgb, 3 * ((y + r) * width + x), d, 3 * r * w, 3 * w);
        return new RgbImage(w, h, d);
    }

    /**
     * The centred {@code w x h} crop, placed as torchvision's {@code center_crop} places it:
     * top = round((H - h) / 2), left = round((W - w) / 2), with Python's round-half-to-even.
     */
    public RgbImage centerCrop(int w, int h) {
        int top = (int) Math.rint((height - h) / 2.0);
        int left = (int) Math.rint((width - w) / 2.0);
        return crop(left, top, w, h);
    }

    /** A new owning F32 tensor {@code [3, H, W]} in the given range. */
    public Tensor toTensor(Range range) {
        int plane = width * height;
        float[] out = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                float v = rgb[3 * i + c] & 0xff;
                out[c * plane + i] = range == Range.MINUS_ONE_ONE ? v / 127.5f - 1f : v / 255f;
            }
        }
        return Tensor.of(out, 3, height, width);
    }

    /** The image in a float tensor {@code [3, H, W]}: values are clamped to the range and rounded. */
    public static RgbImage fromTensor(Tensor chw, Range range) {
        return fromTensor(chw, range, Quantize.ROUND);
    }

    /**
     * The image in a float tensor {@code [3, H, W]} (F32, F16, BF16 or F64): {@code v = (x + 1) * 127.5} or
     * {@code v = x * 255}, computed in float32, clamped to [0, 255], then quantised. A NaN or infinite element
     * is an error naming its position.
     */
    public static RgbImage fromTensor(Tensor chw, Range range, Quantize quantize) {
        if (chw.rank() != 3 || chw.dim(0) != 3)
            throw new IllegalArgumentException("expected a [3, H, W] tensor, got " + chw.shape());
        if (!chw.dtype().isFloating()) throw new IllegalArgumentException("expected a float tensor, got " + chw.dtype());
        int h = chw.dim(1), w = chw.dim(2), plane = w * h;
        float[] x = chw.toFloatArray();
        byte[] d = new byte[3 * plane];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < plane; i++) {
                float f = x[c * plane + i];
                if (!Float.isFinite(f))
                    throw new IllegalArgumentException("non-finite value " + f + " at [" + c + ", " + i / w + ", " + i % w + "]");
                float v = range == Range.MINUS_ONE_ONE ? (f + 1f) * 127.5f : f * 255f;
                v = Math.max(0f, Math.min(255f, v));
                int q = quantize == Quantize.ROUND ? (int) Math.floor(v + 0.5f) : (int) v;
                d[3 * i + c] = (byte) q;
            }
        }
        return new RgbImage(w, h, d);
    }

    /** Same size and the same bytes. */
    @Override public boolean equals(Object o) {
        return o instanceof RgbImage other && other.width == width && other.height == height && Arrays.equals(other.rgb, rgb);
    }

    @Override public int hashCode() { return 31 * (31 * width + height) + Arrays.hashCode(rgb); }

    @Override public String toString() { return "RgbImage[" + width + "x" + height + "]"; }
}
