package org.imagenete.image;

/**
 * How the pixels of a mask file become object / background. Masks are read from PNG only (lossless).
 * Alpha channels are ignored by every source.
 */
public sealed interface MaskSource {
    /** ImageNet-S's "ignore" id. */
    int IMAGENET_S_IGNORE = 1000;

    /**
     * A plain mask: a pixel is object when its value is non-zero. Grey (any bit depth): the grey value; RGB:
     * any of R, G, B; palette: the index (as numpy sees a PIL "P" image), not the palette colour.
     */
    record Binary() implements MaskSource {}

    /**
     * An ImageNet-S segmentation PNG (8-bit RGB, id = R + 256 * G): object = any id other than 0
     * (background) and 1000 (ignore). This is what ImageNet-E does with ImageNet-S masks.
     */
    record ImageNetS() implements MaskSource {}

    /** An ImageNet-S segmentation PNG: object = pixels whose id is exactly {@code id}. */
    record ImageNetSId(int id) implements MaskSource {
        public ImageNetSId {
            if (id <= 0 || id > 0xFFFF || id == IMAGENET_S_IGNORE)
                throw new IllegalArgumentException("ImageNet-S object ids are 1..65535 except " + IMAGENET_S_IGNORE + ", not " + id);
        }
    }

    /**
     * A soft (probability) mask in grey, 8- or 16-bit (or 1/2/4-bit): object where
     * {@code value / maxValue >= threshold}, with {@code 0 < threshold <= 1}.
     */
    record Soft(double threshold) implements MaskSource {
        public Soft {
            if (!(threshold > 0.0 && threshold <= 1.0))
                throw new IllegalArgumentException("soft mask threshold must be in (0, 1], not " + threshold);
        }
    }

    static MaskSource binary() { return new Binary(); }

    static MaskSource imageNetS() { return new ImageNetS(); }

    static MaskSource imageNetS(int id) { return new ImageNetSId(id); }

    /** Soft mask thresholded at 0.5. */
    static MaskSource soft() { return new Soft(0.5); }

    static MaskSource soft(double threshold) { return new Soft(threshold); }
}
