package org.imagenete.eval;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the evaluation measures, per variant: top-1 accuracy with its 95% Wilson interval, top-5, the drop against
 * the originals of the same images with the exact McNemar p-value of that paired difference, the flip rate against
 * the original prediction, mean confidence, expected calibration error (15 equal-width confidence bins), per-class
 * accuracy; per image, for an attribute swept over several values, the first value at which the prediction leaves
 * the original's; and accuracy per bin of the background complexity the manifest records.
 */
public final class Metrics {
    public static final String ORIGINAL = "original";
    static final int ECE_BINS = 15;
    /** A drop whose McNemar p-value is at least this is reported as not significant. */
    public static final double SIGNIFICANCE = 0.05;

    /** Whether a p-value says significant at {@link #SIGNIFICANCE} (false for NaN: nothing to test). */
    public static boolean significant(double p) { return !Double.isNaN(p) && p < SIGNIFICANCE; }

    private Metrics() {}

    /**
     * Accuracy figures of one variant. Drops and flips are against the originals of the same images: of the
     * {@code paired} images that have an original, {@code lost} were right as originals and wrong here, {@code gained}
     * the reverse; drop = (lost - gained) / paired, {@code dropP} its exact McNemar p-value.
     */
    public record VariantStats(String variant, int n, int correct, double top1, Stats.Interval top1Ci, double top5,
                               double originalTop1OnSameImages, int paired, int lost, int gained, double drop, double dropP,
                               double flipRate, double meanConfidence, double ece, Map<Integer, double[]> perClass) {
        /** Whether the drop is significant at 5% (false when there is no drop to test). */
        public boolean dropSignificant() { return significant(dropP); }
    }

    /**
     * Where one image's prediction first changes along a sweep of one attribute in one direction (null value: it
     * never flips). {@code direction} names the sweep: "size", or a signed attribute and its sign, "background+",
     * "background-", "background-adv+", "direction-": the two directions of lambda (busier, smoother) and of the
     * angle are different edits, and the adversarial variants a third one, so each is a sweep of its own. A value
     * of 0 (the unedited setting) starts both directions.
     */
    public record Sensitivity(String image, String attribute, String direction, int label, int originalPrediction,
                              Double flipValue, List<double[]> sweep) {}

    /** Accuracy of the images whose complexity lies in [low, high) (the last bin includes high). */
    public record ComplexityBin(double low, double high, int n, int correct, double top1, Stats.Interval top1Ci) {}

    public record Summary(List<VariantStats> variants, List<Sensitivity> sensitivity) {}

    public static Summary compute(List<Prediction> preds) {
        Map<String, Prediction> originals = new HashMap<>();
        Map<String, List<Prediction>> byVariant = new LinkedHashMap<>();
        for (Prediction p : preds) {
            if (p.isOriginal()) originals.put(p.image(), p);
            byVariant.computeIfAbsent(p.variant(), k -> new ArrayList<>()).add(p);
        }
        List<VariantStats> stats = new ArrayList<>();
        List<String> names = new ArrayList<>(byVariant.keySet());
        names.sort(Comparator.comparing((String v) -> !v.equals(ORIGINAL)).thenComparing(v -> v));
        for (String v : names) stats.add(variant(v, byVariant.get(v), originals));
        return new Summary(stats, sensitivity(preds, originals));
    }

    static VariantStats variant(String name, List<Prediction> ps, Map<String, Prediction> originals) {
        int n = ps.size(), t1 = 0, t5 = 0, paired = 0, origT1 = 0, flips = 0, lost = 0, gained = 0;
        double conf = 0;
        Map<Integer, double[]> perClass = new TreeMap<>();    // label -> {count, correct}
        double[] binConf = new double[ECE_BINS], binAcc = new double[ECE_BINS];
        int[] binN = new int[ECE_BINS];
        for (Prediction p : ps) {
            if (p.top1()) t1++;
            if (p.top5Hit()) t5++;
            conf += p.confidence();
            double[] pc = perClass.computeIfAbsent(p.label(), k -> new double[2]);
            pc[0]++;
            if (p.top1()) pc[1]++;
            int bin = Math.min(ECE_BINS - 1, (int) (p.confidence() * ECE_BINS));
            binN[bin]++;
            binConf[bin] += p.confidence();
            binAcc[bin] += p.top1() ? 1 : 0;
            Prediction o = originals.get(p.image());
            if (o != null) {
                paired++;
                if (o.top1()) origT1++;
                if (o.predicted() != p.predicted()) flips++;
                if (o.top1() && !p.top1()) lost++;
                if (!o.top1() && p.top1()) gained++;
            }
        }
        double ece = 0;
        for (int b = 0; b < ECE_BINS; b++) if (binN[b] > 0) ece += Math.abs(binAcc[b] / binN[b] - binConf[b] / binN[b]) * binN[b] / n;
        // the drop compares the same images: accuracy of the originals of the paired images minus this variant's on
        // them, (lost - gained) / paired; the originals themselves have no drop to test
        boolean original = name.equals(ORIGINAL);
        double origAcc = paired == 0 ? Double.NaN : (double) origT1 / paired;
        double drop = paired == 0 ? Double.NaN : (double) (lost - gained) / paired;
        double p = paired == 0 || original ? Double.NaN : Stats.mcnemarExact(lost, gained);
        return new VariantStats(name, n, t1, n == 0 ? Double.NaN : (double) t1 / n, Stats.wilson95(t1, n),
                n == 0 ? Double.NaN : (double) t5 / n, origAcc, paired, lost, gained, drop, p,
                paired == 0 ? Double.NaN : (double) flips / paired, n == 0 ? Double.NaN : conf / n, ece, perClass);
    }

