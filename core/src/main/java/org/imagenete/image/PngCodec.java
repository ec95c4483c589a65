package org.imagenete.image;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * PNG in and out. Reading first walks every chunk (lengths, CRCs, IHDR, PLTE, IDAT present, IEND reached),
 * so a truncated or damaged file fails with the offset at fault; the JDK's PNG reader then inflates,
 * unfilters, de-interlaces and unpacks the samples, which are taken raw (no gamma, no ICC, no tRNS colour
 * keying: PIL does none of these either).
 */
final class PngCodec {
    static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private PngCodec() {}

    /** Raw PNG samples: {@link #sample} gives the file's values (palette indices for colour type 3). */
    static final class Pixels {
        final int width, height, colorType, bitDepth;
        /** PLTE as packed 0xRRGGBB, or null. */
        final int[] palette;
        private final Raster raster;

        Pixels(int width, int height, int colorType, int bitDepth, int[] palette, Raster raster) {
            this.width = width;
            this.height = height;
            this.colorType = colorType;
            this.bitDepth = bitDepth;
            this.palette = palette;
            this.raster = raster;
        }

        /** Samples per pixel in the file: 1 grey, 3 RGB, 1 palette index, 2 grey+alpha, 4 RGBA. */
        int channels() {
            return switch (colorType) {
                case 0, 3 -> 1;
                case 2 -> 3;
                case 4 -> 2;
                default -> 4;
            };
        }

        boolean isGray() { return colorType == 0 || colorType == 4; }

        boolean isPalette() { return colorType == 3; }

        /**
         * Row {@code y}'s samples for the file's colour channels only (grey, or R G B, or the palette index),
         * alpha left out, interleaved into {@code out} (length at least {@code width * colourChannels}).
         */
        void colorRow(int y, int[] out) {
            int bands = raster.getNumBands();
            int keep = colorType == 2 || colorType == 6 ? 3 : 1;
            if (bands == keep) {
                raster.getPixels(0, y, width, 1, out);
            } else {
                // grey+alpha, RGBA, or the alpha band the JDK adds for a tRNS colour key: drop the rest
                int[] all = new int[width * bands];
                raster.getPixels(0, y, width, 1, all);
                for (int x = 0; x < width; x++) System.arraycopy(all, x * bands, out, x * keep, keep);
            }
        }

        String describe() {
            String kind = switch (colorType) {
                case 0 -> "grey";
                case 2 -> "RGB";
                case 3 -> "palette";
                case 4 -> "grey+alpha";
                default -> "RGBA";
            };
            return bitDepth + "-bit " + kind;
        }
    }

    static boolean isPng(byte[] b) {
        if (b.length < SIGNATURE.length) return false;
        for (int i = 0; i < SIGNATURE.length; i++) if (b[i] != SIGNATURE[i]) return false;
        return true;
    }

