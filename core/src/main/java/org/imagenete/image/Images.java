package org.imagenete.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import org.imagenete.io.AtomicFiles;

/**
 * Reading photos into {@link RgbImage}s the way PIL's {@code Image.open(f)} followed by
 * {@code ImageOps.exif_transpose} and {@code convert("RGB")} does, and writing 8-bit PNGs.
 *
 * <h2>Reading</h2>
 * The format is told from the first bytes, never the file name: JPEG, PNG and WebP are supported; anything
 * else (GIF, BMP, TIFF, HEIF, AVIF, text, an empty file) is an {@link ImageException} naming what was found.
 * A truncated or corrupt file is an {@link ImageException} with the file and the fault; a partly decoded image
 * is never returned.
 * <ul>
 *   <li>JPEG: grey, YCbCr, RGB, CMYK and YCCK (Adobe-inverted CMYK, converted to RGB by PIL's formula); see
 *   {@link JpegCodec}. Measured against PIL 9.4 / libjpeg-turbo 2.1.5 in the tests.</li>
 *   <li>PNG: every colour type and bit depth. Alpha is <b>dropped</b>, not composited (PIL's
 *   {@code convert("RGB")}); 16-bit samples become their high byte ({@code v >> 8}, which is PIL's for 16-bit RGB,
 *   RGBA and grey+alpha; PIL 9.4 clips 16-bit grey at 255 instead, which we do not copy); 1/2/4-bit grey is
 *   scaled to 0..255; palettes are looked up; gAMA, cHRM, sRGB and tRNS chunks are ignored.</li>
 *   <li>WebP: lossy and lossless, alpha dropped, animations refused; see {@link WebpCodec}.</li>
 *   <li>EXIF orientation 1-8 is applied (JPEG, PNG eXIf, WebP EXIF); see {@link Orientation}.</li>
 *   <li>ICC profiles are <b>ignored</b> in all formats: pixel values are taken as sRGB, as PIL's
 *   {@code convert("RGB")} and torchvision's ImageNet loader take them. A photo with, say, an Adobe RGB
 *   profile therefore looks less saturated than in a colour-managed viewer, exactly as it does to the
 *   classifiers trained on such loaders.</li>
 * </ul>
 *
 * <h2>Writing</h2>
 * {@link #writePng} writes to a temporary file in the target's folder, forces it to disk and renames it over the
 * target ({@link AtomicFiles}), so readers see the old file or the whole new one. The bytes depend only on the
 * pixels: no time, text or physical-size chunks.
 */
public final class Images {
    /**
     * The most pixels an image may have before it is decoded: by default 2 x 89,478,485, the size at which PIL refuses
     * an image as a decompression bomb (a 1 MB PNG can declare 20000x20000 pixels, 1.2 GB decoded). Real photos stay
     * far below (a 200-megapixel phone photo is the largest common one). {@code -Dimagenete.maxPixels=N} or the
     * environment variable {@code IMAGENETE_MAX_PIXELS=N} changes it.
     */
    public static final long DEFAULT_MAX_PIXELS = 2L * 89_478_485;

    private Images() {}

