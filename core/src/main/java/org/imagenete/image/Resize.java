package org.imagenete.image;

import org.imagenete.tensor.Tensor;

/**
 * Resizing that reproduces Pillow's {@code Image.resize(size, filter)} (with {@code reducing_gap=None}), written
 * from its algorithm (libImaging/Resample.c and Geometry.c, Pillow 9.4):
 *
 * <ul>
 *   <li>Separable, horizontal pass first (only over the rows the vertical pass will read), then vertical; a pass
 *   whose size does not change is skipped; equal sizes give a copy.</li>
 *   <li>Coefficients per output position {@code i}: centre {@code c = (i + 0.5) * scale} with
 *   {@code scale = in / out}; filter scale {@code fs = max(scale, 1)} (so shrinking widens the kernel:
 *   antialiasing); taps from {@code (int) (c - support * fs + 0.5)} to {@code (int) (c + support * fs + 0.5)},
 *   clipped to the image; weight {@code k((j - c + 0.5) / fs)}, normalised to sum 1.</li>
 *   <li>8-bit images: weights to fixed point with 22 fraction bits (rounded away from zero), sums started at
 *   {@code 2^21}, result {@code sum >> 22} clipped to 0..255; the intermediate image after the horizontal pass is
 *   8-bit too. Float tensors: the same double weights, double sums, stored as float after each pass (Pillow's
 *   mode "F").</li>
 *   <li>NEAREST: source index {@code (int) x} where {@code x} starts at {@code scale / 2} and grows by
 *   {@code scale} per output pixel, accumulated in double as Pillow does.</li>
 * </ul>
 */
public final class Resize {
    private Resize() {}

    /** A width and height. */
    public record Size(int width, int height) {}

    static final int PRECISION_BITS = 32 - 8 - 2;

    /** The image resized to {@code width x height}. */
    public static RgbImage resize(RgbImage in, int width, int height, Filter filter) {
        return resize(in, width, height, filter, VECTOR);
    }

    /** {@link #resize(RgbImage, int, int, Filter)} with the Vector API passes or their scalar twins. */
    static RgbImage resize(RgbImage in, int width, int height, Filter filter, boolean vector) {
        checkSize(width, height);
        int iw = in.width(), ih = in.height();
        if (iw == width && ih == height) return new RgbImage(iw, ih, in.toByteArray());
        byte[] src = in.data();
        if (filter == Filter.NEAREST) {
            int[] xs = nearestIndex(iw, width), ys = nearestIndex(ih, height);
            byte[] out = new byte[3 * width * height];
            for (int y = 0; y < height; y++) {
                if (ys[y] < 0) continue;
                int srow = 3 * ys[y] * iw, drow = 3 * y * width;
                for (int x = 0; x < width; x++) {
                    if (xs[x] < 0) continue;
                    int s = srow + 3 * xs[x], d = drow + 3 * x;
                    out[d] = src[s];
                    out[d + 1] = src[s + 1];
                    out[d + 2] = src[s + 2];
                }
            }
            return new RgbImage(width, height, out);
        }
        Coefficients horiz = Coefficients.of(iw, width, filter);
        Coefficients vert = Coefficients.of(ih, height, filter);
        byte[] cur = src;
        int curW = iw, curH = ih, rowOffset = 0;
        if (iw != width) {
            // only the rows the vertical pass reads
            int first = ih != height ? vert.bounds[0] : 0;
            int last = ih != height ? vert.bounds[2 * (height - 1)] + vert.bounds[2 * (height - 1) + 1] : ih;
            int rows = last - first;
            byte[] tmp = new byte[3 * width * rows];
            int[] k = horiz.fixedPoint();
            if (vector) {
                // The horizontal pass as a vertical one on the transposed rows ([x][y][rgb]): each output column is
                // then one contiguous weighted sum of input columns, which verticalRow vectorises.
                byte[] t = transpose(src, iw, first, rows), tOut = new byte[3 * width * rows];
                int col = 3 * rows;
                for (int x = 0; x < width; x++)
                    ResizeVector.verticalRow(t, horiz.bounds[2 * x] * col, col, k, x * horiz.ksize, horiz.bounds[2 * x + 1], tOut, x * col, col);
                transposeBack(tOut, width, rows, tmp);
            } else for (int y = 0; y < rows; y++) {
                int srow = 3 * (y + first) * iw, drow = 3 * y * width;
                for (int x = 0; x < width; x++) {
                    int min = horiz.bounds[2 * x], n = horiz.bounds[2 * x + 1], kb = x * horiz.ksize;
                    int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                    for (int j = 0; j < n; j++) {
                        int s = srow + 3 * (min + j), w = k[kb + j];
                        s0 += (src[s] & 0xff) * w;
                        s1 += (src[s + 1] & 0xff) * w;
                        s2 += (src[s + 2] & 0xff) * w;
                    }
                    int d = drow + 3 * x;
                    tmp[d] = clip8(s0);
                    tmp[d + 1] = clip8(s1);
                    tmp[d + 2] = clip8(s2);
                }
            }
            cur = tmp;
            curW = width;
            curH = rows;
            rowOffset = first;
        }
        if (ih != height) {
            byte[] out = new byte[3 * width * height];
            int[] k = vert.fixedPoint();
            int stride = 3 * curW;
            for (int y = 0; y < height; y++) {
                int min = vert.bounds[2 * y] - rowOffset;
                if (vector) ResizeVector.verticalRow(cur, min * stride, stride, k, y * vert.ksize, vert.bounds[2 * y + 1], out, 3 * y * width, stride);
                else verticalRowScalar(cur, min * stride, stride, k, y * vert.ksize, vert.bounds[2 * y + 1], out, 3 * y * width, stride);
            }
            return new RgbImage(width, height, out);
        }
        assert curH == height;
        return new RgbImage(width, height, cur);
    }

