package org.imagenete.serve;

import org.imagenete.edit.HoleFiller;
import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The last few hole fills, by fill and content. A live preview edits one photo again and again with other sizes,
 * angles or seeds; the hole left by its object is the same each time, and filling it is most of a geometric
 * edit's time (the patch fill: ~100 ms at 256x256). The fillers are deterministic functions of the pixels and the
 * hole, so a cached fill is the same pixels, and the outputs the same bytes, as a fresh one.
 */
final class FillCache {
    private final Map<String, RgbImage> fills;

    FillCache(int entries) {
        fills = new LinkedHashMap<>(16, 0.75f, true) {
            @Override protected boolean removeEldestEntry(Map.Entry<String, RgbImage> e) { return size() > entries; }
        };
    }

    /** {@code filler}, named {@code name}, answering from the cache when it has filled these pixels and hole before. */
    HoleFiller wrap(String name, HoleFiller filler) {
        return (image, hole) -> {
            String key = name + ':' + key(image, hole);
            synchronized (fills) {
                RgbImage hit = fills.get(key);
                if (hit != null) return hit;
            }
            RgbImage out = filler.fill(image, hole);
            synchronized (fills) {
                fills.put(key, out);
            }
            return out;
        };
    }

    static String key(RgbImage image, Mask hole) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(ByteBuffer.allocate(16).putInt(image.width()).putInt(image.height()).putInt(hole.width()).putInt(hole.height()).array());
            d.update(image.toByteArray());
            d.update(hole.toGray());
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
