package org.imagenete;

import java.nio.file.Path;

/**
 * One image to edit for {@link ImagenetE#edit(ImageEdit, Backend)}: start from {@link #of(Path, Path, String)} and add
 * what the edit needs with the {@code with} methods.
 *
 * @param edits      the syntax of {@code imagenet-e edit --set}, e.g. "size=0.08,direction=30" or "background=20"
 * @param mask       a PNG (non-zero = object) of the image's size
 * @param seed       the edit's seed (each image's own seed is derived from it, its name and the edits)
 * @param label      the image's class (ImageNet-1k index; -1 when unknown): "-adv" edits push the classifier away from it
 * @param diffusion  the diffusion model, or null: background edits need it; with it, size, position and direction
 *                   edits also get the harmonising pass
 * @param classifier the classifier of "-adv" edits, or null
 */
public record ImageEdit(Path image, Path mask, String edits, long seed, int label, DiffusionModel diffusion,
                        ClassifierModel classifier) {
    /** Seed 0, label unknown, no diffusion model, no classifier. */
    public static ImageEdit of(Path image, Path mask, String edits) { return new ImageEdit(image, mask, edits, 0, -1, null, null); }

    public ImageEdit withSeed(long s) { return new ImageEdit(image, mask, edits, s, label, diffusion, classifier); }

    public ImageEdit withLabel(int l) { return new ImageEdit(image, mask, edits, seed, l, diffusion, classifier); }

    public ImageEdit withDiffusion(DiffusionModel d) { return new ImageEdit(image, mask, edits, seed, label, d, classifier); }

    public ImageEdit withClassifier(ClassifierModel c) { return new ImageEdit(image, mask, edits, seed, label, diffusion, c); }
}
