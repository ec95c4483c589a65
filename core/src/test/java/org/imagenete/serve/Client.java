package org.imagenete.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.imagenete.testutil.Golden;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A test client of the server: JSON and multipart requests through the JDK's client, exact bytes through a socket. */
final class Client {
    record Response(int status, Map<String, List<String>> headers, byte[] body) {
        String text() { return new String(body, StandardCharsets.UTF_8); }

        JsonNode json() {
            try {
                return new ObjectMapper().readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (" + status + "): " + text(), e);
            }
        }

        String header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(e -> e.getValue().getFirst()).findFirst().orElse(null);
        }

        @Override public String toString() { return status + " " + (body.length < 2000 ? text() : body.length + " bytes"); }
    }

    /** One multipart field: a file when {@code filename} is set. */
    record Part(String name, String filename, String type, byte[] data) {
        static Part text(String name, String value) { return new Part(name, null, null, value.getBytes(StandardCharsets.UTF_8)); }

        static Part file(String name, Path file, String type) throws IOException {
            return new Part(name, file.getFileName().toString(), type, Files.readAllBytes(file));
        }
    }

    static final String BOUNDARY = "----imagenete-test-7d2f1c";

    static Path animal(String f) { return Golden.animals().resolve(f); }

    /** The form of an edit: an image and a mask file, then text fields given as name, value pairs. */
    static List<Part> upload(Path image, Path mask, String... fields) throws IOException {
        List<Part> parts = new ArrayList<>(List.of(Part.file("image", image, image.toString().endsWith(".png") ? "image/png" : "image/jpeg"),
                Part.file("mask", mask, "image/png")));
        for (int i = 0; i < fields.length; i += 2) parts.add(Part.text(fields[i], fields[i + 1]));
        return parts;
    }

    /** The tabby photo and its mask with the given fields. */
    static List<Part> tabby(String... fields) throws IOException { return upload(animal("tabby_1.jpg"), animal("masks/tabby_1.png"), fields); }

    final InetSocketAddress address;
    final String base;
    private final HttpClient http = HttpClient.newHttpClient();

    Client(Server s) {
        address = s.address();
        base = s.url().replaceAll("/$", "");
    }

    Response get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET().build());
    }

    Response post(String path, List<Part> parts, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(multipart(parts)));
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return send(b.build());
    }

    Response send(HttpRequest r) throws IOException, InterruptedException {
        HttpResponse<byte[]> resp = http.send(r, HttpResponse.BodyHandlers.ofByteArray());
        return new Response(resp.statusCode(), resp.headers().map(), resp.body());
    }

    static byte[] multipart(List<Part> parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Part p : parts) {
            StringBuilder h = new StringBuilder("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"");
            if (p.filename != null) h.append("; filename=\"").append(p.filename).append('"');
            h.append("\r\n");
            if (p.type != null) h.append("Content-Type: ").append(p.type).append("\r\n");
            h.append("\r\n");
            out.writeBytes(h.toString().getBytes(StandardCharsets.UTF_8));
            out.writeBytes(p.data);
            out.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        out.writeBytes(("--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    /** Sends {@code head} (request line and headers, CRLF-separated, no final blank line) as it is and reads the answer. */
    Response raw(String head) throws IOException { return raw(head, ""); }

    Response raw(String head, String body) throws IOException {
        try (Socket s = new Socket(address.getAddress(), address.getPort())) {
            s.setSoTimeout(30_000);
            OutputStream o = s.getOutputStream();
            o.write((head + "\r\nConnection: close\r\n\r\n" + body).getBytes(StandardCharsets.ISO_8859_1));
            o.flush();
            return parse(s.getInputStream());
        }
    }

    /** A whole HTTP/1.1 response read until the server closes (the request asked it to). */
    static Response parse(InputStream in) throws IOException {
        byte[] all = in.readAllBytes();
        String text = new String(all, StandardCharsets.ISO_8859_1);
        int end = text.indexOf("\r\n\r\n");
        if (end < 0) throw new IOException("no response head: " + text);
        String[] lines = text.substring(0, end).split("\r\n");
        int status = Integer.parseInt(lines[0].split(" ")[1]);
        Map<String, List<String>> headers = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        for (int i = 1; i < lines.length; i++) {
            int c = lines[i].indexOf(':');
            headers.computeIfAbsent(lines[i].substring(0, c).strip(), k -> new ArrayList<>()).add(lines[i].substring(c + 1).strip());
        }
        byte[] body = java.util.Arrays.copyOfRange(all, end + 4, all.length);
        if ("chunked".equalsIgnoreCase(headers.getOrDefault("Transfer-Encoding", List.of("")).getFirst())) body = dechunk(body);
        return new Response(status, headers, body);
    }

    private static byte[] dechunk(byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int pos = 0;
        while (pos < b.length) {
            int eol = pos;
            while (eol + 1 < b.length && !(b[eol] == '\r' && b[eol + 1] == '\n')) eol++;
            int n = Integer.parseInt(new String(b, pos, eol - pos, StandardCharsets.ISO_8859_1).split(";")[0].strip(), 16);
            if (n == 0) break;
            out.write(b, eol + 2, n);
            pos = eol + 2 + n + 2;
        }
        return out.toByteArray();
    }
}
