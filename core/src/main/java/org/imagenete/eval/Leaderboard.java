package org.imagenete.eval;

import org.imagenete.io.AtomicFiles;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The models of one evaluation side by side: {@code leaderboard.csv} in long format (one row per model and variant:
 * {@code model,variant,n,top1,top1_low,top1_high,drop,drop_p,...}; a failed model has one row with its status and
 * reason) and a page laid out like the paper's table: one row per model, top-1 and drop for every variant, the mean
 * drop over the paper's variants, non-significant drops marked; and accuracy per background-complexity bin.
 */
public final class Leaderboard {
    /** ImageNet-E's variants in the order of the paper's table (Li et al., 2023, Table 2). */
    public static final List<String> PAPER_VARIANTS = List.of("background-20", "background+20", "background+20-adv",
            "size-0.10", "size-0.08", "size-0.05", "position", "direction");
    /** Column heads of the paper's variants: the attribute group and the setting. */
    private static final Map<String, String[]> HEADS = Map.of(
            "background-20", new String[]{"Background", "&lambda;=-20"}, "background+20", new String[]{"Background", "&lambda;=20"},
            "background+20-adv", new String[]{"Background", "&lambda;=20-adv"}, "size-0.10", new String[]{"Size", "0.10"},
            "size-0.08", new String[]{"Size", "0.08"}, "size-0.05", new String[]{"Size", "0.05"},
            "position", new String[]{"Position", "random"}, "direction", new String[]{"Direction", "random"});

    /**
     * One model's row: its summary (null when it failed), the reason it failed (null when it did not), its complexity
     * bins, the images per second of its inference and where it ran.
     */
    public record Entry(String model, String provider, Metrics.Summary summary, List<Metrics.ComplexityBin> bins, double imagesPerSecond,
                        String failure) {
        public boolean failed() { return failure != null; }
    }

    private Leaderboard() {}

    /** The mean drop over the paper's variants the model was evaluated on (NaN when none). */
    public static double meanPaperDrop(Metrics.Summary s) {
        double sum = 0;
        int n = 0;
        for (Metrics.VariantStats v : s.variants())
            if (PAPER_VARIANTS.contains(v.variant()) && !Double.isNaN(v.drop())) {
                sum += v.drop();
                n++;
            }
        return n == 0 ? Double.NaN : sum / n;
    }

    public static void writeCsv(Path file, List<Entry> entries) throws IOException {
        AtomicFiles.write(file, csv(entries).getBytes(StandardCharsets.UTF_8));
    }

    static String csv(List<Entry> entries) {
        StringBuilder b = new StringBuilder("model,variant,n,top1,top1_low,top1_high,drop,drop_p,top5,paired,lost,gained,drop_significant,"
                + "images_per_second,status,reason\n");
        for (Entry e : entries) {
            if (e.failed()) {
                b.append(Report.csv(e.model)).append(",,0,,,,,,,,,,,,failed,").append(Report.csv(e.failure)).append('\n');
                continue;
            }
            for (Metrics.VariantStats v : e.summary.variants()) {
                b.append(String.format(Locale.ROOT, "%s,%s,%d,%s,%s,%s,%s,%s,%s,%d,%d,%d,%s,%s,ok,%n", Report.csv(e.model), Report.csv(v.variant()), v.n(),
                        num(v.top1()), num(v.top1Ci().low()), num(v.top1Ci().high()), num(v.drop()), num(v.dropP()), num(v.top5()), v.paired(),
                        v.lost(), v.gained(), Double.isNaN(v.dropP()) ? "" : v.dropSignificant() ? "1" : "0", num(e.imagesPerSecond)));
            }
        }
        return b.toString();
    }

