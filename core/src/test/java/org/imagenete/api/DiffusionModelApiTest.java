package org.imagenete.api;

import org.imagenete.Backend;
import org.imagenete.DiffusionModel;
import org.imagenete.ImagenetE;
import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The API's UNet call on the tiny ADM against guided-diffusion's output (the golden file of nn.AdmGoldenTest). */
class DiffusionModelApiTest {
    @Test
    void unetMatchesTheOriginalCode() {
        String file = "adm-tiny/io.safetensors";
        Backend backend = ImagenetE.backend("cpu");
        try (DiffusionModel adm = ImagenetE.loadDiffusion(Golden.golden("adm-tiny/weights.safetensors"), Map.of("num_head_channels", "8"), backend);
             SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            Tensor x = io.get("x");
            int batch = x.dim(0), size = x.dim(2);
            float[] out = adm.unet(x.toFloatArray(), batch, size, io.get("t").toFloatArray());
            assertEquals(io.get("out").dim(1), adm.outChannels());
            try (Tensor got = Tensor.of(out, batch, adm.outChannels(), size, size)) {
                Compare.assertClose("api unet", got, io.get("out"), Golden.suggestedAtol(file, "out"), 0);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> adm.unet(new float[5], 1, size, new float[1]));
            assertTrue(e.getMessage().contains("5 values"), e.getMessage());
        }
    }
}
