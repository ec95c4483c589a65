package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Writes an ONNX model (ir_version 8, opset 13) of float tensors: initializers, nodes with int/ints/float/string
 * attributes, inputs and outputs. Field numbers are onnx.proto's. Models over protobuf's 2 GB limit (the ADM-256:
 * 2.2 GB of weights) keep their large initializers in an external data file beside the model (ONNX external data:
 * location, offset, length), written as they come.
 */
public final class OnnxWriter implements AutoCloseable {
    /** Initializers larger than this go to the external data file, when there is one. */
    private static final long EXTERNAL_MIN_BYTES = 1024;

    private final Protobuf graph = new Protobuf();
    private final Path dataFile;
    private final FileChannel data;
    private long dataOffset;
    private int nodes;

    public OnnxWriter(String graphName) {
        graph.string(2, graphName);
        dataFile = null;
        data = null;
    }

    /** With large initializers in {@code externalData} (a file beside the model; written now, replaced if present). */
    public OnnxWriter(String graphName, Path externalData) throws IOException {
        graph.string(2, graphName);
        dataFile = externalData;
        data = FileChannel.open(externalData, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** A constant F32 tensor; returns its name. */
    public String initializer(String name, Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(name + ": ONNX export supports F32 only, got " + t.dtype());
        Protobuf tp = new Protobuf();
        for (int d : t.shape().dims()) tp.int64(1, d);
        tp.int64(2, 1);                                   // data_type FLOAT
        tp.string(8, name);
        if (data != null && t.byteSize() > EXTERNAL_MIN_BYTES) {
            long n = t.byteSize();
            try {
                ByteBuffer b = t.data().asByteBuffer();
                while (b.hasRemaining()) data.write(b);
            } catch (IOException e) {
                throw new UncheckedIOException(dataFile + ": " + e.getMessage(), e);
            }
            tp.message(13, new Protobuf().string(1, "location").string(2, dataFile.getFileName().toString()));
            tp.message(13, new Protobuf().string(1, "offset").string(2, Long.toString(dataOffset)));
            tp.message(13, new Protobuf().string(1, "length").string(2, Long.toString(n)));
            tp.int64(14, 1);                              // data_location EXTERNAL
            dataOffset += n;
        } else {
            tp.bytes(9, t.data().toArray(ValueLayout.JAVA_BYTE));   // raw_data, little-endian
        }
        graph.message(5, tp);
        return name;
    }

    /** A constant INT64 vector (shapes, axes, slice bounds); returns its name. */
    public String initializer(String name, long... values) {
        Protobuf tp = new Protobuf();
        tp.int64(1, values.length);
        tp.int64(2, 7);                                   // data_type INT64
        tp.string(8, name);
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        tp.bytes(9, b.array());
        graph.message(5, tp);
        return name;
    }

    /** A node; returns its output's name. */
    public String node(String op, String output, String[] inputs, Protobuf... attributes) {
        Protobuf n = new Protobuf();
        for (String in : inputs) n.string(1, in);
        n.string(2, output);
        n.string(3, op + "_" + nodes++);
        n.string(4, op);
        for (Protobuf a : attributes) n.message(5, a);
        graph.message(1, n);
        return output;
    }

    public static Protobuf ints(String name, long... v) {
        Protobuf a = new Protobuf().string(1, name);
        for (long x : v) a.int64(8, x);
        return a.int64(20, 7);                            // AttributeType INTS
    }

    public static Protobuf integer(String name, long v) { return new Protobuf().string(1, name).int64(3, v).int64(20, 2); }

    public static Protobuf real(String name, float v) { return new Protobuf().string(1, name).float32(2, v).int64(20, 1); }

    public static Protobuf text(String name, String v) { return new Protobuf().string(1, name).string(4, v).int64(20, 3); }

    /** Dims are Long (fixed) or String (named, dynamic). */
    public OnnxWriter input(String name, Object... dims) {
        graph.message(11, valueInfo(name, dims));
        return this;
    }

    public OnnxWriter output(String name, Object... dims) {
        graph.message(12, valueInfo(name, dims));
        return this;
    }

    private static Protobuf valueInfo(String name, Object[] dims) {
        Protobuf shape = new Protobuf();
        for (Object d : dims) shape.message(1, d instanceof Long l ? new Protobuf().int64(1, l) : new Protobuf().string(2, (String) d));
        Protobuf tensorType = new Protobuf().int64(1, 1).message(2, shape);
        return new Protobuf().string(1, name).message(2, new Protobuf().message(1, tensorType));
    }

    public byte[] toByteArray() {
        return new Protobuf().int64(1, 8).string(2, "imagenet-e").message(7, graph)
                .message(8, new Protobuf().string(1, "").int64(2, 13)).toByteArray();
    }

    /** Writes the model to {@code onnx} (the external data file, if any, must lie beside it) and closes the data file. */
    public void write(Path onnx) throws IOException {
        close();
        AtomicFiles.write(onnx, toByteArray());
    }

    @Override
    public void close() throws IOException {
        if (data != null && data.isOpen()) data.close();
    }
}
