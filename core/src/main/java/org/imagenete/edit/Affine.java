package org.imagenete.edit;

/**
 * A 2-D affine map in pixel-centre coordinates (pixel (i, j) has centre (i, j); the image centre is
 * ((W-1)/2, (H-1)/2)): x' = a x + b y + c, y' = d x + e y + f.
 */
public record Affine(double a, double b, double c, double d, double e, double f) {
    public static final Affine IDENTITY = new Affine(1, 0, 0, 0, 1, 0);

    public static Affine translate(double dx, double dy) { return new Affine(1, 0, dx, 0, 1, dy); }

    /** Scaling by s about (cx, cy). */
    public static Affine scaleAbout(double s, double cx, double cy) { return new Affine(s, 0, cx - s * cx, 0, s, cy - s * cy); }

    /**
     * Counter-clockwise rotation as seen on screen (y grows downwards), by {@code degrees} about (cx, cy), as
     * PIL's {@code Image.rotate} turns an image.
     */
    public static Affine rotateAbout(double degrees, double cx, double cy) {
        double t = Math.toRadians(degrees), cs = Math.cos(t), sn = Math.sin(t);
        // dx' = cos dx + sin dy; dy' = -sin dx + cos dy
        return new Affine(cs, sn, cx - cs * cx - sn * cy, -sn, cs, cy + sn * cx - cs * cy);
    }

    /** this after {@code first}: p -> this(first(p)). */
    public Affine after(Affine first) {
        return new Affine(a * first.a + b * first.d, a * first.b + b * first.e, a * first.c + b * first.f + c,
                d * first.a + e * first.d, d * first.b + e * first.e, d * first.c + e * first.f + f);
    }

    public Affine inverse() {
        double det = a * e - b * d;
        if (Math.abs(det) < 1e-12) throw new IllegalArgumentException("singular affine map " + this);
        return new Affine(e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det);
    }

    public double[] apply(double x, double y) { return new double[]{a * x + b * y + c, d * x + e * y + f}; }

    /** The 6 coefficients in float, as {@code Ops.affineComposite} takes them. */
    public float[] coefficients() { return new float[]{(float) a, (float) b, (float) c, (float) d, (float) e, (float) f}; }
}
