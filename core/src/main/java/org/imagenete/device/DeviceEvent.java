package org.imagenete.device;

/** A point in a device's stream of work (cuEventRecord), for timing. */
public interface DeviceEvent extends AutoCloseable {
    /** Milliseconds of device time from {@code earlier} to this event; waits for this event to complete. */
    float millisSince(DeviceEvent earlier);

    @Override void close();
}
