package org.imagenete.device;

import java.util.Locale;

/**
 * What one device did, counted by the device itself: every copy between host and device memory (the only
 * traffic a sampling step should not need), kernel and graph launches, and, within sampling steps
 * ({@link #beginStep()} .. {@link #endStep()}), the launches and the host time between them. The host time
 * between launches is the wall time from the return of one launch (or blocking copy) to the call of the next:
 * what the host spends preparing work while the device may idle. Thread-safe.
 */
public final class DeviceCounters {
    private long h2dCopies, h2dBytes, d2hCopies, d2hBytes, launches, graphLaunches, graphNodes, steps;
    private long stepLaunches, stepGraphLaunches, stepGapNanos;
    private long lastReturn = -1;
    private boolean inStep;

    /** A host-to-device copy of {@code bytes}. */
    public synchronized void upload(long bytes) {
        h2dCopies++;
        h2dBytes += bytes;
    }

    /** A device-to-host copy of {@code bytes}; {@code start} is when the (blocking) call began. */
    public synchronized void download(long bytes, long start) {
        d2hCopies++;
        d2hBytes += bytes;
        gap(start);
        lastReturn = System.nanoTime();
    }

    /** A kernel launch that began at {@code start} (System.nanoTime) and has just returned. */
    public synchronized void launch(long start) {
        launches++;
        if (inStep) stepLaunches++;
        gap(start);
        lastReturn = System.nanoTime();
    }

    /** A graph launch of {@code nodes} recorded kernels and copies, begun at {@code start}. */
    public synchronized void graphLaunch(int nodes, long start) {
        graphLaunches++;
        graphNodes += Math.max(0, nodes);
        if (inStep) stepGraphLaunches++;
        gap(start);
        lastReturn = System.nanoTime();
    }

    private void gap(long start) {
        if (inStep && lastReturn >= 0 && start > lastReturn) stepGapNanos += start - lastReturn;
    }

    /** A sampling step starts: launches and gaps from now on are the step's. */
    public synchronized void beginStep() {
        inStep = true;
        lastReturn = -1;
    }

    /** The step ends (its results have been read). */
    public synchronized void endStep() {
        if (inStep) steps++;
        inStep = false;
    }

    public synchronized void reset() {
        h2dCopies = h2dBytes = d2hCopies = d2hBytes = launches = graphLaunches = graphNodes = steps = 0;
        stepLaunches = stepGraphLaunches = stepGapNanos = 0;
        lastReturn = -1;
        inStep = false;
    }

    public synchronized Snapshot snapshot() {
        return new Snapshot(h2dCopies, h2dBytes, d2hCopies, d2hBytes, launches, graphLaunches, graphNodes, steps, stepLaunches,
                stepGraphLaunches, stepGapNanos);
    }

    /** The counts at one moment. */
    public record Snapshot(long h2dCopies, long h2dBytes, long d2hCopies, long d2hBytes, long launches, long graphLaunches,
                           long graphNodes, long steps, long stepLaunches, long stepGraphLaunches, long stepGapNanos) {
        public static final Snapshot ZERO = new Snapshot(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

        public long copies() { return h2dCopies + d2hCopies; }

        /** The transfer line of {@code --stats}, exactly in this form. */
        public String transfersLine() {
            return String.format(Locale.ROOT, "device transfers: %d copies, %d bytes host-to-device, %d bytes device-to-host, %d steps",
                    copies(), h2dBytes, d2hBytes, steps);
        }

        /** Launches per step (kernels launched one by one, graph replays) and the host time between them. */
        public String stepsLine() {
            double n = Math.max(1, steps);
            return String.format(Locale.ROOT, "device steps: %.1f kernel launches and %.1f graph launches per step, %.2f ms host time between launches per step",
                    stepLaunches / n, stepGraphLaunches / n, stepGapNanos / n / 1e6);
        }
    }
}
