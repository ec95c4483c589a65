package org.imagenete.cli;

import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code imagenet-e unet}: the checking tool users run against their own reference. */
class UnetCommandTest {
    @TempDir Path dir;



    @ParameterizedTest
    @CsvSource({"weights.pt, reference", "weights.safetensors, cpu"})
    void matchesGoldenOutput(String weights, String backend) {
        Path out = dir.resolve("out.safetensors");
        Cli.Run r = run("unet", "--weights", Golden.golden("adm-tiny/" + weights).toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", out.toString(),
                "--num-head-channels", "8", "--backend", backend);
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            Compare.assertClose("unet cli " + backend + " out", got.get("out"), ref.get("out"),
                    Golden.suggestedAtol("adm-tiny/io.safetensors", "out"), 0);
            assertEquals(backend, got.metadata().get("backend"));
        }
    }

    @Test
    void vjpMatchesGoldenInputGradient() {
        Path out = dir.resolve("vjp.safetensors");
        Cli.Run r = run("unet", "--vjp", "--weights", Golden.golden("adm-tiny/weights.pt").toString(),
                "--input", Golden.golden("adm-tiny/io.safetensors").toString(), "--output", out.toString(),
                "--num-head-channels", "8");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            Compare.assertClose("unet --vjp dx", got.get("dx"), ref.get("dx"), Golden.suggestedAtol("adm-tiny/io.safetensors", "dx"), 0);
            Compare.assertClose("unet --vjp out", got.get("out"), ref.get("out"), Golden.suggestedAtol("adm-tiny/io.safetensors", "out"), 0);
        }
    }

    private Path input(Map<String, Tensor> tensors) throws IOException {
        Path p = dir.resolve("in" + tensors.keySet().hashCode() + ".safetensors");
        SafeTensors.write(p, tensors, Map.of());
        tensors.values().forEach(Tensor::close);
        return p;
    }

    private Cli.Run runTiny(Path in) {
        return run("unet", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(), "--input", in.toString(),
                "--output", dir.resolve("o.safetensors").toString(), "--num-head-channels", "8");
    }

    private static void oneLine(Cli.Run r, String... fragments) {
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().filter(l -> !l.contains("INFO") && !l.contains("org.imagenete")).count(), r.err());
        for (String f : fragments) assertTrue(r.err().contains(f), "'" + f + "' not in: " + r.err());
    }

    @Test
    void badInputsGiveOneLineReasons() throws IOException {
        oneLine(runTiny(input(Map.of("x", Rand.uniform(1, 2, 4, 32, 32), "t", Rand.uniform(2, 2)))),
                "tensor 'x'", "[2, 4, 32, 32]", "expected [B,3,H,W]");
        oneLine(runTiny(input(Map.of("x", Rand.uniform(1, 2, 3, 32, 32), "t", Rand.uniform(2, 3)))),
                "tensor 't'", "expected [2]");
        oneLine(runTiny(input(Map.of("x", Rand.uniform(1, 2, 3, 32, 32)))), "missing tensor 't'");
        oneLine(runTiny(input(Map.of("x", Rand.uniform(1, 1, 3, 30, 30), "t", Rand.uniform(2, 1)))), "multiples of 4");
        Path corrupt = dir.resolve("corrupt.pt");
        byte[] all = Files.readAllBytes(Golden.golden("adm-tiny/weights.pt"));
        Files.write(corrupt, java.util.Arrays.copyOf(all, all.length - 1000));
        Cli.Run r = run("unet", "--weights", corrupt.toString(), "--input", Golden.golden("adm-tiny/io.safetensors").toString(),
                "--output", dir.resolve("o2.safetensors").toString());
        oneLine(r, corrupt.toString());
        assertFalse(Files.exists(dir.resolve("o2.safetensors")), "no output after a failure");
        Cli.Run missing = run("unet", "--weights", dir.resolve("nope.pt").toString(), "--input", "x", "--output", "y");
        assertEquals(1, missing.code());
        Cli.Run usage = run("unet", "--weights");
        assertEquals(2, usage.code(), usage.err());
    }
}
