package org.imagenete.edit.automask;

import java.util.Arrays;

/** 8-connected components of a binary image. */
final class Components {
    private Components() {}

    /**
     * Component labels, row-major: 0 = background, 1..count in the raster order of each component's first
     * pixel; {@code sizes[k]} is the pixel count of label k ({@code sizes[0]} unused).
     */
    record Labels(int[] label, int[] sizes, int count) {}

    /** Labels the 8-connected components of {@code on} (flood fill with an explicit stack). */
    static Labels label(boolean[] on, int w, int h) {
        int[] label = new int[on.length];
        int[] stack = new int[Math.max(16, on.length)];
        int[] sizes = new int[16];
        int count = 0;
        for (int start = 0; start < on.length; start++) {
            if (!on[start] || label[start] != 0) continue;
            int id = ++count;
            if (id == sizes.length) sizes = Arrays.copyOf(sizes, sizes.length * 2);
            int sp = 0, size = 0;
            stack[sp++] = start;
            label[start] = id;
            while (sp > 0) {
                int p = stack[--sp];
                size++;
                int x = p % w, y = p / w;
                for (int dy = -1; dy <= 1; dy++) {
                    int ny = y + dy;
                    if (ny < 0 || ny >= h) continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = x + dx;
                        if ((dx == 0 && dy == 0) || nx < 0 || nx >= w) continue;
                        int q = ny * w + nx;
                        if (on[q] && label[q] == 0) {
                            label[q] = id;
                            stack[sp++] = q;
                        }
                    }
                }
            }
            sizes[id] = size;
        }
        return new Labels(label, Arrays.copyOf(sizes, count + 1), count);
    }

    /**
     * The pixels of the largest component and of every component with more than {@code fraction} times its
     * pixel count (all false when {@code on} has no pixel).
     */
    static boolean[] keepLarge(boolean[] on, int w, int h, double fraction) {
        Labels l = label(on, w, h);
        int largest = 0;
        for (int k = 1; k <= l.count(); k++) largest = Math.max(largest, l.sizes()[k]);
        boolean[] keep = new boolean[l.count() + 1];
        for (int k = 1; k <= l.count(); k++) keep[k] = l.sizes()[k] == largest || l.sizes()[k] > fraction * largest;
        boolean[] out = new boolean[on.length];
        for (int i = 0; i < out.length; i++) out[i] = keep[l.label()[i]];
        return out;
    }
}
