package org.imagenete.image;

import java.io.ByteArrayInputStream;
import java.util.List;

import com.drew.imaging.jpeg.JpegMetadataReader;
import com.drew.imaging.png.PngMetadataReader;
import com.drew.imaging.webp.WebpMetadataReader;
import com.drew.metadata.Metadata;
import com.drew.metadata.exif.ExifDirectoryBase;
import com.drew.metadata.exif.ExifIFD0Directory;
import com.drew.metadata.exif.ExifReader;

/**
 * The EXIF orientation tag (0x0112) and the transposition that undoes it, as PIL's
 * {@code ImageOps.exif_transpose}: 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise; 1, a missing tag or any other value
 * leaves the image as it is. The tag is read with metadata-extractor from JPEG APP1, PNG eXIf and WebP EXIF;
 * EXIF data it cannot parse counts as no tag (the pixels are complete either way).
 */
final class Orientation {
    private Orientation() {}

    enum Container { JPEG, PNG, WEBP }

    static int read(byte[] bytes, Container container) {
        try {
            Metadata m = switch (container) {
                case JPEG -> JpegMetadataReader.readMetadata(new ByteArrayInputStream(bytes), List.of(new ExifReader()));
                case PNG -> PngMetadataReader.readMetadata(new ByteArrayInputStream(bytes));
                case WEBP -> WebpMetadataReader.readMetadata(new ByteArrayInputStream(bytes));
            };
            ExifIFD0Directory dir = m.getFirstDirectoryOfType(ExifIFD0Directory.class);
            if (dir == null) return 1;
            Integer o = dir.getInteger(ExifDirectoryBase.TAG_ORIENTATION);
            return o != null && o >= 1 && o <= 8 ? o : 1;
        } catch (Exception e) {
            return 1;
        }
    }

    /** The image with orientation {@code o} undone (a new image, or {@code img} itself for 1). */
    static RgbImage apply(RgbImage img, int o) {
        if (o <= 1 || o > 8) return img;
        int w = img.width(), h = img.height();
        boolean swap = o >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        byte[] in = img.data(), out = new byte[in.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                // source pixel (sx, sy) for output (x, y)
                int sx, sy;
                switch (o) {
                    case 2 -> { sx = w - 1 - x; sy = y; }              // FLIP_LEFT_RIGHT
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }      // ROTATE_180
                    case 4 -> { sx = x; sy = h - 1 - y; }              // FLIP_TOP_BOTTOM
                    case 5 -> { sx = y; sy = x; }                      // TRANSPOSE
                    case 6 -> { sx = y; sy = h - 1 - x; }              // ROTATE_270 (90 clockwise)
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }      // TRANSVERSE
                    default -> { sx = w - 1 - y; sy = x; }             // 8: ROTATE_90 (counter-clockwise)
                }
                int s = 3 * (sy * w + sx), d = 3 * (y * ow + x);
                out[d] = in[s];
                out[d + 1] = in[s + 1];
                out[d + 2] = in[s + 2];
            }
        }
        return new RgbImage(ow, oh, out);
    }
}
