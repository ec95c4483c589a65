package org.imagenete.device;

/** A captured, instantiated sequence of device work (a CUDA graph) that can be launched again and again. */
public interface DeviceGraph extends AutoCloseable {
    /** Number of kernel launches and copies the graph holds. */
    int nodes();

    /** Launches the whole sequence on the device's stream (asynchronously). */
    void launch();

    @Override void close();
}