    private static String num(double v) { return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6g", v); }

    /** The leaderboard page: the table, the complexity figure, links to each model's report ({@code <model>/report.html}). */
    public static void writePage(Path file, String title, List<Entry> entries, Map<String, String> info) throws IOException {
        AtomicFiles.write(file, html(title, entries, info).getBytes(StandardCharsets.UTF_8));
    }

    static String html(String title, List<Entry> entries, Map<String, String> info) {
        Set<String> seen = new LinkedHashSet<>();
        for (Entry e : entries) if (!e.failed()) for (Metrics.VariantStats v : e.summary.variants()) seen.add(v.variant());
        List<String> paper = PAPER_VARIANTS.stream().filter(seen::contains).toList();
        List<String> other = seen.stream().filter(v -> !v.equals(Metrics.ORIGINAL) && !PAPER_VARIANTS.contains(v)).sorted().toList();
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(Report.esc(title))
                .append("</title><style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
                        + "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2;text-align:center}td.l,th.l{text-align:left}"
                        + ".ns{color:#888}.ci{display:block;font-size:10px;color:#666}.failed{color:#b00}.chart{max-width:100%;display:block;margin:8px 0}"
                        + "</style></head><body>");
        h.append("<h1>").append(Report.esc(title)).append("</h1><table id=\"info\">");
        info.forEach((k, v) -> h.append("<tr><th class=\"l\">").append(Report.esc(k)).append("</th><td class=\"l\">").append(Report.esc(v)).append("</td></tr>"));
        h.append("</table>");
        h.append("<h2>Leaderboard</h2><p>Top-1 accuracy (%) with its 95% Wilson interval; in parentheses the drop against the originals of")
                .append(" the same images (points). <span class=\"ns\">Grey drops marked n.s.</span> are not significant at 5% (exact McNemar test).")
                .append(" Avg.: the mean drop over the paper's variants present.</p>");
        h.append("<table id=\"leaderboard\"><tr><th class=\"l\" rowspan=\"2\">Model</th><th rowspan=\"2\">Ori.</th>");
        // group heads: consecutive paper variants of one attribute share a cell
        for (int i = 0; i < paper.size(); ) {
            String group = HEADS.get(paper.get(i))[0];
            int j = i;
            while (j < paper.size() && HEADS.get(paper.get(j))[0].equals(group)) j++;
            h.append("<th colspan=\"").append(j - i).append("\">").append(group).append("</th>");
            i = j;
        }
        for (String v : other) h.append("<th rowspan=\"2\">").append(Report.esc(v)).append("</th>");
        h.append("<th rowspan=\"2\">Avg. drop</th><th rowspan=\"2\">img/s</th></tr><tr>");
        for (String v : paper) h.append("<th>").append(HEADS.get(v)[1]).append("</th>");
        h.append("</tr>");
        for (Entry e : entries) {
            h.append("<tr><td class=\"l\"><a href=\"").append(Report.esc(e.model)).append("/report.html\">").append(Report.esc(e.model))
                    .append("</a><span class=\"ci\">").append(Report.esc(e.provider)).append("</span></td>");
            if (e.failed()) {
                h.append("<td class=\"l failed\" colspan=\"").append(paper.size() + other.size() + 3).append("\">failed: ")
                        .append(Report.esc(e.failure)).append("</td></tr>");
                continue;
            }
            Map<String, Metrics.VariantStats> by = new java.util.HashMap<>();
            for (Metrics.VariantStats v : e.summary.variants()) by.put(v.variant(), v);
            cell(h, by.get(Metrics.ORIGINAL), false);
            for (String v : paper) cell(h, by.get(v), true);
            for (String v : other) cell(h, by.get(v), true);
            double avg = meanPaperDrop(e.summary);
            h.append("<td>").append(Double.isNaN(avg) ? "-" : String.format(Locale.ROOT, "%.1f", 100 * avg)).append("</td><td>")
                    .append(Double.isNaN(e.imagesPerSecond) ? "-" : String.format(Locale.ROOT, "%.1f", e.imagesPerSecond)).append("</td></tr>");
        }
        h.append("</table>");
        complexity(h, entries);
        Report.renderedMarker(h);
        h.append("</body></html>\n");
        return h.toString();
    }

    private static void cell(StringBuilder h, Metrics.VariantStats v, boolean drop) {
        if (v == null || Double.isNaN(v.top1())) {
            h.append("<td>-</td>");
            return;
        }
        boolean ns = drop && !Double.isNaN(v.dropP()) && !v.dropSignificant();
        h.append("<td").append(ns ? " class=\"ns\"" : "").append(String.format(Locale.ROOT, " title=\"n=%d, 95%% CI %.1f-%.1f%s\">%.1f",
                v.n(), 100 * v.top1Ci().low(), 100 * v.top1Ci().high(),
                Double.isNaN(v.dropP()) ? "" : String.format(Locale.ROOT, ", drop p=%.3g", v.dropP()), 100 * v.top1()));
        if (drop && !Double.isNaN(v.drop())) h.append(String.format(Locale.ROOT, " (%+.1f%s)", -100 * v.drop(), ns ? " n.s." : ""));
        h.append(String.format(Locale.ROOT, "<span class=\"ci\">[%.1f, %.1f]</span></td>", 100 * v.top1Ci().low(), 100 * v.top1Ci().high()));
    }

    /** Accuracy per complexity bin for every model: the figure and its table (nothing when no image has a complexity). */
    private static void complexity(StringBuilder h, List<Entry> entries) {
        List<Entry> with = entries.stream().filter(e -> !e.failed() && e.bins != null && !e.bins.isEmpty()).toList();
        if (with.isEmpty()) return;
        h.append("<h2>Accuracy against background complexity</h2><p>Images binned by the achieved background complexity the manifest")
                .append(" records (bins of about equal counts over all variants).</p>");
        h.append(Report.img(Report.png(complexityChart(with)), "chart-complexity", "top-1 accuracy per complexity bin, per model"));
        List<Metrics.ComplexityBin> first = with.getFirst().bins;
        h.append("<table id=\"complexity\"><tr><th class=\"l\">model</th>");
        for (Metrics.ComplexityBin b : first)
            h.append(String.format(Locale.ROOT, "<th>%.3g-%.3g<span class=\"ci\">n=%d</span></th>", b.low(), b.high(), b.n()));
        h.append("</tr>");
        for (Entry e : with) {
            h.append("<tr><td class=\"l\">").append(Report.esc(e.model)).append("</td>");
            for (Metrics.ComplexityBin b : e.bins)
                h.append(Double.isNaN(b.top1()) ? "<td>-</td>" : String.format(Locale.ROOT, "<td>%.1f<span class=\"ci\">[%.1f, %.1f]</span></td>",
                        100 * b.top1(), 100 * b.top1Ci().low(), 100 * b.top1Ci().high()));
            h.append("</tr>");
        }
        h.append("</table>");
    }

    static XYChart complexityChart(List<Entry> entries) {
        XYChart c = new XYChartBuilder().width(900).height(400).title("Top-1 accuracy per background-complexity bin")
                .xAxisTitle("background complexity (bin centre)").yAxisTitle("top-1 accuracy").build();
        Report.style(c.getStyler());
        c.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        for (Entry e : entries) {
            List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
            for (Metrics.ComplexityBin b : e.bins)
                if (!Double.isNaN(b.top1())) {
                    xs.add((b.low() + b.high()) / 2);
                    ys.add(b.top1());
                }
            if (!xs.isEmpty()) c.addSeries(e.model, xs, ys);
        }
        return c;
    }
}
