package org.imagenete.testutil;

import org.imagenete.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes what {@code torch.save(obj, f)} writes for a dict of F32 tensors, possibly nested in dicts, next to plain
 * int and string values (an epoch, an architecture name): a stored zip with {@code archive/data.pkl} (pickle protocol
 * 2: dicts, {@code torch._utils._rebuild_tensor_v2} of a persistent {@code ('storage', torch.FloatStorage, key, 'cpu',
 * numel)}), {@code archive/data/<key>} (raw little-endian floats) and {@code archive/version}. For tests of the
 * layouts model zoos save their checkpoints in.
 */
public final class TorchSave {
    private TorchSave() {}

    /** {@code top}: values are tensors (F32), nested maps of the same, Integers or Strings. */
    public static void write(Path file, Map<String, ?> top) throws IOException {
        List<Tensor> storages = new ArrayList<>();
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80);
        p.write(2);
        dict(p, top, storages);
        p.write('.');
        try (OutputStream os = Files.newOutputStream(file); ZipOutputStream z = new ZipOutputStream(os)) {
            stored(z, "archive/data.pkl", p.toByteArray());
            for (int i = 0; i < storages.size(); i++)
                stored(z, "archive/data/" + i, storages.get(i).data().toArray(ValueLayout.JAVA_BYTE));
            stored(z, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    private static void stored(ZipOutputStream z, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }

    private static void dict(ByteArrayOutputStream p, Map<String, ?> m, List<Tensor> storages) {
        p.write('}');
        if (m.isEmpty()) return;
        p.write('(');
        for (Map.Entry<String, ?> e : m.entrySet()) {
            str(p, e.getKey());
            switch (e.getValue()) {
                case Tensor t -> tensor(p, t, storages);
                case Map<?, ?> sub -> {
                    @SuppressWarnings("unchecked") Map<String, ?> s = (Map<String, ?>) sub;
                    dict(p, s, storages);
                }
                case Integer i -> integer(p, i);
                case String s -> str(p, s);
                default -> throw new IllegalArgumentException("cannot pickle " + e.getValue());
            }
        }
        p.write('u');
    }

    /** The same tensor object twice (a shared parameter) is one storage, as torch writes it. */
    private static void tensor(ByteArrayOutputStream p, Tensor t, List<Tensor> storages) {
        if (t.dtype() != org.imagenete.tensor.DType.F32) throw new IllegalArgumentException("F32 tensors only, got " + t.dtype());
        int key = -1;
        for (int i = 0; i < storages.size() && key < 0; i++) if (storages.get(i) == t) key = i;
        if (key < 0) {
            key = storages.size();
            storages.add(t);
        }
        global(p, "torch._utils", "_rebuild_tensor_v2");
        p.write('(');
        p.write('(');
        str(p, "storage");
        global(p, "torch", "FloatStorage");
        str(p, Integer.toString(key));
        str(p, "cpu");
        integer(p, (int) t.numel());
        p.write('t');
        p.write('Q');
        integer(p, 0);
        int[] d = t.shape().dims();
        p.write('(');
        for (int v : d) integer(p, v);
        p.write('t');
        p.write('(');
        long stride = 1;
        long[] strides = new long[d.length];
        for (int i = d.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= d[i];
        }
        for (long s : strides) integer(p, (int) s);
        p.write('t');
        p.write(0x89);   // NEWFALSE: requires_grad
        global(p, "collections", "OrderedDict");
        p.write(')');
        p.write('R');
        p.write('t');
        p.write('R');
    }

    private static void global(ByteArrayOutputStream p, String module, String name) {
        p.write('c');
        p.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private static void str(ByteArrayOutputStream p, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        p.write('X');
        p.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
        p.writeBytes(b);
    }

    private static void integer(ByteArrayOutputStream p, int v) {
        p.write('J');   // BININT: signed 32-bit little-endian
        p.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }
}
