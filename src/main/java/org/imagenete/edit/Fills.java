package org.imagenete.edit;

import org.imagenete.edit.fill.TeleaFill;

/** The hole fillers the toolkit ships. */
public final class Fills {
    private Fills() {}

    /** The fast classical fill: Telea's fast-marching inpainting, radius 5. */
    public static HoleFiller fast() { return new TeleaFill(); }
}
