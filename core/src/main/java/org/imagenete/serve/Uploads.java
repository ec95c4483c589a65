package org.imagenete.serve;

import java.util.Locale;

/**
 * What an upload is, told from its first bytes (never from its name or declared type), and how many pixels it
 * claims, so that only JPEG, PNG and WebP reach a decoder and a small file that claims a huge image (a
 * decompression bomb) is refused before one is allocated.
 */
final class Uploads {
    enum Format { JPEG, PNG, WEBP }

    private Uploads() {}

    /** The image format of {@code b}, or null when it is none of JPEG, PNG, WebP. */
    static Format format(byte[] b) {
        if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF) return Format.JPEG;
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G' && b[4] == '\r' && b[5] == '\n'
                && b[6] == 0x1A && b[7] == '\n') return Format.PNG;
        if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E' && b[10] == 'B'
                && b[11] == 'P') return Format.WEBP;
        return null;
    }

    /** Width x height as the header states it, or -1 when the header does not say (the decoder then decides). */
    static long pixels(byte[] b, Format f) {
        return switch (f) {
            case PNG -> b.length >= 24 ? be32(b, 16) * be32(b, 20) : -1;
            case JPEG -> jpegPixels(b);
            case WEBP -> webpPixels(b);
        };
    }

    /** The first start-of-frame marker's size (SOF0..SOF15 but DHT, JPG, DAC), walking the marker segments. */
    private static long jpegPixels(byte[] b) {
        int pos = 2;
        while (pos + 4 <= b.length) {
            if ((b[pos] & 0xff) != 0xFF) return -1;
            int m = b[pos + 1] & 0xff;
            if (m == 0xFF) {
                pos++;
                continue;
            }
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
                pos += 2;
                continue;
            }
            if (m == 0xDA || m == 0xD9) return -1;
            int len = be16(b, pos + 2);
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
                return pos + 9 <= b.length ? (long) be16(b, pos + 5) * be16(b, pos + 7) : -1;
            pos += 2 + len;
        }
        return -1;
    }

    /** The canvas of VP8X, or the frame size of a simple lossy (VP8) or lossless (VP8L) file. */
    private static long webpPixels(byte[] b) {
        if (b.length < 30) return -1;
        String chunk = new String(b, 12, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
        return switch (chunk) {
            case "VP8X" -> (long) (le24(b, 24) + 1) * (le24(b, 27) + 1);
            case "VP8 " -> (long) (le16(b, 26) & 0x3FFF) * (le16(b, 28) & 0x3FFF);
            case "VP8L" -> {
                long bits = le32(b, 21);
                yield ((bits & 0x3FFF) + 1) * (((bits >>> 14) & 0x3FFF) + 1);
            }
            default -> -1;
        };
    }

    /** A client's file name made safe to print and to name outputs with: its last segment, [A-Za-z0-9._+-] only. */
    static String safeName(String filename, String fallback) {
        if (filename == null) return fallback;
        String s = filename.substring(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1);
        s = s.replaceAll("[^A-Za-z0-9._+-]", "_").replaceAll("^\\.+", "");
        if (s.length() > 100) s = s.substring(s.length() - 100);
        return s.isEmpty() ? fallback : s;
    }

    static String describe(byte[] b) {
        if (b.length == 0) return "an empty file";
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < Math.min(8, b.length); i++) hex.append(String.format(Locale.ROOT, "%02x", b[i] & 0xff));
        return "data starting 0x" + hex;
    }

    private static int be16(byte[] b, int i) { return (b[i] & 0xff) << 8 | (b[i + 1] & 0xff); }

    private static long be32(byte[] b, int i) { return (long) be16(b, i) << 16 | be16(b, i + 2); }

    private static int le16(byte[] b, int i) { return (b[i] & 0xff) | (b[i + 1] & 0xff) << 8; }

    private static int le24(byte[] b, int i) { return le16(b, i) | (b[i + 2] & 0xff) << 16; }

    private static long le32(byte[] b, int i) { return (le24(b, i) | (long) (b[i + 3] & 0xff) << 24); }
}
