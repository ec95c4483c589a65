package org.imagenete.edit.automask;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.imagenete.image.Filter;
import org.imagenete.image.Mask;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.io.Checksums;
import org.imagenete.tensor.Tensor;

/**
 * Object masks for images that have none: the ISNet salient-object model (Qin et al., "Highly Accurate
 * Dichotomous Image Segmentation", ECCV 2022; weights MIT) in img.ly's "medium" ONNX export (fp16 weights) from
 * the npm package {@code @imgly/background-removal-data} 1.4.5, run with ONNX Runtime on the CPU.
 *
 * <p>The model is not part of the project: {@code scripts/install-isnet.sh} fetches it into
 * {@code $IMAGENETE_CACHE/isnet/isnet_medium.onnx} (default {@code ~/.cache/imagenete}); {@link #locate()} finds it
 * and says how to install it when it is missing. Nothing else in the toolkit needs it.
 *
 * <p>The procedure is the one that made {@code testdata/data/animals/masks} (that folder's README, "How it was
 * made", step 4):
 * <ol>
 *   <li>the image resized to 1024x1024, aspect not kept, bilinear ({@link Resize} with {@link Filter#BILINEAR},
 *   Pillow's: the same as plain bilinear when enlarging, antialiased when shrinking; the masks were made with
 *   Java2D's bilinear from photos of at most 1024 px, i.e. enlarging);</li>
 *   <li>input {@code [1, 3, 1024, 1024]} RGB, {@code (v - 128) / 256};</li>
 *   <li>output {@code output} {@code [1, 1, 1024, 1024]}, the sigmoid soft mask (0..1, not rescaled);</li>
 *   <li>the soft mask resized to the image's size (Pillow bilinear on floats), object where {@code >= 0.5};</li>
 *   <li>8-connected components: the largest is kept, and every other one larger than 10 % of it.</li>
 * </ol>
 * About 1-3 s per image on 2 CPU cores (0.5 s to load the model). Instances are not thread-safe; close them to free the session.
 */
public final class IsNetMasker implements AutoCloseable {
    /** The model's file name in the cache folder. */
    public static final String MODEL_FILE = "isnet_medium.onnx";
    /** SHA-256 of the reassembled model ({@code /models/medium} of the npm package 1.4.5). */
    public static final String MODEL_SHA256 = "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb";
    /** Its size in bytes. */
    public static final long MODEL_SIZE = 88_188_479L;
    /** The command that installs it, relative to the project root. */
    public static final String INSTALL_COMMAND = "scripts/install-isnet.sh";
    /** The model's input side. */
    public static final int INPUT_SIZE = 1024;
    /** Soft-mask values at or above this are object. */
    public static final float THRESHOLD = 0.5f;
    /** Components other than the largest are kept when they have more than this fraction of its pixels. */
    public static final double KEEP_FRACTION = 0.1;

    private final Path model;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final String inputName;
    private final String outputName;

