package org.imagenete.diffusion;

import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.reflect.Field;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Every schedule array, respacing and model timestep against guided-diffusion (golden schedule.safetensors). */
class ScheduleTest {
    static final String[] ARRAYS = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "alphas_cumprod_next",
            "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
            "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
            "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "log_betas"};

    static String camel(String s) {
        StringBuilder b = new StringBuilder();
        boolean up = false;
        for (char c : s.toCharArray()) {
            if (c == '_') up = true;
            else {
                b.append(up ? Character.toUpperCase(c) : c);
                up = false;
            }
        }
        return b.toString().replace("Recipm1", "Recipm1");
    }

    @ParameterizedTest
    @CsvSource({"base, ''", "r100, 100", "r250, 250", "ddim50, ddim50", "r25, 25"})
    void matchesGuidedDiffusion(String prefix, String spec) throws Exception {
        Schedule s = Schedule.respaced(1000, spec);
        try (SafeTensors g = SafeTensors.open(Golden.golden("schedule.safetensors"))) {
            if (!prefix.equals("base")) {
                Tensor ts = g.get(prefix + ".timesteps");
                assertEquals(ts.numel(), s.steps, "steps");
                for (int i = 0; i < s.steps; i++) assertEquals(ts.getLong(i), s.timestep(i), prefix + " timestep " + i);
                Tensor mt = g.get(prefix + ".model_t");
                for (int i = 0; i < s.steps; i++) assertEquals((float) mt.getDouble(i), s.modelTimestep(i), prefix + " model_t " + i);
            }
            double worst = 0;
            for (String a : ARRAYS) {
                Field f = Schedule.class.getField(camel(a));
                double[] mine = (double[]) f.get(s);
                Tensor ref = g.get(prefix + "." + a);
                assertEquals(ref.numel(), mine.length, a);
                for (int i = 0; i < mine.length; i++) {
                    double r = ref.getDouble(i), d = Math.abs(mine[i] - r);
                    worst = Math.max(worst, d / Math.max(1e-300, Math.abs(r)));
                    assertEquals(r, mine[i], 1e-12 * Math.max(1, Math.abs(r)), prefix + "." + a + "[" + i + "]");
                }
            }
            System.out.printf(Locale.ROOT, "schedule %s: %d steps, worst relative difference %.2e%n", prefix, s.steps, worst);
        }
    }
}
