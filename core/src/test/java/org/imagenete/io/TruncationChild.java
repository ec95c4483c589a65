package org.imagenete.io;

import org.imagenete.nn.Adm;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.Map;

/**
 * The child process of {@link TruncatedWhileMappedTest}: opens a file, says so on stdout, waits for a line on stdin
 * (the parent truncates the file meanwhile), then reads it the way the mode says and reports what happened.
 * <ul>
 *   <li>{@code copy FILE}: the weights read into memory (what {@code Adm.open} does): a clear error;</li>
 *   <li>{@code java FILE}: a tensor read from the mapping by Java code, under {@link MappedFiles#guard}: a clear error;</li>
 *   <li>{@code model WEIGHTS IO}: the ADM loaded (weights in memory), then a forward pass after the truncation: works;</li>
 *   <li>{@code native FILE}: the control, a native kernel reading the mapped file directly: the process dies (SIGBUS).</li>
 * </ul>
 */
public final class TruncationChild {
    private TruncationChild() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Path file = Path.of(args[1]);
        switch (args[0]) {
            case "copy" -> {
                try (StateDict sd = Checkpoints.open(file)) {
                    System.out.println("ready");
                    in.readLine();
                    try (MappedFiles.Resident copies = MappedFiles.copyToMemory(sd, Tensor::dtype)) {
                        System.out.println("copied " + copies.tensors().size() + " tensors");
                    }
                } catch (CheckpointException e) {
                    System.out.println("error: " + e.getMessage());
                }
            }
            case "model" -> {
                Ops ops = Backends.get("cpu");
                try (Adm model = Adm.open(file, Map.of("num_head_channels", "8"))) {
                    System.out.println("ready");
                    in.readLine();
                    try (SafeTensors io = SafeTensors.open(Path.of(args[2])); Tensor out = model.forward(ops, io.get("x"), io.get("t"), null, null)) {
                        double sq = 0;
                        for (long i = 0; i < out.numel(); i++) sq += out.getFloat(i) * (double) out.getFloat(i);
                        System.out.println("forward ok: |out| = " + Math.sqrt(sq));
                    }
                }
            }
            case "java" -> {
                try (SafeTensors st = SafeTensors.open(file)) {
                    Tensor x = st.get("x");
                    System.out.println("ready");
                    in.readLine();
                    float[] v = MappedFiles.guard(st, x::toFloatArray);
                    System.out.println("read " + v.length + " values");
                } catch (CheckpointException e) {
                    System.out.println("error: " + e.getMessage());
                }
            }
            case "native" -> {
                Ops ops = Backends.get("cpu");
                try (SafeTensors st = SafeTensors.open(file)) {
                    Tensor x = st.get("x");
                    System.out.println("ready");
                    in.readLine();
                    try (Tensor y = ops.add(x, x)) {
                        System.out.println("survived: " + y.getFloat(0));
                    }
                }
            }
            default -> throw new IllegalArgumentException(args[0]);
        }
    }
}
