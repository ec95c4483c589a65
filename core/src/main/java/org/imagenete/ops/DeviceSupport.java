package org.imagenete.ops;

import org.imagenete.device.DeviceCounters;
import org.imagenete.tensor.Tensor;

import java.util.function.Function;

/**
 * What a backend with memory of its own offers code that keeps work there (the sampler): placing tensors once,
 * refreshing them in place, capturing a repeated sequence of ops as one graph, and the device's counters.
 * {@link Ops#device()} is null for backends that compute in host memory.
 */
public interface DeviceSupport {
    /** A new owning copy of {@code host} in device memory (one upload, or a device copy when it is there already). */
    Tensor toDevice(Tensor host);

    /** Overwrites the device tensor {@code dst} with {@code src} (same byte size): an upload of a host tensor. */
    void copyInto(Tensor dst, Tensor src);

    /**
     * Captures {@code body} applied to device copies of {@code examples} (their shapes are the graph's inputs) as
     * one device graph. The body must read no host memory and make no host tensor an op input: such copies cannot
     * be part of a graph, and capture fails with an {@link IllegalStateException}. Its device state (weights,
     * constants) must exist already: run the body once eagerly first.
     */
    Replay capture(Function<Tensor[], Tensor[]> body, Tensor... examples);

    /** Copies, launches and steps of the device. */
    DeviceCounters counters();

    /** A captured graph. */
    interface Replay extends AutoCloseable {
        /** Copies {@code args} into the graph's inputs, replays it, returns device copies of its outputs. */
        Tensor[] run(Tensor... args);

        /** Kernels and copies the graph holds. */
        int nodes();

        @Override void close();
    }
}
