package org.imagenete.dataset;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** generate's input folder: wnid folders only, hidden folders and files skipped, anything else named. */
class InputsTest {
    @TempDir Path dir;

    @Test
    void hiddenFoldersAndFilesAreSkipped() throws IOException {
        Files.write(Files.createDirectories(dir.resolve("n01514859")).resolve("hen.jpg"), new byte[]{1});
        Files.write(dir.resolve("n01514859/._hen.jpg"), new byte[]{1});
        Files.write(Files.createDirectories(dir.resolve(".ipynb_checkpoints")).resolve("hen-checkpoint.jpg"), new byte[]{1});
        List<Inputs.Item> items = Inputs.scan(dir, null);
        assertEquals(List.of("n01514859/hen"), items.stream().map(Inputs.Item::id).toList());
        Files.createDirectories(dir.resolve("cats"));
        var e = assertThrows(IllegalArgumentException.class, () -> Inputs.scan(dir, null));
        assertTrue(e.getMessage().startsWith(dir.resolve("cats") + ": folder name is not an ImageNet-1k wnid"), e.getMessage());
    }
}
