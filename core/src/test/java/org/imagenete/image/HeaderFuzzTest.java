package org.imagenete.image;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.imagenete.testutil.Fuzzing;

import java.nio.file.Path;

/**
 * Fuzz targets for the image readers: PNG (chunk walk, IHDR, the JDK's decoder behind it, the mask reader) and JPEG
 * (marker walk, frame header, the decoder). Inputs under
 * {@code src/test/resources/org/imagenete/image/HeaderFuzzTestInputs/<target>/}.
 */
class HeaderFuzzTest {
    private static final Path FILE = Path.of("fuzz-image");

    /** Decodes with a pixel limit of 4 megapixels, so that one input cannot take seconds (the limit itself is tested elsewhere). */
    private static void decode(byte[] data, boolean mask) {
        String old = System.getProperty("imagenete.maxPixels");
        System.setProperty("imagenete.maxPixels", "4000000");
        try {
            Images.decode(data, FILE);
            if (mask && PngCodec.isPng(data)) Masks.decode(PngCodec.decode(data, FILE), new MaskSource.ImageNetS(), FILE);
        } catch (ImageException e) {
            Fuzzing.checkRefusal(e, FILE.toString());
        } finally {
            if (old == null) System.clearProperty("imagenete.maxPixels");
            else System.setProperty("imagenete.maxPixels", old);
        }
    }

    /** As given, and with every chunk's CRC made right, so that mutations inside chunks reach the decoder. */
    @FuzzTest(maxDuration = "30s")
    void png(byte[] data) {
        decode(data, true);
        decode(withRightCrcs(data), true);
    }

    /** A copy of {@code b} whose chunk CRCs (as far as the chunk lengths make sense) are recomputed. */
    static byte[] withRightCrcs(byte[] b) {
        byte[] out = b.clone();
        int pos = 8;
        while (pos + 12 <= out.length) {
            long len = PngCodec.u32(out, pos);
            if (len > out.length - pos - 12) break;
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(out, pos + 4, 4 + (int) len);
            java.nio.ByteBuffer.wrap(out).putInt(pos + 8 + (int) len, (int) crc.getValue());
            pos += 12 + (int) len;
        }
        return out;
    }

    @FuzzTest(maxDuration = "30s")
    void jpeg(byte[] data) { decode(data, false); }
}
