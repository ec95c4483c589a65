package org.imagenete.dataset;

import org.imagenete.edit.Edit;

import java.util.List;

/**
 * A named benchmark variant: the edits applied to every image. {@code attribute}/{@code value} place it on a
 * sweep of one attribute (for sensitivity); null/NaN for combinations and for the random-valued ones. The
 * adversarial background variants are attribute "background-adv": a sweep of their own, not points of the
 * "background" one.
 */
public record Variant(String name, List<Edit> edits, String attribute, double value) {
    public static Variant of(String name, List<Edit> edits) {
        String attr = null;
        double value = Double.NaN;
        if (edits.size() == 1) {
            switch (edits.getFirst()) {
                case Edit.Background b -> { attr = b.adversarial() ? "background-adv" : "background"; value = b.lambda(); }
                case Edit.Size s -> { attr = "size"; value = s.ratio(); }
                case Edit.Direction d -> { attr = "direction"; value = d.random() ? Double.NaN : d.degrees(); }
                case Edit.Position p -> attr = "position";
            }
        } else {
            attr = String.join("+", edits.stream().map(e -> e.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT)).toList());
        }
        if (!name.matches("[A-Za-z0-9+._@-]+"))
            throw new IllegalArgumentException("variant name '" + name + "' must be a plain folder name ([A-Za-z0-9+._@-])");
        return new Variant(name, edits, attr, value);
    }
}
