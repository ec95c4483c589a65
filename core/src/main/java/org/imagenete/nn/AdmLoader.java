package org.imagenete.nn;

import org.imagenete.io.CheckpointException;
import org.imagenete.io.Checkpoints;
import org.imagenete.io.MappedFiles;
import org.imagenete.io.StateDict;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Loading an {@link Adm}: the checkpoint opened, the configuration read off its keys, every weight checked. */
final class AdmLoader {
    private AdmLoader() {}

    /** See {@link Adm#load(AdmConfig, Map, Path, AutoCloseable, DType)}. */
    static Adm load(AdmConfig config, Map<String, Tensor> stateDict, Path file, AutoCloseable source, DType convWeights) {
        if (convWeights != DType.F32 && convWeights != DType.BF16)
            throw new IllegalArgumentException("convolution weights in " + convWeights + ": F32 or BF16");
        Map<String, int[]> expected = config.parameterShapes();
        for (Map.Entry<String, int[]> e : expected.entrySet()) {
            Tensor t = stateDict.get(e.getKey());
            if (t == null) throw new CheckpointException(file, e.getKey(), "missing (expected shape "
                    + Arrays.toString(e.getValue()) + " for " + config.describe() + ")");
            if (!Arrays.equals(t.shape().dims(), e.getValue()))
                throw new CheckpointException(file, e.getKey(), "shape " + t.shape() + ", expected "
                        + Arrays.toString(e.getValue()));
            if (!t.dtype().isFloating())
                throw new CheckpointException(file, e.getKey(), "unsupported dtype " + t.dtype() + " for a weight");
        }
        List<String> unexpected = new ArrayList<>();
        for (String k : stateDict.keySet()) if (!expected.containsKey(k)) unexpected.add(k);
        if (!unexpected.isEmpty())
            throw new CheckpointException(file, unexpected.getFirst(), "unexpected key" + (unexpected.size() > 1
                    ? " (and " + (unexpected.size() - 1) + " more: " + unexpected.subList(1, Math.min(4, unexpected.size())) + ")" : "")
                    + " for " + config.describe());
        Map<String, Tensor> weights = new LinkedHashMap<>();
        List<Tensor> owned = new ArrayList<>();
        try {
            for (String k : expected.keySet()) {
                Tensor t = stateDict.get(k);
                DType want = weightType(t, convWeights);
                if (t.dtype() != want) {
                    t = t.convert(want);
                    owned.add(t);
                }
                weights.put(k, t);
            }
        } catch (RuntimeException ex) {
            owned.forEach(Tensor::close);
            throw ex;
        }
        return new Adm(config, weights, owned, source);
    }

    /** The dtype a weight is kept in: {@code convWeights} for conv2d [out,in,kh,kw] and conv1d [out,in,1], else F32. */
    private static DType weightType(Tensor t, DType convWeights) { return t.rank() >= 3 ? convWeights : DType.F32; }

    /** See {@link Adm#open(Path, Map, DType)}. */
    static Adm open(Path file, Map<String, String> flags, DType convWeights) {
        AdmConfig config;
        MappedFiles.Resident resident;
        try (StateDict sd = Checkpoints.open(file)) {
            config = configure(file, sd, flags);
            // each weight read straight into the dtype load() keeps (conv weights in convWeights): no F32 copy held beside it
            resident = MappedFiles.copyToMemory(sd, t -> !t.dtype().isFloating() ? t.dtype() : weightType(t, convWeights));
        }
        try {
            return load(config, resident.tensors(), file, resident, convWeights);
        } catch (RuntimeException e) {
            resident.close();
            throw e;
        }
    }

    private static AdmConfig configure(Path file, StateDict sd, Map<String, String> flags) {
        int headChannels = flags.containsKey("num_head_channels") ? Integer.parseInt(flags.get("num_head_channels").trim()) : 64;
        AdmConfig config;
        try {
            config = AdmConfig.infer(sd.tensors(), headChannels).withFlags(flags);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, null, e.getMessage(), e);
        }
        System.getLogger("imagenete").log(System.Logger.Level.INFO, file.getFileName() + ": " + config.describe()
                + (flags.containsKey("num_head_channels") || flags.containsKey("num_heads") ? ""
                : " (head split is not stored in checkpoints: assumed 64 channels per head)"));
        return config;
    }
}
