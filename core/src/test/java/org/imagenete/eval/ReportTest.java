package org.imagenete.eval;

import org.imagenete.testutil.Browser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The report's files, and the HTML opened in a real headless browser: the charts must render. */
class ReportTest {
    @TempDir Path dir;

    static Report.Input sample() throws Exception {
        List<Prediction> ps = new ArrayList<>();
        String[] variants = {"original", "background+10", "background+20", "size-0.05", "direction"};   // one lambda direction: a sweep
        java.util.SplittableRandom r = new java.util.SplittableRandom(7);
        for (int i = 0; i < 20; i++)
            for (String v : variants) {
                int label = 281 + i % 5;
                int pred = r.nextDouble() < (v.equals("original") ? 0.8 : 0.55) ? label : 100 + r.nextInt(800);
                String attr = v.equals("original") ? null : v.replaceAll("[-+].*", "");
                double value = v.startsWith("background") ? Double.parseDouble(v.substring(10)) : v.startsWith("size") ? 0.05 : Double.NaN;
                ps.add(new Prediction("img" + i, v, attr, value, label, new int[]{pred, 1, 2, 3, 4}, (float) (0.4 + 0.6 * r.nextDouble()), Map.of()));
            }
        BufferedImage im = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) im.setRGB(x, y, (x * 8) << 16 | (y * 8) << 8 | 128);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(im, "png", png);
        List<Report.Picture> grid = new ArrayList<>();
        for (String v : variants) grid.add(new Report.Picture("img0", v, png.toByteArray(), "tabby 92%", v.equals("original")));
        Map<String, String> info = new LinkedHashMap<>();
        info.put("images", "20");
        info.put("unreadable images skipped", "0");
        return new Report.Input("imagenet-e report test", "test-model", Metrics.compute(ps), ps, grid, grid.subList(0, 2), info);
    }

    @Test
    void writesJsonCsvAndHtml() throws Exception {
        Report.write(dir, sample());
        for (String f : List.of("results.json", "results.csv", "predictions.csv", "report.html")) assertTrue(Files.size(dir.resolve(f)) > 100, f);
        assertEquals(6, Files.readAllLines(dir.resolve("results.csv")).size(), "header + 5 variants");
        assertEquals(101, Files.readAllLines(dir.resolve("predictions.csv")).size());
        String html = Files.readString(dir.resolve("report.html"));
        assertEquals(4, count(html, "<img id=\"chart-"), "accuracy, drop, calibration, sensitivity charts");
        assertTrue(html.contains("id=\"per-class\""));
    }

    @Test
    void chartsRenderInHeadlessChromium() throws Exception {
        Path chromium = Browser.find();
        assumeTrue(chromium != null, "no chromium installed (apt-get install chromium); .ci/run installs it");
        Report.write(dir, sample());
        Path page = dir.resolve("report.html");
        String dom = Browser.dumpDom(chromium, page, dir);
        Matcher m = Pattern.compile("data-charts-rendered=\"(\\d+)\"").matcher(dom);
        assertTrue(m.find(), "the page's load script did not run: " + dom.substring(0, Math.min(300, dom.length())));
        assertEquals(4, Integer.parseInt(m.group(1)), "charts decoded by the browser");
        Path shot = Browser.screenshot(chromium, page, dir, 1200, 1600);
        BufferedImage img = ImageIO.read(shot.toFile());
        assertNotNull(img, "screenshot");
        // XChart's default series colours are saturated; a rendered bar chart leaves many such pixels
        int colored = 0;
        for (int y = 0; y < img.getHeight(); y += 2)
            for (int x = 0; x < img.getWidth(); x += 2) {
                int rgb = img.getRGB(x, y), rr = rgb >> 16 & 255, g = rgb >> 8 & 255, b = rgb & 255;
                if (Math.max(rr, Math.max(g, b)) - Math.min(rr, Math.min(g, b)) > 80) colored++;
            }
        System.out.println("screenshot " + img.getWidth() + "x" + img.getHeight() + ", saturated pixels (sampled): " + colored);
        assertTrue(colored > 2000, "charts not visible in the screenshot: " + colored + " coloured pixels");
    }

    static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
        return n;
    }
}
