package org.imagenete.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static java.nio.charset.StandardCharsets.UTF_8;

/** Torch checkpoints made byte by byte in tests: pickles opcode by opcode, zips entry by entry (stored, deflated, ZIP64). */
final class TorchFiles {
    private TorchFiles() {}

    /** A torch-style zip {@code <root>/data.pkl}, {@code <root>/data/<key>}... in the temp folder. */
    static Path torchZip(Path tmp, String root, byte[] pkl, Map<String, byte[]> storages) throws IOException {
        List<Ent> es = new ArrayList<>();
        es.add(new Ent(root + "/data.pkl", pkl));
        storages.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .forEach(e -> es.add(new Ent(root + "/data/" + e.getKey(), e.getValue())));
        es.add(new Ent(root + "/version", "3\n".getBytes(UTF_8)));
        Path f = Files.createDirectories(tmp.resolve("z" + System.nanoTime())).resolve(root + ".pt");
        writeZip(f, es, false, false);
        return f;
    }

    static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = from; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found: " + new String(needle, StandardCharsets.ISO_8859_1));
    }

    static int localHeader(byte[] b, String name) {
        byte[] sig = {'P', 'K', 3, 4};
        for (int i = indexOf(b, sig, 0); ; i = indexOf(b, sig, i + 1)) {
            int n = (b[i + 26] & 0xff) | (b[i + 27] & 0xff) << 8;
            if (new String(b, i + 30, n, UTF_8).equals(name)) return i;
        }
    }

    static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    /** Builds pickle bytes opcode by opcode (nothing here is ever unpickled by Python or Java serialization). */
    static final class Pkl {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pkl() { this(2); }

        Pkl(int protocol) { op(0x80).op(protocol); }

        Pkl op(int b) { out.write(b); return this; }

        Pkl raw(byte[] b) { out.writeBytes(b); return this; }

        Pkl raw(String s) { return raw(s.getBytes(UTF_8)); }

        Pkl str(String s) {
            byte[] b = s.getBytes(UTF_8);
            return op('X').raw(le32(b.length)).raw(b);
        }

        Pkl global(String module, String name) { return op('c').raw(module + "\n" + name + "\n"); }

        Pkl integer(long v) {
            if (v >= 0 && v < 256) return op('K').op((int) v);
            if (v >= 0 && v < 65536) return op('M').op((int) (v & 0xff)).op((int) (v >> 8));
            return op(0x8a).op(8).raw(le64(v));
        }

        Pkl ints(long... vs) {
            op('(');
            for (long v : vs) integer(v);
            return op('t');
        }

        /** {@code _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())}. */
        Pkl tensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
            global("torch._utils", "_rebuild_tensor_v2").op('(');
            op('(').str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).op('t').op('Q');
            integer(offset).ints(size).ints(stride).op(0x89).global("collections", "OrderedDict").op(')').op('R');
            return op('t').op('R');
        }

        byte[] stop() { return op('.').out.toByteArray(); }
    }

    /** A zip entry to write; {@code gapBefore} bytes are skipped (a hole in the file) before its local header. */
    record Ent(String name, byte[] data, long gapBefore) {
        Ent(String name, byte[] data) { this(name, data, 0); }
    }

    static List<Ent> entries(Path zip) throws IOException {
        List<Ent> es = new ArrayList<>();
        try (ZipFile z = new ZipFile(zip.toFile())) {
            for (ZipEntry e : Collections.list(z.entries())) {
                try (InputStream in = z.getInputStream(e)) {
                    es.add(new Ent(e.getName(), in.readAllBytes()));
                }
            }
        }
        return es;
    }

    static List<Ent> map(List<Ent> es, String name, UnaryOperator<byte[]> f) {
        List<Ent> out = new ArrayList<>();
        for (Ent e : es) {
            if (!e.name().equals(name)) { out.add(e); continue; }
            byte[] d = f.apply(e.data());
            if (d != null) out.add(new Ent(name, d));
        }
        return out;
    }

    static List<Ent> add(List<Ent> es, String name, String content) {
        List<Ent> out = new ArrayList<>(es);
        out.add(new Ent(name, content.getBytes(UTF_8)));
        return out;
    }

    static void rezip(Path src, Path dst, UnaryOperator<List<Ent>> edit, boolean deflate, boolean zip64) throws IOException {
        writeZip(dst, edit.apply(entries(src)), deflate, zip64);
    }

    /** A minimal zip writer: stored or deflated entries, optionally with ZIP64 extra fields and records throughout. */
    static void writeZip(Path file, List<Ent> entries, boolean deflate, boolean zip64) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            long pos = 0;
            ByteArrayOutputStream cd = new ByteArrayOutputStream();
            for (Ent e : entries) {
                pos += e.gapBefore();
                byte[] name = e.name().getBytes(UTF_8);
                CRC32 crc = new CRC32();
                crc.update(e.data());
                byte[] body = deflate ? deflate(e.data()) : e.data();
                short method = (short) (deflate ? 8 : 0);
                int u32Body = zip64 ? -1 : body.length, u32Size = zip64 ? -1 : e.data().length;
                ByteBuffer lh = le(30 + name.length + (zip64 ? 20 : 0));
                lh.putInt(0x04034b50).putShort((short) 45).putShort((short) 0x800).putShort(method).putShort((short) 0)
                        .putShort((short) 0x21).putInt((int) crc.getValue()).putInt(u32Body).putInt(u32Size)
                        .putShort((short) name.length).putShort((short) (zip64 ? 20 : 0)).put(name);
                if (zip64) lh.putShort((short) 1).putShort((short) 16).putLong(e.data().length).putLong(body.length);
                long local = pos;
                pos += write(ch, lh.array(), pos);
                pos += write(ch, body, pos);
                ByteBuffer c = le(46 + name.length + (zip64 ? 28 : 0));
                c.putInt(0x02014b50).putShort((short) 45).putShort((short) 45).putShort((short) 0x800).putShort(method)
                        .putShort((short) 0).putShort((short) 0x21).putInt((int) crc.getValue()).putInt(u32Body).putInt(u32Size)
                        .putShort((short) name.length).putShort((short) (zip64 ? 28 : 0)).putShort((short) 0).putShort((short) 0)
                        .putShort((short) 0).putInt(0).putInt(zip64 ? -1 : (int) local).put(name);
                if (zip64) c.putShort((short) 1).putShort((short) 24).putLong(e.data().length).putLong(body.length).putLong(local);
                cd.writeBytes(c.array());
            }
            long cdOffset = pos;
            byte[] cdb = cd.toByteArray();
            pos += write(ch, cdb, pos);
            if (zip64) {
                long z64 = pos;
                ByteBuffer r = le(56 + 20);
                r.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                        .putLong(entries.size()).putLong(entries.size()).putLong(cdb.length).putLong(cdOffset);
                r.putInt(0x07064b50).putInt(0).putLong(z64).putInt(1);
                pos += write(ch, r.array(), pos);
            }
            ByteBuffer end = le(22);
            end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0)
                    .putShort((short) (zip64 ? 0xffff : entries.size())).putShort((short) (zip64 ? 0xffff : entries.size()))
                    .putInt(zip64 ? -1 : cdb.length).putInt(zip64 ? -1 : (int) cdOffset).putShort((short) 0);
            write(ch, end.array(), pos);
        }
    }

    static ByteBuffer le(int n) { return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN); }

    static int write(FileChannel ch, byte[] b, long pos) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(b);
        while (buf.hasRemaining()) pos += ch.write(buf, pos);
        return b.length;
    }

    static byte[] deflate(byte[] d) {
        Deflater def = new Deflater(6, true);
        def.setInput(d);
        def.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        while (!def.finished()) out.write(buf, 0, def.deflate(buf));
        def.end();
        return out.toByteArray();
    }
}
