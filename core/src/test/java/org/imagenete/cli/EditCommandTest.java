package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code imagenet-e edit}: outputs, reproducible sidecars, identical bytes for the same seed, clear errors. */
class EditCommandTest {
    @TempDir Path dir;

    static Path animal(String f) { return Golden.animals().resolve(f); }

    @Test
    void sameSeedSameBytesAndASidecarThatReproducesIt() throws Exception {
        for (String out : new String[]{"a", "b"}) {
            var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "size=0.08",
                    "--set", "direction=30,position", "--seed", "5", "--label", "n01882714", "--out", dir.resolve(out).toString());
            assertEquals(0, r.code(), r.err());
        }
        for (String f : new String[]{"koala_1.size-0.08.png", "koala_1.size-0.08.mask.png", "koala_1.size-0.08.json",
                "koala_1.direction+30_position.png", "koala_1.direction+30_position.json"})
            assertArrayEquals(Files.readAllBytes(dir.resolve("a").resolve(f)), Files.readAllBytes(dir.resolve("b").resolve(f)), f);
        JsonNode j = Golden.json(dir.resolve("a/koala_1.size-0.08.json"));
        assertEquals(5, j.get("seed").asLong());
        assertEquals(105, j.get("source").get("label").asInt());
        assertEquals(0.08, j.get("values").get("ratio_achieved").asDouble(), 0.0008);
        assertTrue(j.get("source").get("image_sha256").asText().matches("[0-9a-f]{64}"));
        assertEquals("patch", j.get("fill").asText());
        // another seed moves the object elsewhere
        var r = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "direction=30,position",
                "--seed", "6", "--out", dir.resolve("c").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(!java.util.Arrays.equals(Files.readAllBytes(dir.resolve("a/koala_1.direction+30_position.png")),
                Files.readAllBytes(dir.resolve("c/koala_1.direction+30_position.png"))));
    }

    @Test
    void badRequestsSayWhy() {
        var wrongSize = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/tabby_1.png").toString(), "--set", "size=0.05",
                "--out", dir.resolve("x").toString());
        assertEquals(1, wrongSize.code());
        assertTrue(wrongSize.err().contains("tabby_1.png") && wrongSize.err().matches("(?s).*\\d+x\\d+.*\\d+x\\d+.*"), wrongSize.err());
        var noModel = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "background=20",
                "--out", dir.resolve("x").toString());
        assertEquals(2, noModel.code(), "a missing option is a usage error");
        assertTrue(noModel.err().contains("--weights"), noModel.err());
        var badEdit = run("edit", animal("koala_1.jpg").toString(), "--mask", animal("masks/koala_1.png").toString(), "--set", "colour=red",
                "--out", dir.resolve("x").toString());
        assertEquals(2, badEdit.code(), "a bad option value is a usage error");
        assertTrue(badEdit.err().contains("--set colour=red: unknown edit 'colour'"), badEdit.err());
        var tooBig = run("edit", animal("lesser_panda_1.jpg").toString(), "--mask", animal("masks/lesser_panda_1.png").toString(),
                "--set", "size=0.9", "--out", dir.resolve("y").toString());
        assertEquals(1, tooBig.code(), "an unreachable size is reported, nothing written in its place");
        assertTrue(tooBig.err().contains("does not fit") || tooBig.err().contains("unreachable"), tooBig.err());
        assertTrue(!Files.exists(dir.resolve("y/lesser_panda_1.size-0.90.png")));
    }
}
