package org.imagenete.image;

import java.util.Arrays;
import java.util.Objects;

import org.imagenete.tensor.Tensor;

/**
 * An immutable binary object mask: {@code width x height} booleans, row-major, true = object.
 * Coordinates are pixel indices (x to the right, y down); the centroid is the mean of the object pixels'
 * indices, so a single object pixel at (3, 5) has centroid (3.0, 5.0).
 */
public final class Mask {
    /** Bounding box of the object pixels: {@code [x0, x1) x [y0, y1)}. */
    public record Box(int x0, int y0, int x1, int y1) {
        public int width() { return x1 - x0; }

        public int height() { return y1 - y0; }
    }

    /** A point in pixel-index coordinates. */
    public record Point(double x, double y) {}

    private final int width;
    private final int height;
    private final boolean[] bits;
    private final int count;

    /** Takes ownership of {@code bits}. */
    Mask(int width, int height, boolean[] bits) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("mask size must be positive: " + width + "x" + height);
        if (bits.length != (long) width * height)
            throw new IllegalArgumentException(bits.length + " values do not fill a " + width + "x" + height + " mask");
        this.width = width;
        this.height = height;
        this.bits = bits;
        int n = 0;
        for (boolean b : bits) if (b) n++;
        this.count = n;
    }

    /** A mask over a copy of {@code bits} (row-major, length {@code width * height}). */
    public static Mask of(int width, int height, boolean[] bits) {
        return new Mask(width, height, bits.clone());
    }

    /** A mask from row-major bytes: non-zero = object. */
    public static Mask fromBytes(int width, int height, byte[] values) {
        boolean[] b = new boolean[values.length];
        for (int i = 0; i < b.length; i++) b[i] = values[i] != 0;
        return new Mask(width, height, b);
    }

    public int width() { return width; }

    public int height() { return height; }

    public boolean get(int x, int y) {
        Objects.checkIndex(x, width);
        Objects.checkIndex(y, height);
        return bits[y * width + x];
    }

    /** Number of object pixels. */
    public int count() { return count; }

    public boolean isEmpty() { return count == 0; }

    /** Object pixels divided by all pixels. */
    public double areaRatio() { return (double) count / ((long) width * height); }

    /** The tightest box around the object pixels; an empty mask has none ({@link IllegalStateException}). */
    public Box boundingBox() {
        requireObject("bounding box");
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++) {
            int row = y * width;
            for (int x = 0; x < width; x++) {
                if (bits[row + x]) {
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    y1 = y;
                }
            }
        }
        return new Box(x0, y0, x1 + 1, y1 + 1);
    }

    /** Mean (x, y) of the object pixels; an empty mask has none ({@link IllegalStateException}). */
    public Point centroid() {
        requireObject("centroid");
        long sx = 0, sy = 0;
        for (int y = 0; y < height; y++) {
            int row = y * width;
            for (int x = 0; x < width; x++) {
                if (bits[row + x]) {
                    sx += x;
                    sy += y;
                }
            }
        }
        return new Point((double) sx / count, (double) sy / count);
    }

    private void requireObject(String what) {
        if (count == 0) throw new IllegalStateException("empty mask (" + width + "x" + height + ") has no " + what);
    }

    /** Resized with Pillow's NEAREST (the way ImageNet-E resizes masks to 256x256). */
    public Mask resizeNearest(int newWidth, int newHeight) {
        if (newWidth < 1 || newHeight < 1) throw new IllegalArgumentException("size must be positive: " + newWidth + "x" + newHeight);
        if (newWidth == width && newHeight == height) return this;
        int[] xs = Resize.nearestIndex(width, newWidth), ys = Resize.nearestIndex(height, newHeight);
        boolean[] out = new boolean[newWidth * newHeight];
        for (int y = 0; y < newHeight; y++)
            for (int x = 0; x < newWidth; x++)
                out[y * newWidth + x] = ys[y] >= 0 && xs[x] >= 0 && bits[ys[y] * width + xs[x]];
        return new Mask(newWidth, newHeight, out);
    }

    /** Row-major bytes, 255 = object, 0 = background (the PNG form). */
    public byte[] toGray() {
        byte[] out = new byte[bits.length];
        for (int i = 0; i < out.length; i++) out[i] = bits[i] ? (byte) 255 : 0;
        return out;
    }

    /** A copy of the row-major booleans. */
    public boolean[] toBooleanArray() { return bits.clone(); }

    /** A new owning F32 tensor {@code [1, H, W]}: 1 = object, 0 = background. */
    public Tensor toTensor() {
        float[] v = new float[bits.length];
        for (int i = 0; i < v.length; i++) v[i] = bits[i] ? 1f : 0f;
        return Tensor.of(v, 1, height, width);
    }

    /** Number of pixels where this mask and {@code other} (same size) differ. */
    public int countDifferent(Mask other) {
        if (other.width != width || other.height != height)
            throw new IllegalArgumentException("masks differ in size: " + width + "x" + height + " vs " + other.width + "x" + other.height);
        int n = 0;
        for (int i = 0; i < bits.length; i++) if (bits[i] != other.bits[i]) n++;
        return n;
    }

    @Override public boolean equals(Object o) {
        return o instanceof Mask m && m.width == width && m.height == height && Arrays.equals(m.bits, bits);
    }

    @Override public int hashCode() { return 31 * (31 * width + height) + Arrays.hashCode(bits); }

    @Override public String toString() {
        return "Mask[" + width + "x" + height + ", " + count + " object pixels (" + String.format("%.4f", areaRatio()) + ")]";
    }
}
