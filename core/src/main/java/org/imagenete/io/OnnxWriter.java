package org.imagenete.io;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.lang.foreign.ValueLayout;

/**
 * Writes an ONNX model (ir_version 8, opset 13) of float tensors: initializers, nodes with int/ints attributes,
 * one input and one output. Field numbers are onnx.proto's.
 */
public final class OnnxWriter {
    private final Protobuf graph = new Protobuf();
    private int nodes;

    public OnnxWriter(String graphName) { graph.string(2, graphName); }

    /** A constant F32 tensor; returns its name. */
    public String initializer(String name, Tensor t) {
        if (t.dtype() != DType.F32) throw new IllegalArgumentException(name + ": ONNX export supports F32 only, got " + t.dtype());
        Protobuf tp = new Protobuf();
        for (int d : t.shape().dims()) tp.int64(1, d);
        tp.int64(2, 1);                                   // data_type FLOAT
        tp.string(8, name);
        tp.bytes(9, t.data().toArray(ValueLayout.JAVA_BYTE));   // raw_data, little-endian
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
}
