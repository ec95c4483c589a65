package example;

import org.imagenete.Backend;
import org.imagenete.EditResult;
import org.imagenete.ImageEdit;
import org.imagenete.ImagenetE;

import java.nio.file.Path;

/**
 * Embedding imagenet-e: edit one image. Usage: Embed IMAGE MASK OUT.png [EDITS]
 * (run from examples/embed with `mvn -q compile exec:exec -Dexec.args="..."`, or see the README). This project is a
 * named module (module-info.java): it can use only the package the library exports, the API in {@code org.imagenete}.
 */
public final class Embed {
    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]), mask = Path.of(args[1]), out = Path.of(args[2]);
        String edits = args.length > 3 ? args[3] : "size=0.08,direction=30";
        Backend backend = ImagenetE.backend(null);
        EditResult r = ImagenetE.edit(ImageEdit.of(image, mask, edits).withSeed(42), backend);
        if (!r.ok()) throw new IllegalStateException(r.unreachable());
        r.writePng(out);
        System.out.printf("%s -> %s: object now %.3f of the image (%s)%n", image, out, r.objectArea(), r.values());
    }
}
