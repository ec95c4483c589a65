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

    /**
     * bf16 operands through 16 convolutions of the tiny model (K = 288 to 1152 products). Its 3x3 convolutions where
     * Winograd pays run with a bf16 GEMM by default (~1% per convolution, see Bf16AgreementTest): measured rel L2
     * 2.8e-2 at the output, bound 4e-2 (the bound of the full-size ADM-256, 3%, is tested in Bf16ModelsTest). With
     * that Winograd's fp32 transforms ({@code setWinogradBf16(false)}, the direct bf16 convolution's accuracy):
     * measured 1.1e-2, bound 2e-2.
     */
    @Test
    void unetInBf16IsCloseToTheGoldenAndSaysSo() {
        unetBf16("out.safetensors", 4e-2);
        CpuOps.setWinogradBf16(false);
        try {
            unetBf16("out-fp32-winograd.safetensors", 2e-2);
        } finally {
            CpuOps.setWinogradBf16(true);
        }
    }

    private void unetBf16(String name, double bound) {
        Path out = dir.resolve(name);
        Cli.Run r = run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", out.toString(),
                "--num-head-channels", "8", "--backend", "cpu", "--precision", "bf16");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            Compare.Result e = Compare.assertClose("unet cli bf16 out (" + name + ")", got.get("out"), ref.get("out"), 0.1, 0);
            assertTrue(e.relL2() < bound, "rel L2 " + e.relL2() + ", bound " + bound);
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
