package org.imagenete.cli;

import org.imagenete.io.MappedFiles;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Runs the ADM UNet once on tensors from a safetensors file: a checking tool for comparing against a reference. */
@Command(name = "unet", mixinStandardHelpOptions = true,
        description = {"Run the ADM UNet on x [B,3,H,W] and t [B] (float timesteps, 0..999) from a safetensors file;",
                "writes out [B,out_ch,H,W]. Class-conditional models also read y [B].",
                "With --vjp also reads v (shape of out) and writes dx = d(sum(out * v))/dx."})
public final class UnetCommand implements Callable<Integer> {
    @Option(names = "--weights", required = true, paramLabel = "FILE", description = "ADM checkpoint (.pt or .safetensors)")
    Path weights;

    @Option(names = "--input", required = true, paramLabel = "IN", description = "safetensors with x, t (and y)")
    Path input;

    @Option(names = "--output", required = true, paramLabel = "OUT", description = "safetensors to write (out)")
    Path output;

    @Option(names = "--num-head-channels", paramLabel = "N",
            description = "channels per attention head; not stored in checkpoints (default 64, as every released ADM)")
    Integer numHeadChannels;

    @Option(names = "--flag", paramLabel = "KEY=VALUE",
            description = "guided-diffusion model flag overriding what is inferred from the weights (e.g. num_heads=4)")
    Map<String, String> flags = new LinkedHashMap<>();

    @Option(names = "--vjp", description = "also compute the input-gradient dx = d(sum(out * v))/dx (reads v)")
    boolean vjp;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        checkOutput(output, input, weights);
        Main.requireFile(input);
        Main.requireFile(weights);
        Ops ops = backend.ops();
        Map<String, String> f = new LinkedHashMap<>(flags);
        if (numHeadChannels != null) f.put("num_head_channels", numHeadChannels.toString());
        List<Tensor> owned = new ArrayList<>();
        try (Adm model = Adm.open(weights, f, ops.convWeightType()); SafeTensors in = SafeTensors.open(input)) {
            int inCh = model.config().inChannels();
            Tensor x = f32(in, "x", owned);
            if (x.rank() != 4 || x.dim(1) != inCh)
                throw new IllegalArgumentException(input + ": tensor 'x' has shape " + x.shape() + ", expected [B," + inCh + ",H,W]");
            int b = x.dim(0);
            if (b == 0 || x.dim(2) == 0 || x.dim(3) == 0)
                throw new IllegalArgumentException(input + ": tensor 'x' has shape " + x.shape() + ": nothing to run (batch, height and width must be at least 1)");
            Tensor t = f32(in, "t", owned);
            if (t.rank() != 1 || t.dim(0) != b)
                throw new IllegalArgumentException(input + ": tensor 't' has shape " + t.shape() + ", expected [" + b + "]");
            for (int i = 0; i < b; i++)
                if (!Float.isFinite(t.getFloat(i)))
                    throw new IllegalArgumentException(input + ": tensor 't' holds " + t.getFloat(i) + " at index " + i
                            + ": timesteps must be finite (0..999); the output would be all NaN");
            Tensor y = null;
            if (model.config().numClasses() > 0) {
                y = f32(in, "y", owned);
                if (y.rank() != 1 || y.dim(0) != b)
                    throw new IllegalArgumentException(input + ": tensor 'y' has shape " + y.shape() + ", expected [" + b + "]");
            }
            Tensor v = null;
            if (vjp) {
                v = f32(in, "v", owned);
                int[] want = {b, model.config().outChannels(), x.dim(2), x.dim(3)};
                if (!java.util.Arrays.equals(v.shape().dims(), want))
                    throw new IllegalArgumentException(input + ": tensor 'v' has shape " + v.shape() + ", expected "
                            + java.util.Arrays.toString(want));
            }
            long t0 = System.nanoTime();
            try (Adm.Tape tape = vjp ? new Adm.Tape() : null; Tensor out = model.forward(ops, x, t, y, null, tape);
                 Tensor dx = vjp ? model.inputGradient(ops, tape, v) : null) {
                double s = (System.nanoTime() - t0) / 1e9;
                Map<String, Tensor> result = new LinkedHashMap<>();
                result.put("out", out);
                if (dx != null) result.put("dx", dx);
                long bad = nonFinite(out), badIn = nonFinite(x);
                if (bad > 0)
                    System.err.println("unet: warning: the output holds " + bad + " non-finite values" + (badIn > 0
                            ? " (tensor 'x' holds " + badIn + ")" : "") + "; written anyway");
                SafeTensors.write(output, result, Map.of("backend", ops.name(), "precision", ops.convPrecision().flag(),
                        "weights", weights.getFileName().toString(), "seconds", String.format(Locale.ROOT, "%.3f", s)));
                System.err.printf(Locale.ROOT, "unet: %s -> %s out%s%s in %.2f s (%s)%n", input, output, out.shape(),
                        dx != null ? " dx" + dx.shape() : "", s, ops.name());
            }
        } finally {
            owned.forEach(Tensor::close);
        }
        return 0;
    }

    /**
     * The named input tensor as an F32 copy (converting F16/BF16/F64/I64), with a clear error when missing. A copy
     * even when the file holds F32: the kernels never read the mapped file ({@link MappedFiles}).
     */
    static Tensor f32(SafeTensors in, String name, List<Tensor> owned) {
        if (!in.has(name))
            throw new IllegalArgumentException(in.file() + ": missing tensor '" + name + "' (has " + in.tensors().keySet() + ")");
        Tensor t = in.get(name);
        if (t.dtype() == DType.U8) throw new IllegalArgumentException(in.file() + ": tensor '" + name + "' has dtype U8, expected a float");
        Tensor c = MappedFiles.guard(in, t::toF32);
        owned.add(c);
        return c;
    }

    /** {@code --output} must not be one of the files read: writing it would replace an input (a usage error). */
    static void checkOutput(Path output, Path... inputs) throws java.io.IOException {
        for (Path in : inputs) {
            boolean same = Files.exists(output) && Files.exists(in) ? Files.isSameFile(output, in)
                    : output.toAbsolutePath().normalize().equals(in.toAbsolutePath().normalize());
            UsageException.require(!same, "--output " + output + " is also an input (" + in + "): choose another file");
        }
    }

    private static long nonFinite(Tensor t) {
        long n = 0;
        for (long i = 0; i < t.numel(); i++) if (!Float.isFinite(t.getFloat(i))) n++;
        return n;
    }
}