    /**
     * Edges of {@code bins} bins holding about equally many of the given complexities (quantiles; ties kept in one
     * bin, so there may be fewer bins). Empty when no value is known.
     */
    public static double[] complexityEdges(List<Double> values, int bins) {
        double[] v = values.stream().filter(d -> d != null && Double.isFinite(d)).mapToDouble(Double::doubleValue).sorted().toArray();
        if (v.length == 0 || bins < 1) return new double[0];
        List<Double> edges = new ArrayList<>();
        edges.add(v[0]);
        for (int b = 1; b < bins; b++) {
            double e = v[(int) ((long) b * v.length / bins)];
            if (e > edges.getLast()) edges.add(e);
        }
        if (v[v.length - 1] > edges.getLast() || edges.size() == 1) edges.add(v[v.length - 1]);
        return edges.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Top-1 accuracy per complexity bin (bins from {@link #complexityEdges}); predictions without a complexity are left out. */
    public static List<ComplexityBin> byComplexity(List<Prediction> preds, double[] edges) {
        int bins = Math.max(0, edges.length - 1);
        int[] n = new int[bins], correct = new int[bins];
        for (Prediction p : preds) {
            double c = p.complexity();
            if (bins == 0 || !Double.isFinite(c) || c < edges[0] || c > edges[bins]) continue;
            int b = 0;
            while (b < bins - 1 && c >= edges[b + 1]) b++;
            n[b]++;
            if (p.top1()) correct[b]++;
        }
        List<ComplexityBin> out = new ArrayList<>();
        for (int b = 0; b < bins; b++)
            out.add(new ComplexityBin(edges[b], edges[b + 1], n[b], correct[b], n[b] == 0 ? Double.NaN : (double) correct[b] / n[b],
                    Stats.wilson95(correct[b], n[b])));
        return out;
    }

    static List<Sensitivity> sensitivity(List<Prediction> preds, Map<String, Prediction> originals) {
        Map<String, List<Prediction>> sweeps = new TreeMap<>();
        for (Prediction p : preds)
            if (!p.isOriginal() && p.attribute() != null && !Double.isNaN(p.value()))
                for (String d : directions(p)) sweeps.computeIfAbsent(p.image() + "\u0000" + d, k -> new ArrayList<>()).add(p);
        List<Sensitivity> out = new ArrayList<>();
        for (Map.Entry<String, List<Prediction>> e : sweeps.entrySet()) {
            List<Prediction> ps = e.getValue();
            if (ps.size() < 2) continue;
            Prediction first = ps.getFirst();
            Prediction o = originals.get(first.image());
            if (o == null) continue;
            String direction = e.getKey().substring(e.getKey().indexOf('\u0000') + 1);
            // from the unedited setting outwards: |value| up for signed attributes, ratio down for sizes
            boolean size = first.attribute().equals("size");
            ps.sort(size ? Comparator.comparingDouble(Prediction::value).reversed() : Comparator.comparingDouble(p -> Math.abs(p.value())));
            Double flip = null;
            List<double[]> sweep = new ArrayList<>();
            for (Prediction p : ps) {
                sweep.add(new double[]{p.value(), p.predicted(), p.confidence()});
                if (flip == null && p.predicted() != o.predicted()) flip = p.value();
            }
            out.add(new Sensitivity(first.image(), attribute(first), direction, first.label(), o.predicted(), flip, sweep));
        }
        return out;
    }

    /**
     * The attribute a prediction's edit sweeps: its manifest attribute, with "-adv" for the adversarial background
     * variants (older manifests call them "background"; the variant name ends in "-adv").
     */
    static String attribute(Prediction p) {
        return p.attribute().equals("background") && p.variant().endsWith("-adv") ? "background-adv" : p.attribute();
    }

    /** The sweep directions a prediction belongs to (see {@link Sensitivity}). */
    static List<String> directions(Prediction p) {
        String a = attribute(p);
        if (a.equals("size")) return List.of(a);
        if (p.value() > 0) return List.of(a + "+");
        if (p.value() < 0) return List.of(a + "-");
        return List.of(a + "+", a + "-");
    }
}
