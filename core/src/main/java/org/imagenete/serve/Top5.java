package org.imagenete.serve;

import org.imagenete.eval.Cams;
import org.imagenete.eval.Classifier;
import org.imagenete.eval.Preprocessor;
import org.imagenete.image.RgbImage;
import org.imagenete.io.ImageNetClasses;
import org.imagenete.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The loaded classifier's reaction to an edit: the top-5 classes (softmax, float64) of the original and of
 * each output, and class activation maps of one class for all of them, so that the maps can be compared: the
 * true class when it is known, else the original's top-1.
 */
final class Top5 {
    record Guess(int index, String wnid, String name, double p) {}

    /** The top-5 of one image and its CAM overlay over the classifier's crop (null when the model gives none). */
    record Seen(List<Guess> top5, RgbImage cam) {}

    private Top5() {}

    static List<Seen> classify(Classifier c, List<RgbImage> images, int label) {
        var pre = c.preprocessing();
        int n = images.size(), px = pre.crop(), per = 3 * px * px;
        List<RgbImage> crops = new ArrayList<>();
        float[] data = new float[n * per];
        for (int i = 0; i < n; i++) {
            RgbImage crop = Preprocessor.crop(images.get(i), pre);
            crops.add(crop);
            System.arraycopy(Preprocessor.normalise(crop, pre), 0, data, i * per, per);
        }
        List<Seen> out = new ArrayList<>();
        try (Tensor x = Tensor.of(data, n, 3, px, px)) {
            Classifier.CamSource cs = c.cams();
            if (cs == null) {
                try (Tensor logits = c.logits(x)) {
                    for (int i = 0; i < n; i++) out.add(new Seen(top5(logits, i, c.numClasses()), null));
                }
                return out;
            }
            int camClass = label;
            if (camClass < 0) {
                try (Tensor first = x.slice0(0, 1); Tensor logits = c.logits(first)) {
                    camClass = top5(logits, 0, c.numClasses()).getFirst().index();
                }
            }
            int[] classes = new int[n];
            java.util.Arrays.fill(classes, camClass);
            try (Classifier.CamResult r = cs.logitsAndCams(x, classes)) {
                for (int i = 0; i < n; i++)
                    out.add(new Seen(top5(r.logits(), i, c.numClasses()), Cams.overlay(crops.get(i), r.cams()[i], r.h(), r.w())));
            }
        }
        return out;
    }

    static List<Guess> top5(Tensor logits, int row, int classes) {
        double[] v = new double[classes];
        double max = Double.NEGATIVE_INFINITY, z = 0;
        for (int k = 0; k < classes; k++) max = Math.max(max, v[k] = logits.getFloat((long) row * classes + k));
        for (int k = 0; k < classes; k++) z += Math.exp(v[k] - max);
        Integer[] order = new Integer[classes];
        for (int k = 0; k < classes; k++) order[k] = k;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(v[b], v[a]));
        ImageNetClasses names = ImageNetClasses.get();
        List<Guess> out = new ArrayList<>();
        for (int k = 0; k < Math.min(5, classes); k++) {
            int c = order[k];
            boolean known = c < names.size();
            out.add(new Guess(c, known ? names.get(c).wnid() : "", known ? names.get(c).shortName() : "class " + c,
                    Math.exp(v[c] - max) / z));
        }
        return out;
    }
}
