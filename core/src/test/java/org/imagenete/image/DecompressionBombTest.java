package org.imagenete.image;

import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Images whose headers declare more pixels than the limit are refused from the header, before any decoding. */
class DecompressionBombTest {
    private static final Path F = Path.of("bomb");

    /** A 1x1 PNG whose IHDR then says {@code w x h} (CRC fixed): what a bomb's header looks like. */
    static byte[] pngDeclaring(long w, long h) {
        byte[] b = PngCodec.encode(1, 1, 3, new byte[3]);
        ByteBuffer bb = ByteBuffer.wrap(b);
        bb.putInt(16, (int) w).putInt(20, (int) h);
        CRC32 crc = new CRC32();
        crc.update(b, 12, 17);
        bb.putInt(29, (int) crc.getValue());
        return b;
    }

    /** A JPEG header (SOI, SOF0 of w x h, 3 components, then SOS): enough for the frame size. */
    static byte[] jpegDeclaring(int w, int h) {
        return new byte[]{(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xC0, 0, 17, 8, (byte) (h >> 8), (byte) h, (byte) (w >> 8), (byte) w, 3,
                1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, (byte) 0xFF, (byte) 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0, 0};
    }

    /** A WebP whose VP8X canvas is {@code w x h}. */
    static byte[] webpDeclaring(int w, int h) {
        ByteBuffer b = ByteBuffer.allocate(30).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes()).putInt(22).put("WEBP".getBytes()).put("VP8X".getBytes()).putInt(10).putInt(0);
        b.put((byte) (w - 1)).put((byte) ((w - 1) >> 8)).put((byte) ((w - 1) >> 16));
        b.put((byte) (h - 1)).put((byte) ((h - 1) >> 8)).put((byte) ((h - 1) >> 16));
        return b.array();
    }

    private static void refused(byte[] file, String expected) {
        long t0 = System.nanoTime();
        ImageException e = assertThrows(ImageException.class, () -> Images.decode(file, F));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().contains("megapixels) is over the limit of 178956970 pixels (a decompression bomb?)"), e.getMessage());
        assertTrue(s < 1, s + " s");
    }

    @Test
    void headersOverThePixelLimitAreRefusedBeforeDecoding() {
        refused(pngDeclaring(20000, 20000), "bomb: PNG of 20000x20000 pixels (400.0 megapixels)");
        refused(pngDeclaring(0x7fffffffL, 0x7fffffffL), "PNG of 2147483647x2147483647 pixels");
        refused(jpegDeclaring(30000, 30000), "bomb: JPEG of 30000x30000 pixels (900.0 megapixels)");
        refused(webpDeclaring(16383, 16383), "bomb: WebP of 16383x16383 pixels (268.4 megapixels)");
        // masks go through the same PNG reader
        assertThrows(ImageException.class, () -> Masks.decode(PngCodec.decode(pngDeclaring(20000, 20000), F), new MaskSource.Binary(), F));
    }

    @Test
    void theLimitCanBeChanged() throws IOException {
        byte[] photo = Files.readAllBytes(Golden.animals().resolve("hen_1.jpg"));
        String old = System.getProperty("imagenete.maxPixels");
        System.setProperty("imagenete.maxPixels", "1000");
        try {
            ImageException e = assertThrows(ImageException.class, () -> Images.decode(photo, F));
            assertTrue(e.getMessage().contains("over the limit of 1000 pixels") && e.getMessage().contains("-Dimagenete.maxPixels=N"), e.getMessage());
        } finally {
            if (old == null) System.clearProperty("imagenete.maxPixels");
            else System.setProperty("imagenete.maxPixels", old);
        }
        Images.decode(photo, F);
    }
}
