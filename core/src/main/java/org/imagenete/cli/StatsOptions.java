package org.imagenete.cli;

import org.imagenete.device.DeviceCounters;
import org.imagenete.ops.DeviceSupport;
import org.imagenete.ops.Ops;
import picocli.CommandLine.Option;

/**
 * {@code --stats}: after the run, the device's traffic in one line of exactly this form
 * {@code device transfers: <N> copies, <B> bytes host-to-device, <C> bytes device-to-host, <S> steps}, then the
 * kernel launches and host time between launches per sampling step. Backends without a device print zeros.
 */
public final class StatsOptions {
    @Option(names = "--stats", description = {"after the run, print the host-device traffic ('device transfers: N copies, B bytes",
            "host-to-device, C bytes device-to-host, S steps') and the launches and host time between launches per sampling step",
            "(zeros on the CPU backends)"})
    boolean stats;

    /** Starts counting from zero on the backend's device. */
    void start(Ops ops) {
        DeviceSupport d = ops.device();
        if (stats && d != null) d.counters().reset();
    }

    /** Prints the lines (when asked for). */
    void print(Ops ops) {
        if (!stats) return;
        DeviceSupport d = ops.device();
        DeviceCounters.Snapshot s = d == null ? DeviceCounters.Snapshot.ZERO : d.counters().snapshot();
        System.err.println(s.transfersLine());
        System.err.println(s.stepsLine());
    }
}
