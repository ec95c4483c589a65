package org.imagenete;

import org.imagenete.edit.Editor;
import org.imagenete.image.Images;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An edited image and its object mask at the working size (256x256), with what the edit achieved. An edit that could
 * not be made (e.g. an object too large for the size asked) is not {@link #ok()} and says why in {@link #unreachable()}.
 */
public final class EditResult {
    private final Editor.Result r;

    EditResult(Editor.Result r) { this.r = r; }

    public boolean ok() { return r.ok(); }

    /** Why the edit could not be made, or null when it was. */
    public String unreachable() { return r.unreachable(); }

    /**
     * What the edit asked and achieved, as written to the sidecar JSON of {@code imagenet-e edit}: "ratio_before",
     * "ratio_after", "lambda", "complexity_before", "complexity_after", "seed", ... (numbers, strings and booleans).
     */
    public Map<String, Object> values() { return Collections.unmodifiableMap(new LinkedHashMap<>(r.values())); }

    /** The fraction of the image the object covers after the edit. */
    public double objectArea() { return r.mask().areaRatio(); }

    /** The edited image (a new RGB image on each call). */
    public BufferedImage image() {
        var img = r.image();
        BufferedImage out = new BufferedImage(img.width(), img.height(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.height(); y++)
            for (int x = 0; x < img.width(); x++) out.setRGB(x, y, img.rgb(x, y));
        return out;
    }

    /** The object's mask after the edit: 255 = object, 0 = background (a new gray image on each call). */
    public BufferedImage mask() {
        var m = r.mask();
        BufferedImage out = new BufferedImage(m.width(), m.height(), BufferedImage.TYPE_BYTE_GRAY);
        out.getRaster().setDataElements(0, 0, m.width(), m.height(), m.toGray());
        return out;
    }

    /** Writes the edited image as PNG (atomically: a file of the name is whole or absent). */
    public void writePng(Path file) { Images.writePng(r.image(), file); }

    /** Writes the mask as a gray PNG (255 = object). */
    public void writeMaskPng(Path file) { Images.writeGrayPng(r.mask().width(), r.mask().height(), r.mask().toGray(), file); }
}
