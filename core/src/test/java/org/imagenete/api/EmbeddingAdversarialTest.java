package org.imagenete.api;

import org.imagenete.ImagenetE;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * "-adv" edits from the embedding API take the image's label; without it, or with a label the classifier does not
 * have, they stop with a clear message before any work. (The edit itself, label included, is run by
 * {@code edit.EditorTest#adversarialEditRecordsItsScaleAndInput} at a size where the diffusion steps are cheap; the API
 * always works at 256x256.)
 */
class EmbeddingAdversarialTest {
    @Test
    void adversarialEditsNeedALabelTheClassifierHas() {
        Path animals = Golden.animals();
        Ops ops = ImagenetE.backend("cpu");
        ImagenetE.ImageEdit adv = ImagenetE.ImageEdit.of(animals.resolve("tabby_1.jpg"), animals.resolve("masks/tabby_1.png"),
                "background=20-adv").withSeed(3);
        try (ResNet net = org.imagenete.nn.ResNetTest.formula(18)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv.withClassifier(net), ops));
            assertTrue(e.getMessage().contains("label"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv.withLabel(1000).withClassifier(net), ops));
            assertTrue(e.getMessage().contains("1000") && e.getMessage().contains("1000 classes"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ImagenetE.edit(adv.withLabel(281), ops));
            assertTrue(e.getMessage().contains("classifier"), e.getMessage());
        }
    }
}
