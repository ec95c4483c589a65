package org.imagenete.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.imagenete.edit.EditRequest;
import org.imagenete.edit.automask.IsNetMasker;
import org.imagenete.eval.Classifier;
import org.imagenete.image.RgbImage;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.ops.Ops;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * The web editor's HTTP server ({@code imagenet-e serve}): the page, the JSON API it uses, the results.
 *
 * <p>Built on the JDK's own {@code com.sun.net.httpserver} rather than a library: it is part of every JDK (no
 * dependency to keep up to date, nothing added to the jar), and a local, single-user editor needs no more than
 * what it gives: HTTP/1.1, streamed request and response bodies (server-sent events), our own executors. The
 * parts a framework would add are small here and written with the limits in view: the multipart parser reads
 * under the upload limit ({@link Multipart}), routing matches whole path segments against fixed patterns.
 *
 * <p>Safe by default: it binds the loopback address; uploads are limited in bytes and in pixels, and only JPEG,
 * PNG and WebP (told from their bytes) are decoded; no client-supplied string reaches the filesystem (results are
 * reached by 128-bit random ids and names this server chose; a path segment other than {@code [A-Za-z0-9._+-]}
 * or a dot segment is a 404, so {@code ..} and percent-encoded traversal are never resolved); state-changing
 * requests must be same-origin ({@code Origin}, {@code Sec-Fetch-Site}) and every request must name an allowed
 * host (DNS rebinding); edits run one at a time behind a bounded queue (503 when it is full, checked before the
 * body is read); results expire and their folders are deleted; a failing edit is a JSON error, never the end of
 * the server.
 */
public final class Server implements AutoCloseable {
    /**
     * @param host           the address to bind (127.0.0.1 unless asked otherwise)
     * @param port           0 for a free port
     * @param queue          edits that may wait while one runs; more get a 503
     * @param maxUploadBytes request bodies above this get a 413
     * @param maxPixels      images claiming more pixels get a 413 before they are decoded
     * @param keep           how long a finished result is kept
     * @param maxResultBytes results kept in all; the oldest go first above it
     * @param results        where results are written (null: a fresh temporary folder, deleted at close)
     * @param size           the working resolution of the edits (the diffusion model's)
     */
    public record Options(String host, int port, int queue, long maxUploadBytes, long maxPixels, Duration keep,
                          long maxResultBytes, Path results, int size) {
        public static Options defaults() {
            return new Options("127.0.0.1", 8765, 4, 25L << 20, 50_000_000L, Duration.ofMinutes(30), 2L << 30, null, 256);
        }

        public Options withPort(int p) { return new Options(host, p, queue, maxUploadBytes, maxPixels, keep, maxResultBytes, results, size); }

        public Options withHost(String h) { return new Options(h, port, queue, maxUploadBytes, maxPixels, keep, maxResultBytes, results, size); }

        public Options withQueue(int q) { return new Options(host, port, q, maxUploadBytes, maxPixels, keep, maxResultBytes, results, size); }

        public Options withKeep(Duration k, long maxBytes) { return new Options(host, port, queue, maxUploadBytes, maxPixels, k, maxBytes, results, size); }

        public Options withResults(Path r) { return new Options(host, port, queue, maxUploadBytes, maxPixels, keep, maxResultBytes, r, size); }

        public Options withSize(int s) { return new Options(host, port, queue, maxUploadBytes, maxPixels, keep, maxResultBytes, results, s); }
    }

    /**
     * What the edits run with. {@code classifier} (may be null) gives the top-5 and CAMs; {@code models.classifier()}
     * (a ResNet, may be null) the adversarial term; {@code benchmark} (may be null) a folder made by generate to browse.
     */
    public record Engine(Ops ops, EditRequest.Models models, Classifier classifier, Path benchmark, Path report) {}

