package org.imagenete.eval;

import java.nio.file.Path;

/**
 * One image to classify.
 *
 * @param image     id of the source image (shared by the original and its edits)
 * @param variant   {@link Metrics#ORIGINAL} or the edit's variant name
 * @param attribute edited attribute family or null; {@code value} its value (NaN when none)
 * @param label     true ImageNet-1k index (or the dataset's class index)
 * @param complexity the achieved background complexity the manifest records (NaN when unknown)
 */
public record EvalItem(Path file, String image, String variant, String attribute, double value, int label, double complexity) {
    public EvalItem(Path file, String image, String variant, String attribute, double value, int label) {
        this(file, image, variant, attribute, value, label, Double.NaN);
    }
}
