package org.imagenete.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
        double peakFlops = peak.get("fp32_fma_gflops").asDouble(), peakBf16 = peak.get("bf16_dot_gflops").asDouble();
        Map<String, Double> medians = new HashMap<>();
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
                    boolean bf16 = params.path("backend").asText().endsWith("-bf16");   // of the bf16 dot-product peak
                    rate = String.format(Locale.ROOT, "%.0f GFLOP/s", g);
                    share = String.format(Locale.ROOT, "%.0f%%%s", 100 * g / (bf16 ? peakBf16 : peakFlops), bf16 ? " (bf16)" : "");
                } else {
                    double g = w.bytes / med / 1e9;
                    rate = String.format(Locale.ROOT, "%.1f GB/s", g);
                    share = String.format(Locale.ROOT, "%.0f%%", 100 * g / peakBw);
                }
                out.append(String.format(Locale.ROOT, "| %s | %s | %s (%s-%s) | %s | %s |%n", shortName, paramString(params),
                        time(med), time(s[0]), time(s[s.length - 1]), rate, share));
                medians.put(shortName + " " + paramString(params), med);
            }
        }
        out.append(ratios(medians));
        System.out.print(out);
    }

    /** Time ratios within this run (the same JVM session, the same load) for the targets the README states. */
    static String ratios(Map<String, Double> m) {
        record R(String what, String num, String den, String target) {}
        List<R> rs = List.of(
                new R("ADM-256 forward, bf16 / fp32 time", "AdmForwardBench.forward backend=cpu-bf16 batch=1", "AdmForwardBench.forward backend=cpu batch=1", "<= 0.6"),
                new R("ADM-256 forward, fp32 / ONNX Runtime time", "AdmForwardBench.forward backend=cpu batch=1", "AdmForwardBench.forward backend=onnxruntime batch=1", "-"),
                new R("ResNet-50 batch 32, ONNX Runtime / fp32 time (= rate ratio)", "ResNetBench.logits backend=onnxruntime batch=32", "ResNetBench.logits backend=cpu batch=32", ">= 1.1"),
                new R("ResNet-50 batch 32, ONNX Runtime / bf16 time (= rate ratio)", "ResNetBench.logits backend=onnxruntime batch=32", "ResNetBench.logits backend=cpu-bf16 batch=32", ">= 1.5"),
                new R("guided step / forward, fp32", "GuidedStepBench.step backend=cpu guided=true", "GuidedStepBench.step backend=cpu guided=false", "<= 2.05"),
                new R("guided step / forward, bf16", "GuidedStepBench.step backend=cpu-bf16 guided=true", "GuidedStepBench.step backend=cpu-bf16 guided=false", "<= 2.05"));
        StringBuilder out = new StringBuilder();
        for (R r : rs) {
            if (!m.containsKey(r.num) || !m.containsKey(r.den)) continue;
            if (out.isEmpty()) out.append("\nRatios of medians within this run:\n\n| ratio | value | target |\n|---|---|---|\n");
            out.append(String.format(Locale.ROOT, "| %s | %.2f | %s |%n", r.what, m.get(r.num) / m.get(r.den), r.target));
        }
        return out.toString();
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