    static Pixels decode(byte[] bytes, Path file) {
        // ---- structure: every chunk whole, CRCs right, IHDR first, IEND reached
        int pos = SIGNATURE.length;
        int width = 0, height = 0, depth = 0, colorType = -1, idats = 0;
        int[] palette = null;
        boolean ihdr = false, iend = false;
        while (!iend) {
            if (pos + 8 > bytes.length)
                throw new ImageException(file, "truncated PNG: the file ends at byte " + bytes.length
                        + " before the IEND chunk" + (idats == 0 ? " (no image data)" : ""));
            long len = u32(bytes, pos);
            String type = new String(bytes, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (len > bytes.length - pos - 12L)
                throw new ImageException(file, "truncated PNG: chunk " + printable(type) + " at byte " + pos + " declares "
                        + len + " bytes, the file has " + Math.max(0, bytes.length - pos - 12) + " left");
            int n = (int) len;
            CRC32 crc = new CRC32();
            crc.update(bytes, pos + 4, 4 + n);
            if (crc.getValue() != u32(bytes, pos + 8 + n))
                throw new ImageException(file, "corrupt PNG: CRC mismatch in chunk " + printable(type) + " at byte " + pos);
            int data = pos + 8;
            if (!ihdr && !type.equals("IHDR")) throw new ImageException(file, "corrupt PNG: the first chunk is " + printable(type) + ", not IHDR");
            switch (type) {
                case "IHDR" -> {
                    if (ihdr || n != 13) throw new ImageException(file, "corrupt PNG: bad IHDR chunk");
                    ihdr = true;
                    long w = u32(bytes, data), h = u32(bytes, data + 4);
                    depth = bytes[data + 8] & 0xff;
                    colorType = bytes[data + 9] & 0xff;
                    if (w == 0 || h == 0 || w > Integer.MAX_VALUE || h > Integer.MAX_VALUE)
                        throw new ImageException(file, "corrupt PNG: image size " + w + "x" + h);
                    Images.checkPixels(file, "PNG", w, h);
                    width = (int) w;
                    height = (int) h;
                    if (!validDepth(colorType, depth))
                        throw new ImageException(file, "corrupt PNG: colour type " + colorType + " with bit depth " + depth);
                    if (bytes[data + 10] != 0 || bytes[data + 11] != 0 || (bytes[data + 12] & 0xff) > 1)
                        throw new ImageException(file, "corrupt PNG: unknown compression, filter or interlace method");
                }
                case "PLTE" -> {
                    if (n % 3 != 0 || n == 0 || n > 768) throw new ImageException(file, "corrupt PNG: PLTE of " + n + " bytes");
                    palette = new int[n / 3];
                    for (int i = 0; i < palette.length; i++)
                        palette[i] = (bytes[data + 3 * i] & 0xff) << 16 | (bytes[data + 3 * i + 1] & 0xff) << 8 | (bytes[data + 3 * i + 2] & 0xff);
                }
                case "IDAT" -> idats++;
                case "IEND" -> iend = true;
                default -> { }
            }
            pos += 12 + n;
        }
        if (idats == 0) throw new ImageException(file, "corrupt PNG: no IDAT chunk");
        if (colorType == 3 && palette == null) throw new ImageException(file, "corrupt PNG: palette image without PLTE");
        if ((long) width * height > Integer.MAX_VALUE / 4)
            throw new ImageException(file, "PNG too large: " + width + "x" + height);

        // ---- samples, through the JDK's reader
        ImageReader reader = jdkPngReader(file);
        BufferedImage image;
        try (MemoryCacheImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            image = reader.read(0);
        } catch (IOException | RuntimeException e) {
            throw new ImageException(file, "corrupt PNG image data: " + message(e), e);
        } finally {
            reader.dispose();
        }
        Raster raster = image.getRaster();
        if (raster.getWidth() != width || raster.getHeight() != height)
            throw new ImageException(file, "PNG decoder returned " + raster.getWidth() + "x" + raster.getHeight() + " for a "
                    + width + "x" + height + " image");
        Pixels px = new Pixels(width, height, colorType, depth, palette, raster);
        if (colorType == 3) {
            // An index past the palette is invalid PNG; PIL would show its grey ramp there, we refuse.
            int[] row = new int[width];
            for (int y = 0; y < height; y++) {
                px.colorRow(y, row);
                for (int x = 0; x < width; x++)
                    if (row[x] >= palette.length)
                        throw new ImageException(file, "corrupt PNG: palette index " + row[x] + " at (" + x + ", " + y
                                + ") beyond the " + palette.length + "-entry palette");
            }
        }
        return px;
    }

    /**
     * To 8-bit RGB as PIL's {@code convert("RGB")} does: alpha dropped (not composited), grey replicated,
     * 1/2/4-bit grey scaled by 255, 85, 17, palette looked up, 16-bit samples reduced to their high byte.
     * (PIL 9.4 takes the high byte for 16-bit RGB, RGBA and grey+alpha; for 16-bit grey alone it clips
     * values above 255 to 255, which whitens any normal image; we take the high byte there too.)
     */
    static RgbImage toRgb(Pixels px) {
        int w = px.width, h = px.height;
        byte[] out = new byte[3 * w * h];
        int ch = px.colorType == 2 || px.colorType == 6 ? 3 : 1;
        int[] row = new int[w * ch];
        int shift = px.bitDepth == 16 ? 8 : 0;
        int scale = px.bitDepth < 8 && !px.isPalette() ? 255 / ((1 << px.bitDepth) - 1) : 1;
        for (int y = 0; y < h; y++) {
            px.colorRow(y, row);
            int o = 3 * y * w;
            for (int x = 0; x < w; x++, o += 3) {
                if (px.isPalette()) {
                    int c = px.palette[row[x]];
                    out[o] = (byte) (c >> 16);
                    out[o + 1] = (byte) (c >> 8);
                    out[o + 2] = (byte) c;
                } else if (ch == 1) {
                    byte g = (byte) ((row[x] >> shift) * scale);
                    out[o] = g;
                    out[o + 1] = g;
                    out[o + 2] = g;
                } else {
                    out[o] = (byte) (row[3 * x] >> shift);
                    out[o + 1] = (byte) (row[3 * x + 1] >> shift);
                    out[o + 2] = (byte) (row[3 * x + 2] >> shift);
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    private static ImageReader jdkPngReader(Path file) {
        ImageReader fallback = null;
        for (Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName("png"); it.hasNext(); ) {
            ImageReader r = it.next();
            if (r.getOriginatingProvider() != null
                    && r.getOriginatingProvider().getClass().getName().equals("com.sun.imageio.plugins.png.PNGImageReaderSpi")) {
                if (fallback != null) fallback.dispose();
                return r;
            }
            if (fallback == null) fallback = r;
            else r.dispose();
        }
        if (fallback == null) throw new ImageException(file, "no PNG decoder available in this JVM");
        return fallback;
    }

    private static boolean validDepth(int colorType, int depth) {
        return switch (colorType) {
            case 0 -> depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
            case 3 -> depth == 1 || depth == 2 || depth == 4 || depth == 8;
            case 2, 4, 6 -> depth == 8 || depth == 16;
            default -> false;
        };
    }

    // ------------------------------------------------------------------ encoding

    /**
     * An 8-bit PNG of {@code channels} = 1 (grey) or 3 (RGB) interleaved samples. The bytes depend only on the
     * pixels (and on the JDK's zlib): no time, text or physical-size chunks; each row takes the filter with the
     * smallest sum of absolute residuals (libpng's heuristic); deflate level 5 (half the time of level 6 on
     * photos, 2 % larger).
     */
    static byte[] encode(int width, int height, int channels, byte[] pixels) {
        if (channels != 1 && channels != 3) throw new IllegalArgumentException("channels must be 1 or 3");
        if (pixels.length != (long) width * height * channels)
            throw new IllegalArgumentException(pixels.length + " bytes for a " + width + "x" + height + "x" + channels + " PNG");
        int stride = width * channels;
        byte[] filtered = new byte[height * (stride + 1)];
        byte[] prior = new byte[stride];
        byte[] cur = new byte[stride];
        byte[][] cand = new byte[5][stride];
        for (int y = 0; y < height; y++) {
            System.arraycopy(pixels, y * stride, cur, 0, stride);
            long[] sums = new long[5];
            for (int f = 0; f < 5; f++) sums[f] = filterRow(f, cur, prior, cand[f], channels);
            int best = 0;
            for (int f = 1; f < 5; f++) if (sums[f] < sums[best]) best = f;
            int at = y * (stride + 1);
            filtered[at] = (byte) best;
            System.arraycopy(cand[best], 0, filtered, at + 1, stride);
            byte[] t = prior;
            prior = cur;
            cur = t;
        }
        Deflater deflater = new Deflater(5);
        ByteArrayOutputStream idat = new ByteArrayOutputStream(filtered.length / 2 + 64);
        try {
            deflater.setInput(filtered);
            deflater.finish();
            byte[] buf = new byte[1 << 16];
            while (!deflater.finished()) {
                int n = deflater.deflate(buf);
                idat.write(buf, 0, n);
            }
        } finally {
            deflater.end();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(idat.size() + 64);
        out.writeBytes(SIGNATURE);
        byte[] ihdr = new byte[13];
        put32(ihdr, 0, width);
        put32(ihdr, 4, height);
        ihdr[8] = 8;
        ihdr[9] = (byte) (channels == 3 ? 2 : 0);
        writeChunk(out, "IHDR", ihdr);
        writeChunk(out, "IDAT", idat.toByteArray());
        writeChunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    /** PNG filter {@code f} of row {@code cur} over {@code prior} into {@code out}; returns the sum of |residual|. */
    private static long filterRow(int f, byte[] cur, byte[] prior, byte[] out, int bpp) {
        int n = cur.length;
        long sum = 0;
        switch (f) {
            case 0 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = cur[i];
                    sum += Math.abs((int) cur[i]);
                }
            }
            case 1 -> {
                for (int i = 0; i < n; i++) {
                    byte r = (byte) (cur[i] - (i >= bpp ? cur[i - bpp] : 0));
                    out[i] = r;
                    sum += Math.abs((int) r);
                }
            }
            case 2 -> {
                for (int i = 0; i < n; i++) {
                    byte r = (byte) (cur[i] - prior[i]);
                    out[i] = r;
                    sum += Math.abs((int) r);
                }
            }
            case 3 -> {
                for (int i = 0; i < n; i++) {
                    int a = i >= bpp ? cur[i - bpp] & 0xff : 0;
                    byte r = (byte) (cur[i] - ((a + (prior[i] & 0xff)) >>> 1));
                    out[i] = r;
                    sum += Math.abs((int) r);
                }
            }
            default -> {
                for (int i = 0; i < n; i++) {
                    int a = i >= bpp ? cur[i - bpp] & 0xff : 0;
                    int c = i >= bpp ? prior[i - bpp] & 0xff : 0;
                    byte r = (byte) (cur[i] - paeth(a, prior[i] & 0xff, c));
                    out[i] = r;
                    sum += Math.abs((int) r);
                }
            }
        }
        return sum;
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void writeChunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] head = new byte[8];
        put32(head, 0, data.length);
        byte[] t = type.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        System.arraycopy(t, 0, head, 4, 4);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        byte[] tail = new byte[4];
        put32(tail, 0, (int) crc.getValue());
        out.writeBytes(head);
        out.writeBytes(data);
        out.writeBytes(tail);
    }

    private static void put32(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    static long u32(byte[] b, int at) {
        return (b[at] & 0xffL) << 24 | (b[at + 1] & 0xffL) << 16 | (b[at + 2] & 0xffL) << 8 | (b[at + 3] & 0xffL);
    }

    private static String printable(String type) {
        return type.chars().allMatch(c -> c >= 'A' && c <= 'z') ? "'" + type + "'" : "(unprintable type)";
    }

    static String message(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (!sb.isEmpty()) sb.append(": ");
            sb.append(t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName());
            if (t.getCause() == t) break;
        }
        return sb.toString();
    }
}
