package org.imagenete.diffusion;

import org.imagenete.ops.Ops;
import org.imagenete.tensor.Shape;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The few per-sample numbers a sampling step reports, gathered on the backend's device into one [B, k] tensor so
 * that one small download per step carries them all: the NaN/Inf count and first index of each checked tensor
 * ({@link Ops#nonFinite}) and named values (the complexity and range of the guidance loss). {@link #gather()} is
 * device work only, so a captured step graph can end with it; {@link #read} is the host side.
 */
final class StepStats implements AutoCloseable {
    private final Ops ops;
    private final List<String> names = new ArrayList<>();
    private final List<Integer> widths = new ArrayList<>();
    private final List<Boolean> checks = new ArrayList<>();
    private final List<Tensor> parts = new ArrayList<>();

    StepStats(Ops ops) { this.ops = ops; }

    /** Counts the NaN/Inf of {@code t} [B,...] under {@code name} (in the order checks are reported). */
    void check(String name, Tensor t) {
        add(name, ops.nonFinite(t), true);
    }

    /** Keeps {@code values} [B,w] (taken over: {@link #gather} closes it) under {@code name}. */
    void values(String name, Tensor values) {
        add(name, values, false);
    }

    private void add(String name, Tensor t, boolean check) {
        if (t.rank() != 2) throw new IllegalArgumentException("step stats " + name + " must be [B,w], got " + t.shape());
        names.add(name);
        widths.add(t.dim(1));
        checks.add(check);
        parts.add(t);
    }

    /** The layout of {@link #gather()}'s columns, for {@link #read}. */
    Layout layout() { return new Layout(List.copyOf(names), List.copyOf(widths), List.copyOf(checks)); }

    /** One [B, k] tensor of everything collected (the parts are taken over). */
    Tensor gather() {
        if (parts.isEmpty()) throw new IllegalStateException("no step stats collected");
        Tensor acc = parts.getFirst();
        try {
            for (int i = 1; i < parts.size(); i++) {
                Tensor next = ops.concat(acc, parts.get(i));
                if (i > 1) acc.close();
                acc = next;
            }
            return acc;
        } finally {
            for (int i = 1; i < parts.size(); i++) parts.get(i).close();
            if (parts.size() > 1) parts.getFirst().close();
            parts.clear();
        }
    }

    /** Closes what was collected and not gathered (after a failure). */
    @Override public void close() {
        parts.forEach(Tensor::close);
        parts.clear();
    }

    /** Column layout: names, widths and which entries are finite checks. */
    record Layout(List<String> names, List<Integer> widths, List<Boolean> checks) {
        int offset(String name) {
            int o = 0;
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).equals(name)) return o;
                o += widths.get(i);
            }
            return -1;
        }

        int columns() { return widths.stream().mapToInt(Integer::intValue).sum(); }
    }

    /** The host copy of a gathered stats tensor. */
    record Read(Layout layout, float[] v, int batch) {
        float value(String name, int sample, int j) { return v[sample * layout.columns() + layout.offset(name) + j]; }

        /** Throws for the first checked tensor (in check order) with a NaN or Inf, naming the step, sample and tensor. */
        void requireFinite(int[] idx, Map<String, Shape> shapes) {
            int o = 0;
            for (int i = 0; i < layout.names().size(); i++) {
                if (layout.checks().get(i))
                    for (int s = 0; s < batch; s++) {
                        float count = v[s * layout.columns() + o], first = v[s * layout.columns() + o + 1];
                        if (count != 0) {
                            String name = layout.names().get(i);
                            throw new GuidedStep.NonFiniteException(String.format(Locale.ROOT,
                                    "non-finite values at step index %d (sample %d): tensor '%s' %s has %d NaN/Inf values in this sample (first at element %d)",
                                    idx[Math.min(s, idx.length - 1)], s, name, shapes.getOrDefault(name, null), (long) count, (long) first));
                        }
                    }
                o += layout.widths().get(i);
            }
        }
    }

    /** Downloads a gathered stats tensor: the step's one device-to-host copy. */
    static Read read(Tensor gathered, Layout layout) {
        return new Read(layout, gathered.toFloatArray(), gathered.dim(0));
    }
}