    /** Loads the model at {@code model}; {@code threads} intra-op threads (0: ONNX Runtime's default). */
    public IsNetMasker(Path model, int threads) {
        this.model = model;
        try {
            env = OrtEnvironment.getEnvironment();
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                if (threads > 0) o.setIntraOpNumThreads(threads);
                o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                session = env.createSession(model.toString(), o);
            }
            Map.Entry<String, NodeInfo> in = session.getInputInfo().entrySet().iterator().next();
            inputName = in.getKey();
            if (!(in.getValue().getInfo() instanceof TensorInfo ti) || ti.getShape().length != 4 || ti.getShape()[1] != 3)
                throw new IllegalArgumentException(model + ": input '" + inputName + "' is not an NCHW RGB tensor: " + in.getValue().getInfo());
            outputName = session.getOutputNames().contains("output") ? "output" : session.getOutputNames().iterator().next();
        } catch (OrtException e) {
            throw new IllegalArgumentException(model + ": cannot load the ISNet model: " + e.getMessage(), e);
        }
    }

    /** The installed model ({@link #locate()}) with ONNX Runtime's default thread count. */
    public static IsNetMasker open() { return new IsNetMasker(locate(), 0); }

    /** Where the install script puts the model: {@code $IMAGENETE_CACHE/isnet/isnet_medium.onnx}. */
    public static Path defaultPath() { return Checksums.cacheDir().resolve("isnet").resolve(MODEL_FILE); }

    /** The installed model, if a file of the right size is at {@link #defaultPath()}. */
    public static Optional<Path> find() {
        Path p = defaultPath();
        try {
            return Files.isRegularFile(p) && Files.size(p) == MODEL_SIZE ? Optional.of(p) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** {@link #locate(Path)} at {@link #defaultPath()}. */
    public static Path locate() { return locate(defaultPath()); }

    /**
     * {@code model} if it is there with the right size; otherwise an {@link IllegalStateException} that names the
     * install command. (The install script checks the SHA-256; {@link #sha256()} gives it for provenance.)
     */
    public static Path locate(Path model) {
        if (!Files.isRegularFile(model))
            throw new IllegalStateException("ISNet model not installed (" + model + " not found): run " + INSTALL_COMMAND
                    + " (downloads npm @imgly/background-removal-data 1.4.5, 136 MB; IMAGENETE_CACHE sets the folder)");
        long size;
        try {
            size = Files.size(model);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + model, e);
        }
        if (size != MODEL_SIZE)
            throw new IllegalStateException("ISNet model " + model + " has " + size + " bytes, expected " + MODEL_SIZE
                    + " (damaged or another version): run " + INSTALL_COMMAND + " --force");
        return model;
    }

    /** The model file. */
    public Path model() { return model; }

    /** The model file's SHA-256 (cached by {@link Checksums}), for provenance records. */
    public String sha256() {
        try {
            return Checksums.sha256(model);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + model, e);
        }
    }

    /** The object mask of {@code image} (may be empty when the model sees no object). */
    public Mask mask(RgbImage image) {
        return binarize(soft(image), image.width(), image.height());
    }

    /**
     * The soft mask at the image's size: row-major {@code height x width} floats, the model's 0..1 output resized
     * with Pillow's bilinear.
     */
    public float[] soft(RgbImage image) {
        float[] out1024 = run(input(image));
        try (Tensor t = Tensor.of(out1024, 1, INPUT_SIZE, INPUT_SIZE);
             Tensor r = Resize.resize(t, image.width(), image.height(), Filter.BILINEAR)) {
            return r.toFloatArray();
        }
    }

    /** The model input: NCHW {@code [1, 3, 1024, 1024]}, {@code (v - 128) / 256}. */
    static float[] input(RgbImage image) {
        RgbImage s = Resize.resize(image, INPUT_SIZE, INPUT_SIZE, Filter.BILINEAR);
        byte[] rgb = s.toByteArray();
        int plane = INPUT_SIZE * INPUT_SIZE;
        float[] x = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) x[c * plane + i] = ((rgb[3 * i + c] & 0xff) - 128f) / 256f;
        return x;
    }

    private float[] run(float[] x) {
        long[] shape = {1, 3, INPUT_SIZE, INPUT_SIZE};
        try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
             OrtSession.Result r = session.run(Map.of(inputName, in))) {
            OnnxTensor out = (OnnxTensor) r.get(outputName).orElseThrow();
            long[] os = out.getInfo().getShape();
            FloatBuffer fb = out.getFloatBuffer();
            if (fb == null || fb.remaining() != INPUT_SIZE * INPUT_SIZE)
                throw new IllegalStateException(model + ": output '" + outputName + "' has shape "
                        + java.util.Arrays.toString(os) + ", expected [1, 1, " + INPUT_SIZE + ", " + INPUT_SIZE + "] float");
            float[] v = new float[fb.remaining()];
            fb.get(v);
            return v;
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on " + model + ": " + e.getMessage(), e);
        }
    }

    /**
     * Threshold ({@code >= 0.5}) and component filter: the largest 8-connected component and every other one with
     * more than {@value #KEEP_FRACTION} of its pixels.
     */
    static Mask binarize(float[] soft, int width, int height) {
        boolean[] on = new boolean[soft.length];
        for (int i = 0; i < on.length; i++) on[i] = soft[i] >= THRESHOLD;
        return Mask.of(width, height, Components.keepLarge(on, width, height, KEEP_FRACTION));
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }
}
