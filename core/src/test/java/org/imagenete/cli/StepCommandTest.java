package org.imagenete.cli;

import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.imagenete.testutil.Cli.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code imagenet-e step} reads the golden inputs and writes every golden output, under the same names. */
class StepCommandTest {
    @TempDir Path dir;

    @Test
    void writesEveryGoldenOutputWithinTolerance() {
        Path out = dir.resolve("step.safetensors");
        var r = run("step", "--weights", Golden.golden("adm-tiny/weights.pt").toString(), "--input",
                Golden.golden("guidance.safetensors").toString(), "--output", out.toString(), "--num-head-channels", "8",
                "--lambda", "20", "--range-lambda", "50", "--respacing", "100", "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        int compared = 0;
        try (SafeTensors got = SafeTensors.open(out); SafeTensors ref = SafeTensors.open(Golden.golden("guidance.safetensors"))) {
            for (String name : ref.tensors().keySet()) {
                if (!(name.startsWith("pmv.") || name.startsWith("step."))) continue;
                if (name.equals("step.t_unscaled")) {
                    for (int i = 0; i < 2; i++) assertEquals(ref.get(name).getLong(i), got.get(name).getLong(i));
                } else {
                    Compare.assertClose("step cli " + name, got.get(name), ref.get(name), Golden.suggestedAtol("guidance.safetensors", name), 0);
                }
                compared++;
            }
        }
        assertEquals(17, compared, "every pmv.* (5) and step.* (12) output");
    }

    @Test
    void badInputsAreNamed() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("x_t", Rand.uniform(1, 2, 3, 32, 32));
        m.put("x_obj", Rand.uniform(2, 2, 3, 32, 32));
        m.put("m_obj", Rand.uniform(3, 2, 1, 16, 16));
        Path in = dir.resolve("bad.safetensors");
        SafeTensors.write(in, m, Map.of());
        m.values().forEach(Tensor::close);
        var r = run("step", "--weights", Golden.golden("adm-tiny/weights.safetensors").toString(), "--input", in.toString(),
                "--output", dir.resolve("o.safetensors").toString(), "--num-head-channels", "8");
        assertEquals(1, r.code());
        for (String f : List.of("'m_obj'", "[2, 1, 16, 16]", "expected [2, 1, 32, 32]")) assertTrue(r.err().contains(f), r.err());
    }
}
