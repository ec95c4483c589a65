package org.imagenete.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.imagenete.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Resize} against Pillow 9.4's {@code Image.resize} on the shared animal photos (fixtures:
 * resize/rgb-cases.csv and float-cases.csv, made by the Python in src/test/resources/image/README.md).
 *
 * <p>Measured: every case is bit-exact (max |diff| = 0) for the 8-bit path and the float path. The SHA-256 of the
 * whole output is compared, so "exact" covers every pixel; the stored crops (the corners, or the whole output when
 * small) are compared value by value to report the size of any difference.
 */
class ResizeTest {
    /** Pillow and this code make the same integer and double operations; nothing is allowed to differ. */
    static final int MAX_DIFF_8BIT = 0;
    static final float MAX_DIFF_FLOAT = 0f;

    static Stream<Arguments> rgbCases() {
        return Fixtures.csv(Fixtures.resource("resize/rgb-cases.csv")).stream().map(r -> Arguments.of((Object) r));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rgbCases")
    void rgbMatchesPillow(String[] row) {
        String name = row[0], photo = row[1], sha = row[5], stored = row[6];
        int w = Integer.parseInt(row[2]), h = Integer.parseInt(row[3]);
        Filter filter = Filter.valueOf(row[4]);
        RgbImage in = photo(photo);
        RgbImage out = Resize.resize(in, w, h, filter);
        assertEquals(w, out.width());
        assertEquals(h, out.height());
        List<String> report = new ArrayList<>();
        int max = 0;
        if (stored.equals("full")) {
            Fixtures.Diff d = Fixtures.diff(out, Fixtures.readReference(Fixtures.resource("resize/" + name + ".png")));
            report.add("whole: " + d);
            max = d.max();
        } else {
            int c = Integer.parseInt(stored.substring("corners".length()));
            Fixtures.Diff tl = Fixtures.diff(out.crop(0, 0, c, c), Fixtures.readReference(Fixtures.resource("resize/" + name + ".top-left.png")));
            Fixtures.Diff br = Fixtures.diff(out.crop(w - c, h - c, c, c),
                    Fixtures.readReference(Fixtures.resource("resize/" + name + ".bottom-right.png")));
            report.add("top-left: " + tl);
            report.add("bottom-right: " + br);
            max = Math.max(tl.max(), br.max());
        }
        boolean same = Fixtures.sha256(out.toByteArray()).equals(sha);
        System.out.println("resize " + name + " vs Pillow 9.4: whole image " + (same ? "identical (SHA-256)" : "DIFFERS")
                + "; " + String.join("; ", report));
        assertTrue(max <= MAX_DIFF_8BIT, name + ": " + report);
        assertTrue(same, name + ": SHA-256 of the whole output differs from Pillow's (" + report + ")");
    }

    static Stream<Arguments> floatCases() {
        return Fixtures.csv(Fixtures.resource("resize/float-cases.csv")).stream().map(r -> Arguments.of((Object) r));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("floatCases")
    void floatMatchesPillowModeF(String[] row) throws IOException {
        String name = row[0], input = row[1], sha = row[5], stored = row[6];
        int w = Integer.parseInt(row[2]), h = Integer.parseInt(row[3]);
        Filter filter = Filter.valueOf(row[4]);
        float[] result;
        try (Tensor in = floatInput(input); Tensor out = Resize.resize(in, w, h, filter)) {
            assertEquals(List.of(in.dim(0), h, w), List.of(out.dim(0), out.dim(1), out.dim(2)));
            result = out.toFloatArray();
        }
        ByteBuffer le = ByteBuffer.allocate(4 * result.length).order(ByteOrder.LITTLE_ENDIAN);
        le.asFloatBuffer().put(result);
        boolean same = Fixtures.sha256(le.array()).equals(sha);
        String report = "";
        if (stored.equals("full")) {
            float[] expected = readF32(Fixtures.resource("resize/" + name + ".f32"));
            assertEquals(expected.length, result.length);
            float max = 0;
            int n = 0;
            for (int i = 0; i < expected.length; i++) {
                float d = Math.abs(result[i] - expected[i]);
                if (d > 0) n++;
                max = Math.max(max, d);
            }
            report = "whole: max |diff| = " + max + ", differing " + n + "/" + expected.length;
            assertTrue(max <= MAX_DIFF_FLOAT, name + ": " + report);
        }
        System.out.println("resize (float) " + name + " vs Pillow 9.4 mode F: " + (same ? "identical (SHA-256)" : "DIFFERS") + " " + report);
        assertTrue(same, name + ": SHA-256 of the float32 output differs from Pillow's " + report);
    }

    private static Tensor floatInput(String input) {
        if (input.equals("mask-german_shepherd_1")) {
            // the grey mask as float / 255, like numpy's float32 array / 255
            Mask m = Masks.read(Fixtures.animals().resolve("masks/german_shepherd_1.png"), MaskSource.binary());
            byte[] g = m.toGray();
            float[] v = new float[g.length];
            for (int i = 0; i < v.length; i++) v[i] = (float) (g[i] & 0xff) / 255f;
            return Tensor.of(v, 1, m.height(), m.width());
        }
        RgbImage photo = photo("tabby_1");
        if (input.equals("rgb-tabby_1-crop")) photo = photo.crop(200, 150, 16, 12);
        else if (!input.equals("rgb-tabby_1")) throw new IllegalArgumentException(input);
        int w = photo.width(), h = photo.height(), plane = w * h;
        float[] v = new float[3 * plane];
        for (int i = 0; i < plane; i++) for (int c = 0; c < 3; c++) v[c * plane + i] = photo.get(i % w, i / w, c);
        return Tensor.of(v, 3, h, w);
    }

    private static float[] readF32(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        float[] f = new float[b.remaining() / 4];
        b.asFloatBuffer().get(f);
        return f;
    }

    /** The photo as PIL decodes it (checked against PIL's SHA-256, so a resize mismatch is the resize's fault). */
    static RgbImage photo(String stem) {
        RgbImage img = Images.read(Fixtures.animals().resolve(stem + ".jpg"));
        for (String[] r : Fixtures.csv(Fixtures.resource("animals-pil-sha256.csv")))
            if (r[0].equals(stem + ".jpg")) {
                assertEquals(r[3], Fixtures.sha256(img.toByteArray()), stem + ".jpg does not decode as PIL decodes it");
                return img;
            }
        return fail("no PIL hash for " + stem);
    }

    // ------------------------------------------------------------------ properties

    @Test
    void coefficientsAreNormalisedAndCoverTheImage() {
        for (Filter f : new Filter[] {Filter.BILINEAR, Filter.BICUBIC, Filter.LANCZOS}) {
            for (int[] io : new int[][] {{512, 256}, {384, 257}, {7, 3}, {100, 1}, {3, 700}, {131, 131}}) {
                Resize.Coefficients c = Resize.Coefficients.of(io[0], io[1], f);
                for (int i = 0; i < io[1]; i++) {
                    int min = c.bounds[2 * i], n = c.bounds[2 * i + 1];
                    assertTrue(min >= 0 && n >= 1 && min + n <= io[0], f + " " + io[0] + "->" + io[1] + " taps of " + i);
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += c.k[i * c.ksize + j];
                    assertEquals(1.0, sum, 1e-12, f + " " + io[0] + "->" + io[1] + " weights of " + i);
                }
            }
        }
    }

    @Test
    void sameSizeIsACopyAndOneByOneIsTheMean() {
        RgbImage img = random(37, 23, 1);
        for (Filter f : Filter.values()) assertEquals(img, Resize.resize(img, 37, 23, f));
        RgbImage flat = RgbImage.filled(9, 5, 10, 200, 77);
        for (Filter f : Filter.values()) {
            // a constant image stays constant whatever the size: weights sum to 1 in fixed point too
            RgbImage out = Resize.resize(flat, 13, 4, f);
            for (int y = 0; y < 4; y++) for (int x = 0; x < 13; x++) assertEquals(0x0AC84D, out.rgb(x, y), f + " at " + x + "," + y);
        }
    }

    @Test
    void nearestIndicesArePillows() {
        // 512 -> 256 picks the odd pixels (the second of each pair); 3 -> 7 and 3 -> 1 as PIL 9.4 gives them
        int[] half = Resize.nearestIndex(512, 256);
        for (int i = 0; i < 256; i++) assertEquals(2 * i + 1, half[i]);
        assertArrayEquals(new int[] {0, 0, 1, 1, 1, 2, 2}, Resize.nearestIndex(3, 7));   // PIL: [0 0 1 1 1 2 2]
        assertArrayEquals(new int[] {1}, Resize.nearestIndex(3, 1));
    }

    @Test
    void shortSideLikeTorchvision() {
        assertEquals(new Resize.Size(341, 256), Resize.shortSideSize(512, 384, 256));
        assertEquals(new Resize.Size(256, 341), Resize.shortSideSize(384, 512, 256));
        assertEquals(new Resize.Size(383, 256), Resize.shortSideSize(512, 342, 256));   // 383.25 truncated
        assertEquals(new Resize.Size(256, 256), Resize.shortSideSize(300, 300, 256));
        assertEquals(new Resize.Size(518, 256), Resize.shortSideSize(512, 253, 256));   // 518.07
    }

    @Test
    void floatPathAgreesWithEightBitPathWithinRounding() {
        // Same weights; the 8-bit path rounds after each pass, so it may differ from the float path rounded once
        // by at most 1 level (measured: 1) for these filters on a natural photo.
        RgbImage img = photo("ram_1").crop(100, 100, 150, 120);
        int w = img.width(), h = img.height(), plane = w * h;
        float[] v = new float[3 * plane];
        for (int i = 0; i < plane; i++) for (int c = 0; c < 3; c++) v[c * plane + i] = img.get(i % w, i / w, c);
        for (Filter f : Filter.values()) {
            for (int[] size : new int[][] {{61, 47}, {301, 99}}) {
                RgbImage eight = Resize.resize(img, size[0], size[1], f);
                float[] fl;
                try (Tensor t = Tensor.of(v, 3, h, w); Tensor out = Resize.resize(t, size[0], size[1], f)) {
                    fl = out.toFloatArray();
                }
                int max = 0, op = size[0] * size[1];
                for (int i = 0; i < op; i++)
                    for (int c = 0; c < 3; c++) {
                        int q = (int) Math.max(0, Math.min(255, Math.floor(fl[c * op + i] + 0.5)));
                        max = Math.max(max, Math.abs(q - eight.get(i % size[0], i / size[0], c)));
                    }
                System.out.println("8-bit vs float path, " + f + " " + size[0] + "x" + size[1] + ": max |diff| = " + max);
                assertTrue(max <= 1, f + " " + size[0] + "x" + size[1] + ": " + max);
            }
        }
    }

    /**
     * The vertical 8-bit pass (Vector API) against its scalar twin, bit for bit: every filter, shrinking and enlarging,
     * row lengths below, at and past the vector width (1 to 99 bytes, odd widths), random bytes, outputs poisoned.
     */
    @Test
    void verticalRowVectorEqualsScalarTwin() {
        Random r = new Random(7);
        int checked = 0;
        for (Filter f : Filter.values()) {
            if (f == Filter.NEAREST) continue;
            for (int[] io : new int[][] {{37, 11}, {11, 37}, {256, 224}, {5, 3}}) {
                Resize.Coefficients c = Resize.Coefficients.of(io[0], io[1], f);
                int[] k = c.fixedPoint();
                for (int len = 1; len < 100; len += 7) {
                    int stride = len + r.nextInt(5);
                    byte[] in = new byte[stride * io[0]];
                    r.nextBytes(in);
                    byte[] vec = new byte[len + 3], ref = new byte[len + 3];
                    Arrays.fill(vec, (byte) 0x5a);
                    Arrays.fill(ref, (byte) 0xa5);
                    for (int y = 0; y < io[1]; y++) {
                        int s = c.bounds[2 * y] * stride, n = c.bounds[2 * y + 1];
                        ResizeVector.verticalRow(in, s, stride, k, y * c.ksize, n, vec, 1, len);
                        Resize.verticalRowScalar(in, s, stride, k, y * c.ksize, n, ref, 1, len);
                        assertArrayEquals(Arrays.copyOfRange(ref, 1, len + 1), Arrays.copyOfRange(vec, 1, len + 1),
                                f + " " + io[0] + "->" + io[1] + " row " + y + " len " + len);
                        assertEquals((byte) 0x5a, vec[0], "wrote before the row");
                        assertEquals((byte) 0x5a, vec[len + 1], "wrote past the row");
                        checked += len;
                    }
                }
            }
        }
        System.out.println("resize vertical pass: Vector API = scalar on " + checked + " bytes");
        assertTrue(checked > 10_000);
    }

    /** The whole 8-bit resize with the Vector API passes equals the scalar twins (the Pillow cases above run the former). */
    @Test
    void vectorAndScalarResizeAgree() {
        int cases = 0;
        for (Filter f : Filter.values())
            for (int[] sz : new int[][] {{1, 1}, {3, 5}, {17, 9}, {64, 48}, {300, 17}, {41, 203}})
                for (int[] out : new int[][] {{1, 1}, {7, 3}, {16, 16}, {33, 65}, {257, 129}}) {
                    RgbImage img = random(sz[0], sz[1], 31L * sz[0] + sz[1]);
                    assertArrayEquals(Resize.resize(img, out[0], out[1], f, false).data(), Resize.resize(img, out[0], out[1], f, true).data(),
                            f + " " + sz[0] + "x" + sz[1] + " -> " + out[0] + "x" + out[1]);
                    cases++;
                }
        RgbImage p = photo("tabby_1");
        assertArrayEquals(Resize.resize(p, 224, 224, Filter.BICUBIC, false).data(), Resize.resize(p, 224, 224, Filter.BICUBIC, true).data());
        assertEquals(Filter.values().length * 30, cases);
    }

    @Test
    void badArguments() {
        RgbImage img = random(4, 4, 2);
        assertThrows(IllegalArgumentException.class, () -> Resize.resize(img, 0, 4, Filter.BILINEAR));
        try (Tensor t = Tensor.zeros(org.imagenete.tensor.DType.F32, 4, 4)) {
            assertThrows(IllegalArgumentException.class, () -> Resize.resize(t, 2, 2, Filter.BILINEAR));
        }
        assertNotEquals(Resize.resize(img, 2, 2, Filter.BILINEAR), Resize.resize(img, 2, 2, Filter.NEAREST));
    }

    static RgbImage random(int w, int h, long seed) {
        byte[] d = new byte[3 * w * h];
        new Random(seed).nextBytes(d);
        return RgbImage.of(w, h, d);
    }
}
