package org.imagenete.tensor;

import java.util.Arrays;

/** Immutable tensor shape, row-major (C order). */
public final class Shape {
    private final int[] dims;

    private Shape(int[] dims) {
        for (int d : dims) if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
        this.dims = dims;
    }

    public static Shape of(int... dims) { return new Shape(dims.clone()); }

    public static Shape of(long... dims) {
        int[] d = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] > Integer.MAX_VALUE) throw new IllegalArgumentException("dimension too large: " + dims[i]);
            d[i] = (int) dims[i];
        }
        return new Shape(d);
    }

    public int rank() { return dims.length; }

    public int dim(int i) { return dims[i < 0 ? dims.length + i : i]; }

    public int[] dims() { return dims.clone(); }

    public long numel() {
        long n = 1;
        for (int d : dims) n *= d;
        return n;
    }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }

    @Override public int hashCode() { return Arrays.hashCode(dims); }

    @Override public String toString() { return Arrays.toString(dims); }
}
