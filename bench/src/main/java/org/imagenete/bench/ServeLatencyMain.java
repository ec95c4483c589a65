package org.imagenete.bench;

import org.imagenete.cli.DemoCommand;
import org.imagenete.edit.EditRequest;
import org.imagenete.ops.Backends;
import org.imagenete.serve.Server;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The web editor's latency for a geometric edit: {@code POST /api/edit} of a demo photo (JPEG as uploaded, its mask,
 * {@code size=0.05} at 256, the default patch fill) against a real server on loopback, timed from the client (upload,
 * decode, edit, PNG encoding, answer) and as the server reports it ({@code seconds}: the edit and its files).
 * Two cases: the first edit of a photo (its hole filled) and the next edits of the same photo, as a live preview
 * makes them (other sizes and seeds; the fill comes from the cache). Usage: {@code ServeLatencyMain [repeats]}.
 */
public final class ServeLatencyMain {
    private static final String BOUNDARY = "----imagenete-latency";
    private static final Pattern SECONDS = Pattern.compile("\"seconds\":([0-9.eE-]+)");

    public static void main(String[] args) throws Exception {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        Path dir = Files.createTempDirectory("imagenete-serve-latency");
        DemoCommand.extract(dir);
        List<String[]> photos = new ArrayList<>();   // {images/<wnid>/<stem>.jpg, masks/<wnid>/<stem>.png}, tabby first
        try (var files = Files.walk(dir.resolve("images"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".jpg")).sorted().toList()) {
                String rel = dir.relativize(f).toString(), mask = rel.replaceFirst("^images/", "masks/").replace(".jpg", ".png");
                if (rel.contains("tabby")) photos.addFirst(new String[]{rel, mask});
                else photos.add(new String[]{rel, mask});
            }
        }
        try (Server s = Server.start(Server.Options.defaults().withPort(0).withResults(dir.resolve("results")),
                new Server.Engine(Backends.get("cpu"), EditRequest.Models.NONE, null, null, null))) {
            HttpClient http = HttpClient.newHttpClient();
            String url = s.url() + "api/edit";
            String[] first = photos.getFirst();
            for (int i = 0; i < 10; i++) post(http, url, dir, first, String.format(Locale.ROOT, "size=%.2f", 0.06 + 0.01 * (i % 5)), i);   // JIT warm-up
            List<double[]> cold = new ArrayList<>(), warm = new ArrayList<>();
            for (String[] p : photos.subList(1, photos.size())) cold.add(post(http, url, dir, p, "size=0.05", 0));
            for (int i = 0; i < repeats; i++) warm.add(post(http, url, dir, first, String.format(Locale.ROOT, "size=%.3f", 0.05 + 0.001 * (i % 10)), 100 + i));
            report("first edit of a photo (hole filled)", cold);
            report("next edits of the same photo (fill cached)", warm);
        }
    }

    /** One edit: {client seconds, server seconds}. */
    static double[] post(HttpClient http, String url, Path dir, String[] photo, String edits, long seed) throws Exception {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        part(body, "image", Path.of(photo[0]).getFileName().toString(), Files.readAllBytes(dir.resolve(photo[0])));
        part(body, "mask", Path.of(photo[1]).getFileName().toString(), Files.readAllBytes(dir.resolve(photo[1])));
        part(body, "edits", null, edits.getBytes(StandardCharsets.UTF_8));
        part(body, "seed", null, Long.toString(seed).getBytes(StandardCharsets.UTF_8));
        body.writeBytes(("--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest r = HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build();
        long t0 = System.nanoTime();
        HttpResponse<String> resp = http.send(r, HttpResponse.BodyHandlers.ofString());
        double client = (System.nanoTime() - t0) / 1e9;
        if (resp.statusCode() != 200) throw new IllegalStateException(photo[0] + " " + edits + ": " + resp.statusCode() + " " + resp.body());
        Matcher m = SECONDS.matcher(resp.body());
        if (!m.find()) throw new IllegalStateException("no seconds in " + resp.body());
        return new double[]{client, Double.parseDouble(m.group(1))};
    }

    private static void part(ByteArrayOutputStream out, String name, String file, byte[] data) {
        out.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"" + name + "\""
                + (file == null ? "" : "; filename=\"" + file + "\"") + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        out.writeBytes(data);
        out.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
    }

    static void report(String what, List<double[]> t) {
        double[] c = t.stream().mapToDouble(x -> x[0]).sorted().toArray(), s = t.stream().mapToDouble(x -> x[1]).sorted().toArray();
        System.out.printf(Locale.ROOT, "%s, %d edits: round trip median %.0f ms (%.0f-%.0f), server %.0f ms median%n", what, t.size(),
                1e3 * median(c), 1e3 * c[0], 1e3 * c[c.length - 1], 1e3 * median(s));
    }

    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private ServeLatencyMain() {}
}
