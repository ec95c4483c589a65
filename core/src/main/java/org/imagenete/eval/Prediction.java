package org.imagenete.eval;

import java.util.Map;

/**
 * A classifier's answer for one image of one variant.
 *
 * @param image   the source image id (the same for the original and all its edits)
 * @param variant "original" or the edit's variant name (e.g. "background+20", "size-0.05")
 * @param attribute the edited attribute's family ("background", "background-adv", "size", "position", "direction", or a
 *                  combination) and {@code value} its value for sweeps (lambda, ratio, angle); NaN when none
 * @param label   true ImageNet-1k index
 * @param top5    the five highest classes, best first
 * @param confidence softmax probability of top5[0]
 * @param extra   anything else to keep (paths, achieved values)
 * @param complexity the image's background complexity as the benchmark's manifest records it; NaN when unknown
 */
public record Prediction(String image, String variant, String attribute, double value, int label, int[] top5,
                         float confidence, Map<String, String> extra, double complexity) {
    public Prediction(String image, String variant, String attribute, double value, int label, int[] top5, float confidence,
                      Map<String, String> extra) {
        this(image, variant, attribute, value, label, top5, confidence, extra, Double.NaN);
    }

    public int predicted() { return top5[0]; }

    public boolean top1() { return top5[0] == label; }

    public boolean top5Hit() {
        for (int c : top5) if (c == label) return true;
        return false;
    }

    public boolean isOriginal() { return variant.equals(Metrics.ORIGINAL); }
}
