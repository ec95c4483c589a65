package org.imagenete.image;

import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import javax.imageio.ImageReader;
import javax.imageio.spi.IIORegistry;
import javax.imageio.spi.ImageReaderSpi;
import javax.imageio.stream.MemoryCacheImageInputStream;

import com.twelvemonkeys.imageio.plugins.jpeg.JPEGImageReaderSpi;

/**
 * JPEG to 8-bit RGB the way PIL 9.4 on libjpeg-turbo gets there.
 *
 * <p>The entropy decoding, IDCT (islow) and chroma upsampling ("fancy", triangular) are the JDK's libjpeg 6b,
 * reached through TwelveMonkeys' reader (which filters malformed segments) as a <em>raw</em> raster: the
 * components as stored, no colour conversion and no ICC profile applied. Everything after that is here:
 * <ul>
 *   <li>the colour space is guessed as libjpeg does (jdapimin.c): 3 components are YCbCr if there is a JFIF
 *   marker, else RGB if an Adobe marker says transform 0, else YCbCr unless the component ids are 'R','G','B';
 *   4 components are YCCK if an Adobe marker says transform 2 (or anything but 0), else CMYK;</li>
 *   <li>YCbCr to RGB with libjpeg's fixed-point tables (jdcolor.c, 16 fraction bits);</li>
 *   <li>CMYK/YCCK as PIL reads them: libjpeg's YCCK to CMYK, then PIL's "CMYK;I" (all four inverted, the Adobe
 *   convention, assumed whether or not an Adobe marker is present), then PIL's {@code cmyk2rgb}:
 *   {@code R = clip(nk - nk * C / 255)} with {@code nk = 255 - K} in PIL's rounding ({@code MULDIV255}).
 *   No CMYK ICC profile is used (PIL uses none either);</li>
 *   <li>grey replicated to R = G = B.</li>
 * </ul>
 * An embedded ICC profile is ignored, as PIL's {@code convert("RGB")} (and so torchvision's loader) ignores it.
 */
final class JpegCodec {
    private JpegCodec() {}

    enum ColorSpace { GRAY, YCBCR, RGB, CMYK, YCCK }

    record Header(int width, int height, int precision, int sofMarker, int[] componentIds, boolean jfif, int adobeTransform) {
        int components() { return componentIds.length; }

        /** libjpeg-turbo's guess (jdapimin.c default_decompress_parms). */
        ColorSpace colorSpace() {
            return switch (components()) {
                case 1 -> ColorSpace.GRAY;
                case 3 -> {
                    if (jfif) yield ColorSpace.YCBCR;
                    if (adobeTransform >= 0) yield adobeTransform == 0 ? ColorSpace.RGB : ColorSpace.YCBCR;
                    int[] id = componentIds;
                    yield id[0] == 'R' && id[1] == 'G' && id[2] == 'B' ? ColorSpace.RGB : ColorSpace.YCBCR;
                }
                case 4 -> adobeTransform >= 0 && adobeTransform != 0 ? ColorSpace.YCCK : ColorSpace.CMYK;
                default -> throw new IllegalStateException("components: " + components());
            };
        }
    }

    static boolean isJpeg(byte[] b) {
        return b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF;
    }