    private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9._+-]+");
    private static final Set<String> LOOPBACK_NAMES = Set.of("localhost", "127.0.0.1", "[::1]");
    private static final String PAGE_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private final Options options;
    private final Engine engine;
    private final HttpServer http;
    private final Jobs jobs;
    private final Path root;
    private final boolean ownRoot;
    private final EditService edits;
    private final Semaphore slots;
    private final ExecutorService worker, handlers;
    private final ScheduledExecutorService reaper;
    private final Map<String, Page> pages = new LinkedHashMap<>();
    private final Map<String, Demo> demos = new LinkedHashMap<>();
    private final Benchmark benchmark;
    private final Set<String> allowedHosts;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
    private IsNetMasker isnet;

    private record Page(String type, byte[] body) {}

    /** A bundled demo photo: its resources, and its ImageNet class. */
    private record Demo(String stem, String file, String image, String mask, String wnid, int label, String className) {}

    private Server(Options o, Engine e) throws IOException {
        options = o;
        engine = e;
        ownRoot = o.results == null;
        root = ownRoot ? Files.createTempDirectory("imagenete-serve-") : Files.createDirectories(o.results);
        jobs = new Jobs(root, o.keep, o.maxResultBytes);
        if (!ownRoot) jobs.deleteStale();
        edits = new EditService(e.ops(), e.models(), e.classifier(), this::masker, o.size, o.maxPixels);
        slots = new Semaphore(1 + Math.max(0, o.queue));
        benchmark = e.benchmark() == null ? null : new Benchmark(e.benchmark(), e.report());
        for (String f : List.of("index.html", "app.js", "app.css"))
            pages.put(f.equals("index.html") ? "" : f, new Page(contentType(f), resource("web/" + f)));
        loadDemos();
        InetAddress bind = InetAddress.getByName(o.host);
        allowedHosts = new java.util.HashSet<>(LOOPBACK_NAMES);
        allowedHosts.add(o.host.toLowerCase(Locale.ROOT));
        allowedHosts.add(bind.getHostAddress().contains(":") ? "[" + bind.getHostAddress() + "]" : bind.getHostAddress());
        try {
            http = HttpServer.create(new InetSocketAddress(bind, o.port), 64);
        } catch (java.net.BindException ex) {
            if (ownRoot) Jobs.delete(root);
            throw new IllegalArgumentException(o.host + ":" + o.port + ": " + ex.getMessage() + " (another --port?)");
        }
        worker = Executors.newSingleThreadExecutor(r -> daemon(r, "imagenete-serve-edit"));
        handlers = Executors.newVirtualThreadPerTaskExecutor();
        reaper = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "imagenete-serve-expiry"));
        http.createContext("/", this::handle);
        http.setExecutor(handlers);
    }

    /** Starts a server; {@link #close} stops it and deletes its results. */
    public static Server start(Options o, Engine e) throws IOException {
        Server s = new Server(o, e);
        long period = Math.max(100, Math.min(30_000, o.keep.toMillis() / 4));
        s.reaper.scheduleWithFixedDelay(s::sweep, period, period, TimeUnit.MILLISECONDS);
        s.http.start();
        return s;
    }

    public InetSocketAddress address() { return http.getAddress(); }

    /** The page's URL (a literal loopback address when bound to one). */
    public String url() {
        InetSocketAddress a = address();
        String h = a.getAddress().isAnyLocalAddress() ? "127.0.0.1" : a.getAddress().getHostAddress();
        return "http://" + (h.contains(":") ? "[" + h + "]" : h) + ":" + a.getPort() + "/";
    }

    /** Removes expired results now (also done periodically). */
    public void sweep() {
        try {
            jobs.sweep();
        } catch (RuntimeException ex) {
            System.err.println("serve: cleaning results: " + ex.getMessage());
        }
    }

    @Override
    public void close() {
        if (closed.getAndSet(true)) return;
        http.stop(0);
        reaper.shutdownNow();
        worker.shutdownNow();
        handlers.shutdownNow();
        try {
            worker.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
        jobs.clear(ownRoot);
        if (isnet != null) isnet.close();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private synchronized IsNetMasker masker() {
        if (isnet == null && IsNetMasker.find().isPresent()) isnet = IsNetMasker.open();
        return isnet;
    }

    // ---- routing ----

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            try {
                checkHost(ex);
                route(ex);
            } catch (HttpError e) {
                Http.refuse(ex, e);
            } catch (IOException | RuntimeException e) {
                System.err.println("serve: " + ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath() + ": " + e);
                try {
                    Http.json(ex, 500, Http.error("internal error: " + e));
                } catch (IOException | RuntimeException answered) {
                    // the client went away, or the answer had begun (an event stream): nothing more to say
                }
            }
        }
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        if (path == null || !path.startsWith("/")) throw notFound();
        String[] seg = path.equals("/") ? new String[0] : path.substring(1).split("/", -1);
        for (String s : seg)
            if (!SEGMENT.matcher(s).matches() || s.equals(".") || s.equals("..")) throw notFound();
        String method = ex.getRequestMethod();
        boolean get = method.equals("GET") || method.equals("HEAD"), post = method.equals("POST");
        if (!get && !post && !method.equals("DELETE")) throw new HttpError(405, "method " + method + " not allowed");
        if (!get) checkSameOrigin(ex);
        String a = seg.length > 0 ? seg[0] : "";
        if (seg.length <= 1 && pages.containsKey(a)) {
            if (!get) throw new HttpError(405, "GET only");
            Page p = pages.get(a);
            ex.getResponseHeaders().set("Content-Security-Policy", PAGE_CSP);
            Http.bytes(ex, 200, p.type, p.body);
            return;
        }
        switch (a) {
            case "api" -> api(ex, seg, get, post);
            case "results" -> {
                if (!get || seg.length != 3) throw notFound();
                Job j = jobs.get(seg[1]);
                Job.Stored f = j == null ? null : j.files.get(seg[2]);
                if (f == null) throw notFound();
                ex.getResponseHeaders().set("Content-Disposition", "inline; filename=\"" + f.downloadName() + "\"");
                Http.bytes(ex, 200, f.contentType(), readResult(f));
            }
            case "demo" -> {
                Demo d = seg.length == 3 && get ? demos.get(seg[1]) : null;
                if (d == null || !(seg[2].equals("image") || seg[2].equals("mask"))) throw notFound();
                boolean img = seg[2].equals("image");
                ex.getResponseHeaders().set("Content-Disposition", "inline; filename=\"" + (img ? d.file : d.stem + ".png") + "\"");
                Http.bytes(ex, 200, img ? "image/jpeg" : "image/png", resource("/org/imagenete/demo/" + (img ? d.image : d.mask)));
            }
            case "bench" -> bench(ex, seg, get);
            default -> throw notFound();
        }
    }

    private void api(HttpExchange ex, String[] seg, boolean get, boolean post) throws IOException {
        String b = seg.length > 1 ? seg[1] : "";
        if (seg.length == 2 && get && b.equals("info")) Http.json(ex, 200, info());
        else if (seg.length == 2 && get && b.equals("demos")) Http.json(ex, 200, demoList());
        else if (seg.length == 2 && get && b.equals("benchmark")) {
            if (benchmark == null) throw new HttpError(404, "no benchmark: start serve with --benchmark DIR");
            Http.json(ex, 200, benchmark.listing());
        } else if (seg.length == 2 && post && (b.equals("edit") || b.equals("jobs"))) submit(ex, b.equals("jobs"));
        else if (seg.length == 2 && post && b.equals("mask")) mask(ex);
        else if (b.equals("jobs") && seg.length >= 3) {
            Job j = jobs.get(seg[2]);
            if (j == null) throw notFound();
            if (seg.length == 3 && get) Http.json(ex, 200, status(j));
            else if (seg.length == 3 && ex.getRequestMethod().equals("DELETE")) {
                j.cancel();
                jobs.remove(j);
                Http.json(ex, 200, Http.JSON.createObjectNode().put("deleted", j.id));
            } else if (seg.length == 4 && get && seg[3].equals("events")) events(ex, j);
            else if (seg.length == 4 && post && seg[3].equals("cancel")) {
                j.cancel();
                Http.json(ex, 202, status(j));
            } else throw notFound();
        } else throw notFound();
    }

    private void bench(HttpExchange ex, String[] seg, boolean get) throws IOException {
        if (benchmark == null || !get) throw notFound();
        if (seg.length == 2 && seg[1].equals("report") && benchmark.report() != null) {
            // the report is self-contained (inline style, data: images, one inline script): it runs sandboxed
            ex.getResponseHeaders().set("Content-Security-Policy",
                    "sandbox allow-scripts; default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
            Http.bytes(ex, 200, "text/html; charset=utf-8", Files.readAllBytes(benchmark.report()));
        } else if (seg.length == 3 && seg[1].equals("files") && seg[2].matches("\\d{1,9}")) {
            Path f = benchmark.file(Integer.parseInt(seg[2]));
            if (f == null) throw notFound();
            Http.bytes(ex, 200, "image/png", Files.readAllBytes(f));
        } else throw notFound();
    }

    private static HttpError notFound() { return new HttpError(404, "not found"); }

    // ---- the checks of every request ----

    /**
     * The Host header must name this server (a loopback name or the address it was bound to), so that a page on
     * another site whose name was made to resolve to 127.0.0.1 (DNS rebinding) cannot read or change anything. Bound
     * to a wildcard address, any host is accepted (the user chose to serve the network).
     */
    private void checkHost(HttpExchange ex) {
        if (address().getAddress().isAnyLocalAddress()) return;
        String host = ex.getRequestHeaders().getFirst("Host");
        if (host == null) throw new HttpError(400, "no Host header");
        String h = host.toLowerCase(Locale.ROOT);
        int colon = h.lastIndexOf(':');
        if (colon > h.lastIndexOf(']')) h = h.substring(0, colon);
        if (!allowedHosts.contains(h)) throw new HttpError(403, "host '" + host + "' is not this server (start serve with --host to serve it)");
    }

    /**
     * State-changing requests must come from this server's own page: a browser says where a request comes from
     * ({@code Sec-Fetch-Site}, and {@code Origin} on every POST); a cross-site one is refused. Clients that are not
     * browsers (curl, scripts) send neither and are let through: they cannot be made to act by another site.
     */
    private void checkSameOrigin(HttpExchange ex) {
        var h = ex.getRequestHeaders();
        String site = h.getFirst("Sec-Fetch-Site");
        if (site != null && !site.equals("same-origin") && !site.equals("none"))
            throw new HttpError(403, "cross-site request refused (Sec-Fetch-Site: " + site + ")");
        String origin = h.getFirst("Origin");
        if (origin != null && !origin.equalsIgnoreCase("http://" + h.getFirst("Host")))
            throw new HttpError(403, "cross-origin request refused (Origin: " + origin + ")");
    }

    // ---- edits ----

    /**
     * {@code POST /api/edit} (waits and answers with the result) and {@code POST /api/jobs} (answers 202 at once;
     * progress and the result come as server-sent events). A queue slot is taken before the body is read, so a full
     * queue costs the server no upload; the body is read under the limit, decoded and checked before it is queued.
     */
    private void submit(HttpExchange ex, boolean async) throws IOException {
        String boundary = Multipart.boundary(ex.getRequestHeaders().getFirst("Content-Type"));
        long declared = declaredLength(ex);
        Multipart.checkDeclared(declared, options.maxUploadBytes);
        if (!slots.tryAcquire())
            throw new HttpError(503, "busy: " + (options.queue + 1) + " edits running or queued, try again shortly");
        boolean queued = false;
        try {
            Form form = new Form(Multipart.parse(Multipart.readLimited(ex.getRequestBody(), declared, options.maxUploadBytes), boundary));
            EditService.Upload up = edits.image(form);
            var req = edits.request(form, up, root);
            Job job = jobs.create();
            job.event("queued", Http.JSON.createObjectNode().put("ahead", options.queue - slots.availablePermits()));
            worker.execute(() -> {
                try {
                    edits.run(job, req);
                } finally {
                    slots.release();
                    if (jobs.get(job.id) != job) Jobs.delete(job.dir);   // deleted while it ran
                }
            });
            queued = true;
            answer(ex, job, async);
        } catch (IllegalArgumentException | org.imagenete.image.ImageException e) {
            throw new HttpError(400, String.valueOf(e.getMessage()));
        } finally {
            if (!queued) slots.release();
        }
    }

    /** {@code POST /api/mask}: the automatic (ISNet) mask of an uploaded image, through the same queue. */
    private void mask(HttpExchange ex) throws IOException {
        String boundary = Multipart.boundary(ex.getRequestHeaders().getFirst("Content-Type"));
        long declared = declaredLength(ex);
        Multipart.checkDeclared(declared, options.maxUploadBytes);
        if (masker() == null) throw new HttpError(501, "the automatic masker is not installed (" + IsNetMasker.INSTALL_COMMAND + ")");
        if (!slots.tryAcquire()) throw new HttpError(503, "busy, try again shortly");
        boolean queued = false;
        try {
            Form form = new Form(Multipart.parse(Multipart.readLimited(ex.getRequestBody(), declared, options.maxUploadBytes), boundary));
            EditService.Upload up = edits.image(form);
            Job job = jobs.create();
            String stem = up.name().replaceFirst("\\.[^.]+$", "");
            RgbImage img = up.decoded();
            worker.execute(() -> {
                try {
                    edits.autoMask(job, img, stem);
                } finally {
                    slots.release();
                }
            });
            queued = true;
            answer(ex, job, false);
        } finally {
            if (!queued) slots.release();
        }
    }

    private void answer(HttpExchange ex, Job job, boolean async) throws IOException {
        if (async) {
            Http.json(ex, 202, status(job));
            return;
        }
        try {
            job.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpError(503, "server stopping");
        }
        Http.json(ex, job.status(), job.body());
    }

    private static long declaredLength(HttpExchange ex) {
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        if (cl == null) return -1;
        try {
            return Long.parseLong(cl.strip());
        } catch (NumberFormatException e) {
            throw new HttpError(400, "bad Content-Length " + cl);
        }
    }

    private ObjectNode status(Job j) {
        ObjectNode o = Http.JSON.createObjectNode();
        o.put("job", j.id);
        o.put("state", j.state().name().toLowerCase(Locale.ROOT));
        o.put("status", "/api/jobs/" + j.id);
        o.put("events", "/api/jobs/" + j.id + "/events");
        o.put("cancel", "/api/jobs/" + j.id + "/cancel");
        if (j.isFinished()) o.set("result", j.body());
        return o;
    }

    /** Server-sent events of a job: everything it has said so far, then each new event, until it ends. */
    private void events(HttpExchange ex, Job job) throws IOException {
        Http.common(ex, "text/event-stream; charset=utf-8");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        int sent = 0;
        try {
            while (true) {
                List<String> evs = job.eventsFrom(sent, 15_000);
                if (evs.isEmpty()) out.write(": waiting\n\n".getBytes(StandardCharsets.UTF_8));   // keeps proxies and browsers from timing out
                for (String e : evs) out.write(e.getBytes(StandardCharsets.UTF_8));
                out.flush();
                sent += evs.size();
                if (!evs.isEmpty() && job.isFinished() && job.eventsFrom(sent, 0).isEmpty()) break;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        out.close();
    }

    private byte[] readResult(Job.Stored f) throws IOException {
        try {
            return Files.readAllBytes(f.path());
        } catch (java.nio.file.NoSuchFileException e) {
            throw notFound();   // expired between the lookup and the read
        }
    }

    // ---- what the page shows ----

    private ObjectNode info() {
        ObjectNode o = Http.JSON.createObjectNode();
        o.put("tool", "imagenet-e 0.1.0");
        o.put("backend", engine.ops().name());
        o.put("size", options.size);
        o.put("model", engine.models().adm() != null ? engine.models().admName() : null);
        o.put("classifier", engine.classifier() != null ? engine.classifier().name() : null);
        o.put("adversarial", edits.hasAdversarial());
        o.put("automask", IsNetMasker.find().isPresent());
        o.set("fills", Http.JSON.valueToTree(edits.fills()));
        o.put("benchmark", benchmark != null);
        ObjectNode lim = o.putObject("limits");
        lim.put("upload_bytes", options.maxUploadBytes);
        lim.put("pixels", options.maxPixels);
        lim.put("queue", options.queue);
        lim.put("keep_seconds", options.keep.toSeconds());
        return o;
    }

    private ArrayNode demoList() {
        ArrayNode a = Http.JSON.createArrayNode();
        for (Demo d : demos.values())
            a.addObject().put("id", d.stem).put("file", d.file).put("wnid", d.wnid).put("label", d.label).put("class", d.className)
                    .put("image", "/demo/" + d.stem + "/image").put("mask", "/demo/" + d.stem + "/mask");
        return a;
    }

    /** The demo photos listed in the bundled files.txt, labelled by labels.csv. */
    private void loadDemos() {
        String base = "/org/imagenete/demo/";
        List<String> files = new String(resource(base + "files.txt"), StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("images/")).toList();
        ImageNetClasses names = ImageNetClasses.get();
        for (String f : files) {
            String[] p = f.split("/");   // images/<wnid>/<file>
            String stem = p[2].replaceFirst("\\.[^.]+$", "");
            var c = names.byWnid(p[1]);
            demos.put(stem, new Demo(stem, p[2], f, "masks/" + p[1] + "/" + stem + ".png", p[1], c == null ? -1 : c.index(),
                    c == null ? p[1] : c.shortName()));
        }
    }

    private static byte[] resource(String name) {
        String n = name.startsWith("/") ? name : "/org/imagenete/serve/" + name;
        try (InputStream in = Server.class.getResourceAsStream(n)) {
            if (in == null) throw new IllegalStateException("missing resource " + n);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String contentType(String f) {
        return f.endsWith(".html") ? "text/html; charset=utf-8" : f.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
    }
}
