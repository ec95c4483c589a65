package org.imagenete.eval;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.imagenete.tensor.Tensor;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * Any image classifier exported to ONNX, through ONNX Runtime Java: the input's name and shape are read from
 * the model ([B,3,H,W] float; a fixed H x W sets the crop size). CPU execution provider with the given thread
 * count; the CUDA provider when asked for and the node has it.
 */
public final class OnnxClassifier implements Classifier {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final String inputName, outputName, name;
    private final int classes;
    private final Preprocessing pre;

    public OnnxClassifier(Path model, int threads, boolean cuda) {
        try {
            env = OrtEnvironment.getEnvironment();
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            if (threads > 0) o.setIntraOpNumThreads(threads);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (cuda) o.addCUDA(0);
            session = env.createSession(model.toString(), o);
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
            pre = shape[2] > 0 && shape[3] > 0 ? Preprocessing.imagenet().withCrop((int) shape[2]) : Preprocessing.imagenet();
            name = model.getFileName() + " (onnxruntime " + (cuda ? "cuda" : "cpu") + ")";
        } catch (OrtException e) {
            throw new IllegalArgumentException(model + ": cannot load ONNX model: " + e.getMessage(), e);
        }
    }

    @Override public String name() { return name; }

    @Override public int numClasses() { return classes; }

    @Override public Preprocessing preprocessing() { return pre; }

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
