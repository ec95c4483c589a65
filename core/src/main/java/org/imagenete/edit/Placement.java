package org.imagenete.edit;

import org.imagenete.image.Filter;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskOps;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Placement geometry of size, direction and position edits: the object's scale (fitted to the size target), rotation
 * and offset (position targets, or kept inside the frame) as one affine map, and the object composited over the
 * filled background with it ({@link Ops#affineComposite}, premultiplied alpha, antialiased when shrinking).
 *
 * @param map   the object's map (source pixel centres to destination pixel centres)
 * @param dx    the offset that placed the transformed object
 * @param error why the edit cannot be made (image and mask null), or null
 */
record Placement(RgbImage image, Mask mask, Affine map, double dx, double dy, String error) {
    private static Placement unreachable(String why) { return new Placement(null, null, null, 0, 0, why); }

    /**
     * Size, direction and position of the object of {@code image} ({@code mask}) over {@code filled} (the background with
     * the hole filled): one affine map, refined so that the achieved size ratio is within 1%. What was decided (ratios,
     * scale, angle, offsets, the map) goes to {@code values}; the placement's error says why an edit cannot be made.
     */
    static Placement place(Ops ops, int n, RgbImage image, Mask mask, RgbImage filled, List<Edit> edits, long seed,
                           Map<String, Object> values) {
        Mask.Box box = mask.boundingBox();
        double cx = (box.x0() + box.x1() - 1) / 2.0, cy = (box.y0() + box.y1() - 1) / 2.0;
        Edit.Size size = null;
        Edit.Direction dir = null;
        Edit.Position position = null;
        for (Edit e : edits) {
            switch (e) {
                case Edit.Size s -> size = s;
                case Edit.Direction d -> dir = d;
                case Edit.Position p -> position = p;
                case Edit.Background b -> { }
            }
        }
        if (size != null && size.ratio() * n * n < 1) {
            return unreachable(String.format(Locale.ROOT, "size ratio %s is less than one pixel of the %dx%d image", size.ratio(), n, n));
        }
        double scale = size == null ? 1 : Math.sqrt(size.ratio() / mask.areaRatio());
        Placement p = null;
        for (int iter = 0; iter < 5; iter++) {
            p = placement(ops, n, image, mask, filled, seed, scale, cx, cy, dir, position);
            if (p.error != null || size == null) break;
            double achieved = p.mask.areaRatio();
            if (Math.abs(achieved / size.ratio() - 1) <= 0.004) break;
            if (achieved <= 0) break;
            scale *= Math.sqrt(size.ratio() / achieved);   // ratio ~ scale^2: one Newton step on sqrt(ratio)
        }
        if (p.error != null) return p;
        if (size != null) {
            double achieved = p.mask.areaRatio();
            values.put("ratio_target", size.ratio());
            values.put("ratio_achieved", achieved);
            if (Math.abs(achieved / size.ratio() - 1) > 0.01) {
                return unreachable(String.format(Locale.ROOT, "size ratio %.4f unreachable: got %.4f (object %.4f of the image, scale %.3f)",
                        size.ratio(), achieved, mask.areaRatio(), scale));
            }
        }
        values.put("scale", scale);
        if (dir != null) values.put("angle", dir.angle(seed));
        values.put("offset_x", p.dx);
        values.put("offset_y", p.dy);
        values.put("transform", List.of(p.map.a(), p.map.b(), p.map.c(), p.map.d(), p.map.e(), p.map.f()));
        return p;
    }

    private static Placement placement(Ops ops, int n, RgbImage image, Mask mask, RgbImage filled, long seed, double scale,
                                       double cx, double cy, Edit.Direction dir, Edit.Position position) {
        Affine m = Affine.scaleAbout(scale, cx, cy);
        if (dir != null) {
            double[] c = dir.aboutObject() ? m.apply(cx, cy) : new double[]{(n - 1) / 2.0, (n - 1) / 2.0};
            m = Affine.rotateAbout(dir.angle(seed), c[0], c[1]).after(m);
        }
        double[] bb = transformedBox(mask, m);           // x0, y0, x1, y1 (pixel edges)
        double bw = bb[2] - bb[0], bh = bb[3] - bb[1];
        // a rotation alone may turn part of a large object out of the frame, as ImageNet-E's rotations do (the
        // share that stays visible is recorded); a placement or a size must keep the whole object inside
        boolean mustFit = position != null || scale != 1;
        if (mustFit && (bw > n + 1e-6 || bh > n + 1e-6))
            return new Placement(null, null, m, 0, 0, String.format(Locale.ROOT,
                    "the transformed object (%.0fx%.0f px) does not fit in the %dx%d image", bw, bh, n, n));
        double dx = 0, dy = 0;
        if (!mustFit) {
            // rotation only: no shift
        } else if (position != null) {
            double nx, ny;   // the box's new left and top edges
            if (position.random()) {
                long s = Seeds.derive(seed, "position");
                nx = Math.floor(Seeds.uniform(s, 0) * (n - bw + 1));
                ny = Math.floor(Seeds.uniform(s, 1) * (n - bh + 1));
            } else {   // centred at the target, as far as the box stays inside
                nx = Math.clamp(Math.rint(position.x() * n - bw / 2), 0, Math.floor(n - bw));
                ny = Math.clamp(Math.rint(position.y() * n - bh / 2), 0, Math.floor(n - bh));
            }
            dx = nx - bb[0];
            dy = ny - bb[1];
        } else {
            // keep the object inside the image (scaling about its centre may push it past an edge)
            if (bb[0] < 0) dx = -bb[0];
            if (bb[2] > n) dx = n - bb[2];
            if (bb[1] < 0) dy = -bb[1];
            if (bb[3] > n) dy = n - bb[3];
            dx = Math.round(dx);
            dy = Math.round(dy);
        }
        m = Affine.translate(dx, dy).after(m);
        double s2 = Math.sqrt(Math.abs(m.a() * m.e() - m.b() * m.d()));
        try (Tensor bg = filled.toTensor(RgbImage.Range.ZERO_ONE);
             Tensor layer = MaskOps.objectLayer(image, mask);
             Tensor small = s2 < 0.999 ? Resize.resize(layer, Math.max(1, (int) Math.round(n * s2)), Math.max(1, (int) Math.round(n * s2)), Filter.BILINEAR) : null) {
            Affine inv = m.inverse();
            Tensor src = small != null ? small : layer;
            if (small != null) {   // the layer was pre-shrunk with antialiasing: map full-size coordinates into it
                double sx = (double) small.dim(2) / n, sy = (double) small.dim(1) / n;
                inv = new Affine(sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5).after(inv);
            }
            try (Tensor bg4 = bg.view(1, 3, n, n); Tensor src4 = src.view(1, 4, src.dim(1), src.dim(2));
                 Tensor out = ops.affineComposite(bg4, src4, inv.coefficients())) {
                float[] v = out.toFloatArray();
                int plane = n * n;
                float[] rgb = Arrays.copyOf(v, 3 * plane);
                boolean[] bits = new boolean[plane];
                for (int i = 0; i < plane; i++) bits[i] = v[3 * plane + i] >= 0.5f;
                try (Tensor t = Tensor.of(rgb, 3, n, n)) {
                    return new Placement(RgbImage.fromTensor(t, RgbImage.Range.ZERO_ONE), Mask.of(n, n, bits), m, dx, dy, null);
                }
            }
        }
    }

    /** The axis-aligned box (pixel edges) of the mask's pixel squares under m. */
    static double[] transformedBox(Mask mask, Affine m) {
        double x0 = Double.MAX_VALUE, y0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (int y = 0; y < mask.height(); y++)
            for (int x = 0; x < mask.width(); x++) {
                if (!mask.get(x, y)) continue;
                for (int k = 0; k < 4; k++) {
                    double[] p = m.apply(x + ((k & 1) == 0 ? -0.5 : 0.5), y + ((k & 2) == 0 ? -0.5 : 0.5));
                    x0 = Math.min(x0, p[0]);
                    y0 = Math.min(y0, p[1]);
                    x1 = Math.max(x1, p[0]);
                    y1 = Math.max(y1, p[1]);
                }
            }
        // pixel-centre coordinates -> pixel edges: centre c covers [c - 0.5, c + 0.5]; report edges + 0.5
        return new double[]{x0 + 0.5, y0 + 0.5, x1 + 0.5, y1 + 0.5};
    }

}
