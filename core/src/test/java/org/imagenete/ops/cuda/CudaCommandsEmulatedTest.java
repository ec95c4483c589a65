package org.imagenete.ops.cuda;

import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The checking commands with {@code --backend cuda-emulated} on the golden cases: {@code unet} (forward and
 * {@code --vjp}), {@code step} (a guided sampling step: UNet forward and VJP, fft2 and its adjoint), and
 * {@code classify} (golden ResNet-50 logits); and the backend provider: auto never picks the emulator, and
 * {@code cuda} without a GPU fails with the reason.
 */
class CudaCommandsEmulatedTest {

    @TempDir Path dir;


    @Test
    void unetForwardAndVjpMatchTheGolden() {
        Path out = dir.resolve("out.safetensors");
        Cli.Run r = run("unet", "--vjp", "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--input",
                Golden.golden("adm-tiny/io.safetensors").toString(), "--output", out.toString(), "--num-head-channels", "8",
                "--backend", "cuda-emulated");
        assertEquals(0, r.code(), r.err());
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("adm-tiny/io.safetensors"))) {
            assertEquals("cuda-emulated", got.metadata().get("backend"));
            Compare.assertClose("unet cli cuda-emulated out", got.get("out"), ref.get("out"), Golden.suggestedAtol("adm-tiny/io.safetensors", "out"), 0);
            Compare.assertClose("unet cli cuda-emulated dx", got.get("dx"), ref.get("dx"), Golden.suggestedAtol("adm-tiny/io.safetensors", "dx"), 0);
        }
    }

    @Test
    void guidedStepMatchesTheGolden() {
        Path out = dir.resolve("step.safetensors");
        Cli.Run r = run("step", "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--input",
                Golden.golden("guidance.safetensors").toString(), "--output", out.toString(), "--num-head-channels", "8",
                "--lambda", "20", "--range-lambda", "50", "--respacing", "100", "--backend", "cuda-emulated");
        assertEquals(0, r.code(), r.err());
        int compared = 0;
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("guidance.safetensors"))) {
            for (String name : ref.tensors().keySet()) {
                if (!(name.startsWith("pmv.") || name.startsWith("step.")) || name.equals("step.t_unscaled")) continue;
                Compare.assertClose("step cli cuda-emulated " + name, got.get(name), ref.get(name),
                        Golden.suggestedAtol("guidance.safetensors", name), 0);
                compared++;
            }
        }
        assertEquals(16, compared);
    }

    @Test
    void classifyResNet50MatchesTheGoldenLogits() throws Exception {
        Path w = Golden.formulaResNet(dir.resolve("resnet50.safetensors"), 50);
        Path out = dir.resolve("logits.safetensors");
        long t0 = System.nanoTime();
        Cli.Run r = run("classify", "--weights", w.toString(), "--input", Golden.golden("resnet50/io.safetensors").toString(),
                "--output", out.toString(), "--backend", "cuda-emulated");
        assertEquals(0, r.code(), r.err());
        System.out.printf(java.util.Locale.ROOT, "classify resnet50 (batch 2, 224x224) on cuda-emulated: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("resnet50/io.safetensors"))) {
            Compare.assertClose("classify cuda-emulated resnet50 logits", got.get("logits"), ref.get("logits"),
                    Golden.suggestedAtol("resnet50/io.safetensors", "logits"), 0);
        }
    }

    @Test
    void autoNeverPicksTheEmulatorAndCudaSaysWhyItIsMissing() {
        String old = System.getProperty("imagenete.backend");
        System.clearProperty("imagenete.backend");
        try {
            var auto = Backends.get("auto");
            assertTrue(!auto.name().contains("emulated"), auto.name());
            if (org.imagenete.device.Devices.gpu().isEmpty()) {
                assertInstanceOf(CpuOps.class, auto);
                var e = assertThrows(IllegalStateException.class, () -> Backends.get("cuda"));
                assertTrue(e.getMessage().startsWith("backend 'cuda' unavailable: "), e.getMessage());
                System.out.println(e.getMessage());
            } else {
                assertEquals("cuda", auto.name());
            }
        } finally {
            if (old != null) System.setProperty("imagenete.backend", old);
        }
        assertTrue(Backends.NAMES.containsAll(java.util.List.of("cuda", "cuda-emulated")));
    }
}
