package org.imagenete.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --precision} on the commands: bf16 on the cpu backend, recorded in outputs; what the reference refuses. */
class PrecisionCommandTest {
    @TempDir Path dir;

    static final String EXPECTED = CpuOps.bf16Supported() ? "bf16" : "fp32";

    private static void oneLine(Cli.Run r, String fragment) {
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().filter(l -> !l.contains("INFO") && !l.contains("org.imagenete")).count(), r.err());
        assertTrue(r.err().contains(fragment), "'" + fragment + "' not in: " + r.err());
    }

    @Test
    void unetInBf16IsCloseToTheGoldenAndSaysSo() {
        Path out = dir.resolve("out.safetensors");
        Cli.Run r = run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", out.toString(),
                "--num-head-channels", "8", "--backend", "cpu", "--precision", "bf16");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            // bf16 operands through 16 convolutions of the tiny model (K = 288 to 1152 products): measured rel L2 1.1e-2
            Compare.Result e = Compare.assertClose("unet cli bf16 out", got.get("out"), ref.get("out"), 0.1, 0);
            assertTrue(e.relL2() < 2e-2, "rel L2 " + e.relL2());
            assertEquals(EXPECTED, got.metadata().get("precision"));
            assertEquals("cpu", got.metadata().get("backend"));
        }
    }

    @Test
    void theReferenceIsFp32Only() {
        Cli.Run r = run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", dir.resolve("o.safetensors").toString(),
                "--num-head-channels", "8", "--backend", "reference", "--precision", "bf16");
        oneLine(r, "--precision bf16: the reference backend computes in fp32/fp64 only");
        oneLine(run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", dir.resolve("o.safetensors").toString(),
                "--precision", "fp8"), "--precision fp8: choose from [fp32, bf16, fp16]");
    }

    @Test
    void editSidecarRecordsThePrecision() throws Exception {
        Path animals = Golden.animals();
        Cli.Run r = run("edit", animals.resolve("koala_1.jpg").toString(), "--mask", animals.resolve("masks/koala_1.png").toString(),
                "--set", "size=0.08", "--seed", "5", "--out", dir.toString(), "--backend", "cpu", "--precision", "bf16");
        assertEquals(0, r.code(), r.err());
        JsonNode side = new ObjectMapper().readTree(dir.resolve("koala_1.size-0.08.json").toFile());
        assertEquals("cpu", side.get("backend").asText());
        assertEquals(EXPECTED, side.get("precision").asText());
    }
}
