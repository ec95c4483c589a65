package org.imagenete.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Turns JMH JSON results and the measured machine peak ({@code bench/peak/run.sh}) into the README's results
 * table: median (min-max) time, GFLOP/s or GB/s, and the share of this machine's measured peak. The work per
 * call of each benchmark is defined here, next to its formula.
 * <p>Usage: {@code BenchReport peak.json jmh.json... > table.md}
 */
public final class BenchReport {
    /** ADM-256 forward at batch 1: 1,119.8 GMAC (golden README). */
    static final double ADM256_FLOP = 2.2397e12;

    record Work(double flop, double bytes) {}

    public static void main(String[] args) throws IOException {
        ObjectMapper json = new ObjectMapper();
        JsonNode peak = json.readTree(Path.of(args[0]).toFile());
        double peakFlops = peak.get("fp32_fma_gflops").asDouble();
        double peakBw = peak.get("triad_gbs_median").asDouble();
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "Machine peak (bench/peak/run.sh): %.0f GFLOP/s fp32 FMA, %.0f GFLOP/s bf16 dot, %.0f GB/s triad, %d threads.%n%n",
                peakFlops, peak.get("bf16_dot_gflops").asDouble(), peakBw, peak.get("threads").asInt()));
        out.append("| benchmark | params | median (min-max) | rate | of peak |\n|---|---|---|---|---|\n");
        for (int f = 1; f < args.length; f++) {
            for (JsonNode r : json.readTree(Path.of(args[f]).toFile())) {
                String name = r.get("benchmark").asText();
                String shortName = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1);
                JsonNode params = r.path("params");
                String unit = r.get("primaryMetric").get("scoreUnit").asText();
                double scale = switch (unit) {
                    case "s/op" -> 1;
                    case "ms/op" -> 1e-3;
                    case "us/op" -> 1e-6;
                    default -> throw new IllegalArgumentException("unit " + unit);
                };
                List<Double> raw = new ArrayList<>();
                for (JsonNode fork : r.get("primaryMetric").get("rawData")) for (JsonNode v : fork) raw.add(v.asDouble() * scale);
                double[] s = raw.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                double med = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
                Work w = work(shortName, params);
                String rate, share;
                if (w.flop == 0 && w.bytes == 0) {
                    rate = "-";
                    share = "-";
                } else if (w.flop > 0) {
                    double g = w.flop / med / 1e9;
                    rate = String.format(Locale.ROOT, "%.0f GFLOP/s", g);
                    share = String.format(Locale.ROOT, "%.0f%%", 100 * g / peakFlops);
                } else {
                    double g = w.bytes / med / 1e9;
                    rate = String.format(Locale.ROOT, "%.1f GB/s", g);
                    share = String.format(Locale.ROOT, "%.0f%%", 100 * g / peakBw);
                }
                out.append(String.format(Locale.ROOT, "| %s | %s | %s (%s-%s) | %s | %s |%n", shortName, paramString(params),
                        time(med), time(s[0]), time(s[s.length - 1]), rate, share));
            }
        }
        System.out.print(out);
    }

    static String paramString(JsonNode params) {
        List<String> p = new ArrayList<>();
        params.fields().forEachRemaining(e -> p.add(e.getKey() + "=" + e.getValue().asText()));
        return String.join(" ", p);
    }

    static String time(double s) {
        return s >= 1 ? String.format(Locale.ROOT, "%.2f s", s) : String.format(Locale.ROOT, "%.2f ms", s * 1e3);
    }

    static int[] ints(JsonNode params, String key) {
        return AdmShapes.parse(params.get(key).asText());
    }

    /** FLOP (compute-bound) or bytes read + written once (memory-bound) of one call. */
    static Work work(String bench, JsonNode params) {
        switch (bench) {
            case "ConvBench.conv2d" -> {
                int[] s = ints(params, "shape");
                return new Work(2.0 * s[0] * s[1] * s[3] * s[3] * s[2] * s[2], 0);
            }
            case "AdmForwardBench.forward" -> {
                return new Work(ADM256_FLOP * params.get("batch").asInt(), 0);
            }
            case "ResNetBench.logits" -> {
                return new Work(8.18e9 * params.get("batch").asInt(), 0);
            }
            case "ZooBench.logits" -> {
                return new Work(ZooBench.GFLOP.get(params.get("model").asText()) * 1e9 * params.get("batch").asInt(), 0);
            }
            case "CompositeBench.affineComposite" -> {   // bg (3 ch) + layer (4 ch) read, 4 ch written, once each
                double px = (double) params.get("batch").asInt() * params.get("size").asInt() * params.get("size").asInt();
                return new Work(0, px * (3 + 4 + 4) * 4);
            }
            case "FillBench.fill", "ResizeBench.resize" -> {   // time only: integer or branchy work
                return new Work(0, 0);
            }
            case "GuidedStepBench.step" -> {   // forward (+ an equal-FLOP backward when guided)
                return new Work(ADM256_FLOP * (params.get("guided").asBoolean() ? 2 : 1), 0);
            }
            default -> { }
        }
        if (bench.startsWith("OpsBench.")) {
            int[] s = ints(params, "shape");
            double n = (double) s[0] * s[1] * s[1] * 4;   // bytes of one activation
            String op = bench.substring("OpsBench.".length());
            return switch (op) {
                case "groupNormScaleShiftSilu", "silu" -> new Work(0, 2 * n);
                case "add" -> new Work(0, 3 * n);
                case "concat" -> new Work(0, 4 * n);
                case "upsampleNearest2x" -> new Work(0, 5 * n);
                case "avgPool2x" -> new Work(0, 1.25 * n);
                case "attentionT1024" -> new Work(8 * 2.0 * 2 * 1024 * 1024 * 64, 0);
                case "attentionT256" -> new Work(16 * 2.0 * 2 * 256 * 256 * 64, 0);
                default -> throw new IllegalArgumentException("no work defined for " + bench);
            };
        }
        throw new IllegalArgumentException("no work defined for " + bench);
    }
}
