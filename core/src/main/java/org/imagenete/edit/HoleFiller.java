package org.imagenete.edit;

import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

/** Fills the pixels of {@code hole} from the rest of the image; pixels outside the hole are kept exactly. */
@FunctionalInterface
public interface HoleFiller {
    RgbImage fill(RgbImage image, Mask hole);
}
