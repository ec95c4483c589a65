package org.imagenete.diffusion;

import org.imagenete.io.SafeTensors;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmGolden;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One guided blended step of ImageNet-E on the tiny ADM against the original code (golden guidance.safetensors):
 * complexity and its gradient, p_mean_variance, the guidance gradient g (and its two parts), the guided mean,
 * the DDPM sample, the noised object and the blended x_{i-1}, all as ops of the backend (on cuda-emulated the CUDA
 * kernels do the diffusion arithmetic too). Batch-mean complexity, as the released code.
 */
class GuidanceGoldenTest {
    static final String FILE = "guidance.safetensors";

    static void close(String name, Tensor got, Tensor want) {
        Compare.assertClose("guidance " + name, got, want, Golden.suggestedAtol(FILE, name), 0);
    }

    static void close(String name, double got, SafeTensors g) {
        double want = g.get(name).getDouble(0), atol = Golden.suggestedAtol(FILE, name);
        System.out.printf(java.util.Locale.ROOT, "guidance %-30s got %.7g want %.7g (|d| %.2g, atol %.2g)%n", name, got, want, Math.abs(got - want), atol);
        assertEquals(want, got, atol, name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"reference", "cpu", "cuda-emulated"})
    void oneGuidedBlendedStepMatches(String backend) {
        Ops ops = Backends.get(backend);
        try (SafeTensors g = SafeTensors.open(Golden.golden(FILE)); Adm model = AdmGolden.tinyModel()) {
            float lambda = Float.parseFloat(g.metadata().get("lambda"));
            float rangeLambda = Float.parseFloat(g.metadata().get("range_lambda"));
            try (Guidance.Complexity c = Guidance.complexity(ops, g.get("complexity.x"), new float[]{1, 1}, false)) {
                close("complexity.C", c.batch(), g);
                close("complexity.grad", c.gradient(), g.get("complexity.grad"));
            }
            GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, g.metadata().get("respacing")));
            Tensor ti = g.get("t_index");
            int[] idx = {(int) ti.getLong(0), (int) ti.getLong(1)};
            try (Tensor tm = d.modelTimesteps(idx)) {
                Compare.assertClose("guidance step.t_model", tm, g.get("step.t_model"), 0, 0);
            }
            Tensor x = g.get("x_t");
            Guidance.Terms terms = Guidance.Terms.complexity(new float[]{lambda, lambda}, rangeLambda, false);
            try (GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx, terms)) {
                close("pmv.model_out", r.modelOut(), g.get("pmv.model_out"));
                close("pmv.mean", r.pmv().mean(), g.get("pmv.mean"));
                close("pmv.variance", r.pmv().variance(), g.get("pmv.variance"));
                close("pmv.log_variance", r.pmv().logVariance(), g.get("pmv.log_variance"));
                close("pmv.pred_xstart", r.pmv().predX0(), g.get("pmv.pred_xstart"));
                close("step.g", r.g(), g.get("step.g"));
                close("step.C_pred", r.complexity(), g);
                close("step.range", r.range(), g);
                close("step.loss", r.loss(), g);
                try (Tensor gm = d.sample(ops, r.pmv(), r.g(), idx, null);
                     Tensor sample = d.sample(ops, r.pmv(), r.g(), idx, g.get("noise_sample"));
                     Tensor qObj = d.qSample(ops, g.get("x_obj"), idx, g.get("noise_obj"));
                     Tensor xPrev = ops.blend(sample, qObj, g.get("m_obj"), false)) {
                    close("step.guided_mean", gm, g.get("step.guided_mean"));
                    close("step.sample", sample, g.get("step.sample"));
                    close("step.q_obj", qObj, g.get("step.q_obj"));
                    close("step.x_prev", xPrev, g.get("step.x_prev"));
                }
            }
            try (GuidedStep.Result rc = GuidedStep.run(model, ops, d, x, idx, Guidance.Terms.complexity(new float[]{lambda, lambda}, 0, false));
                 GuidedStep.Result rr = GuidedStep.run(model, ops, d, x, idx, Guidance.Terms.complexity(new float[]{0, 0}, rangeLambda, false))) {
                close("step.g_complexity", rc.g(), g.get("step.g_complexity"));
                close("step.g_range", rr.g(), g.get("step.g_range"));
            }
        }
    }
}
