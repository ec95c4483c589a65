package org.imagenete.edit;

import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.diffusion.GuidanceClassifier;
import org.imagenete.nn.Adm;
import org.imagenete.nn.AdmGolden;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ResNet as the adversarial guidance term: its log-probability gradient, and the "-adv" sampler path. */
class ClassifierGuidanceTest {
    static ResNet resnet18() { return org.imagenete.nn.ResNetTest.formula(18); }

    /** Statistical finite-difference check (ReLU kinks; see ResNetTest) of d log p(y|x)/dx, raw and through the normalisation. */
    @ParameterizedTest
    @EnumSource(ClassifierGuidance.Input.class)
    void logProbGradientMatchesFiniteDifferences(ClassifierGuidance.Input input) {
        Ops ops = Backends.get("cpu");
        int[] labels = {3, 500};
        try (ResNet net = resnet18(); Tensor x = Rand.uniform(8, 0.9f, 2, 3, 32, 32)) {
            ClassifierGuidance cg = new ClassifierGuidance(net, input);
            try (GuidanceClassifier.LogProb lp = cg.logProb(ops, x, labels)) {
                double saa = 0, saf = 0, sff = 0, h = 2e-3;
                for (int k = 0; k < 30; k++) {
                    try (Tensor d = Rand.uniform(100 + k, 2, 3, 32, 32)) {
                        double an = 0;
                        for (long i = 0; i < d.numel(); i++) an += lp.gradient().getDouble(i) * d.getDouble(i);
                        double fd = (sum(cg, ops, x, d, h, labels) - sum(cg, ops, x, d, -h, labels)) / (2 * h);
                        saa += an * an;
                        saf += an * fd;
                        sff += fd * fd;
                    }
                }
                double slope = saf / saa, corr = saf / Math.sqrt(saa * sff);
                System.out.printf(Locale.ROOT, "%s input: log p(y|x) gradient vs finite differences: slope %.4f, correlation %.5f%n", input, slope, corr);
                assertEquals(1.0, slope, 0.03);
                assertTrue(corr > 0.99);
                for (float v : lp.values()) assertTrue(v < 0 && Float.isFinite(v));
            }
        }
    }

    private static double sum(ClassifierGuidance cg, Ops ops, Tensor x, Tensor d, double h, int[] labels) {
        try (Tensor xe = x.copy()) {
            for (long i = 0; i < xe.numel(); i++) xe.setFloat(i, (float) (x.getDouble(i) + h * d.getDouble(i)));
            try (GuidanceClassifier.LogProb lp = cg.logProb(ops, xe, labels)) {
                return (double) lp.values()[0] + lp.values()[1];
            }
        }
    }

    /** A "+20-adv" blended sample runs end to end and differs from the plain "+20" one. */
    @Test
    void adversarialVariantRunsInTheSampler() {
        Ops ops = Backends.get("cpu");
        try (Adm adm = AdmGolden.tinyModel(); ResNet net = resnet18(); Tensor bg = Rand.uniform(1, 0.8f, 3, 32, 32);
             Tensor obj = Rand.uniform(2, 0.8f, 3, 32, 32); Tensor m = Tensor.zeros(org.imagenete.tensor.DType.F32, 1, 32, 32)) {
            for (int i = 0; i < 200; i++) m.setFloat(400 + i, 1f);
            BlendedSampler.Job job = new BlendedSampler.Job(bg, obj, m, 20f, 7, 281);
            BlendedSampler.Options plain = BlendedSampler.Options.defaults().withSkip(3);
            BlendedSampler.Options adv = BlendedSampler.Options.defaults().withSkip(3).withClassifier(new ClassifierGuidance(net)).withAdversarialScale(5f);
            List<Tensor> a = BlendedSampler.sample(adm, ops, List.of(job), plain), b = BlendedSampler.sample(adm, ops, List.of(job), adv);
            try {
                assertNotEquals(-1L, a.get(0).data().mismatch(b.get(0).data()), "the adversarial term changes the result");
            } finally {
                a.forEach(Tensor::close);
                b.forEach(Tensor::close);
            }
        }
    }

    /** The normalisation kept below eval (edit may not import it) is eval's ImageNet preprocessing. */
    @Test
    void normalisationIsTheClassifiersImageNetOne() {
        var p = org.imagenete.eval.PreprocessSettings.imagenet();
        org.junit.jupiter.api.Assertions.assertArrayEquals(p.mean(), ClassifierGuidance.MEAN);
        org.junit.jupiter.api.Assertions.assertArrayEquals(p.std(), ClassifierGuidance.STD);
    }
}
