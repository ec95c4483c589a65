package org.imagenete.image;

/**
 * Resampling filters of {@link Resize}, with Pillow's kernels and supports (Resample.c). When shrinking by a
 * factor s the kernel is stretched by s (support s times wider), which is the antialiasing.
 */
public enum Filter {
    /** The source pixel whose area holds the output pixel's centre (Pillow's NEAREST: no filtering). */
    NEAREST(0.0),
    /** Triangle, support 1. */
    BILINEAR(1.0),
    /** Keys' cubic convolution with a = -0.5, support 2. */
    BICUBIC(2.0),
    /** sinc(x) * sinc(x / 3) on [-3, 3). */
    LANCZOS(3.0);

    /** Half-width of the kernel at scale 1, in input pixels. */
    final double support;

    Filter(double support) { this.support = support; }

    /** The kernel, evaluated as Pillow 9.4's C code does in double precision (StrictMath.sin for sinc). */
    double kernel(double x) {
        switch (this) {
            case BILINEAR -> {
                if (x < 0.0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            }
            case BICUBIC -> {
                final double a = -0.5;
                if (x < 0.0) x = -x;
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            }
            case LANCZOS -> {
                if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
                return 0.0;
            }
            default -> throw new IllegalStateException("NEAREST has no kernel");
        }
    }

    private static double sinc(double x) {
        if (x == 0.0) return 1.0;
        x = x * Math.PI;
        return StrictMath.sin(x) / x;
    }
}
