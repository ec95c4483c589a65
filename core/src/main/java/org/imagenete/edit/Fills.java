package org.imagenete.edit;

import org.imagenete.edit.fill.PatchFill;
import org.imagenete.edit.fill.PushPullFill;
import org.imagenete.edit.fill.TeleaFill;

import java.util.List;

/** The classical hole fillers the toolkit ships (the diffusion fill is an {@link Editor} stage). */
public final class Fills {
    public static final List<String> NAMES = List.of("patch", "telea", "pushpull");

    private Fills() {}

    /**
     * The default fast fill: multi-scale patch completion (PatchMatch), which continues the surrounding texture
     * instead of leaving a smooth outline of the removed object (a cue a classifier could pick up).
     */
    public static HoleFiller fast() { return new PatchFill(); }

    /** By name: patch (default), telea (Telea's fast marching, radius 5: fastest), pushpull (smooth pyramid). */
    public static HoleFiller named(String name) {
        return switch (name) {
            case "patch" -> new PatchFill();
            case "telea" -> new TeleaFill();
            case "pushpull" -> new PushPullFill();
            default -> throw new IllegalArgumentException("unknown fill '" + name + "' (" + String.join(", ", NAMES) + ")");
        };
    }
}
