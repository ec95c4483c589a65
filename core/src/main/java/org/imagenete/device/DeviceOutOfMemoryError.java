package org.imagenete.device;

/** Device memory is exhausted (after the caching allocator released what it held). */
public final class DeviceOutOfMemoryError extends OutOfMemoryError {
    public DeviceOutOfMemoryError(String message) { super(message); }
}
