package org.imagenete.image;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import javax.imageio.ImageReader;
import javax.imageio.stream.MemoryCacheImageInputStream;

import com.twelvemonkeys.imageio.plugins.webp.WebPImageReaderSpi;

/**
 * WebP through TwelveMonkeys' pure-Java decoder, after a check of the RIFF structure (so a truncated file
 * fails before decoding) and with any ICCP chunk removed first, so that no colour conversion happens (PIL
 * ignores the profile too). Alpha is dropped. Lossless WebP is exact; lossy WebP differs from libwebp (PIL)
 * by a few levels, because TwelveMonkeys upsamples chroma by pixel replication where libwebp interpolates
 * ("fancy upsampling").
 */
final class WebpCodec {
    private WebpCodec() {}

    static boolean isWebp(byte[] b) {
        return b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F'
                && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P';
    }

    static RgbImage decode(byte[] bytes, Path file) {
        byte[] clean = checkAndStripIcc(bytes, file);
        ImageReader reader = new WebPImageReaderSpi().createReaderInstance(null);
        BufferedImage image;
        try (MemoryCacheImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(clean))) {
            reader.setInput(in, true, true);
            image = reader.read(0);
        } catch (IOException | RuntimeException e) {
            throw new ImageException(file, "corrupt WebP: " + PngCodec.message(e), e);
        } finally {
            reader.dispose();
        }
        Raster r = image.getRaster();
        int w = r.getWidth(), h = r.getHeight();
        if (r.getNumBands() < 3 || image.getColorModel().getColorSpace().getType() != java.awt.color.ColorSpace.TYPE_RGB)
            throw new ImageException(file, "WebP decoder returned an unexpected image type " + image);
        byte[] out = new byte[3 * w * h];
        int bands = r.getNumBands();
        int[] row = new int[w * bands];
        for (int y = 0; y < h; y++) {
            r.getPixels(0, y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int o = 3 * (y * w + x);
                out[o] = (byte) row[x * bands];
                out[o + 1] = (byte) row[x * bands + 1];
                out[o + 2] = (byte) row[x * bands + 2];
            }
        }
        return new RgbImage(w, h, out);
    }

    /** The RIFF chunks must lie inside the file; returns the file without ICCP chunks (VP8X flag cleared). */
    private static byte[] checkAndStripIcc(byte[] b, Path file) {
        long riff = le32(b, 4);
        if (riff + 8 > b.length)
            throw new ImageException(file, "truncated WebP: the RIFF header declares " + (riff + 8) + " bytes, the file has " + b.length);
        if ((riff & 1) != 0 || riff < 4 + 8) throw new ImageException(file, "corrupt WebP: RIFF size " + riff);
        int end = (int) (riff + 8);
        int pos = 12;
        boolean first = true, icc = false;
        ByteArrayOutputStream out = new ByteArrayOutputStream(b.length);
        out.write(b, 0, 12);
        while (pos < end) {
            if (pos + 8 > end) throw new ImageException(file, "corrupt WebP: partial chunk header at byte " + pos);
            String fourcc = new String(b, pos, 4, StandardCharsets.ISO_8859_1);
            long size = le32(b, pos + 4);
            long padded = size + (size & 1);
            if (pos + 8 + padded > end)
                throw new ImageException(file, "truncated WebP: chunk '" + fourcc + "' at byte " + pos + " declares " + size
                        + " bytes beyond the end of the data");
            if (first) {
                if (!fourcc.equals("VP8 ") && !fourcc.equals("VP8L") && !fourcc.equals("VP8X"))
                    throw new ImageException(file, "corrupt WebP: first chunk '" + fourcc + "'");
                if (fourcc.equals("VP8X") && size >= 1 && (b[pos + 8] & 0x02) != 0)
                    throw new ImageException(file, "unsupported WebP: animated");
                long[] wh = dimensions(b, pos + 8, fourcc, size);
                if (wh != null) Images.checkPixels(file, "WebP", wh[0], wh[1]);
            }
            if (fourcc.equals("ICCP")) {
                icc = true;
            } else {
                int start = out.size();
                out.write(b, pos, (int) (8 + padded));
                if (fourcc.equals("VP8X") && size >= 1) {
                    byte[] all = out.toByteArray();
                    all[start + 8] &= ~0x20;   // "has ICC profile" flag
                    out.reset();
                    out.write(all, 0, all.length);
                }
            }
            first = false;
            pos += (int) (8 + padded);
        }
        if (!icc) return b;
        byte[] res = out.toByteArray();
        int size = res.length - 8;
        res[4] = (byte) size;
        res[5] = (byte) (size >>> 8);
        res[6] = (byte) (size >>> 16);
        res[7] = (byte) (size >>> 24);
        return res;
    }

    /**
     * Width and height from the first chunk's header (VP8X canvas: 24-bit width-1 and height-1 at bytes 4..9; VP8L:
     * 14-bit width-1 and height-1 after the 0x2f signature; VP8: 14-bit width and height after the 3-byte frame tag and
     * the start code), or null when the chunk is too short to say (the decoder then reports it).
     */
    static long[] dimensions(byte[] b, int data, String fourcc, long size) {
        switch (fourcc) {
            case "VP8X" -> {
                if (size < 10) return null;
                return new long[]{1 + le24(b, data + 4), 1 + le24(b, data + 7)};
            }
            case "VP8L" -> {
                if (size < 5) return null;
                long bits = le32(b, data + 1);
                return new long[]{1 + (bits & 0x3fff), 1 + (bits >>> 14 & 0x3fff)};
            }
            default -> {
                if (size < 10) return null;
                return new long[]{(b[data + 6] & 0xff | (b[data + 7] & 0xff) << 8) & 0x3fff, (b[data + 8] & 0xff | (b[data + 9] & 0xff) << 8) & 0x3fff};
            }
        }
    }

    private static long le24(byte[] b, int at) {
        return (b[at] & 0xffL) | (b[at + 1] & 0xffL) << 8 | (b[at + 2] & 0xffL) << 16;
    }

    private static long le32(byte[] b, int at) {
        return (b[at] & 0xffL) | (b[at + 1] & 0xffL) << 8 | (b[at + 2] & 0xffL) << 16 | (b[at + 3] & 0xffL) << 24;
    }
}
