package org.imagenete.device;

import java.util.Arrays;

/**
 * The arguments of one kernel launch, in order, with their kinds: 'p' device pointer, 'i' 32-bit int, 'l' 64-bit
 * int, 'f' float, 'd' double. Both devices marshal from this (JCudaDevice into cuLaunchKernel's kernelParams,
 * EmulatedDevice into the same array of pointers to values), and the emulator checks {@link #signature()} against
 * the kernel's C++ parameter list, so a Java/kernel mismatch fails in CI instead of corrupting memory on a GPU.
 */
public final class KernelArgs {
    private long[] values = new long[16];
    private char[] kinds = new char[16];
    private int n;

    public static KernelArgs of() { return new KernelArgs(); }

    private KernelArgs add(char kind, long bits) {
        if (n == values.length) {
            values = Arrays.copyOf(values, 2 * n);
            kinds = Arrays.copyOf(kinds, 2 * n);
        }
        values[n] = bits;
        kinds[n++] = kind;
        return this;
    }

    /** A device address (0 for a null pointer). */
    public KernelArgs ptr(long address) { return add('p', address); }

    public KernelArgs i32(int v) { return add('i', v); }

    public KernelArgs i64(long v) { return add('l', v); }

    public KernelArgs f32(float v) { return add('f', Float.floatToRawIntBits(v)); }

    public KernelArgs f64(double v) { return add('d', Double.doubleToRawLongBits(v)); }

    public int size() { return n; }

    public char kind(int i) { return kinds[i]; }

    /** The raw value of argument i: the address, the integer, or the IEEE bits of a float (low 32) or double. */
    public long bits(int i) { return values[i]; }

    public String signature() { return new String(kinds, 0, n); }

    /** An independent copy (graph capture keeps the arguments of every recorded launch). */
    public KernelArgs copy() {
        KernelArgs c = new KernelArgs();
        c.values = Arrays.copyOf(values, Math.max(1, n));
        c.kinds = Arrays.copyOf(kinds, Math.max(1, n));
        c.n = n;
        return c;
    }

    @Override public String toString() {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < n; i++) {
            if (i > 0) sb.append(", ");
            switch (kinds[i]) {
                case 'p' -> sb.append("0x").append(Long.toHexString(values[i]));
                case 'f' -> sb.append(Float.intBitsToFloat((int) values[i])).append('f');
                case 'd' -> sb.append(Double.longBitsToDouble(values[i]));
                default -> sb.append(values[i]);
            }
        }
        return sb.append(')').toString();
    }
}