    /** Walks the markers up to the first SOS: frame size, components, JFIF and Adobe markers. */
    static Header scan(byte[] b, Path file) {
        int pos = 2;
        Header sof = null;
        boolean jfif = false;
        int adobe = -1;
        while (true) {
            while (pos < b.length && (b[pos] & 0xff) != 0xFF) pos++;    // garbage between segments (libjpeg warns, goes on)
            while (pos < b.length && (b[pos] & 0xff) == 0xFF) pos++;    // fill bytes
            if (pos >= b.length)
                throw new ImageException(file, "truncated JPEG: the file ends at byte " + b.length + " before the image data");
            int marker = b[pos++] & 0xff;
            if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;   // no length
            if (marker == 0xD9) throw new ImageException(file, "corrupt JPEG: end of image before any image data");
            if (pos + 2 > b.length) throw new ImageException(file, "truncated JPEG: the file ends inside a marker");
            int len = (b[pos] & 0xff) << 8 | (b[pos + 1] & 0xff);
            if (len < 2) throw new ImageException(file, String.format("corrupt JPEG: marker 0x%02X with length %d", marker, len));
            if (pos + len > b.length)
                throw new ImageException(file, String.format("truncated JPEG: marker 0x%02X at byte %d declares %d bytes, %d left",
                        marker, pos - 2, len, b.length - pos));
            int d = pos + 2, n = len - 2;
            if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                if (n < 6) throw new ImageException(file, "corrupt JPEG: short SOF marker");
                int comps = b[d + 5] & 0xff;
                if (n < 6 + 3 * comps) throw new ImageException(file, "corrupt JPEG: short SOF marker");
                int[] ids = new int[comps];
                for (int i = 0; i < comps; i++) ids[i] = b[d + 6 + 3 * i] & 0xff;
                sof = new Header((b[d + 3] & 0xff) << 8 | (b[d + 4] & 0xff), (b[d + 1] & 0xff) << 8 | (b[d + 2] & 0xff),
                        b[d] & 0xff, marker, ids, false, -1);
            } else if (marker == 0xE0 && n >= 14 && b[d] == 'J' && b[d + 1] == 'F' && b[d + 2] == 'I' && b[d + 3] == 'F' && b[d + 4] == 0) {
                jfif = true;
            } else if (marker == 0xEE && n >= 12 && b[d] == 'A' && b[d + 1] == 'd' && b[d + 2] == 'o' && b[d + 3] == 'b' && b[d + 4] == 'e') {
                adobe = b[d + 11] & 0xff;
            } else if (marker == 0xDA) {
                if (sof == null) throw new ImageException(file, "corrupt JPEG: scan data before the frame header (SOF)");
                return new Header(sof.width, sof.height, sof.precision, sof.sofMarker, sof.componentIds, jfif, adobe);
            }
            pos += len;
        }
    }

    static RgbImage decode(byte[] bytes, Path file) {
        Header h = scan(bytes, file);
        if (h.width == 0 || h.height == 0)
            throw new ImageException(file, "unsupported JPEG: image size " + h.width + "x" + h.height + " (DNL marker)");
        if (h.precision != 8)
            throw new ImageException(file, "unsupported JPEG: " + h.precision + "-bit samples (only 8-bit is supported, as in PIL)");
        if (h.components() != 1 && h.components() != 3 && h.components() != 4)
            throw new ImageException(file, "unsupported JPEG: " + h.components() + " components");
        Images.checkPixels(file, "JPEG", h.width, h.height);
        if ((long) h.width * h.height > Integer.MAX_VALUE / 4)
            throw new ImageException(file, "JPEG too large: " + h.width + "x" + h.height);

        Raster raster;
        List<String> warnings = new ArrayList<>();
        ImageReader reader = reader(file);
        try (MemoryCacheImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
            reader.setInput(in, true, true);
            raster = reader.readRaster(0, null);
        } catch (IOException | RuntimeException e) {
            throw new ImageException(file, "corrupt JPEG: " + PngCodec.message(e), e);
        } finally {
            reader.dispose();
        }
        for (String w : warnings) {
            if (isFatal(w)) {
                String lw = w.toLowerCase(Locale.ROOT);
                boolean truncated = lw.contains("truncated file") || lw.contains("premature end of jpeg file");
                throw new ImageException(file, (truncated ? "truncated JPEG: " : "corrupt JPEG: ") + w);
            }
        }
        if (raster.getWidth() != h.width || raster.getHeight() != h.height || raster.getNumBands() != h.components())
            throw new ImageException(file, "JPEG decoder returned " + raster.getWidth() + "x" + raster.getHeight() + "x"
                    + raster.getNumBands() + " for a " + h.width + "x" + h.height + "x" + h.components() + " frame");
        return toRgb(raster, h.colorSpace());
    }

    /**
     * libjpeg warnings that mean the pixels are not what the file was meant to hold: data missing (truncation)
     * or undecodable. Extraneous bytes before a marker, an unknown JFIF revision or Adobe transform, and
     * TwelveMonkeys' metadata remarks leave the pixels intact and are ignored.
     */
    static boolean isFatal(String warning) {
        String w = warning.toLowerCase(Locale.ROOT);
        if (w.contains("extraneous bytes")) return false;
        return w.contains("premature end") || w.contains("corrupt jpeg data") || w.contains("bad huffman")
                || w.contains("inconsistent progression") || w.contains("invalid sos parameters")
                || w.contains("truncated file") || w.contains("must resync") || w.contains("instead of rst");
    }

    private static ImageReader reader(Path file) {
        IIORegistry registry = IIORegistry.getDefaultInstance();
        JPEGImageReaderSpi spi = registry.getServiceProviderByClass(JPEGImageReaderSpi.class);
        if (spi == null) {
            // Not registered from META-INF/services (e.g. a shaded jar that kept another plugin's services
            // file): register it here; it finds the JDK's reader as its delegate on registration.
            registry.registerServiceProvider(new JPEGImageReaderSpi(), ImageReaderSpi.class);
            spi = registry.getServiceProviderByClass(JPEGImageReaderSpi.class);
        }
        if (spi == null) throw new ImageException(file, "the TwelveMonkeys JPEG reader could not be registered (no JDK JPEG reader?)");
        try {
            return spi.createReaderInstance(null);
        } catch (IOException e) {
            throw new ImageException(file, "cannot create a JPEG reader: " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ colour conversion

    private static final int SCALEBITS = 16;
    private static final int ONE_HALF = 1 << (SCALEBITS - 1);
    private static final int[] CR_R = new int[256], CB_B = new int[256], CR_G = new int[256], CB_G = new int[256];

    static {
        // libjpeg jdcolor.c build_ycc_rgb_table; FIX(x) = (int) (x * 65536 + 0.5)
        for (int i = 0; i < 256; i++) {
            int x = i - 128;
            CR_R[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            CB_B[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            CR_G[i] = -fix(0.71414) * x;
            CB_G[i] = -fix(0.34414) * x + ONE_HALF;
        }
    }

    private static int fix(double x) { return (int) (x * (1L << SCALEBITS) + 0.5); }

    private static int clamp(int v) { return v < 0 ? 0 : Math.min(v, 255); }

    /** PIL's MULDIV255(a, b): a * b / 255 rounded, in its integer form. */
    private static int mulDiv255(int a, int b) {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }

    static RgbImage toRgb(Raster raster, ColorSpace cs) {
        int w = raster.getWidth(), h = raster.getHeight(), bands = raster.getNumBands();
        byte[] out = new byte[3 * w * h];
        int[] row = new int[w * bands];
        for (int y = 0; y < h; y++) {
            raster.getPixels(0, y, w, 1, row);
            int o = 3 * y * w;
            for (int x = 0; x < w; x++, o += 3) {
                int i = x * bands;
                int r, g, b;
                switch (cs) {
                    case GRAY -> r = g = b = row[i];
                    case RGB -> {
                        r = row[i];
                        g = row[i + 1];
                        b = row[i + 2];
                    }
                    case YCBCR -> {
                        int yy = row[i], cb = row[i + 1], cr = row[i + 2];
                        r = clamp(yy + CR_R[cr]);
                        g = clamp(yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
                        b = clamp(yy + CB_B[cb]);
                    }
                    default -> {
                        // what libjpeg hands PIL as CMYK (Adobe-inverted: 0 = full ink)
                        int c, m, ye, k = row[i + 3];
                        if (cs == ColorSpace.YCCK) {
                            int yy = row[i], cb = row[i + 1], cr = row[i + 2];
                            c = clamp(255 - (yy + CR_R[cr]));
                            m = clamp(255 - (yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS)));
                            ye = clamp(255 - (yy + CB_B[cb]));
                        } else {
                            c = row[i];
                            m = row[i + 1];
                            ye = row[i + 2];
                        }
                        // PIL "CMYK;I" inverts all four; cmyk2rgb with nk = 255 - K_pil = k
                        r = clamp(k - mulDiv255(255 - c, k));
                        g = clamp(k - mulDiv255(255 - m, k));
                        b = clamp(k - mulDiv255(255 - ye, k));
                    }
                }
                out[o] = (byte) r;
                out[o + 1] = (byte) g;
                out[o + 2] = (byte) b;
            }
        }
        return new RgbImage(w, h, out);
    }
}
