package org.imagenete.nn;

import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.edit.Edit;
import org.imagenete.edit.Editor;
import org.imagenete.edit.HoleFiller;
import org.imagenete.eval.Preprocessor;
import org.imagenete.eval.PreprocessSettings;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.RgbImage;
import org.imagenete.io.SafeTensors;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.ops.Precision;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The models in bf16 (convolution weights converted once at load, bf16 operands, fp32 sums) against fp32: the
 * accuracy the README states. On a CPU without AVX-512 BF16 the backend runs fp32 on the bf16-rounded weights, and
 * the bounds hold all the more.
 */
class Bf16ModelsTest {
    static double relL2(Tensor a, Tensor r) {
        assertEquals(r.shape(), a.shape());
        double num = 0, den = 0;
        for (long i = 0; i < r.numel(); i++) {
            double d = a.getDouble(i) - r.getDouble(i);
            assertTrue(Double.isFinite(d), "element " + i + " not finite");
            num += d * d;
            den += r.getDouble(i) * r.getDouble(i);
        }
        assertTrue(den > 0, "reference is all zeros");
        return Math.sqrt(num / den);
    }

    /** The full-size ADM-256 (formula weights, salt 0) in bf16 against the float64 golden output: within 3%. */
    @Test
    void adm256Bf16IsWithinThreePercentOfTheGolden() {
        Ops ops = Backends.get("cpu", Precision.BF16);
        String file = "adm-256/io.safetensors";
        try (Adm model = AdmGolden.model256(0, ops.convWeightType()); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            assertEquals(ops.convWeightType(), model.weights().get("input_blocks.1.0.in_layers.2.weight").dtype());
            assertEquals(DType.F32, model.weights().get("time_embed.0.weight").dtype(), "linear layers stay fp32");
            List<Tensor> acts = new ArrayList<>();
            long t0 = System.nanoTime();
            try (Tensor out = model.forward(ops, io.get("x"), io.get("t"), null, (n, t) -> {
                if (io.has("act." + n)) {
                    acts.add(t.copy());
                    System.out.printf(Locale.ROOT, "adm-256 bf16 act.%-18s rel L2 %.3e%n", n, relL2(acts.getLast(), io.get("act." + n)));
                }
            })) {
                double e = relL2(out, io.get("out"));
                System.out.printf(Locale.ROOT, "adm-256 bf16 out: rel L2 %.3e against the golden (%.1f s)%n", e, (System.nanoTime() - t0) / 1e9);
                assertTrue(e <= 0.03, "ADM-256 bf16 output rel L2 " + e + " > 3%");
            } finally {
                acts.forEach(Tensor::close);
            }
        }
    }

    /**
     * ResNet-50 (formula weights, BatchNorm folded, then bf16) on the bundled photos: the same top-1 class as fp32 for
     * every photo, and the logits' relative L2 difference stated.
     */
    @Test
    void resnet50Bf16AgreesWithFp32OnThePhotos() throws IOException {
        List<Path> photos;
        try (var s = Files.list(Golden.animals())) {
            photos = s.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
        }
        int n = photos.size(), px = 224;
        float[] data = new float[n * 3 * px * px];
        PreprocessSettings pre = PreprocessSettings.imagenet();
        for (int i = 0; i < n; i++)
            System.arraycopy(Preprocessor.normalise(Preprocessor.crop(Preprocessor.read(photos.get(i)), pre), pre), 0, data, i * 3 * px * px, 3 * px * px);
        Ops fp32 = Backends.get("cpu"), bf16 = Backends.get("cpu", Precision.BF16);
        ResNet.Arch a = ResNet.Arch.of(50, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        try (ResNet n32 = ResNet.load(a, sd, null); ResNet n16 = ResNet.load(a, sd, null, bf16.convWeightType());
             Tensor x = Tensor.of(data, n, 3, px, px);
             Tensor l32 = n32.forward(fp32, x, null, null); Tensor l16 = n16.forward(bf16, x, null, null)) {
            double e = relL2(l16, l32);
            int[] top32 = argmax(l32), top16 = argmax(l16);
            System.out.printf(Locale.ROOT, "resnet50 bf16 vs fp32 on %d photos: logits rel L2 %.3e, top-1 fp32 %s bf16 %s%n", n, e,
                    java.util.Arrays.toString(top32), java.util.Arrays.toString(top16));
            assertArrayEquals(top32, top16, "top-1 classes");
            assertTrue(e < 0.02, "logits rel L2 " + e);
        } finally {
            sd.values().forEach(Tensor::close);
        }
    }

    /**
     * A guided background edit (background=20, 10 guided blended steps) with the tiny formula-weight ADM at 32 px,
     * bf16 against fp32 from the same seed: the PSNR of the two final images. (The full-size figure, ADM-256 at 256,
     * is measured by bench/EndToEndMain: see the README.)
     */
    @Test
    void guidedEditBf16AgainstFp32() {
        Ops fp32 = Backends.get("cpu"), bf16 = Backends.get("cpu", Precision.BF16);
        Path dir = Golden.animals();
        RgbImage img = Images.read(dir.resolve("tabby_1.jpg"));
        Mask mask = Masks.readFor(dir.resolve("masks/tabby_1.png"), new MaskSource.Binary(), img, false);
        RgbImage[] out = new RgbImage[2];
        for (int p = 0; p < 2; p++) {
            Ops ops = p == 0 ? fp32 : bf16;
            SafeTensors st = SafeTensors.open(Golden.golden("adm-tiny/weights.safetensors"));
            try (Adm adm = Adm.load(AdmConfig.infer(st.tensors(), 8), st.tensors(), st.file(), st, ops.convWeightType())) {
                Editor.Config cfg = Editor.Config.defaults().withSize(32).withHoleDilation(1)
                        .withBackground(BlendedSampler.Options.defaults()).withBatch(1).withHarmonizeSteps(10);
                Editor e = new Editor(cfg, adm, ops, HoleFiller.fast(), null);
                Editor.Result r = e.run(List.of(new Editor.Task(new Editor.Source("tabby_1", img, mask, 281, null),
                        Edit.parse("background=20"), 7))).getFirst();
                out[p] = r.image();
            }
        }
        double se = 0;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++) se += Math.pow(out[0].get(x, y, c) - out[1].get(x, y, c), 2);
        double psnr = se == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(255.0 * 255 / (se / (3 * 32 * 32)));
        System.out.printf(Locale.ROOT, "guided edit (adm-tiny, 32 px, 10 steps) bf16 vs fp32: PSNR %.1f dB%n", psnr);
        assertTrue(psnr >= 30, "PSNR " + psnr + " dB");
    }

    static int[] argmax(Tensor logits) {
        int b = logits.dim(0), c = logits.dim(1);
        int[] out = new int[b];
        for (int i = 0; i < b; i++)
            for (int j = 1; j < c; j++) if (logits.getFloat((long) i * c + j) > logits.getFloat((long) i * c + out[i])) out[i] = j;
        return out;
    }
}
