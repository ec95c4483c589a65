package org.imagenete;

import org.imagenete.eval.Metrics;

import java.util.List;
import java.util.Optional;

/**
 * A classifier's accuracy on each variant of a benchmark ({@link ImagenetE#evaluate}). The CLI's {@code evaluate}
 * writes more (per-class figures, sensitivity sweeps, the visual report).
 */
public record EvaluationSummary(List<VariantAccuracy> variants) {
    /**
     * One variant ("original", "size-0.05", "background+20", ...). The drop is against the originals of the same
     * images: of the {@code paired} images that have an original, {@code lost} were right as originals and wrong here,
     * {@code gained} the reverse; drop = (lost - gained) / paired, {@code dropP} its exact McNemar p-value (NaN when
     * there is nothing to test).
     */
    public record VariantAccuracy(String variant, int n, double top1, double top5, int paired, int lost, int gained,
                                  double drop, double dropP, double flipRate, double meanConfidence, double ece) {
        /** Whether the drop is significant at 5%. */
        public boolean dropSignificant() { return Metrics.significant(dropP); }
    }

    /** The figures of one variant, if the benchmark has it. */
    public Optional<VariantAccuracy> variant(String name) {
        return variants.stream().filter(v -> v.variant().equals(name)).findFirst();
    }
}
