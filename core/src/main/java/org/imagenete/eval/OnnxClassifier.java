package org.imagenete.eval;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.imagenete.tensor.Tensor;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * Any image classifier exported to ONNX, through ONNX Runtime Java: the input's name and shape are read from
 * the model ([B,3,H,W] float; a fixed H x W sets the crop size). The execution provider: CPU with the given thread
 * count; CUDA when asked for, or with {@link Provider#AUTO} when this ONNX Runtime build has it (the
 * {@code onnxruntime_gpu} artifact) and a session on it can be made, else CPU. {@link #provider()} says which ran.
 */
public final class OnnxClassifier implements Classifier {
    /** Which execution provider to use. */
    public enum Provider { AUTO, CPU, CUDA }

    private final OrtEnvironment env;
    private final OrtSession session;
    private final String inputName, outputName, name, provider;
    private final int classes, fixedSize;
    private final PreprocessSettings pre;

    public OnnxClassifier(Path model, int threads, boolean cuda) { this(model, threads, cuda ? Provider.CUDA : Provider.CPU); }

    public OnnxClassifier(Path model, int threads, Provider want) {
        try {
            env = OrtEnvironment.getEnvironment();
            boolean hasCuda = OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
            OrtSession s = null;
            String used = "cpu";
            if (want == Provider.CUDA && !hasCuda)
                throw new IllegalArgumentException(model + ": ONNX Runtime's CUDA provider is not in this build (available: "
                        + OrtEnvironment.getAvailableProviders() + "); use the onnxruntime_gpu artifact, or the CPU provider");
            if (want != Provider.CPU && hasCuda) {
                try {
                    s = env.createSession(model.toString(), options(threads, true));
                    used = "cuda";
                } catch (OrtException e) {
                    if (want == Provider.CUDA) throw e;
                    used = "cpu (CUDA provider failed: " + e.getMessage() + ")";
                }
            } else if (want == Provider.AUTO) {
                used = "cpu (this ONNX Runtime has no CUDA provider)";
            }
            session = s != null ? s : env.createSession(model.toString(), options(threads, false));
            provider = used;
            Map.Entry<String, NodeInfo> in = session.getInputInfo().entrySet().iterator().next();
            Map.Entry<String, NodeInfo> out = session.getOutputInfo().entrySet().iterator().next();
            inputName = in.getKey();
            outputName = out.getKey();
            if (!(in.getValue().getInfo() instanceof TensorInfo ti) || ti.getShape().length != 4)
                throw new IllegalArgumentException(model + ": input '" + inputName + "' is not a 4-D image tensor: " + in.getValue().getInfo());
            long[] shape = ti.getShape();
            if (shape[1] != 3) throw new IllegalArgumentException(model + ": input '" + inputName + "' has " + shape[1] + " channels, expected 3 (NCHW)");
            long[] os = ((TensorInfo) out.getValue().getInfo()).getShape();
            classes = (int) os[os.length - 1];
            if (classes <= 0) throw new IllegalArgumentException(model + ": output '" + outputName + "' has no fixed class dimension");
            if (shape[2] > 0 && shape[3] > 0 && shape[2] != shape[3])
                throw new IllegalArgumentException(model + ": input '" + inputName + "' is " + shape[2] + "x" + shape[3] + ": square crops only");
            fixedSize = shape[2] > 0 ? (int) shape[2] : 0;
            pre = fixedSize > 0 ? PreprocessSettings.imagenet().withCrop(fixedSize) : PreprocessSettings.imagenet();
            name = model.getFileName() + " (onnxruntime " + provider.split(" ")[0] + ")";
        } catch (OrtException e) {
            throw new IllegalArgumentException(model + ": cannot load ONNX model: " + e.getMessage(), e);
        }
    }

    private static OrtSession.SessionOptions options(int threads, boolean cuda) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        if (threads > 0) o.setIntraOpNumThreads(threads);
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (cuda) o.addCUDA(0);
        return o;
    }

    /** "onnxruntime cpu" or "onnxruntime cuda", with the reason when CUDA was wanted and not used. */
    @Override public String provider() { return "onnxruntime " + provider; }

    @Override public String name() { return name; }

    @Override public int numClasses() { return classes; }

    @Override public int inputSize() { return fixedSize; }

    @Override public PreprocessSettings preprocessing() { return pre; }

    @Override
    public Tensor logits(Tensor x) {
        long[] shape = {x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
        try (OnnxTensor in = OnnxTensor.createTensor(env, x.data().asByteBuffer().order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer(), shape);
             OrtSession.Result r = session.run(Map.of(inputName, in))) {
            OnnxTensor out = (OnnxTensor) r.get(outputName).orElseThrow();
            FloatBuffer fb = out.getFloatBuffer();
            float[] v = new float[fb.remaining()];
            fb.get(v);
            if (v.length != x.dim(0) * classes)
                throw new IllegalStateException("ONNX output has " + v.length + " values for a batch of " + x.dim(0) + " x " + classes);
            return Tensor.of(v, x.dim(0), classes);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
        }
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
