package org.imagenete.serve;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * multipart/form-data (RFC 7578), the body of every upload. The body is read under the upload limit first
 * ({@link #readLimited}: a declared length above it is refused before a byte is read, an undeclared one as soon as
 * the limit is passed), then split here, so nothing above the limit is ever held in memory.
 */
final class Multipart {
    /** One form field: {@code filename} is null for plain fields. */
    record Part(String name, String filename, String contentType, byte[] data) {
        String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    static final int MAX_PARTS = 64;
    private static final int MAX_HEADER_BYTES = 8192;

    private Multipart() {}

    /** The body, at most {@code max} bytes; {@code declared} is the Content-Length (-1 when chunked). */
    static byte[] readLimited(InputStream in, long declared, long max) throws IOException {
        checkDeclared(declared, max);
        ByteArrayOutputStream out = new ByteArrayOutputStream(declared > 0 ? (int) declared : 65536);
        byte[] buf = new byte[65536];
        long total = 0;
        for (int n; (n = in.read(buf)) > 0; ) {
            total += n;
            if (total > max) throw new HttpError(413, "upload over the limit of " + max / 1048576 + " MB");
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    /** A 413 for a declared Content-Length above the limit, before anything is read. */
    static void checkDeclared(long declared, long max) {
        if (declared > max)
            throw new HttpError(413, String.format(Locale.ROOT, "upload of %d MB is over the limit of %d MB", (declared + 1048575) / 1048576, max / 1048576));
    }

    /** The boundary parameter of a multipart/form-data Content-Type; a 415 for any other type. */
    static String boundary(String contentType) {
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data"))
            throw new HttpError(415, "expected multipart/form-data, got " + (contentType == null ? "no Content-Type" : contentType));
        for (String p : contentType.split(";")) {
            String t = p.strip();
            if (t.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
                String b = t.substring(9);
                if (b.length() >= 2 && b.startsWith("\"") && b.endsWith("\"")) b = b.substring(1, b.length() - 1);
                if (b.isEmpty() || b.length() > 200) throw new HttpError(400, "bad multipart boundary");
                return b;
            }
        }
        throw new HttpError(400, "multipart/form-data without a boundary");
    }

    static List<Part> parse(byte[] body, String boundary) {
        byte[] delim = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        byte[] sep = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        int pos = startsWith(body, 0, delim) ? 0 : indexOf(body, sep, 0);
        if (pos < 0) throw new HttpError(400, "malformed multipart body: no boundary");
        pos += pos == 0 && startsWith(body, 0, delim) ? delim.length : sep.length;
        List<Part> parts = new ArrayList<>();
        while (true) {
            if (startsWith(body, pos, "--".getBytes(StandardCharsets.ISO_8859_1))) return parts;   // the closing delimiter
            while (pos < body.length && (body[pos] == ' ' || body[pos] == '\t')) pos++;            // transport padding
            if (!startsWith(body, pos, CRLF)) throw new HttpError(400, "malformed multipart body after a boundary");
            pos += 2;
            int headersEnd = indexOf(body, CRLFCRLF, pos);
            if (headersEnd < 0 || headersEnd - pos > MAX_HEADER_BYTES) throw new HttpError(400, "malformed multipart part headers");
            String name = null, filename = null, type = null;
            for (String line : new String(body, pos, headersEnd - pos, StandardCharsets.UTF_8).split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon < 0) continue;
                String key = line.substring(0, colon).strip().toLowerCase(Locale.ROOT), value = line.substring(colon + 1).strip();
                if (key.equals("content-disposition")) {
                    name = param(value, "name");
                    filename = param(value, "filename");
                } else if (key.equals("content-type")) type = value;
            }
            if (name == null) throw new HttpError(400, "a multipart part without a name");
            int start = headersEnd + 4, end = indexOf(body, sep, start);
            if (end < 0) throw new HttpError(400, "malformed multipart body: part '" + name + "' is not terminated");
            if (parts.size() == MAX_PARTS) throw new HttpError(400, "more than " + MAX_PARTS + " form fields");
            parts.add(new Part(name, filename, type, java.util.Arrays.copyOfRange(body, start, end)));
            pos = end + sep.length;
        }
    }

    private static final byte[] CRLF = {'\r', '\n'}, CRLFCRLF = {'\r', '\n', '\r', '\n'};

    /** A parameter of a Content-Disposition value: {@code name="x"} (quoted, backslash escapes) or a bare token. */
    static String param(String header, String key) {
        int i = 0;
        while (i < header.length()) {
            int semi = header.indexOf(';', i);
            if (semi < 0) return null;
            int j = semi + 1;
            while (j < header.length() && header.charAt(j) == ' ') j++;
            int eq = header.indexOf('=', j);
            if (eq < 0) return null;
            String k = header.substring(j, eq).strip();
            int v = eq + 1;
            String value;
            if (v < header.length() && header.charAt(v) == '"') {
                StringBuilder sb = new StringBuilder();
                int q = v + 1;
                for (; q < header.length() && header.charAt(q) != '"'; q++) {
                    if (header.charAt(q) == '\\' && q + 1 < header.length()) q++;
                    sb.append(header.charAt(q));
                }
                value = sb.toString();
                i = q + 1;
            } else {
                int e = header.indexOf(';', v);
                value = header.substring(v, e < 0 ? header.length() : e).strip();
                i = e < 0 ? header.length() : e;
            }
            if (k.equalsIgnoreCase(key)) return value;
        }
        return null;
    }

    private static boolean startsWith(byte[] a, int at, byte[] p) {
        if (at + p.length > a.length) return false;
        for (int i = 0; i < p.length; i++) if (a[at + i] != p[i]) return false;
        return true;
    }

    static int indexOf(byte[] a, byte[] p, int from) {
        byte first = p[0];
        for (int i = Math.max(0, from), last = a.length - p.length; i <= last; i++)
            if (a[i] == first && startsWith(a, i, p)) return i;
        return -1;
    }
}
