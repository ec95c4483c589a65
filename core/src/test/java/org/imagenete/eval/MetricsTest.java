package org.imagenete.eval;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsTest {
    static Prediction p(String img, String variant, String attr, double value, int label, int pred, float conf) {
        return new Prediction(img, variant, attr, value, label, new int[]{pred, 900, 901, 902, label == pred ? 903 : label}, conf, Map.of());
    }

    @Test
    void handComputedFigures() {
        List<Prediction> ps = new ArrayList<>();
        // 4 images; originals: 3 of 4 right
        ps.add(p("a", "original", null, Double.NaN, 1, 1, 0.9f));
        ps.add(p("b", "original", null, Double.NaN, 2, 2, 0.8f));
        ps.add(p("c", "original", null, Double.NaN, 3, 3, 0.7f));
        ps.add(p("d", "original", null, Double.NaN, 4, 5, 0.6f));
        // background+20: a right, b wrong (pred 7, label in top5), c wrong, d still wrong but a different wrong class
        ps.add(p("a", "background+20", "background", 20, 1, 1, 0.95f));
        ps.add(p("b", "background+20", "background", 20, 2, 7, 0.5f));
        ps.add(p("c", "background+20", "background", 20, 3, 8, 0.4f));
        ps.add(p("d", "background+20", "background", 20, 4, 6, 0.3f));
        // a sweep of one attribute on image a: flips at 30
        ps.add(p("a", "background+10", "background", 10, 1, 1, 0.9f));
        ps.add(p("a", "background+30", "background", 30, 1, 9, 0.6f));
        Metrics.Summary s = Metrics.compute(ps);
        Metrics.VariantStats o = s.variants().get(0), b = s.variants().stream().filter(v -> v.variant().equals("background+20")).findFirst().orElseThrow();
        assertEquals("original", o.variant());
        assertEquals(0.75, o.top1(), 1e-12);
        assertEquals(0.25, b.top1(), 1e-12);
        assertEquals(1.0, b.top5(), 1e-12, "labels are in the top 5 of every prediction here");
        assertEquals(0.5, b.drop(), 1e-12, "0.75 on the same images -> 0.25");
        assertEquals(4, b.paired());
        assertEquals(2, b.lost(), "b and c were right as originals");
        assertEquals(0, b.gained());
        assertEquals(0.5, b.dropP(), 1e-15, "exact McNemar of 2 vs 0: 2 / 2^2");
        assertEquals(false, b.dropSignificant());
        assertEquals(1, b.correct());
        assertEquals(Stats.wilson95(1, 4), b.top1Ci());
        assertTrue(Double.isNaN(o.dropP()), "the originals have no drop to test");
        assertEquals(0.75, b.flipRate(), 1e-12, "b, c and d change their prediction (d: 5 -> 6), a keeps it");
        assertEquals((0.95 + 0.5 + 0.4 + 0.3) / 4, b.meanConfidence(), 1e-6);
        // ECE: bins of width 1/15; each prediction alone in its bin: mean |acc - conf| = (0.05 + 0.5 + 0.4 + 0.3)/4
        assertEquals((0.05 + 0.5 + 0.4 + 0.3) / 4, b.ece(), 1e-6);
        assertEquals(0.0, b.perClass().get(2)[1]);
        Metrics.Sensitivity se = s.sensitivity().stream().filter(x -> x.image().equals("a")).findFirst().orElseThrow();
        assertEquals(30.0, se.flipValue());
        Metrics.Sensitivity sb = s.sensitivity().stream().filter(x -> x.image().equals("b")).findFirst().orElse(null);
        assertNull(sb, "b has one value of the attribute: no sweep");
    }

    /**
     * "Flips at" along a lambda sweep must not mix the two directions nor the adversarial variants: with one
     * sweep per attribute ordered by |lambda|, image a's -10 (a flip) would be reported as where the +lambda sweep
     * flips. Each direction is its own sweep; the unedited value 0 starts both.
     */
    @Test
    void directionsAndAdversarialVariantsAreSeparateSweeps() {
        List<Prediction> ps = new ArrayList<>();
        ps.add(p("a", "original", null, Double.NaN, 1, 1, 0.9f));
        ps.add(p("a", "background+0", "background", 0, 1, 1, 0.9f));
        ps.add(p("a", "background+10", "background", 10, 1, 1, 0.9f));
        ps.add(p("a", "background+30", "background", 30, 1, 9, 0.6f));
        ps.add(p("a", "background-10", "background", -10, 1, 4, 0.6f));
        ps.add(p("a", "background-30", "background", -30, 1, 4, 0.6f));
        ps.add(p("a", "background+10-adv", "background", 10, 1, 1, 0.6f));         // an older manifest: attribute "background"
        ps.add(p("a", "background+20-adv", "background-adv", 20, 1, 5, 0.6f));
        ps.add(p("a", "direction+15", "direction", 15, 1, 1, 0.9f));
        ps.add(p("a", "direction-15", "direction", -15, 1, 3, 0.9f));
        Map<String, Metrics.Sensitivity> by = new java.util.TreeMap<>();
        for (Metrics.Sensitivity se : Metrics.compute(ps).sensitivity()) by.put(se.direction(), se);
        assertEquals(java.util.Set.of("background+", "background-", "background-adv+"), by.keySet(),
                "one direction of direction has one point: no sweep");
        assertEquals(30.0, by.get("background+").flipValue());
        assertEquals(List.of(0.0, 10.0, 30.0), by.get("background+").sweep().stream().map(v -> v[0]).toList());
        assertEquals(-10.0, by.get("background-").flipValue());
        assertEquals(List.of(0.0, -10.0, -30.0), by.get("background-").sweep().stream().map(v -> v[0]).toList());
        assertEquals(20.0, by.get("background-adv+").flipValue());
        assertEquals("background-adv", by.get("background-adv+").attribute());
    }

    /** Equal-count bins over the complexities; each prediction counted in its bin (the last bin holds its upper edge). */
    @Test
    void complexityBins() {
        List<Double> values = new ArrayList<>();
        for (int i = 0; i < 10; i++) values.add((double) i);
        values.add(Double.NaN);
        double[] edges = Metrics.complexityEdges(values, 2);
        org.junit.jupiter.api.Assertions.assertArrayEquals(new double[]{0, 5, 9}, edges);
        List<Prediction> ps = new ArrayList<>();
        for (int i = 0; i < 10; i++)
            ps.add(new Prediction("i" + i, "original", null, Double.NaN, 1, new int[]{i < 3 || i == 9 ? 1 : 2, 3, 4, 5, 6}, 0.5f, Map.of(), i));
        ps.add(new Prediction("x", "original", null, Double.NaN, 1, new int[]{1, 3, 4, 5, 6}, 0.5f, Map.of()));   // no complexity: left out
        List<Metrics.ComplexityBin> bins = Metrics.byComplexity(ps, edges);
        assertEquals(2, bins.size());
        assertEquals(5, bins.get(0).n());
        assertEquals(0.6, bins.get(0).top1(), 1e-12, "0, 1, 2 of 0..4");
        assertEquals(5, bins.get(1).n());
        assertEquals(0.2, bins.get(1).top1(), 1e-12, "9 of 5..9, the upper edge included");
        assertEquals(0, Metrics.complexityEdges(List.of(Double.NaN), 5).length, "nothing known: no bins");
        org.junit.jupiter.api.Assertions.assertArrayEquals(new double[]{3, 3}, Metrics.complexityEdges(List.of(3.0, 3.0, 3.0), 4), "all equal: one bin");
    }
}
