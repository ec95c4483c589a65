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

/** Variant names: one per distinct edit, read back to the same edit; a clash is an error. */
class VariantNamesTest {
    @TempDir Path dir;

    @Test
    void sweepValuesThatRoundAlikeGetTheirOwnNames() throws IOException {
        Path spec = Files.writeString(dir.resolve("v.yaml"), """
                variants:
                  - sweep: {attribute: size, values: [0.005, 0.01, 0.06, 0.0625, 0.0649, 0.1]}
                  - sweep: {attribute: background, values: [-2.5, 0.1, 20]}
                  - sweep: {attribute: direction, values: [30, 30.5, -359.99]}
                """);
        List<String> names = Variants.parse(spec.toString()).stream().map(Variant::name).toList();
        assertEquals(List.of("size-0.005", "size-0.01", "size-0.06", "size-0.0625", "size-0.0649", "size-0.10",
                "background-2.5", "background+0.1", "background+20", "direction+30", "direction+30.5", "direction-359.99"), names);
        // each name reads back as the same edits
        for (Variant v : Variants.parse(spec.toString()))
            assertEquals(v.edits(), Variants.fromName(v.name()), v.name());
    }

    @Test
    void theSameEditTwiceIsAnError() throws IOException {
        Path spec = Files.writeString(dir.resolve("dup.yaml"), "variants:\n  - sweep: {attribute: size, values: [0.05, 0.050]}\n");
        var e = assertThrows(IllegalArgumentException.class, () -> Variants.parse(spec.toString()));
        assertTrue(e.getMessage().contains("variant 'size-0.05' given twice"), e.getMessage());
        var f = assertThrows(IllegalArgumentException.class, () -> Variants.parse("size-0.05,size-0.050"));
        assertTrue(f.getMessage().contains("'size-0.05' and 'size-0.050' are the same edit (size-0.05)"), f.getMessage());
    }
}