    /** The pixel limit in force; see {@link #DEFAULT_MAX_PIXELS}. */
    public static long maxPixels() {
        String v = System.getProperty("imagenete.maxPixels", System.getenv("IMAGENETE_MAX_PIXELS"));
        if (v == null || v.isBlank()) return DEFAULT_MAX_PIXELS;
        try {
            long n = Long.parseLong(v.strip());
            if (n > 0) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("imagenete.maxPixels / IMAGENETE_MAX_PIXELS is '" + v + "', not a positive whole number");
    }

    /** Refuses an image of {@code width x height} (from its header) above {@link #maxPixels()}, before decoding. */
    static void checkPixels(Path file, String format, long width, long height) {
        long limit = maxPixels();
        if (width * height > limit)
            throw new ImageException(file, String.format(java.util.Locale.ROOT,
                    "%s of %dx%d pixels (%.1f megapixels) is over the limit of %d pixels (a decompression bomb?); "
                            + "-Dimagenete.maxPixels=N or IMAGENETE_MAX_PIXELS=N raises it", format, width, height,
                    width * height / 1e6, limit));
    }

    /** The image in {@code file}, EXIF orientation applied, as 8-bit sRGB. */
    public static RgbImage read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ImageException(file, "no such file", e);
        } catch (IOException e) {
            throw new ImageException(file, "cannot read: " + e, e);
        }
        return decode(bytes, file);
    }

    /** The image held in {@code bytes}; {@code name} (may be null) is used in error messages only. */
    public static RgbImage decode(byte[] bytes, Path name) {
        if (JpegCodec.isJpeg(bytes)) {
            RgbImage img = JpegCodec.decode(bytes, name);
            return Orientation.apply(img, Orientation.read(bytes, Orientation.Container.JPEG));
        }
        if (PngCodec.isPng(bytes)) {
            RgbImage img = PngCodec.toRgb(PngCodec.decode(bytes, name));
            return Orientation.apply(img, Orientation.read(bytes, Orientation.Container.PNG));
        }
        if (WebpCodec.isWebp(bytes)) {
            RgbImage img = WebpCodec.decode(bytes, name);
            return Orientation.apply(img, Orientation.read(bytes, Orientation.Container.WEBP));
        }
        throw new ImageException(name, "unsupported format: " + describe(bytes) + " (JPEG, PNG and WebP are supported)");
    }

    /** What the first bytes look like, for error messages. */
    static String describe(byte[] b) {
        if (b.length == 0) return "empty file";
        if (startsWith(b, "GIF87a") || startsWith(b, "GIF89a")) return "GIF";
        if (startsWith(b, "BM")) return "BMP";
        if (startsWith(b, "II*\0") || startsWith(b, "MM\0*")) return "TIFF";
        if (b.length >= 12 && b[4] == 'f' && b[5] == 't' && b[6] == 'y' && b[7] == 'p') {
            String brand = new String(b, 8, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            return brand.startsWith("avi") ? "AVIF" : "HEIF/ISO media ('" + brand.strip() + "')";
        }
        if (b.length >= 2 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8) return "damaged JPEG (no marker after SOI)";
        if (startsWith(b, "RIFF")) return "RIFF file that is not WebP";
        if (b.length >= 12 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0x0C && b[4] == 'j' && b[5] == 'P') return "JPEG 2000";
        if (startsWith(b, "\u0089PN")) return "damaged PNG signature";
        int n = Math.min(b.length, 512), text = 0;
        for (int i = 0; i < n; i++) {
            int c = b[i] & 0xff;
            if (c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80) text++;
        }
        if (text == n) return "text, not an image";
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < Math.min(8, b.length); i++) hex.append(String.format("%02x", b[i] & 0xff));
        return "unknown data starting 0x" + hex;
    }

    private static boolean startsWith(byte[] b, String s) {
        if (b.length < s.length()) return false;
        for (int i = 0; i < s.length(); i++) if ((b[i] & 0xff) != s.charAt(i)) return false;
        return true;
    }

    /** Writes an 8-bit RGB PNG atomically (see the class comment). */
    public static void writePng(RgbImage image, Path file) {
        writeAtomically(file, PngCodec.encode(image.width(), image.height(), 3, image.data()));
    }

    /** Writes an 8-bit grey PNG of {@code width * height} row-major samples atomically. */
    public static void writeGrayPng(int width, int height, byte[] gray, Path file) {
        writeAtomically(file, PngCodec.encode(width, height, 1, gray));
    }

    /** The PNG file's bytes for {@code image}, as {@link #writePng} writes them. */
    public static byte[] encodePng(RgbImage image) {
        return PngCodec.encode(image.width(), image.height(), 3, image.data());
    }

    /** Through the project's shared {@link AtomicFiles} (which also creates missing parent folders). */
    static void writeAtomically(Path file, byte[] bytes) {
        try {
            AtomicFiles.write(file, bytes);
        } catch (IOException e) {
            throw new ImageException(file, "cannot write: " + e, e);
        }
    }
}
