package org.imagenete.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link RgbImage} tensors and crops, and {@link Images#writePng}. */
class RgbImageTest {
    @TempDir Path tmp;

    @Test
    void tensorValuesAndLayout() {
        // pixel (1, 0) = (0, 128, 255); layout [3, H, W]
        RgbImage img = RgbImage.of(2, 1, new byte[] {10, 20, 30, 0, (byte) 128, (byte) 255});
        try (Tensor t = img.toTensor(RgbImage.Range.MINUS_ONE_ONE)) {
            assertEquals(List.of(3, 1, 2), List.of(t.dim(0), t.dim(1), t.dim(2)));
            assertEquals(DType.F32, t.dtype());
            assertEquals(-1f, t.getFloat(1));                          // c=0, x=1: 0
            assertEquals(128f / 127.5f - 1f, t.getFloat(3));           // c=1, x=1: 128 -> 0.0039215684
            assertEquals(1f, t.getFloat(5));                           // c=2, x=1: 255
            assertEquals(10f / 127.5f - 1f, t.getFloat(0));
        }
        try (Tensor t = img.toTensor(RgbImage.Range.ZERO_ONE)) {
            assertEquals(0f, t.getFloat(1));
            assertEquals(128f / 255f, t.getFloat(3));
            assertEquals(1f, t.getFloat(5));
        }
    }

    @Test
    void tensorRoundTripIsExactForEveryValue() {
        byte[] all = new byte[3 * 256];
        for (int i = 0; i < all.length; i++) all[i] = (byte) (i / 3 + (i % 3) * 85);
        RgbImage img = RgbImage.of(16, 16, all);
        for (RgbImage.Range r : RgbImage.Range.values()) {
            for (RgbImage.Quantize q : RgbImage.Quantize.values()) {
                try (Tensor t = img.toTensor(r)) {
                    RgbImage back = RgbImage.fromTensor(t, r, q);
                    // TRUNCATE may lose a level where v / s * s lands just below v in float
                    Fixtures.Diff d = Fixtures.diff(back, img);
                    assertTrue(q == RgbImage.Quantize.ROUND ? d.max() == 0 : d.max() <= 1, r + " " + q + ": " + d);
                }
            }
        }
    }

    @Test
    void quantisationClampingAndErrors() {
        float[] v = {-2f, 2f, 0.999f / 127.5f * 127.5f, 0f, 0.0019f, 0.002f, 1.5f / 255f, 2.5f / 255f, 0.5f};
        // [3, 1, 3]: R = (-2, 2, x), G = (0, 0.0019, 0.002), B = (1.5/255, 2.5/255, 0.5) in [0, 1] range
        try (Tensor t = Tensor.of(v, 3, 1, 3)) {
            RgbImage round = RgbImage.fromTensor(t, RgbImage.Range.ZERO_ONE);
            RgbImage trunc = RgbImage.fromTensor(t, RgbImage.Range.ZERO_ONE, RgbImage.Quantize.TRUNCATE);
            assertEquals(0, round.get(0, 0, 0));
            assertEquals(255, round.get(1, 0, 0));
            assertEquals(0, round.get(1, 0, 1));     // 0.4845
            assertEquals(1, round.get(2, 0, 1));     // 0.51
            assertEquals(0, trunc.get(2, 0, 1));
            assertEquals(2, round.get(0, 0, 2));     // 1.5 rounds half up
            assertEquals(1, trunc.get(0, 0, 2));
            assertEquals(128, round.get(2, 0, 2));   // 127.5
            assertEquals(127, trunc.get(2, 0, 2));
        }
        try (Tensor t = Tensor.of(new float[] {0, Float.NaN, 0}, 3, 1, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RgbImage.fromTensor(t, RgbImage.Range.MINUS_ONE_ONE));
            assertTrue(e.getMessage().contains("[1, 0, 0]"), e.getMessage());
        }
        try (Tensor t = Tensor.zeros(DType.F32, 1, 3, 2, 2)) {
            assertThrows(IllegalArgumentException.class, () -> RgbImage.fromTensor(t, RgbImage.Range.ZERO_ONE));
        }
    }

    @Test
    void cropsAndCentreCropLikeTorchvision() {
        RgbImage img = ResizeTest.random(341, 256, 3);
        RgbImage c = img.centerCrop(224, 224);
        // left = round((341 - 224) / 2) = round(58.5) = 58 (half to even), top = 16
        assertEquals(img.crop(58, 16, 224, 224), c);
        assertEquals(img.rgb(58, 16), c.rgb(0, 0));
        RgbImage odd = ResizeTest.random(227, 229, 4);
        assertEquals(odd.crop(2, 2, 224, 224), odd.centerCrop(224, 224));   // round(1.5) = 2, round(2.5) = 2
        assertThrows(IllegalArgumentException.class, () -> img.crop(300, 0, 42, 10));
        assertThrows(IndexOutOfBoundsException.class, () -> img.get(341, 0, 0));
        byte[] raw = img.toByteArray();
        raw[0] ^= 1;
        assertNotEquals(RgbImage.of(341, 256, raw), img);
        assertEquals(img, RgbImage.of(341, 256, img.toByteArray()));
    }

    // ------------------------------------------------------------------ PNG writing

    @Test
    void pngRoundTripsAndIsDeterministic() throws IOException {
        for (int[] size : new int[][] {{1, 1}, {7, 3}, {256, 256}, {257, 131}}) {
            RgbImage img = ResizeTest.random(size[0], size[1], size[0]);
            Path a = tmp.resolve("a.png"), b = tmp.resolve("b.png");
            Images.writePng(img, a);
            Images.writePng(img, b);
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "same pixels, same bytes");
            assertArrayEquals(Images.encodePng(img), Files.readAllBytes(a));
            assertEquals(img, Images.read(a));
            assertEquals(img, Fixtures.readReference(a), "the JDK's own PNG reader agrees");
        }
        // a photo compresses (the row filters work) and round-trips
        RgbImage photo = Images.read(Fixtures.animals().resolve("koala_1.jpg"));
        Path p = tmp.resolve("koala.png");
        Images.writePng(photo, p);
        assertEquals(photo, Images.read(p));
        assertTrue(Files.size(p) < 3L * photo.width() * photo.height() * 3 / 4, "size " + Files.size(p));
    }

    @Test
    void greyPngRoundTrips() {
        byte[] g = new byte[13 * 5];
        for (int i = 0; i < g.length; i++) g[i] = (byte) (i * 37);
        Path f = tmp.resolve("g.png");
        Images.writeGrayPng(13, 5, g, f);
        RgbImage back = Images.read(f);
        for (int i = 0; i < g.length; i++)
            for (int c = 0; c < 3; c++) assertEquals(g[i] & 0xff, back.get(i % 13, i / 13, c));
        assertThrows(IllegalArgumentException.class, () -> Images.writeGrayPng(13, 6, g, tmp.resolve("bad.png")));
    }

    @Test
    void writingIsAtomicAndLeavesNoTemporaryFiles() throws IOException {
        Path f = tmp.resolve("out.png");
        Files.writeString(f, "old contents");
        RgbImage img = ResizeTest.random(31, 17, 9);
        Images.writePng(img, f);
        assertEquals(img, Images.read(f));
        try (var s = Files.list(tmp)) {
            assertEquals(List.of("out.png"), s.map(p -> p.getFileName().toString()).toList());
        }
        // a failed rename (the target is a non-empty folder) leaves the target and no temporary file behind
        Path dir = Files.createDirectory(tmp.resolve("taken.png"));
        Files.writeString(dir.resolve("inside"), "x");
        ImageException e = assertThrows(ImageException.class, () -> Images.writePng(img, dir));
        assertTrue(e.getMessage().startsWith(dir + ": cannot write"), e.getMessage());
        try (var s = Files.list(tmp)) {
            assertEquals(List.of("out.png", "taken.png"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        // missing folders are created
        Images.writePng(img, tmp.resolve("new/sub/x.png"));
        assertEquals(img, Images.read(tmp.resolve("new/sub/x.png")));
    }
}
