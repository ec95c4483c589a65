package org.imagenete.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reading object masks from PNG files ({@link MaskSource} says how pixels become object / background) and
 * writing them as 0/255 grey PNGs.
 *
 * <p>{@link #read} returns whatever the file holds, an empty mask included (check {@link Mask#isEmpty()}).
 * {@link #readFor} is the pipeline's entry: it also checks the size against the image's and refuses a mask
 * with no object pixel ("empty mask"), since no edit can be made from it.
 */
public final class Masks {
    private Masks() {}

    /** The mask in {@code file}, of any size, possibly empty. */
    public static Mask read(Path file, MaskSource source) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ImageException(file, "no such mask file", e);
        } catch (IOException e) {
            throw new ImageException(file, "cannot read mask: " + e, e);
        }
        if (!PngCodec.isPng(bytes))
            throw new ImageException(file, "masks must be PNG (lossless), this is " + formatName(bytes));
        return decode(PngCodec.decode(bytes, file), source, file);
    }

    /**
     * The mask for an image of {@code imageWidth x imageHeight}. A mask of another size is an error naming both
     * sizes, unless {@code resizeToImage} is set: then it is resized to the image with nearest neighbour
     * (after thresholding). A mask without any object pixel is an {@link ImageException} ("empty mask").
     */
    public static Mask readFor(Path file, MaskSource source, int imageWidth, int imageHeight, boolean resizeToImage) {
        Mask m = read(file, source);
        if (m.width() != imageWidth || m.height() != imageHeight) {
            if (!resizeToImage)
                throw new ImageException(file, "mask is " + m.width() + "x" + m.height() + " but the image is "
                        + imageWidth + "x" + imageHeight + " (edit --resize-mask, or resizeToImage in Masks.readFor, resizes it with nearest neighbour)");
            m = m.resizeNearest(imageWidth, imageHeight);
        }
        if (m.isEmpty())
            throw new ImageException(file, "empty mask: no object pixel (" + describe(source) + ", "
                    + m.width() + "x" + m.height() + ")");
        return m;
    }

    /** {@link #readFor(Path, MaskSource, int, int, boolean)} for {@code image}'s size. */
    public static Mask readFor(Path file, MaskSource source, RgbImage image, boolean resizeToImage) {
        return readFor(file, source, image.width(), image.height(), resizeToImage);
    }

    /** The PNG bytes {@link #write} writes. */
    public static byte[] encodePng(Mask mask) {
        return PngCodec.encode(mask.width(), mask.height(), 1, mask.toGray());
    }

    /** Writes the mask as an 8-bit grey PNG, 255 = object, atomically (see {@link Images#writePng}). */
    public static void write(Mask mask, Path file) {
        Images.writeGrayPng(mask.width(), mask.height(), mask.toGray(), file);
    }

    /** The ImageNet-S category id of an RGB pixel: {@code R + 256 * G}. */
    public static int imageNetSId(int r, int g) { return r + 256 * g; }

    static Mask decode(PngCodec.Pixels px, MaskSource source, Path file) {
        int w = px.width, h = px.height;
        boolean[] bits = new boolean[w * h];
        int ch = px.colorType == 2 || px.colorType == 6 ? 3 : 1;
        int[] row = new int[w * ch];
        switch (source) {
            case MaskSource.Binary b -> {
                for (int y = 0; y < h; y++) {
                    px.colorRow(y, row);
                    for (int x = 0; x < w; x++) {
                        boolean on = ch == 1 ? row[x] != 0 : (row[3 * x] | row[3 * x + 1] | row[3 * x + 2]) != 0;
                        bits[y * w + x] = on;
                    }
                }
            }
            case MaskSource.ImageNetS s -> imageNetS(px, bits, -1, file);
            case MaskSource.ImageNetSId s -> imageNetS(px, bits, s.id(), file);
            case MaskSource.Soft s -> {
                if (!px.isGray())
                    throw new ImageException(file, "soft masks must be greyscale PNG, this is " + px.describe());
                double max = (1 << px.bitDepth) - 1;
                for (int y = 0; y < h; y++) {
                    px.colorRow(y, row);
                    for (int x = 0; x < w; x++) bits[y * w + x] = row[x] / max >= s.threshold();
                }
            }
        }
        return new Mask(w, h, bits);
    }

    private static void imageNetS(PngCodec.Pixels px, boolean[] bits, int id, Path file) {
        boolean rgb = px.colorType == 2 || px.colorType == 6;
        if ((!rgb && !px.isPalette()) || px.bitDepth != 8)
            throw new ImageException(file, "ImageNet-S masks are 8-bit RGB PNGs (id = R + 256*G), this is " + px.describe());
        int w = px.width;
        int[] row = new int[w * (rgb ? 3 : 1)];
        for (int y = 0; y < px.height; y++) {
            px.colorRow(y, row);
            for (int x = 0; x < w; x++) {
                int r, g;
                if (rgb) {
                    r = row[3 * x];
                    g = row[3 * x + 1];
                } else {
                    int c = px.palette[row[x]];
                    r = c >> 16 & 0xff;
                    g = c >> 8 & 0xff;
                }
                int v = imageNetSId(r, g);
                bits[y * w + x] = id < 0 ? v != 0 && v != MaskSource.IMAGENET_S_IGNORE : v == id;
            }
        }
    }

    private static String describe(MaskSource s) {
        return switch (s) {
            case MaskSource.Binary b -> "binary: non-zero pixels";
            case MaskSource.ImageNetS i -> "ImageNet-S: ids other than 0 and " + MaskSource.IMAGENET_S_IGNORE;
            case MaskSource.ImageNetSId i -> "ImageNet-S id " + i.id();
            case MaskSource.Soft t -> "soft, threshold " + t.threshold();
        };
    }

    private static String formatName(byte[] b) {
        if (JpegCodec.isJpeg(b)) return "JPEG";
        if (WebpCodec.isWebp(b)) return "WebP";
        return Images.describe(b);
    }
}
