package org.imagenete.edit;

import java.nio.charset.StandardCharsets;

/** Every random draw's seed derives from (global seed, image id, edit): SplitMix64 over the parts' bytes. */
public final class Seeds {
    private Seeds() {}

    public static long derive(long seed, String... parts) {
        long z = mix(seed + 0x9E3779B97F4A7C15L);
        for (String p : parts)
            for (byte b : (p + "\u0000").getBytes(StandardCharsets.UTF_8)) z = mix(z ^ (b & 0xff) + 0x9E3779B97F4A7C15L);
        return z;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform double in [0, 1) from a derived seed and an index. */
    public static double uniform(long seed, long index) {
        return (mix(seed + index * 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
    }
}
