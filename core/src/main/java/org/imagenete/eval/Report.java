package org.imagenete.eval;

import org.imagenete.io.ImageNetClasses;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes the evaluation results: {@code results.json} (per-variant figures, sensitivity, run info),
 * {@code results.csv} (one row per variant), {@code predictions.csv} (one row per image and variant) and a
 * self-contained {@code report.html} (charts rendered by XChart and embedded as PNG, a sample grid of the
 * original and its edits with predictions, CAM overlays, a per-class table). Every file is written atomically.
 */
public final class Report {
    /** One picture of the sample grid or of the CAM section. */
    public record Picture(String image, String variant, byte[] png, String caption, boolean correct) {}

    /** {@code bins}: accuracy per background-complexity bin (empty when the images have no complexity). */
    public record Input(String title, String model, Metrics.Summary summary, List<Prediction> predictions,
                        List<Picture> grid, List<Picture> cams, Map<String, String> info, List<Metrics.ComplexityBin> bins) {
        public Input(String title, String model, Metrics.Summary summary, List<Prediction> predictions, List<Picture> grid,
                     List<Picture> cams, Map<String, String> info) {
            this(title, model, summary, predictions, grid, cams, info, List.of());
        }
    }

    private Report() {}

    public static void write(Path dir, Input in) throws IOException {
        Files.createDirectories(dir);
        System.setProperty("java.awt.headless", "true");
        AtomicFiles.write(dir.resolve("results.json"), json(in).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("results.csv"), variantsCsv(in.summary).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("predictions.csv"), predictionsCsv(in.predictions).getBytes(StandardCharsets.UTF_8));
        AtomicFiles.write(dir.resolve("report.html"), html(in).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A report without a classifier: the edits themselves (the original and every variant of each image, with
     * the achieved values as captions) and the run's information.
     */
    public static void writeGallery(Path dir, String title, List<Picture> pictures, Map<String, String> info) throws IOException {
        Files.createDirectories(dir);
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
                .append("</title><style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
                        + "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}"
                        + ".grid{display:flex;flex-wrap:wrap;gap:6px}.cell{width:168px;font-size:11px;text-align:center}"
                        + ".cell img{width:160px;height:160px;object-fit:cover;border:1px solid #bbb}.row{margin:10px 0}</style></head><body>");
        h.append("<h1>").append(esc(title)).append("</h1><table id=\"info\">");
        info.forEach((k, v) -> h.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>"));
        h.append("</table>");
        pictures(h, "The original and its edits", "grid", pictures);
        h.append("</body></html>\n");
        AtomicFiles.write(dir.resolve("report.html"), h.toString().getBytes(StandardCharsets.UTF_8));
    }

    static String json(Input in) throws IOException {
        ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = m.createObjectNode();
        root.put("title", in.title);
        root.put("model", in.model);
        ObjectNode info = root.putObject("info");
        in.info.forEach(info::put);
        ArrayNode vs = root.putArray("variants");
        for (Metrics.VariantStats v : in.summary.variants()) {
            ObjectNode o = vs.addObject();
            o.put("variant", v.variant());
            o.put("n", v.n());
            num(o, "top1", v.top1());
            num(o, "top1_low", v.top1Ci().low());
            num(o, "top1_high", v.top1Ci().high());
            num(o, "top5", v.top5());
            num(o, "original_top1_same_images", v.originalTop1OnSameImages());
            o.put("paired", v.paired());
            o.put("lost", v.lost());
            o.put("gained", v.gained());
            num(o, "drop", v.drop());
            num(o, "drop_p", v.dropP());
            if (!Double.isNaN(v.dropP())) o.put("drop_significant", v.dropSignificant());
            num(o, "flip_rate", v.flipRate());
            num(o, "mean_confidence", v.meanConfidence());
            num(o, "ece", v.ece());
            ObjectNode pc = o.putObject("per_class");
            v.perClass().forEach((k, a) -> pc.put(Integer.toString(k), a[1] / a[0]));
        }
        ArrayNode cb = root.putArray("complexity_bins");
        for (Metrics.ComplexityBin b : in.bins) {
            ObjectNode o = cb.addObject();
            o.put("low", b.low());
            o.put("high", b.high());
            o.put("n", b.n());
            num(o, "top1", b.top1());
            num(o, "top1_low", b.top1Ci().low());
            num(o, "top1_high", b.top1Ci().high());
        }
        ArrayNode ss = root.putArray("sensitivity");
        for (Metrics.Sensitivity s : in.summary.sensitivity()) {
            ObjectNode o = ss.addObject();
            o.put("image", s.image());
            o.put("attribute", s.attribute());
            o.put("direction", s.direction());
            o.put("label", s.label());
            o.put("original_prediction", s.originalPrediction());
            if (s.flipValue() == null) o.putNull("flip_value");
            else o.put("flip_value", s.flipValue());
        }
        return m.writeValueAsString(root);
    }

    private static void num(ObjectNode o, String k, double v) {
        if (Double.isNaN(v)) o.putNull(k);
        else o.put(k, v);
    }

    static String variantsCsv(Metrics.Summary s) {
        StringBuilder b = new StringBuilder("variant,n,top1,top5,original_top1_same_images,drop,flip_rate,mean_confidence,ece,"
                + "top1_low,top1_high,paired,lost,gained,drop_p\n");
        for (Metrics.VariantStats v : s.variants())
            b.append(String.format(Locale.ROOT, "%s,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d,%d,%d,%.6g%n", csv(v.variant()), v.n(), v.top1(),
                    v.top5(), v.originalTop1OnSameImages(), v.drop(), v.flipRate(), v.meanConfidence(), v.ece(), v.top1Ci().low(),
                    v.top1Ci().high(), v.paired(), v.lost(), v.gained(), v.dropP()));
        return b.toString();
    }

    static String predictionsCsv(List<Prediction> ps) {
        StringBuilder b = new StringBuilder("image,variant,attribute,value,label,prediction,confidence,top1,top5\n");
        for (Prediction p : ps)
            b.append(String.format(Locale.ROOT, "%s,%s,%s,%s,%d,%d,%.6f,%d,%d%n", csv(p.image()), csv(p.variant()),
                    p.attribute() == null ? "" : csv(p.attribute()), Double.isNaN(p.value()) ? "" : Double.toString(p.value()),
                    p.label(), p.predicted(), p.confidence(), p.top1() ? 1 : 0, p.top5Hit() ? 1 : 0));
        return b.toString();
    }

    static String csv(String s) {
        return s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    static byte[] png(Object chart) {
        try {
            return chart instanceof CategoryChart c ? BitmapEncoder.getBitmapBytes(c, BitmapEncoder.BitmapFormat.PNG)
                    : BitmapEncoder.getBitmapBytes((XYChart) chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static CategoryChart accuracyChart(Metrics.Summary s) {
        CategoryChart c = new CategoryChartBuilder().width(900).height(420).title("Accuracy per variant")
                .xAxisTitle("variant").yAxisTitle("accuracy").build();
        style(c.getStyler());
        List<String> names = new ArrayList<>();
        List<Double> t1 = new ArrayList<>(), t5 = new ArrayList<>();
        for (Metrics.VariantStats v : s.variants()) {
            names.add(v.variant());
            t1.add(v.top1());
            t5.add(v.top5());
        }
        c.addSeries("top-1", names, t1);
        c.addSeries("top-5", names, t5);
        c.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        return c;
    }

    static CategoryChart dropChart(Metrics.Summary s) {
        CategoryChart c = new CategoryChartBuilder().width(900).height(380).title("Top-1 drop and flip rate vs the originals of the same images")
                .xAxisTitle("variant").yAxisTitle("fraction").build();
        style(c.getStyler());
        List<String> names = new ArrayList<>();
        List<Double> drop = new ArrayList<>(), flip = new ArrayList<>();
        for (Metrics.VariantStats v : s.variants()) {
            if (v.variant().equals(Metrics.ORIGINAL)) continue;
            names.add(v.variant());
            drop.add(Double.isNaN(v.drop()) ? 0 : v.drop());
            flip.add(Double.isNaN(v.flipRate()) ? 0 : v.flipRate());
        }
        if (names.isEmpty()) names.add("(no edits)");
        if (drop.isEmpty()) {
            drop.add(0.0);
            flip.add(0.0);
        }
        c.addSeries("top-1 drop", names, drop);
        c.addSeries("flip rate", names, flip);
        return c;
    }

    static CategoryChart calibrationChart(Metrics.Summary s) {
        CategoryChart c = new CategoryChartBuilder().width(900).height(380).title("Confidence and calibration")
                .xAxisTitle("variant").yAxisTitle("value").build();
        style(c.getStyler());
        List<String> names = new ArrayList<>();
        List<Double> conf = new ArrayList<>(), ece = new ArrayList<>();
        for (Metrics.VariantStats v : s.variants()) {
            names.add(v.variant());
            conf.add(v.meanConfidence());
            ece.add(v.ece());
        }
        c.addSeries("mean confidence", names, conf);
        c.addSeries("expected calibration error", names, ece);
        return c;
    }

    static XYChart sensitivityChart(Metrics.Summary s) {
        XYChart c = new XYChartBuilder().width(900).height(380).title("Share of images whose prediction has flipped, along each sweep")
                .xAxisTitle("attribute value").yAxisTitle("flipped").build();
        style(c.getStyler());
        Map<String, List<Metrics.Sensitivity>> bySweep = new LinkedHashMap<>();
        for (Metrics.Sensitivity se : s.sensitivity()) bySweep.computeIfAbsent(se.direction(), k -> new ArrayList<>()).add(se);
        for (Map.Entry<String, List<Metrics.Sensitivity>> e : bySweep.entrySet()) {
            List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
            List<Double> values = new ArrayList<>();
            for (Metrics.Sensitivity se : e.getValue()) for (double[] p : se.sweep()) if (!values.contains(p[0])) values.add(p[0]);
            values.sort(Double::compare);
            boolean size = e.getKey().equals("size");
            for (double v : values) {
                int flipped = 0;
                for (Metrics.Sensitivity se : e.getValue())
                    if (se.flipValue() != null && (size ? v <= se.flipValue() : Math.abs(v) >= Math.abs(se.flipValue()))) flipped++;
                xs.add(v);
                ys.add((double) flipped / e.getValue().size());
            }
            if (!xs.isEmpty()) c.addSeries(e.getKey(), xs, ys);
        }
        return c;
    }

    static void style(Styler st) {
        st.setChartBackgroundColor(Color.WHITE);
        st.setLegendPosition(Styler.LegendPosition.InsideNE);
        st.setAntiAlias(true);
        st.setDecimalPattern("#0.00");
        if (st instanceof org.knowm.xchart.style.CategoryStyler cs) {
            cs.setXAxisLabelRotation(30);
            cs.setOverlapped(false);
        }
    }

    static String img(byte[] png, String id, String alt) {
        return "<img id=\"" + id + "\" class=\"chart\" alt=\"" + esc(alt) + "\" src=\"data:image/png;base64,"
                + Base64.getEncoder().encodeToString(png) + "\">";
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    static String html(Input in) {
        Metrics.Summary s = in.summary;
        ImageNetClasses cls = ImageNetClasses.get();
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(in.title))
                .append("</title><style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
                        + "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}td.l,th.l{text-align:left}"
                        + ".grid{display:flex;flex-wrap:wrap;gap:6px}.cell{width:168px;font-size:11px;text-align:center}"
                        + ".cell img{width:160px;height:160px;object-fit:cover;border:3px solid #bbb}.ok img{border-color:#2a2}.bad img{border-color:#d33}"
                        + ".row{margin:10px 0}.chart{max-width:100%;display:block;margin:8px 0}.ns{color:#888}</style></head><body>");
        h.append("<h1>").append(esc(in.title)).append("</h1><p>Model: <b>").append(esc(in.model)).append("</b></p>");
        h.append("<table id=\"info\">");
        in.info.forEach((k, v) -> h.append("<tr><th class=\"l\">").append(esc(k)).append("</th><td class=\"l\">").append(esc(v)).append("</td></tr>"));
        h.append("</table>");
        h.append("<h2>Accuracy per variant</h2><p>95% Wilson intervals; drops against the originals of the same images with the exact"
                + " McNemar p-value (lost: right as original, wrong here; gained: the reverse). Drops marked n.s. are not significant at 5%.</p>"
                + "<table id=\"variants\"><tr><th class=\"l\">variant</th><th>images</th><th>top-1</th><th>95% interval</th><th>top-5</th>"
                + "<th>originals (same images)</th><th>top-1 drop</th><th>lost / gained</th><th>McNemar p</th><th>flip rate</th>"
                + "<th>mean confidence</th><th>ECE</th></tr>");
        for (Metrics.VariantStats v : s.variants()) {
            boolean ns = !Double.isNaN(v.dropP()) && !v.dropSignificant();
            h.append(String.format(Locale.ROOT, "<tr><td class=\"l\">%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td%s>%s</td>"
                            + "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>",
                    esc(v.variant()), v.n(), pct(v.top1()), Double.isNaN(v.top1Ci().low()) ? "-" : pct(v.top1Ci().low()) + " - " + pct(v.top1Ci().high()),
                    pct(v.top5()), pct(v.originalTop1OnSameImages()), ns ? " class=\"ns\"" : "", pct(v.drop()) + (ns ? " n.s." : ""),
                    v.variant().equals(Metrics.ORIGINAL) ? "-" : v.lost() + " / " + v.gained(),
                    Double.isNaN(v.dropP()) ? "-" : String.format(Locale.ROOT, "%.3g", v.dropP()), pct(v.flipRate()), pct(v.meanConfidence()), pct(v.ece())));
        }
        h.append("</table>");
        h.append(img(png(accuracyChart(s)), "chart-accuracy", "top-1 and top-5 accuracy per variant"));
        h.append(img(png(dropChart(s)), "chart-drop", "top-1 drop and flip rate per variant"));
        h.append(img(png(calibrationChart(s)), "chart-calibration", "mean confidence and expected calibration error"));
        if (!in.bins.isEmpty()) {
            h.append("<h2>Accuracy against background complexity</h2>").append(img(png(complexityChart(in.bins)), "chart-complexity",
                    "top-1 accuracy per complexity bin"));
            h.append("<table id=\"complexity\"><tr><th class=\"l\">complexity</th><th>images</th><th>top-1</th><th>95% interval</th></tr>");
            for (Metrics.ComplexityBin b : in.bins)
                h.append(String.format(Locale.ROOT, "<tr><td class=\"l\">%.3g - %.3g</td><td>%d</td><td>%s</td><td>%s</td></tr>", b.low(), b.high(), b.n(),
                        pct(b.top1()), b.n() == 0 ? "-" : pct(b.top1Ci().low()) + " - " + pct(b.top1Ci().high())));
            h.append("</table>");
        }
        if (!s.sensitivity().isEmpty()) {
            h.append("<h2>Sensitivity</h2>").append(img(png(sensitivityChart(s)), "chart-sensitivity", "flips along sweeps"));
            h.append("<table id=\"sensitivity\"><tr><th class=\"l\">image</th><th class=\"l\">sweep</th><th>flips at</th></tr>");
            for (Metrics.Sensitivity se : s.sensitivity())
                h.append("<tr><td class=\"l\">").append(esc(se.image())).append("</td><td class=\"l\">").append(esc(se.direction()))
                        .append("</td><td>").append(se.flipValue() == null ? "never" : String.format(Locale.ROOT, "%.3g", se.flipValue())).append("</td></tr>");
            h.append("</table>");
        }
        pictures(h, "Samples: the original and its edits", "grid", in.grid);
        pictures(h, "Class activation maps before and after the edit", "cams", in.cams);
        h.append("<h2>Per-class top-1</h2><table id=\"per-class\"><tr><th class=\"l\">class</th>");
        for (Metrics.VariantStats v : s.variants()) h.append("<th>").append(esc(v.variant())).append("</th>");
        h.append("</tr>");
        java.util.TreeSet<Integer> labels = new java.util.TreeSet<>();
        for (Metrics.VariantStats v : s.variants()) labels.addAll(v.perClass().keySet());
        for (int label : labels) {
            String name = label >= 0 && label < cls.size() ? cls.get(label).shortName() : Integer.toString(label);
            h.append("<tr><td class=\"l\">").append(label).append(" ").append(esc(name)).append("</td>");
            for (Metrics.VariantStats v : s.variants()) {
                double[] a = v.perClass().get(label);
                h.append("<td>").append(a == null ? "" : String.format(Locale.ROOT, "%.0f%% (%d)", 100 * a[1] / a[0], (int) a[0])).append("</td>");
            }
            h.append("</tr>");
        }
        h.append("</table>");
        renderedMarker(h);
        h.append("</body></html>\n");
        return h.toString();
    }

    /** Marks every chart that decoded, so a headless browser's DOM dump shows the charts rendered. */
    static void renderedMarker(StringBuilder h) {
        h.append("<script>window.addEventListener('load',()=>{let n=0;document.querySelectorAll('img.chart').forEach(i=>{"
                + "if(i.complete&&i.naturalWidth>0){i.dataset.rendered='1';n++;}});document.body.dataset.chartsRendered=n;});</script>");
    }

    static CategoryChart complexityChart(List<Metrics.ComplexityBin> bins) {
        CategoryChart c = new CategoryChartBuilder().width(900).height(380).title("Top-1 accuracy per background-complexity bin")
                .xAxisTitle("background complexity").yAxisTitle("top-1 accuracy").build();
        style(c.getStyler());
        List<String> names = new ArrayList<>();
        List<Double> acc = new ArrayList<>();
        for (Metrics.ComplexityBin b : bins) {
            names.add(String.format(Locale.ROOT, "%.3g-%.3g", b.low(), b.high()));
            acc.add(Double.isNaN(b.top1()) ? 0 : b.top1());
        }
        c.addSeries("top-1", names, acc);
        c.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        return c;
    }

    private static void pictures(StringBuilder h, String title, String id, List<Picture> pics) {
        if (pics == null || pics.isEmpty()) return;
        h.append("<h2>").append(esc(title)).append("</h2><div id=\"").append(id).append("\">");
        String current = null;
        for (Picture p : pics) {
            if (!p.image().equals(current)) {
                if (current != null) h.append("</div>");
                h.append("<div class=\"row grid\">");
                current = p.image();
            }
            h.append("<div class=\"cell ").append(p.correct() ? "ok" : "bad").append("\"><img alt=\"").append(esc(p.image() + " " + p.variant()))
                    .append("\" src=\"data:image/png;base64,").append(Base64.getEncoder().encodeToString(p.png())).append("\"><br><b>")
                    .append(esc(p.variant())).append("</b><br>").append(esc(p.caption())).append("</div>");
        }
        if (current != null) h.append("</div>");
        h.append("</div>");
    }

    private static String pct(double v) { return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * v); }
}
