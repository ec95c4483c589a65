package org.imagenete.edit.fill;

import java.nio.file.Path;

import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.testutil.Golden;

/** The shared animal photos and helpers on masks for the fill tests. */
final class FillTestData {
    private FillTestData() {}

    static final String[] PHOTOS = {"tabby_1", "hen_1", "ox_1", "german_shepherd_1", "hog_1", "ram_1", "bison_1",
            "african_crocodile_1", "jaguar_1", "koala_1", "giant_panda_1", "ice_bear_1", "macaw_1", "lesser_panda_1"};

    static Path animals() {
        return Golden.animals();
    }

    static Path photo(String stem) { return animals().resolve(stem + ".jpg"); }

    static Mask mask(String stem) { return Masks.read(animals().resolve("masks").resolve(stem + ".png"), MaskSource.binary()); }

    /** The mask grown by a disc of radius r (brute force: the reference, not fast). */
    static Mask dilate(Mask m, int r) {
        int w = m.width(), h = m.height();
        boolean[] in = m.toBooleanArray(), out = new boolean[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!in[y * w + x]) continue;
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++) {
                        int nx = x + dx, ny = y + dy;
                        if (dx * dx + dy * dy <= r * r && nx >= 0 && ny >= 0 && nx < w && ny < h) out[ny * w + nx] = true;
                    }
            }
        return Mask.of(w, h, out);
    }

    /** The pixels not in the mask that are within distance r of it: the ring of known pixels around a hole. */
    static boolean[] ring(Mask hole, int r) {
        boolean[] grown = dilate(hole, r).toBooleanArray(), in = hole.toBooleanArray();
        for (int i = 0; i < grown.length; i++) grown[i] &= !in[i];
        return grown;
    }
}
