package org.imagenete.edit;

import org.imagenete.image.Mask;
import org.imagenete.image.RgbImage;
import org.imagenete.ops.Backends;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code position=X:Y}: the object's box centred at a point given as fractions of the image, kept inside. */
class PositionTargetTest {
    @Test
    void parsedNamedAndPrinted() {
        assertEquals(List.of(new Edit.Position(0.25, 0.75)), Edit.parse("position=0.25:0.75"));
        assertEquals("size-0.05_position-0.25-0.75", Edit.name(Edit.parse("position=0.25:0.75,size=0.05")));
        assertEquals("position", Edit.name(Edit.parse("position")));
        assertTrue(((Edit.Position) Edit.parse("position=random").getFirst()).random());
        assertEquals("Position[]", new Edit.Position().toString(), "the random one prints as before (sidecars, manifests)");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Edit.parse("position=1.5:0")).getMessage().contains("[0, 1]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Edit.parse("position=0.5")).getMessage().contains("X:Y"));
    }

    @Test
    void theBoxIsCentredAtTheTargetOrAsCloseAsItStaysInside() {
        int n = 128;
        byte[] rgb = new byte[n * n * 3];
        boolean[] bits = new boolean[n * n];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                boolean obj = x >= 20 && x < 60 && y >= 40 && y < 70;   // a 40 x 30 object
                bits[y * n + x] = obj;
                rgb[(y * n + x) * 3] = (byte) (obj ? 250 : 40 + x / 2);
                rgb[(y * n + x) * 3 + 1] = (byte) (obj ? 10 : 90 + y / 2);
            }
        Editor.Source src = new Editor.Source("box", RgbImage.of(n, n, rgb), Mask.of(n, n, bits), -1, null);
        Editor e = new Editor(Editor.Config.defaults().withSize(n), null, Backends.get("reference"), HoleFiller.named("telea"), null);
        List<Editor.Result> rs = e.run(List.of(new Editor.Task(src, Edit.parse("position=0.75:0.5"), 1),
                new Editor.Task(src, Edit.parse("position=0:1"), 1), new Editor.Task(src, Edit.parse("position=0.5:0.5,size=0.03"), 1)));
        for (Editor.Result r : rs) assertTrue(r.ok(), r.task().variant() + ": " + r.unreachable());
        Mask.Box b = rs.get(0).mask().boundingBox();
        assertEquals(0.75 * n, (b.x0() + b.x1()) / 2.0, 1.0, "centre x: " + b);
        assertEquals(0.5 * n, (b.y0() + b.y1()) / 2.0, 1.0, "centre y: " + b);
        assertEquals(40 * 30, rs.get(0).mask().count(), "moved, not resized");
        Mask.Box corner = rs.get(1).mask().boundingBox();
        assertEquals(0, corner.x0(), "clamped to the left edge: " + corner);
        assertEquals(n, corner.y1(), "clamped to the bottom edge: " + corner);
        Mask.Box mid = rs.get(2).mask().boundingBox();
        assertEquals(0.03, rs.get(2).mask().areaRatio(), 0.0003);
        assertEquals(n / 2.0, (mid.x0() + mid.x1()) / 2.0, 1.0, "scaled and centred: " + mid);
        assertEquals(n / 2.0, (mid.y0() + mid.y1()) / 2.0, 1.0, "scaled and centred: " + mid);
    }
}
