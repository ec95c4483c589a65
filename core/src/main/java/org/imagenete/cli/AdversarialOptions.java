package org.imagenete.cli;

import org.imagenete.edit.ClassifierGuidance;
import picocli.CommandLine.Option;

/** {@code --adv-scale} and {@code --adv-input} of the adversarial classifier term, shared by edit, generate and step. */
public final class AdversarialOptions {
    @Option(names = "--adv-scale", defaultValue = "10", paramLabel = "S",
            description = "scale of the adversarial classifier term of '-adv' edits (the released classifier_scale, default 10)")
    float scale;

    @Option(names = "--adv-input", defaultValue = "imagenet", paramLabel = "MODE",
            description = {"what the '-adv' classifier sees: imagenet ((x+1)/2 normalised with the ImageNet mean and std, what",
                    "torchvision classifiers are trained on; the default) or raw (pred_x0 in [-1, 1], as the released tool feeds its ResNet)"})
    String input;

    ClassifierGuidance.Input mode() { return ClassifierGuidance.Input.parse(input); }
}
