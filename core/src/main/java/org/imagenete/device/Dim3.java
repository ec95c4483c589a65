package org.imagenete.device;

/** A launch dimension (grid in blocks, or block in threads), as CUDA's dim3. */
public record Dim3(int x, int y, int z) {
    public Dim3 {
        if (x < 1 || y < 1 || z < 1) throw new IllegalArgumentException("launch dimension " + x + "x" + y + "x" + z);
    }

    public static Dim3 of(int x) { return new Dim3(x, 1, 1); }

    public static Dim3 of(int x, int y) { return new Dim3(x, y, 1); }

    public static Dim3 of(int x, int y, int z) { return new Dim3(x, y, z); }

    /** Blocks of {@code per} covering {@code n} (at least one). */
    public static int blocks(long n, int per) {
        long b = Math.max(1, (n + per - 1) / per);
        if (b > Integer.MAX_VALUE) throw new IllegalArgumentException(n + " elements need more than 2^31 blocks of " + per);
        return (int) b;
    }

    @Override public String toString() { return x + "x" + y + "x" + z; }
}