    /**
     * A float tensor {@code [C, H, W]} (F32, F16, BF16 or F64; any C) resized plane by plane to
     * {@code [C, height, width]} F32, as Pillow resizes a mode "F" image: the same weights as the 8-bit path
     * but in double, no rounding or clipping (so BICUBIC and LANCZOS may overshoot the input range).
     * Returns a new owning tensor.
     */
    public static Tensor resize(Tensor chw, int width, int height, Filter filter) {
        checkSize(width, height);
        if (chw.rank() != 3) throw new IllegalArgumentException("expected a [C, H, W] tensor, got " + chw.shape());
        if (!chw.dtype().isFloating()) throw new IllegalArgumentException("expected a float tensor, got " + chw.dtype());
        int c = chw.dim(0), ih = chw.dim(1), iw = chw.dim(2);
        if (iw == 0 || ih == 0) throw new IllegalArgumentException("empty input " + chw.shape());
        float[] src = chw.toFloatArray();
        float[] out = new float[c * width * height];
        int inPlane = iw * ih, outPlane = width * height;
        if (iw == width && ih == height) {
            System.arraycopy(src, 0, out, 0, out.length);
        } else if (filter == Filter.NEAREST) {
            int[] xs = nearestIndex(iw, width), ys = nearestIndex(ih, height);
            for (int p = 0; p < c; p++)
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        if (ys[y] >= 0 && xs[x] >= 0) out[p * outPlane + y * width + x] = src[p * inPlane + ys[y] * iw + xs[x]];
        } else {
            Coefficients horiz = Coefficients.of(iw, width, filter);
            Coefficients vert = Coefficients.of(ih, height, filter);
            int first = 0, rows = ih;
            if (ih != height) {
                first = vert.bounds[0];
                rows = vert.bounds[2 * (height - 1)] + vert.bounds[2 * (height - 1) + 1] - first;
            }
            for (int p = 0; p < c; p++) {
                float[] cur = src;
                int curBase = p * inPlane, curW = iw, rowOffset = 0;
                if (iw != width) {
                    float[] tmp = new float[width * rows];
                    for (int y = 0; y < rows; y++) {
                        int srow = curBase + (y + first) * iw;
                        for (int x = 0; x < width; x++) {
                            int min = horiz.bounds[2 * x], n = horiz.bounds[2 * x + 1], kb = x * horiz.ksize;
                            double ss = 0.0;
                            for (int j = 0; j < n; j++) ss += src[srow + min + j] * horiz.k[kb + j];
                            tmp[y * width + x] = (float) ss;
                        }
                    }
                    cur = tmp;
                    curBase = 0;
                    curW = width;
                    rowOffset = first;
                }
                if (ih != height) {
                    for (int y = 0; y < height; y++) {
                        int min = vert.bounds[2 * y] - rowOffset, n = vert.bounds[2 * y + 1], kb = y * vert.ksize;
                        for (int x = 0; x < width; x++) {
                            double ss = 0.0;
                            for (int j = 0; j < n; j++) ss += cur[curBase + (min + j) * curW + x] * vert.k[kb + j];
                            out[p * outPlane + y * width + x] = (float) ss;
                        }
                    }
                } else {
                    System.arraycopy(cur, curBase, out, p * outPlane, outPlane);
                }
            }
        }
        return Tensor.of(out, c, height, width);
    }

    /**
     * torchvision's {@code Resize(s)} output size: the short side becomes {@code s}, the long side
     * {@code int(s * long / short)} (truncated), keeping which side is which.
     */
    public static Size shortSideSize(int width, int height, int shortSide) {
        checkSize(width, height);
        checkSize(shortSide, shortSide);
        if (width <= height) return new Size(shortSide, (int) ((double) ((long) shortSide * height) / width));
        return new Size((int) ((double) ((long) shortSide * width) / height), shortSide);
    }

    /** {@code in} with its short side resized to {@code shortSide} (see {@link #shortSideSize}). */
    public static RgbImage resizeShortSide(RgbImage in, int shortSide, Filter filter) {
        Size s = shortSideSize(in.width(), in.height(), shortSide);
        return resize(in, s.width(), s.height(), filter);
    }

