package org.imagenete.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ImageFolder labels: wnids, or a class map; hidden folders ignored; never a silent fallback to sorted indices. */
class ImageFolderLabelsTest {
    @TempDir Path dir;

    private Path folder(String... classes) throws IOException {
        Path root = Files.createDirectories(dir.resolve("data" + classes.length));
        for (String c : classes) Files.write(Files.createDirectories(root.resolve(c)).resolve("x.jpg"), new byte[]{1});
        return root;
    }

    @Test
    void hiddenFoldersAndFilesAreIgnored() throws IOException {
        Path root = folder("n01514859", "n02123045", ".ipynb_checkpoints");
        Files.write(root.resolve("n01514859/._x.jpg"), new byte[]{1});
        List<EvalItem> items = Datasets.imageFolder(root);
        assertEquals(List.of(8, 281), items.stream().map(EvalItem::label).toList(), "ImageNet indices of the wnids");
    }

    @Test
    void aFolderThatIsNotAWnidIsAnErrorUnlessMapped() throws IOException {
        Path root = folder("n01514859", "cats");
        var e = assertThrows(IllegalArgumentException.class, () -> Datasets.imageFolder(root));
        assertTrue(e.getMessage().startsWith(root.resolve("cats") + ": folder name is not an ImageNet-1k wnid"), e.getMessage());
        assertEquals(List.of(0, 1), Datasets.imageFolder(root, Datasets.classMap("sorted", root)).stream().map(EvalItem::label).toList(),
                "sorted: cats 0, n01514859 1 (torchvision's ImageFolder)");
        Path map = Files.writeString(dir.resolve("map.csv"), "folder,label\n# mine\ncats,n02123045\nn01514859,8\n");
        assertEquals(Map.of("cats", 281, "n01514859", 8), Datasets.classMap(map.toString(), root));
        Path bad = Files.writeString(dir.resolve("bad.csv"), "cats,tiger\n");
        var b = assertThrows(IllegalArgumentException.class, () -> Datasets.classMap(bad.toString(), root));
        assertTrue(b.getMessage().contains("bad.csv line 1: label 'tiger' is neither an index nor a wnid"), b.getMessage());
    }
}
