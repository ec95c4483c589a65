package org.imagenete.dataset;

import org.imagenete.io.ImageNetClasses;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The generator's input list: an ImageFolder {@code <wnid>/<image>} with masks mirrored as
 * {@code <masks>/<wnid>/<image stem>.png}, sorted by relative path, so that a shard is a pure function of the
 * list: shard i of n takes the images at positions i, i + n, i + 2n, ...
 */
public final class Inputs {
    static final Set<String> EXT = Set.of("jpg", "jpeg", "png", "webp");

    /** One source image. {@code id} = "wnid/stem", unique in the folder. */
    public record Item(String id, Path image, Path mask, String wnid, int label) {}

    private Inputs() {}

    public static List<Item> scan(Path images, Path masks) {
        if (!Files.isDirectory(images)) throw new IllegalArgumentException(images + ": not a folder");
        List<Item> out = new ArrayList<>();
        ImageNetClasses cls = ImageNetClasses.get();
        try (Stream<Path> classes = Files.list(images)) {
            // hidden folders (.ipynb_checkpoints, .git) are not classes
            for (Path c : classes.filter(p -> Files.isDirectory(p) && !p.getFileName().toString().startsWith(".")).sorted().toList()) {
                String wnid = c.getFileName().toString();
                var k = cls.byWnid(wnid);
                if (k == null) throw new IllegalArgumentException(c + ": folder name is not an ImageNet-1k wnid");
                try (Stream<Path> files = Files.list(c)) {
                    for (Path f : files.filter(Inputs::isImage).sorted().toList()) {
                        String stem = f.getFileName().toString().replaceFirst("\\.[^.]+$", "");
                        Path m = masks == null ? null : masks.resolve(wnid).resolve(stem + ".png");
                        out.add(new Item(wnid + "/" + stem, f, m, wnid, k.index()));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (int i = 1; i < out.size(); i++)
            if (out.get(i).id().equals(out.get(i - 1).id()))
                throw new IllegalArgumentException("two images named " + out.get(i).id() + " (different extensions)");
        if (out.isEmpty()) throw new IllegalArgumentException(images + ": no images in <wnid>/ folders");
        return out;
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.startsWith(".")) return false;   // ._photo.jpg (macOS metadata), editors' hidden files
        int dot = n.lastIndexOf('.');
        return Files.isRegularFile(p) && dot > 0 && EXT.contains(n.substring(dot + 1));
    }

    /** The items of shard i of n (0-based). */
    public static List<Item> shard(List<Item> all, int i, int n) {
        if (n < 1 || i < 0 || i >= n) throw new IllegalArgumentException("shard " + i + "/" + n + ": need 0 <= i < n");
        List<Item> out = new ArrayList<>();
        for (int k = i; k < all.size(); k += n) out.add(all.get(k));
        return out;
    }
}
