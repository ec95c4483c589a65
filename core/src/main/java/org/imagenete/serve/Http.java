package org.imagenete.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Responses: JSON bodies, files, errors as {@code {"error": reason}}, and the headers every response carries. */
final class Http {
    static final ObjectMapper JSON = new ObjectMapper();

    private Http() {}

    static ObjectNode error(String reason) { return JSON.createObjectNode().put("error", reason); }

    static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Headers on every response: no MIME sniffing (a result is only ever what its Content-Type says), no
     * framing by other sites, no referrer, nothing cached (results expire).
     */
    static void common(HttpExchange ex, String contentType) {
        var h = ex.getResponseHeaders();
        h.set("Content-Type", contentType);
        h.set("X-Content-Type-Options", "nosniff");
        h.set("X-Frame-Options", "DENY");
        h.set("Referrer-Policy", "no-referrer");
        h.set("Cache-Control", "no-store");
    }

    static void json(HttpExchange ex, int status, JsonNode body) throws IOException {
        bytes(ex, status, "application/json; charset=utf-8", (body + "\n").getBytes(StandardCharsets.UTF_8));
    }

    static void bytes(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
        common(ex, contentType);
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : body.length == 0 ? -1 : body.length);
        if (!head && body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }

    /**
     * A request refused, possibly before its body was read: the connection is closed after the answer. (The JDK's
     * server reads and discards at most 64 KB of an unread body, then closes; it never reads the rest.)
     */
    static void refuse(HttpExchange ex, HttpError e) throws IOException {
        ex.getResponseHeaders().set("Connection", "close");
        if (e.status == 503) ex.getResponseHeaders().set("Retry-After", "2");
        json(ex, e.status, error(e.getMessage()));
    }
}