    /**
     * Pillow's nearest-neighbour source index for each output position (ImagingScaleAffine): the position
     * starts at {@code scale * 0.5} and is advanced by {@code scale} in double, then truncated. -1 where it
     * falls outside the input (never for a plain resize, kept for fidelity).
     */
    static int[] nearestIndex(int inSize, int outSize) {
        double a = (double) (float) inSize / outSize;
        double pos = 0.0 + a * 0.5;
        int[] idx = new int[outSize];
        for (int i = 0; i < outSize; i++) {
            int v = pos < 0.0 ? -1 : (int) pos;
            idx[i] = v >= 0 && v < inSize ? v : -1;
            pos += a;
        }
        return idx;
    }

    /**
     * Whether the Vector API passes run: the JVM was started with {@code --add-modules jdk.incubator.vector} (the
     * launcher and the build do; a program embedding the library may not, and then gets the scalar twins, the same
     * bytes) and {@code -Dimagenete.vector=false} was not given (for comparisons).
     */
    static final boolean VECTOR = !"false".equals(System.getProperty("imagenete.vector"))
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /** The scalar twin of {@link ResizeVector#verticalRow} (the definition; tested against it). */
    static void verticalRowScalar(byte[] in, int s, int stride, int[] k, int kb, int n, byte[] out, int d, int len) {
        for (int i = 0; i < len; i++) {
            int sum = 1 << (PRECISION_BITS - 1);
            for (int j = 0; j < n; j++) sum += (in[s + j * stride + i] & 0xff) * k[kb + j];
            out[d + i] = clip8(sum);
        }
    }

    /** Rows {@code first .. first + rows} of an RGB image {@code w} wide, transposed: {@code t[(x * rows + y) * 3 + c]}. */
    private static byte[] transpose(byte[] src, int w, int first, int rows) {
        byte[] t = new byte[3 * w * rows];
        for (int y = 0; y < rows; y++) {
            int s = 3 * (first + y) * w;
            for (int x = 0, d = 3 * y; x < w; x++, s += 3, d += 3 * rows) {
                t[d] = src[s];
                t[d + 1] = src[s + 1];
                t[d + 2] = src[s + 2];
            }
        }
        return t;
    }

    /** The inverse of {@link #transpose}: {@code t} is {@code [w][rows][3]}, {@code out} becomes {@code [rows][w][3]}. */
    private static void transposeBack(byte[] t, int w, int rows, byte[] out) {
        for (int x = 0; x < w; x++) {
            int s = 3 * x * rows;
            for (int y = 0, d = 3 * x; y < rows; y++, s += 3, d += 3 * w) {
                out[d] = t[s];
                out[d + 1] = t[s + 1];
                out[d + 2] = t[s + 2];
            }
        }
    }

    private static byte clip8(int v) {
        int s = v >> PRECISION_BITS;
        return (byte) (s < 0 ? 0 : Math.min(s, 255));
    }

    private static void checkSize(int width, int height) {
        if (width < 1 || height < 1) throw new IllegalArgumentException("size must be positive: " + width + "x" + height);
    }

    /** Per-output-position taps: {@code bounds[2i]} first input index, {@code bounds[2i+1]} tap count. */
    static final class Coefficients {
        final int ksize;
        final int[] bounds;
        final double[] k;

        private Coefficients(int ksize, int[] bounds, double[] k) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.k = k;
        }

        static Coefficients of(int inSize, int outSize, Filter filter) {
            float in0 = 0f, in1 = inSize;
            double scale = (double) (in1 - in0) / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            if ((long) outSize * ksize > Integer.MAX_VALUE / 8)
                throw new IllegalArgumentException("resize to " + outSize + " needs too many coefficients");
            int[] bounds = new int[2 * outSize];
            double[] kk = new double[outSize * ksize];
            double invScale = 1.0 / filterScale;
            for (int i = 0; i < outSize; i++) {
                double center = in0 + (i + 0.5) * scale;
                int min = (int) (center - support + 0.5);
                if (min < 0) min = 0;
                int max = (int) (center + support + 0.5);
                if (max > inSize) max = inSize;
                max -= min;
                double ww = 0.0;
                int base = i * ksize;
                for (int j = 0; j < max; j++) {
                    double w = filter.kernel((j + min - center + 0.5) * invScale);
                    kk[base + j] = w;
                    ww += w;
                }
                if (ww != 0.0) for (int j = 0; j < max; j++) kk[base + j] /= ww;
                bounds[2 * i] = min;
                bounds[2 * i + 1] = max;
            }
            return new Coefficients(ksize, bounds, kk);
        }

        /** The weights in 8-bit fixed point: {@code (int) (k * 2^22 +- 0.5)}, rounded away from zero. */
        int[] fixedPoint() {
            int[] out = new int[k.length];
            double one = 1 << PRECISION_BITS;
            for (int i = 0; i < k.length; i++) out[i] = k[i] < 0 ? (int) (-0.5 + k[i] * one) : (int) (0.5 + k[i] * one);
            return out;
        }
    }
}
