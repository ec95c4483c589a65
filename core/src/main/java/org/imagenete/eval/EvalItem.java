package org.imagenete.eval;

import org.imagenete.image.Images;
import org.imagenete.image.RgbImage;
import org.imagenete.io.TarIndex;

import java.nio.file.Path;

/**
 * One image to classify.
 *
 * @param file      the image file, or the tar shard that holds it ({@code member} set)
 * @param image     id of the source image (shared by the original and its edits)
 * @param variant   {@link Metrics#ORIGINAL} or the edit's variant name
 * @param attribute edited attribute family or null; {@code value} its value (NaN when none)
 * @param label     true ImageNet-1k index (or the dataset's class index)
 * @param complexity the achieved background complexity the manifest records (NaN when unknown)
 * @param member     the image's bytes inside the tar {@code file} (WebDataset shards), or null for a plain file
 */
public record EvalItem(Path file, String image, String variant, String attribute, double value, int label, double complexity,
                       TarIndex.Member member) {
    /** An image in a file of its own, its complexity unknown. */
    public EvalItem(Path file, String image, String variant, String attribute, double value, int label) {
        this(file, image, variant, attribute, value, label, Double.NaN, null);
    }

    /** An image in a file of its own. */
    public EvalItem(Path file, String image, String variant, String attribute, double value, int label, double complexity) {
        this(file, image, variant, attribute, value, label, complexity, null);
    }

    /** A member of a tar shard, its complexity unknown. */
    public EvalItem(Path file, String image, String variant, String attribute, double value, int label, TarIndex.Member member) {
        this(file, image, variant, attribute, value, label, Double.NaN, member);
    }

    /** The decoded image (EXIF orientation applied); errors name the file, or the shard and the member. */
    public RgbImage read() {
        return member == null ? Images.read(file) : Images.decode(TarIndex.bytes(file, member), Path.of(location()));
    }

    /** Where the image is, for reports: the file, or {@code shard.tar:member}. */
    public String location() { return member == null ? file.toString() : file + ":" + member.name(); }
}
