package org.imagenete.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** A minimal protocol-buffers writer (varints, length-delimited fields), enough to write ONNX models. */
public final class Protobuf {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private void varint(long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private void tag(int field, int wire) { varint(((long) field << 3) | wire); }

    public Protobuf int64(int field, long v) {
        tag(field, 0);
        varint(v);
        return this;
    }

    public Protobuf float32(int field, float v) {
        tag(field, 5);
        int b = Float.floatToRawIntBits(v);
        for (int i = 0; i < 4; i++) out.write(b >>> (8 * i) & 0xff);
        return this;
    }

    public Protobuf bytes(int field, byte[] b) {
        tag(field, 2);
        varint(b.length);
        out.writeBytes(b);
        return this;
    }

    public Protobuf string(int field, String s) { return bytes(field, s.getBytes(StandardCharsets.UTF_8)); }

    public Protobuf message(int field, Protobuf m) { return bytes(field, m.toByteArray()); }

    public byte[] toByteArray() { return out.toByteArray(); }
}
