package org.imagenete.api;

import org.imagenete.Backend;
import org.imagenete.ClassifierModel;
import org.imagenete.ImageEdit;
import org.imagenete.ImagenetE;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.FormulaWeights;
import org.imagenete.nn.ResNet;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * "-adv" edits from the embedding API take the image's label; without it, or with a label the classifier does not
 * have, they stop with a clear message before any work. (The edit itself, label included, is run by
 * {@code edit.EditorTest#adversarialEditRecordsItsScaleAndInput} at a size where the diffusion steps are cheap; the API
 * always works at 256x256.)
 */
class EmbeddingAdversarialTest {
    @TempDir Path dir;

    @Test
    void adversarialEditsNeedALabelTheClassifierHas() throws Exception {
        Backend backend = ImagenetE.backend("cpu");
        try (ClassifierModel net = ImagenetE.loadClassifier(resnet18(), backend)) {
            assertEquals(1000, net.numClasses());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv().withClassifier(net), backend));
            assertTrue(e.getMessage().contains("label"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv().withLabel(1000).withClassifier(net), backend));
            assertTrue(e.getMessage().contains("1000") && e.getMessage().contains("1000 classes"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv().withLabel(281), backend));
            assertTrue(e.getMessage().contains("classifier"), e.getMessage());
        }
    }

    /** A model keeps its weights in its backend's precision: used with a backend of another precision it is refused. */
    @Test
    void aModelRunsOnTheBackendItWasLoadedFor() throws Exception {
        Backend bf16 = ImagenetE.backend("cpu", "bf16");
        assumeTrue(bf16.precision().equals("bf16"), "this CPU has no AVX-512 BF16: the bf16 backend runs fp32");
        try (ClassifierModel net = ImagenetE.loadClassifier(resnet18(), ImagenetE.backend("cpu"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ImagenetE.edit(adv().withLabel(281).withClassifier(net), bf16));
            assertTrue(e.getMessage().contains("load it with the backend that runs it"), e.getMessage());
        }
    }

    private static ImageEdit adv() {
        Path animals = Golden.animals();
        return ImageEdit.of(animals.resolve("tabby_1.jpg"), animals.resolve("masks/tabby_1.png"), "background=20-adv").withSeed(3);
    }

    /** A torchvision-layout ResNet-18 checkpoint of formula weights. */
    private Path resnet18() throws Exception {
        Path weights = dir.resolve("resnet18.safetensors");
        ResNet.Arch a = ResNet.Arch.of(18, 1000);
        Map<String, Tensor> sd = FormulaWeights.stateDict(a.parameterShapes(), 0);
        try {
            SafeTensors.write(weights, sd, Map.of());
        } finally {
            sd.values().forEach(Tensor::close);
        }
        return weights;
    }
}
