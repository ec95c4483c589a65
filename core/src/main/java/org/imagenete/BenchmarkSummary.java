package org.imagenete;

import java.util.List;

/**
 * What {@link ImagenetE#generate} did to a benchmark folder.
 *
 * @param images      source images seen
 * @param written     edited images written by this run
 * @param alreadyDone outputs a previous run had written (resumed)
 * @param failures    source images that could not be used (an unreadable image or mask): retried by the next run
 * @param unreachable edits recorded as unreachable in the manifest (e.g. an object too large for the size asked)
 * @param seconds     the run's wall time
 */
public record BenchmarkSummary(int images, int written, int alreadyDone, List<Problem> failures, List<Problem> unreachable,
                               double seconds) {
    /** One image (and variant, when one edit) that went wrong, and why. */
    public record Problem(String image, String variant, String reason) {}
}
