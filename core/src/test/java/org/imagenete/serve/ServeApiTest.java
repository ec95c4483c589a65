package org.imagenete.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.edit.EditRequest;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP API of {@code imagenet-e serve} against a real server on a free loopback port: the edit and its bytes
 * (the same as {@code imagenet-e edit}'s), and each safety rule of the issue with a hostile request.
 */
class ServeApiTest {
    @TempDir static Path tmp;
    static Server server;
    static Client client;
    static Ops ops;


    static Server start(Server.Options o) throws IOException {
        return Server.start(o, new Server.Engine(ops, EditRequest.Models.NONE, null, null, null));
    }

    @BeforeAll
    static void up() throws IOException {
        ops = Backends.get("cpu");
        server = start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")));
        client = new Client(server);
    }

    @AfterAll
    static void down() {
        if (server != null) server.close();
    }


    @Test
    void pageLoadsAndASizeEditAchievesItsRatioWithinOnePercent() throws Exception {
        Client.Response page = client.get("/");
        assertEquals(200, page.status());
        assertTrue(page.text().contains("<title>imagenet-e editor</title>"), page.text());
        assertTrue(page.header("Content-Security-Policy").contains("default-src 'self'"));
        assertEquals("nosniff", page.header("X-Content-Type-Options"));
        assertEquals(200, client.get("/app.js").status());
        assertEquals(200, client.get("/app.css").status());
        JsonNode info = client.get("/api/info").json();
        assertEquals(256, info.get("size").asInt());
        assertEquals(6, client.get("/api/demos").json().size());

        Client.Response r = client.post("/api/edit", Client.tabby("edits", "size=0.05", "seed", "3"));
        assertEquals(200, r.status(), r.toString());
        JsonNode j = r.json();
        assertTrue(j.get("image").asText().matches("/results/[0-9a-f]{32}/0\\.png"), j.toString());
        Client.Response mask = client.get(j.get("mask").asText());
        assertEquals(200, mask.status());
        assertEquals("image/png", mask.header("Content-Type"));
        Path mp = tmp.resolve("fetched.mask.png");
        Files.write(mp, mask.body());
        Mask m = Masks.read(mp, new MaskSource.Binary());
        assertEquals(256, m.width());
        assertEquals(0.05, m.areaRatio(), 0.01 * 0.05, "achieved ratio of the served mask");
        assertEquals(m.areaRatio(), j.get("sidecar").get("values").get("ratio_achieved").asDouble(), 1e-12);
        RgbImage img = Images.decode(client.get(j.get("image").asText()).body(), null);
        assertEquals(256, img.width());
        assertTrue(client.get(j.get("sidecar_url").asText()).header("Content-Disposition").contains("tabby_1.size-0.05.json"));
    }

    /** The server's outputs are the bytes {@code imagenet-e edit} writes for the same inputs (also from the fill cache). */
    @Test
    void sameInputsGiveTheBytesOfTheEditCommand() throws Exception {
        Path out = tmp.resolve("edit-cli");
        Cli.Run run = Cli.run("edit", Client.animal("tabby_1.jpg").toString(), "--mask", Client.animal("masks/tabby_1.png").toString(),
                "--set", "size=0.08", "--set", "direction=30,position", "--seed", "5", "--label", "n02123045", "--backend", "cpu",
                "--out", out.toString());
        assertEquals(0, run.code(), run.err());
        for (int attempt = 0; attempt < 2; attempt++) {   // the second answer comes from the fill cache
            Client.Response r = client.post("/api/edit", Client.tabby("edits", "size=0.08", "edits", "direction=30,position", "seed", "5",
                    "label", "n02123045"));
            assertEquals(200, r.status(), r.toString());
            JsonNode results = r.json().get("results");
            assertEquals(2, results.size());
            for (JsonNode res : results) {
                String base = res.get("name").asText();
                assertArrayEquals(Files.readAllBytes(out.resolve(base + ".png")), client.get(res.get("image").asText()).body(), base + ".png");
                assertArrayEquals(Files.readAllBytes(out.resolve(base + ".mask.png")), client.get(res.get("mask").asText()).body(), base + ".mask.png");
                ObjectNode cli = (ObjectNode) Golden.json(out.resolve(base + ".json"));
                ObjectNode served = (ObjectNode) new Client.Response(200, java.util.Map.of(), client.get(res.get("sidecar_url").asText()).body()).json();
                // the only difference: edit records the paths it was given, the server the uploads' names
                assertEquals("tabby_1.jpg", served.get("source").get("image").asText());
                assertEquals("tabby_1.png", served.get("source").get("mask").asText());
                for (ObjectNode o : List.of(cli, served)) {
                    ((ObjectNode) o.get("source")).remove("image");
                    ((ObjectNode) o.get("source")).remove("mask");
                }
                assertEquals(cli, served, base + ".json");
            }
        }
    }

    @Test
    void traversalPlainOrEncodedIsANotFound() throws Exception {
        Path secret = tmp.resolve("secret.txt"), inside = tmp.resolve("results/secret.txt");
        Files.writeString(secret, "TOP-SECRET-1");
        Files.writeString(inside, "TOP-SECRET-2");
        String id = client.post("/api/edit", Client.tabby("edits", "size=0.1")).json().get("id").asText();
        List<String> paths = List.of(
                "/results/" + id + "/../../secret.txt", "/results/" + id + "/../secret.txt", "/results/../secret.txt",
                "/results/" + id + "/..%2f..%2fsecret.txt", "/results/" + id + "/%2e%2e/%2e%2e/secret.txt",
                "/results/%2e%2e/secret.txt", "/results/" + id + "/..%252f..%252fsecret.txt", "/results/" + id + "/..\\..\\secret.txt",
                "/results/" + id + "/%2e%2e%5c%2e%2e%5csecret.txt", "/results/" + id + "/0.png/../../../secret.txt",
                "/results/" + id + "/./0.png", "/results/" + id + "//0.png", "/results/" + id + "/0%2epng",
                "/../secret.txt", "/%2e%2e/secret.txt", "/app.js/../../secret.txt", "/demo/..%2f..%2f..%2fpom.xml/image",
                "/demo/tabby_1/../../../pom.xml", "/bench/files/..%2f..%2fsecret.txt", "/results/secret.txt",
                "/results/" + id + "/secret.txt", "/results/" + id.toUpperCase() + "/0.png", "/results/" + id + "/0.png%00.txt",
                "/results/" + id + "/" + tmp.resolve("secret.txt"), "/results/" + id + "/C:%5csecret.txt");
        for (String p : paths) {
            Client.Response r = client.raw("GET " + p + " HTTP/1.1\r\nHost: 127.0.0.1:" + client.address.getPort());
            assertTrue(r.status() == 404 || r.status() == 400, p + " -> " + r);
            assertFalse(r.text().contains("TOP-SECRET"), p);
        }
        assertEquals(200, client.raw("GET /results/" + id + "/0.png HTTP/1.1\r\nHost: 127.0.0.1").status(), "the plain name is served");
    }

    /** 300 MB, declared or chunked, is refused with a 413 long before it is all sent; the server goes on. */
    @Test
    void aThreeHundredMegabyteUploadIsRefusedAndTheServerKeepsServing() throws Exception {
        long total = 300L << 20;
        for (boolean chunked : new boolean[]{false, true}) {
            try (Socket s = new Socket(client.address.getAddress(), client.address.getPort())) {
                s.setSoTimeout(60_000);
                OutputStream out = s.getOutputStream();
                out.write(("POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=" + Client.BOUNDARY + "\r\n"
                        + (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + total + "\r\n") + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                AtomicLong sent = new AtomicLong();
                AtomicBoolean stop = new AtomicBoolean();
                Thread writer = Thread.ofPlatform().start(() -> {
                    byte[] block = new byte[1 << 16];
                    java.util.Arrays.fill(block, (byte) 'x');
                    byte[] head = (Integer.toHexString(block.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
                    try {
                        while (!stop.get() && sent.get() < total) {
                            if (chunked) out.write(head);
                            out.write(block);
                            if (chunked) out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
                            sent.addAndGet(block.length);
                        }
                    } catch (IOException closed) {
                        // the server closed the connection after refusing: what it should do
                    }
                });
                InputStream in = s.getInputStream();
                String status = readLine(in);
                long atAnswer = sent.get();
                stop.set(true);
                assertTrue(status.startsWith("HTTP/1.1 413"), (chunked ? "chunked: " : "declared: ") + status);
                assertTrue(atAnswer < 100L << 20, "answered after " + (atAnswer >> 20) + " MB were sent");
                String rest = readRest(in);
                assertTrue(rest.contains("over the limit of 25 MB"), rest);
                s.close();
                writer.join(60_000);
                System.out.printf("300 MB upload (%s): 413 after %d MB sent%n", chunked ? "chunked" : "Content-Length", atAnswer >> 20);
            }
            assertEquals(200, client.get("/api/info").status(), "still serving");
        }
        assertEquals(200, client.post("/api/edit", Client.tabby("edits", "size=0.1")).status(), "still editing");
    }

    /** The rest of a response head and its body (by Content-Length), without waiting for the connection to close. */
    private static String readRest(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        int length = 0;
        for (String l; !(l = readLine(in)).isEmpty(); ) {
            head.append(l).append('\n');
            if (l.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) length = Integer.parseInt(l.substring(15).strip());
        }
        return head + new String(in.readNBytes(length), StandardCharsets.UTF_8);
    }

    /**
     * A client that declares 300 MB, sends 128 KB and waits: refused at once, and the connection closed (the JDK's
     * server discards at most 64 KB of an unread body), not left open waiting for the rest.
     */
    @Test
    void aRefusedUploadClosesTheConnection() throws Exception {
        try (Socket s = new Socket(client.address.getAddress(), client.address.getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(("POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=" + Client.BOUNDARY
                    + "\r\nContent-Length: " + (300L << 20) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().write(new byte[128 << 10]);
            InputStream in = s.getInputStream();
            assertTrue(readLine(in).startsWith("HTTP/1.1 413"));
            assertTrue(readRest(in).contains("over the limit"));
            int next;
            try {
                next = in.read();
            } catch (java.net.SocketException reset) {
                next = -1;   // closed with our unread bytes in its buffer: a reset, also closed
            }
            assertEquals(-1, next, "the server closed the connection");
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c; (c = in.read()) >= 0 && c != '\n'; ) if (c != '\r') sb.append((char) c);
        return sb.toString();
    }

    @Test
    void onlyImagesAreDecoded() throws Exception {
        byte[] html = "<html><script>alert(1)</script></html>".getBytes(StandardCharsets.UTF_8);
        byte[] svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".getBytes(StandardCharsets.UTF_8);
        byte[] gif = "GIF89a\u0001\u0000\u0001\u0000\u0000\u0000\u0000;".getBytes(StandardCharsets.ISO_8859_1);
        for (byte[] bad : List.of(html, svg, gif, new byte[0])) {
            Client.Response r = client.post("/api/edit", List.of(new Client.Part("image", "cat.jpg", "image/jpeg", bad),
                    Client.Part.file("mask", Client.animal("masks/tabby_1.png"), "image/png"), Client.Part.text("edits", "size=0.05")));
            assertEquals(415, r.status(), r.toString());
            assertTrue(r.json().get("error").asText().contains("not an image (JPEG, PNG or WebP)"), r.toString());
        }
        Client.Response jpegMask = client.post("/api/edit", Client.upload(Client.animal("tabby_1.jpg"), Client.animal("tabby_1.jpg"), "edits", "size=0.05"));
        assertEquals(415, jpegMask.status(), jpegMask.toString());
        assertTrue(jpegMask.json().get("error").asText().contains("masks must be PNG"));
        // a 100-byte PNG that claims 60000 x 60000 pixels: refused from its header, nothing allocated
        byte[] bomb = pngHeader(60000, 60000);
        Client.Response big = client.post("/api/edit", List.of(new Client.Part("image", "bomb.png", "image/png", bomb),
                Client.Part.file("mask", Client.animal("masks/tabby_1.png"), "image/png"), Client.Part.text("edits", "size=0.05")));
        assertEquals(413, big.status(), big.toString());
        assertTrue(big.json().get("error").asText().contains("3600 megapixels is over the limit of 50"), big.toString());
        Client.Response notForm = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(client.base + "/api/edit"))
                .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString("{}")).build());
        assertEquals(415, notForm.status());
        Client.Response unknown = client.post("/api/edit", Client.tabby("edits", "size=0.05", "path", "/etc/passwd"));
        assertEquals(400, unknown.status());
        assertTrue(unknown.json().get("error").asText().contains("unknown form field 'path'"));
        Client.Response badEdit = client.post("/api/edit", Client.tabby("edits", "colour=red"));
        assertEquals(400, badEdit.status());
        assertTrue(badEdit.json().get("error").asText().contains("unknown edit 'colour'"), badEdit.toString());
        Client.Response fileFill = client.post("/api/edit", Client.tabby("edits", "size=0.05", "fill", "/etc/passwd"));
        assertEquals(400, fileFill.status(), "a fill never names a file");
    }

    static byte[] pngHeader(int w, int h) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(100);
        b.put(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'});
        b.putInt(w).putInt(h).put(new byte[]{8, 2, 0, 0, 0});
        return b.array();
    }

    @Test
    void resultIdsAreOpaqueAndUnrelated() throws Exception {
        JsonNode a = client.post("/api/edit", Client.tabby("edits", "size=0.1")).json(), b = client.post("/api/edit", Client.tabby("edits", "size=0.1")).json();
        String ia = a.get("id").asText(), ib = b.get("id").asText();
        assertTrue(ia.matches("[0-9a-f]{32}") && ib.matches("[0-9a-f]{32}"));
        assertNotEquals(ia, ib);
        int same = 0;
        for (int i = 0; i < 32; i++) if (ia.charAt(i) == ib.charAt(i)) same++;
        assertTrue(same < 12, "ids share " + same + " of 32 digits: not random");
        assertEquals(404, client.get("/results/" + "0".repeat(32) + "/0.png").status());
        assertEquals(404, client.get("/api/jobs/" + "f".repeat(32)).status());
        assertEquals(200, client.get("/results/" + ia + "/original.png").status());
    }

    @Test
    void stateChangingRequestsAreSameOriginOnlyAndTheHostMustBeThisServer() throws Exception {
        String origin = "http://127.0.0.1:" + client.address.getPort();
        Client.Response evil = client.post("/api/edit", Client.tabby("edits", "size=0.1"), "Origin", "http://evil.example");
        assertEquals(403, evil.status(), evil.toString());
        assertTrue(evil.json().get("error").asText().contains("cross-origin"));
        assertEquals(403, client.post("/api/edit", Client.tabby("edits", "size=0.1"), "Origin", "null").status());
        assertEquals(403, client.post("/api/edit", Client.tabby("edits", "size=0.1"), "Sec-Fetch-Site", "cross-site").status());
        assertEquals(403, client.post("/api/edit", Client.tabby("edits", "size=0.1"), "Sec-Fetch-Site", "same-site").status());
        assertEquals(200, client.post("/api/edit", Client.tabby("edits", "size=0.1"), "Origin", origin, "Sec-Fetch-Site", "same-origin").status());
        // a job cannot be cancelled or deleted from another site either
        String id = client.post("/api/edit", Client.tabby("edits", "size=0.1")).json().get("id").asText();
        assertEquals(403, client.raw("POST /api/jobs/" + id + "/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nContent-Length: 0").status());
        assertEquals(403, client.raw("DELETE /api/jobs/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site").status());
        assertEquals(200, client.get("/api/jobs/" + id).status());
        // DNS rebinding: another name that resolves here is not this server, for reads too
        Client.Response rebound = client.raw("GET /api/info HTTP/1.1\r\nHost: evil.example:" + client.address.getPort());
        assertEquals(403, rebound.status());
        assertEquals(200, client.raw("GET /api/info HTTP/1.1\r\nHost: localhost:" + client.address.getPort()).status());
        assertEquals(405, client.raw("PUT /api/edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0").status());
    }

    /** One edit runs, {@code queue} wait; the rest get a 503 at once (before their bodies are read); all others finish. */
    @Test
    void aFullQueueAnswers503() throws Exception {
        try (Server s = start(Server.Options.defaults().withPort(0).withQueue(1).withResults(tmp.resolve("queue")))) {
            Client c = new Client(s);
            List<String> many = new ArrayList<>();
            for (int i = 0; i < 24; i++) many.addAll(List.of("edits", String.format(java.util.Locale.ROOT, "size=%.3f,direction=%d", 0.05 + 0.002 * i, i)));
            List<Client.Part> parts = Client.tabby(many.toArray(String[]::new));
            ExecutorService pool = Executors.newFixedThreadPool(6);
            List<Future<Client.Response>> fs = new ArrayList<>();
            for (int i = 0; i < 6; i++) fs.add(pool.submit(() -> c.post("/api/jobs", parts)));
            List<Client.Response> rs = new ArrayList<>();
            for (var f : fs) rs.add(f.get());
            pool.shutdown();
            long accepted = rs.stream().filter(r -> r.status() == 202).count(), busy = rs.stream().filter(r -> r.status() == 503).count();
            assertEquals(6, accepted + busy, rs.toString());
            assertTrue(busy >= 1 && accepted >= 2 && accepted <= 2 + 1, "accepted " + accepted + ", busy " + busy);
            for (Client.Response r : rs)
                if (r.status() == 503) {
                    assertTrue(r.json().get("error").asText().startsWith("busy"), r.toString());
                    assertEquals("2", r.header("Retry-After"));
                }
            for (Client.Response r : rs) {
                if (r.status() != 202) continue;
                JsonNode st = awaitJob(c, r.json().get("job").asText());
                assertEquals("done", st.get("state").asText(), st.toString());
            }
            assertEquals(200, c.post("/api/edit", Client.tabby("edits", "size=0.1")).status(), "the queue drained");
        }
    }

    static JsonNode awaitJob(Client c, String id) throws Exception {
        for (int i = 0; i < 1200; i++) {
            JsonNode st = c.get("/api/jobs/" + id).json();
            if (!st.get("state").asText().matches("queued|running")) return st;
            Thread.sleep(100);
        }
        throw new AssertionError("job " + id + " did not finish");
    }

    @Test
    void resultsExpireAndTheirSpaceIsReclaimed() throws Exception {
        Path root = tmp.resolve("expiry");
        // left by a server that was killed: deleted at start; anything else in the folder is not ours and stays
        Path stale = Files.createDirectories(root.resolve("0123456789abcdef0123456789abcdef"));
        Files.writeString(stale.resolve("0.png"), "old");
        Files.writeString(root.resolve("mask-123.png"), "old");
        Files.writeString(root.resolve("notes.txt"), "mine");
        long oneJob;
        try (Server s = start(Server.Options.defaults().withPort(0).withKeep(Duration.ofSeconds(1), 1L << 30).withResults(root))) {
            assertFalse(Files.exists(stale) || Files.exists(root.resolve("mask-123.png")), "stale results deleted at start");
            Files.delete(root.resolve("notes.txt"));
            Client c = new Client(s);
            JsonNode j = c.post("/api/edit", Client.tabby("edits", "size=0.1")).json();
            assertEquals(200, c.get(j.get("image").asText()).status());
            oneJob = du(root);
            assertTrue(oneJob > 10_000, "results written: " + oneJob);
            long t0 = System.nanoTime();
            while (c.get(j.get("image").asText()).status() != 404 && System.nanoTime() - t0 < 20e9) Thread.sleep(100);
            assertEquals(404, c.get(j.get("image").asText()).status(), "expired");
            assertEquals(0, du(root), "space reclaimed");
            try (Stream<Path> l = Files.list(root)) {
                assertEquals(0, l.count());
            }
        }
        // over the size cap the oldest results go first
        try (Server s = start(Server.Options.defaults().withPort(0).withKeep(Duration.ofHours(1), oneJob * 3 / 2).withResults(tmp.resolve("cap")))) {
            Client c = new Client(s);
            JsonNode first = c.post("/api/edit", Client.tabby("edits", "size=0.1")).json();
            JsonNode second = c.post("/api/edit", Client.tabby("edits", "size=0.08")).json();
            s.sweep();
            assertEquals(404, c.get(first.get("image").asText()).status(), "the oldest went");
            assertEquals(200, c.get(second.get("image").asText()).status(), "the newest stays");
        }
    }

    static long du(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    @Test
    void aFailingEditIsAJsonErrorAndTheServerGoesOn() throws Exception {
        Client.Response tooBig = client.post("/api/edit", Client.upload(Client.animal("lesser_panda_1.jpg"), Client.animal("masks/lesser_panda_1.png"), "edits", "size=0.9"));
        assertEquals(422, tooBig.status(), tooBig.toString());
        assertTrue(tooBig.json().get("error").asText().matches(".*(does not fit|unreachable).*"), tooBig.toString());
        Client.Response wrongMask = client.post("/api/edit", Client.upload(Client.animal("koala_1.jpg"), Client.animal("masks/tabby_1.png"), "edits", "size=0.05"));
        assertEquals(400, wrongMask.status(), wrongMask.toString());
        String why = wrongMask.json().get("error").asText();
        assertTrue(why.startsWith("tabby_1.png") && why.matches(".*\\d+x\\d+.*\\d+x\\d+.*"), why);
        assertFalse(why.contains(tmp.toString()), "no server path in the message: " + why);
        Client.Response noModel = client.post("/api/edit", Client.tabby("edits", "background=20"));
        assertEquals(400, noModel.status());
        assertTrue(noModel.json().get("error").asText().contains("--weights"));
        Client.Response empty = client.post("/api/edit", List.of(Client.Part.file("image", Client.animal("tabby_1.jpg"), "image/jpeg"),
                new Client.Part("mask", "empty.png", "image/png", emptyMask()), Client.Part.text("edits", "size=0.05")));
        assertEquals(400, empty.status(), empty.toString());
        assertTrue(empty.json().get("error").asText().contains("empty mask"), empty.toString());
        Client.Response broken = client.raw("POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                + "Content-Length: 12", "not a form!!");
        assertEquals(400, broken.status(), broken.toString());
        assertEquals(200, client.post("/api/edit", Client.tabby("edits", "size=0.1")).status(), "still editing");
    }

    private static byte[] emptyMask() throws IOException {
        RgbImage img = Images.read(Client.animal("tabby_1.jpg"));
        Path p = tmp.resolve("empty.png");
        Masks.write(Mask.of(img.width(), img.height(), new boolean[img.width() * img.height()]), p);
        return Files.readAllBytes(p);
    }

    @Test
    void itListensOnLoopbackOnlyByDefault() throws Exception {
        assertEquals("127.0.0.1", Server.Options.defaults().host());
        assertTrue(server.address().getAddress().isLoopbackAddress());
        assertTrue(server.url().startsWith("http://127.0.0.1:"));
        InetAddress other = null;
        for (NetworkInterface ni : NetworkInterface.networkInterfaces().toList())
            for (InetAddress a : ni.inetAddresses().toList())
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) other = a;
        org.junit.jupiter.api.Assumptions.assumeTrue(other != null, "no non-loopback IPv4 address on this machine to try");
        InetAddress addr = other;
        assertThrows(ConnectException.class, () -> new Socket(addr, server.address().getPort()).close(),
                "connecting through " + addr + " must be refused");
    }

    /** The command itself: {@code imagenet-e serve --port 0} in its own JVM prints a loopback URL whose page loads. */
    @Test
    void theServeCommandPrintsItsLoopbackUrl() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                "org.imagenete.cli.Main", "serve", "--port", "0", "--backend", "cpu", "--results", tmp.resolve("cli-results").toString()));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            String url = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
            assertNotNull(url, "serve printed nothing");
            assertTrue(url.matches("http://127\\.0\\.0\\.1:\\d+/"), url);
            var http = java.net.http.HttpClient.newHttpClient();
            var page = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, page.statusCode());
            assertTrue(page.body().contains("imagenet-e editor"));
        } finally {
            p.destroy();
            p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
            p.destroyForcibly();
        }
        Cli.Run taken = Cli.run("serve", "--port", Integer.toString(server.address().getPort()), "--backend", "cpu");
        assertEquals(1, taken.code());
        assertTrue(taken.err().contains("127.0.0.1:" + server.address().getPort() + ": Address already in use"), taken.err());
        Cli.Run bad = Cli.run("serve", "--port", "70000");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--port 70000 outside 0..65535"), bad.err());
    }
}
