package org.imagenete.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.edit.EditRequest;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.eval.ResNetClassifier;
import org.imagenete.image.Images;
import org.imagenete.image.RgbImage;
import org.imagenete.io.Checksums;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server with models: diffusion edits (the tiny formula-weight ADM at 32x32) streaming their steps as
 * server-sent events and cancelled midway, their bytes against {@code edit}'s; a classifier's top-5 and CAMs;
 * the benchmark browser.
 */
class ServeModelsTest {
    @TempDir Path tmp;

    static final Path TINY = Golden.golden("adm-tiny/weights.pt");


    record Event(String type, JsonNode data) {}

    /** The events of a job, read as they come (the call returns at the terminal event). */
    static List<Event> events(Client c, String url, java.util.function.Consumer<Event> each) throws Exception {
        HttpResponse<Stream<String>> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(c.base + url)).build(),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<Event> out = new ArrayList<>();
        String type = null;
        try (Stream<String> lines = r.body()) {
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                String l = it.next();
                if (l.startsWith("event: ")) type = l.substring(7);
                else if (l.startsWith("data: ")) {
                    Event e = new Event(type, new ObjectMapper().readTree(l.substring(6)));
                    out.add(e);
                    each.accept(e);
                    if (type.matches("done|error|cancelled")) break;
                }
            }
        }
        return out;
    }

    static Server tinyServer(Path results, Ops ops, Adm adm) throws Exception {
        var models = new EditRequest.Models(adm, TINY.toString(), Checksums.sha256(TINY), null, null, null);
        return Server.start(Server.Options.defaults().withPort(0).withSize(32).withResults(results), new Server.Engine(ops, models, null, null, null));
    }


    @Test
    void diffusionEditsStreamTheirStepsCanBeCancelledAndGiveTheBytesOfEdit() throws Exception {
        Ops ops = Backends.get("cpu");
        try (Adm adm = Adm.open(TINY, Map.of("num_head_channels", "8")); Server s = tinyServer(tmp.resolve("results"), ops, adm)) {
            Client c = new Client(s);
            assertTrue(c.get("/api/info").json().get("fills").toString().contains("diffusion"));
            // progress: queued, started, one event per step, done with the result
            Client.Response sub = c.post("/api/jobs", Client.tabby("edits", "background=20", "steps", "3", "seed", "7"));
            assertEquals(202, sub.status(), sub.toString());
            List<Event> evs = events(c, sub.json().get("events").asText(), e -> { });
            List<String> types = evs.stream().map(Event::type).toList();
            assertEquals(List.of("queued", "started", "progress", "progress", "progress", "done"), types, evs.toString());
            for (int k = 0; k < 3; k++) {
                assertEquals(k + 1, evs.get(2 + k).data().get("step").asInt());
                assertEquals(3, evs.get(2 + k).data().get("steps").asInt());
            }
            JsonNode result = evs.getLast().data();
            RgbImage out = Images.decode(c.get(result.get("image").asText()).body(), null);
            assertEquals(32, out.width());
            assertEquals(20.0, result.get("sidecar").get("values").get("lambda").asDouble());
            // the same bytes as imagenet-e edit with the same model and options
            Path cli = tmp.resolve("edit-cli");
            Cli.Run run = Cli.run("edit", Client.animal("tabby_1.jpg").toString(), "--mask", Client.animal("masks/tabby_1.png").toString(), "--set", "background=20",
                    "--steps", "3", "--seed", "7", "--size", "32", "--weights", TINY.toString(), "--num-head-channels", "8", "--backend", "cpu",
                    "--out", cli.toString());
            assertEquals(0, run.code(), run.err());
            assertArrayEquals(Files.readAllBytes(cli.resolve("tabby_1.background+20.png")), c.get(result.get("image").asText()).body());
            assertArrayEquals(Files.readAllBytes(cli.resolve("tabby_1.background+20.mask.png")), c.get(result.get("mask").asText()).body());
            JsonNode sidecar = Golden.json(cli.resolve("tabby_1.background+20.json"));
            assertEquals(sidecar.get("model_sha256"), result.get("sidecar").get("model_sha256"));
            assertEquals(sidecar.get("values"), result.get("sidecar").get("values"));

            // cancel midway: after the first step of 100
            Client.Response longJob = c.post("/api/jobs", Client.tabby("edits", "background=20", "steps", "100"));
            assertEquals(202, longJob.status());
            String cancelUrl = longJob.json().get("cancel").asText();
            List<Event> cev = events(c, longJob.json().get("events").asText(), e -> {
                if (e.type().equals("progress") && e.data().get("step").asInt() == 1) {
                    try {
                        assertEquals(202, c.post(cancelUrl, List.of()).status());
                    } catch (Exception ex) {
                        throw new AssertionError(ex);
                    }
                }
            });
            assertEquals("cancelled", cev.getLast().type(), cev.toString());
            long steps = cev.stream().filter(e -> e.type().equals("progress")).count();
            assertTrue(steps >= 1 && steps < 100, steps + " steps ran");
            JsonNode st = c.get("/api/jobs/" + longJob.json().get("job").asText()).json();
            assertEquals("cancelled", st.get("state").asText());
            System.out.printf("cancelled after %d of 100 steps%n", steps);
            // a synchronous diffusion edit, and the server still edits after the cancel
            Client.Response sync = c.post("/api/edit", Client.tabby("edits", "background=-20", "steps", "2", "fill", "diffusion"));
            assertEquals(200, sync.status(), sync.toString());
            assertEquals("diffusion", sync.json().get("sidecar").get("fill").asText());
        }
    }

    @Test
    void aClassifierGivesTheTopFiveBeforeAndAfterWithCams() throws Exception {
        Ops ops = Backends.get("cpu");
        Path weights = Golden.formulaResNet(tmp.resolve("resnet18.safetensors"), 18);
        try (ResNetClassifier cls = ResNetClassifier.open(weights, ops);
             Server s = Server.start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")),
                     new Server.Engine(ops, new EditRequest.Models(null, null, null, cls.net(), weights.toString(), Checksums.sha256(weights)), cls, null, null))) {
            Client c = new Client(s);
            JsonNode info = c.get("/api/info").json();
            assertTrue(info.get("classifier").asText().startsWith("resnet18"), info.toString());
            assertTrue(info.get("adversarial").asBoolean());
            Client.Response r = c.post("/api/edit", Client.tabby("edits", "size=0.05", "edits", "direction=45", "label", "n02123045"));
            assertEquals(200, r.status(), r.toString());
            JsonNode j = r.json();
            checkTop5(j.get("classifier").get("top5"));
            assertEquals(2, j.get("results").size());
            List<JsonNode> shown = new ArrayList<>(List.of(j.get("classifier")));
            j.get("results").forEach(x -> shown.add(x.get("classifier")));
            for (JsonNode k : shown) {
                checkTop5(k.get("top5"));
                RgbImage cam = Images.decode(c.get(k.get("cam").asText()).body(), null);
                assertEquals(224, cam.width());
                assertEquals(224, cam.height());
            }
            assertFalse(j.get("results").get(0).get("classifier").get("top5").equals(j.get("results").get(1).get("classifier").get("top5")),
                    "different edits, different probabilities");
        }
    }

    /** An ONNX classifier gives the top-5 (no CAMs: the page shows none) and no adversarial edits. */
    @Test
    void anOnnxClassifierGivesTheTopFive() throws Exception {
        Ops ops = Backends.get("cpu");
        Path onnx = tmp.resolve("resnet18.onnx");
        try (ResNetClassifier native18 = ResNetClassifier.open(Golden.formulaResNet(tmp.resolve("resnet18.safetensors"), 18), ops)) {
            Files.write(onnx, native18.net().toOnnx());
        }
        try (OnnxClassifier cls = new OnnxClassifier(onnx, 0, false);
             Server s = Server.start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")),
                     new Server.Engine(ops, EditRequest.Models.NONE, cls, null, null))) {
            Client c = new Client(s);
            assertFalse(c.get("/api/info").json().get("adversarial").asBoolean());
            JsonNode j = c.post("/api/edit", Client.tabby("edits", "size=0.05")).json();
            checkTop5(j.get("classifier").get("top5"));
            checkTop5(j.get("results").get(0).get("classifier").get("top5"));
            assertFalse(j.get("classifier").has("cam"), "ONNX models give no CAM");
        }
    }

    static void checkTop5(JsonNode top5) {
        assertEquals(5, top5.size());
        double sum = 0, last = 1;
        for (JsonNode g : top5) {
            double p = g.get("p").asDouble();
            assertTrue(p > 0 && p <= last, top5.toString());
            last = p;
            sum += p;
            assertTrue(g.get("wnid").asText().matches("n\\d{8}"), g.toString());
            assertFalse(g.get("name").asText().isBlank());
        }
        assertTrue(sum <= 1 + 1e-9);
    }

    /** The automatic mask (ISNet, when installed): alone, and in an edit, whose bytes are those of {@code edit --auto-mask}. */
    @Test
    void automaticMasksWhenIsnetIsInstalled() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(org.imagenete.edit.automask.IsNetMasker.find().isPresent(),
                "ISNet not installed (scripts/install-isnet.sh)");
        try (Server s = Server.start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")),
                new Server.Engine(Backends.get("cpu"), EditRequest.Models.NONE, null, null, null))) {
            Client c = new Client(s);
            assertTrue(c.get("/api/info").json().get("automask").asBoolean());
            Client.Response m = c.post("/api/mask", List.of(Client.Part.file("image", Client.animal("tabby_1.jpg"), "image/jpeg")));
            assertEquals(200, m.status(), m.toString());
            double ratio = m.json().get("ratio").asDouble();
            assertTrue(ratio > 0.1 && ratio < 0.5, "tabby mask ratio " + ratio);
            RgbImage mask = Images.decode(c.get(m.json().get("mask").asText()).body(), null);
            assertEquals(Images.read(Client.animal("tabby_1.jpg")).width(), mask.width(), "the mask is at the photo's size");
            List<Client.Part> form = List.of(Client.Part.file("image", Client.animal("tabby_1.jpg"), "image/jpeg"),
                    Client.Part.text("auto_mask", "true"), Client.Part.text("edits", "size=0.05"), Client.Part.text("seed", "2"));
            Client.Response r = c.post("/api/edit", form);
            assertEquals(200, r.status(), r.toString());
            assertEquals("isnet", r.json().get("sidecar").get("source").get("mask").asText());
            Path cli = tmp.resolve("edit-auto");
            Cli.Run run = Cli.run("edit", Client.animal("tabby_1.jpg").toString(), "--auto-mask", "--set", "size=0.05", "--seed", "2",
                    "--backend", "cpu", "--out", cli.toString());
            assertEquals(0, run.code(), run.err());
            assertArrayEquals(Files.readAllBytes(cli.resolve("tabby_1.size-0.05.png")), c.get(r.json().get("image").asText()).body());
        }
    }

    @Test
    void aBenchmarkFolderIsBrowsedWithItsReport() throws Exception {
        Path images = tmp.resolve("in/images"), masks = tmp.resolve("in/masks"), bench = tmp.resolve("run/benchmark");
        for (String[] f : new String[][]{{"n02123045", "tabby_1"}, {"n01882714", "koala_1"}}) {
            Files.createDirectories(images.resolve(f[0]));
            Files.createDirectories(masks.resolve(f[0]));
            Files.copy(Client.animal(f[1] + ".jpg"), images.resolve(f[0]).resolve(f[1] + ".jpg"));
            Files.copy(Client.animal("masks/" + f[1] + ".png"), masks.resolve(f[0]).resolve(f[1] + ".png"));
        }
        Cli.Run g = Cli.run("generate", "--images", images.toString(), "--masks", masks.toString(), "--out", bench.toString(),
                "--variants", "size-0.10,direction+30", "--fill", "telea", "--backend", "cpu", "--quiet");
        assertEquals(0, g.code(), g.err());
        Files.writeString(tmp.resolve("secret.txt"), "TOP-SECRET");
        Files.writeString(bench.resolve("manifest.jsonl"), "{\"image\":\"evil\",\"variant\":\"x\",\"file\":\"../../secret.txt\"}\n",
                java.nio.file.StandardOpenOption.APPEND);
        Files.createDirectories(tmp.resolve("run/report"));
        Files.writeString(tmp.resolve("run/report/report.html"), "<!DOCTYPE html><title>report</title><p>accuracy</p>");
        try (Server s = Server.start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")),
                new Server.Engine(Backends.get("cpu"), EditRequest.Models.NONE, null, bench, null))) {
            Client c = new Client(s);
            assertTrue(c.get("/api/info").json().get("benchmark").asBoolean());
            JsonNode b = c.get("/api/benchmark").json();
            assertEquals(3, b.get("images").size(), b.toString());
            assertEquals("/bench/report", b.get("report").asText());
            int urls = 0;
            for (JsonNode img : b.get("images"))
                for (JsonNode v : img.get("variants")) {
                    if (img.get("image").asText().equals("evil")) {
                        assertFalse(v.has("url"), "a manifest path leaving the folder is not served");
                        continue;
                    }
                    RgbImage pic = Images.decode(c.get(v.get("url").asText()).body(), null);
                    assertEquals(256, pic.width());
                    urls++;
                }
            assertEquals(2 * 3, urls, "original and two variants of two images");
            assertEquals(404, c.get("/bench/files/99").status());
            Client.Response report = c.get("/bench/report");
            assertEquals(200, report.status());
            assertTrue(report.text().contains("accuracy"));
            assertTrue(report.header("Content-Security-Policy").startsWith("sandbox"));
            assertFalse(c.raw("GET /bench/files/..%2f..%2fsecret.txt HTTP/1.1\r\nHost: 127.0.0.1").text().contains("TOP-SECRET"));
        }
    }
}
