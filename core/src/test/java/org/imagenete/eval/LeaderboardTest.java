package org.imagenete.eval;

import org.imagenete.testutil.Browser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The leaderboard's CSV and page from hand-made predictions: figures, intervals, significance marks, a failed model. */
class LeaderboardTest {
    @TempDir Path dir;

    /**
     * 40 images. Model "good": originals 30 right; background+20 loses 10 of them (p = 2 / 2^10); size-0.05 loses 2,
     * gains 1 (not significant); a custom "blur" variant loses 0. Complexities 0..39 (edits) and 100 (originals).
     */
    static List<Prediction> predictions() {
        List<Prediction> ps = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            boolean orig = i < 30;
            ps.add(p("i" + i, "original", orig, 100));
            ps.add(p("i" + i, "background+20", orig && i >= 10, i));
            ps.add(p("i" + i, "size-0.05", (orig && i >= 2) || i == 35, i));
            ps.add(p("i" + i, "blur", orig, i));
        }
        return ps;
    }

    static Prediction p(String img, String variant, boolean right, double complexity) {
        return new Prediction(img, variant, variant.equals("original") ? null : "x", Double.NaN, 7, new int[]{right ? 7 : 8, 1, 2, 3, 4}, 0.6f,
                Map.of(), complexity);
    }

    static List<Leaderboard.Entry> entries() {
        List<Prediction> ps = predictions();
        double[] edges = Metrics.complexityEdges(ps.stream().map(Prediction::complexity).toList(), 4);
        return List.of(new Leaderboard.Entry("good", "native cpu", Metrics.compute(ps), Metrics.byComplexity(ps, edges), 12.5, null),
                new Leaderboard.Entry("broken", "onnxruntime cpu", null, List.of(), Double.NaN, "failed at images 0-31 of 160: out of memory"));
    }

    @Test
    void csvIsLongFormatWithIntervalsAndTests() {
        String csv = Leaderboard.csv(entries());
        List<String> rows = csv.lines().toList();
        assertEquals("model,variant,n,top1,top1_low,top1_high,drop,drop_p,top5,paired,lost,gained,drop_significant,images_per_second,status,reason",
                rows.getFirst());
        assertEquals(1 + 4 + 1, rows.size(), "4 variants of good, 1 row for broken");
        String bg = rows.stream().filter(r -> r.startsWith("good,background+20,")).findFirst().orElseThrow();
        String[] c = bg.split(",", -1);
        assertEquals("40", c[2]);
        assertEquals(0.5, Double.parseDouble(c[3]), 1e-12);
        Stats.Interval w = Stats.wilson95(20, 40);
        assertEquals(w.low(), Double.parseDouble(c[4]), 1e-6);
        assertEquals(w.high(), Double.parseDouble(c[5]), 1e-6);
        assertEquals(0.25, Double.parseDouble(c[6]), 1e-12, "30/40 -> 20/40 on the same images");
        assertEquals(2.0 / 1024, Double.parseDouble(c[7]), 2.0 / 1024 * 1e-5, "exact McNemar of 10 lost, 0 gained (6 significant digits)");
        assertEquals("1", c[12]);
        String size = rows.stream().filter(r -> r.startsWith("good,size-0.05,")).findFirst().orElseThrow();
        assertEquals("0", size.split(",", -1)[12], "2 lost, 1 gained: not significant");
        assertTrue(rows.getLast().startsWith("broken,,0,") && rows.getLast().contains(",failed,failed at images 0-31"), rows.getLast());
        assertEquals((0.25 + 0.025) / 2, Leaderboard.meanPaperDrop(entries().getFirst().summary()), 1e-12,
                "mean over the paper's variants present (background+20, size-0.05), not the custom one");
    }

    @Test
    void pageIsLaidOutLikeThePapersTable() throws Exception {
        Path page = dir.resolve("report.html");
        Leaderboard.writePage(page, "test board", entries(), Map.of("data", "hand-made"));
        String html = Files.readString(page);
        assertTrue(html.contains("<th colspan=\"1\">Background</th><th colspan=\"1\">Size</th>"), "attribute groups over the paper's variants");
        assertTrue(html.contains("<th>&lambda;=20</th><th>0.05</th>"), "settings row");
        assertTrue(html.contains("<th rowspan=\"2\">blur</th>"), "other variants after the paper's");
        assertTrue(html.contains("50.0 (-25.0)") && html.contains("(-2.5 n.s.)"), "top-1 (drop), n.s. where McNemar p >= 5%");
        assertTrue(html.contains("<td>13.8</td>"), "Avg. drop over the paper's variants: (25 + 2.5) / 2");
        assertTrue(html.contains("failed: failed at images 0-31"), "the failed model's row");
        assertTrue(html.contains("id=\"chart-complexity\"") && html.contains("id=\"complexity\""), "accuracy per complexity bin");
        Path chromium = Browser.find();
        assumeTrue(chromium != null, "no chromium installed (apt-get install chromium); .ci/run installs it");
        Matcher m = Pattern.compile("data-charts-rendered=\"(\\d+)\"").matcher(Browser.dumpDom(chromium, page, dir));
        assertTrue(m.find(), "the page's load script did not run");
        assertEquals(1, Integer.parseInt(m.group(1)), "the complexity chart decoded in the browser");
    }
}
