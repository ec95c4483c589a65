package example;

import org.imagenete.ImagenetE;
import org.imagenete.edit.Editor;
import org.imagenete.image.Images;
import org.imagenete.ops.Ops;

import java.nio.file.Path;

/**
 * Embedding imagenet-e: edit one image. Usage: Embed IMAGE MASK OUT.png [EDITS]
 * (run from examples/embed with `mvn -q compile exec:exec -Dexec.args="..."`, or see the README).
 */
public final class Embed {
    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]), mask = Path.of(args[1]), out = Path.of(args[2]);
        String edits = args.length > 3 ? args[3] : "size=0.08,direction=30";
        Ops ops = ImagenetE.backend(null);
        Editor.Result r = ImagenetE.edit(ImagenetE.ImageEdit.of(image, mask, edits).withSeed(42), ops);
        if (!r.ok()) throw new IllegalStateException(r.unreachable());
        Images.writePng(r.image(), out);
        System.out.printf("%s -> %s: object now %.3f of the image (%s)%n", image, out, r.mask().areaRatio(), r.values());
    }
}
