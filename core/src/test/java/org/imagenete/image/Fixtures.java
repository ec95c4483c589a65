package org.imagenete.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import javax.imageio.ImageIO;
import org.imagenete.testutil.Golden;

/** Test fixtures (src/test/resources/image, made by the Python in its README) and comparison helpers. */
final class Fixtures {
    private Fixtures() {}

    static Path resource(String rel) {
        URL url = Fixtures.class.getResource("/image/" + rel);
        if (url == null) throw new IllegalStateException("missing test resource image/" + rel);
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path animals() {
        return Golden.animals();
    }

    /**
     * An 8-bit RGB PNG written by PIL, read with the JDK's own ImageIO path (getRGB), independent of the
     * decoder under test.
     */
    static RgbImage readReference(Path png) {
        try {
            BufferedImage bi = ImageIO.read(png.toFile());
            if (bi == null) throw new IllegalStateException("ImageIO cannot read " + png);
            int w = bi.getWidth(), h = bi.getHeight();
            byte[] d = new byte[3 * w * h];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int c = bi.getRGB(x, y), o = 3 * (y * w + x);
                    d[o] = (byte) (c >> 16);
                    d[o + 1] = (byte) (c >> 8);
                    d[o + 2] = (byte) c;
                }
            return RgbImage.of(w, h, d);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Max |a - b| over all channel values, and where they differ. */
    record Diff(int max, long differing, long total, double mean, String firstMismatches) {
        @Override public String toString() {
            return "max |diff| = " + max + ", mean |diff| = " + String.format("%.3f", mean) + ", differing values " + differing + "/" + total
                    + (differing > 0 ? ", first: " + firstMismatches : "");
        }
    }

    static Diff diff(RgbImage actual, RgbImage expected) {
        if (actual.width() != expected.width() || actual.height() != expected.height())
            throw new AssertionError("size " + actual.width() + "x" + actual.height() + ", expected "
                    + expected.width() + "x" + expected.height());
        byte[] a = actual.toByteArray(), e = expected.toByteArray();
        int max = 0;
        long n = 0, sum = 0;
        List<String> first = new ArrayList<>();
        for (int i = 0; i < a.length; i++) {
            int d = Math.abs((a[i] & 0xff) - (e[i] & 0xff));
            sum += d;
            if (d > 0) {
                n++;
                max = Math.max(max, d);
                if (first.size() < 5) {
                    int p = i / 3;
                    first.add("(" + p % actual.width() + "," + p / actual.width() + ")." + "RGB".charAt(i % 3)
                            + " " + (a[i] & 0xff) + " vs " + (e[i] & 0xff));
                }
            }
        }
        return new Diff(max, n, a.length, (double) sum / a.length, String.join("; ", first));
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<String[]> csv(Path file) {
        try {
            List<String[]> rows = new ArrayList<>();
            List<String> lines = Files.readAllLines(file);
            for (String line : lines.subList(1, lines.size())) if (!line.isBlank()) rows.add(line.split(","));
            return rows;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
