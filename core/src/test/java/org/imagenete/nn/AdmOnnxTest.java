package org.imagenete.nn;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.imagenete.io.SafeTensors;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Compare;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ADM exported through the ONNX writer runs on ONNX Runtime and gives the golden output (adm-tiny, batch 2). */
class AdmOnnxTest {
    @Test
    void onnxExportMatchesTheGolden(@TempDir Path dir) throws Exception {
        String file = "adm-tiny/io.safetensors";
        Path onnx = dir.resolve("adm-tiny.onnx");
        try (Adm model = AdmGolden.tinyModel(); SafeTensors io = SafeTensors.open(Golden.golden(file))) {
            model.writeOnnx(onnx, 32);
            assertTrue(Files.size(dir.resolve("adm-tiny.onnx.data")) > 4_000_000, "weights in the external data file");
            Tensor x = io.get("x"), t = io.get("t");
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession s = env.createSession(onnx.toString(), new OrtSession.SessionOptions());
                 OnnxTensor xo = OnnxTensor.createTensor(env, FloatBuffer.wrap(x.toFloatArray()), new long[]{2, 3, 32, 32});
                 OnnxTensor to = OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), new long[]{2});
                 OrtSession.Result r = s.run(Map.of("x", xo, "t", to))) {
                float[] out = new float[2 * 6 * 32 * 32];
                ((OnnxTensor) r.get(0)).getFloatBuffer().get(out);
                try (Tensor o = Tensor.of(out, 2, 6, 32, 32)) {
                    // ONNX Runtime's own fp32 kernels: a few times the fp32 tolerance of the golden README
                    Compare.assertClose("adm-tiny onnxruntime out", o, io.get("out"), 10 * Golden.suggestedAtol(file, "out"), 0);
                }
            }
        }
    }
}
