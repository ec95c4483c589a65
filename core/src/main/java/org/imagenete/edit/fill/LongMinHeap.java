package org.imagenete.edit.fill;

import java.util.Arrays;

/**
 * A binary min-heap of {@code long} keys, the narrow band of the fast marching loops. Keys are
 * {@code floatToIntBits(T) << 32 | pixel} with {@code T >= 0}, whose bit patterns order like the floats, so
 * ties in T pop in pixel order and the march is deterministic. Stale entries (a pixel pushed again with a
 * smaller T) are skipped by the caller on pop.
 */
final class LongMinHeap {
    private long[] a;
    private int size;

    LongMinHeap(int capacity) { a = new long[Math.max(16, capacity)]; }

    static long key(float t, int pixel) {
        assert t >= 0f && pixel >= 0;
        return (long) Float.floatToRawIntBits(t) << 32 | pixel;
    }

    static float time(long key) { return Float.intBitsToFloat((int) (key >>> 32)); }

    static int pixel(long key) { return (int) key; }

    boolean isEmpty() { return size == 0; }

    void push(long k) {
        if (size == a.length) a = Arrays.copyOf(a, a.length * 2);
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (a[parent] <= k) break;
            a[i] = a[parent];
            i = parent;
        }
        a[i] = k;
    }

    long pop() {
        long top = a[0], last = a[--size];
        int i = 0, half = size >>> 1;
        while (i < half) {
            int c = 2 * i + 1;
            if (c + 1 < size && a[c + 1] < a[c]) c++;
            if (last <= a[c]) break;
            a[i] = a[c];
            i = c;
        }
        a[i] = last;
        return top;
    }
}
