package org.imagenete.io;

/**
 * Text from a file or a command line, made safe for a one-line message: control characters (a newline in a zip
 * entry name, an escape sequence in a pickled key) are written as {@code \xNN}.
 */
public final class Printable {
    private Printable() {}

    public static String escape(String s) {
        if (s == null) return null;
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\u2028' || c == '\u2029' || c == '\u0085') {
                if (sb == null) sb = new StringBuilder(s.length() + 8).append(s, 0, i);
                sb.append(String.format("\\x%02x", (int) c & 0xff));
            } else if (sb != null) {
                sb.append(c);
            }
        }
        return sb == null ? s : sb.toString();
    }
}
