package org.imagenete.edit;

import org.imagenete.edit.fill.PatchFill;
import org.imagenete.edit.fill.PushPullFill;
import org.imagenete.edit.fill.TeleaFill;
import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;

import java.util.List;

/**
 * Fills the pixels of {@code hole} from the rest of the image; pixels outside the hole are kept exactly. The classical
 * fillers the toolkit ships are in {@code edit.fill} ({@link #named}); the diffusion fill is an {@link Editor} stage.
 */
@FunctionalInterface
public interface HoleFiller {
    /** The names of the classical fillers ({@code --fill} values). */
    List<String> NAMES = List.of("patch", "telea", "pushpull");

    RgbImage fill(RgbImage image, Mask hole);

    /**
     * The default fast fill: multi-scale patch completion (PatchMatch), which continues the surrounding texture
     * instead of leaving a smooth outline of the removed object (a cue a classifier could pick up).
     */
    static HoleFiller fast() { return new PatchFill(); }

    /** By name: patch (default), telea (Telea's fast marching, radius 5: fastest), pushpull (smooth pyramid). */
    static HoleFiller named(String name) {
        return switch (name) {
            case "patch" -> new PatchFill();
            case "telea" -> new TeleaFill();
            case "pushpull" -> new PushPullFill();
            default -> throw new IllegalArgumentException("unknown fill '" + name + "' (" + String.join(", ", NAMES) + ")");
        };
    }
}
