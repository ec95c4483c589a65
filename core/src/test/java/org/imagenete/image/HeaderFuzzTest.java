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

    @FuzzTest(maxDuration = "30s")
    void png(byte[] data) { decode(data, true); }

    @FuzzTest(maxDuration = "30s")
    void jpeg(byte[] data) { decode(data, false); }
}
