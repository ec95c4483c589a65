package org.imagenete.cli;

import org.imagenete.device.DeviceCounters;
import org.imagenete.diffusion.GaussianDiffusion;
import org.imagenete.diffusion.Guidance;
import org.imagenete.diffusion.GuidedStep;
import org.imagenete.diffusion.Schedule;
import org.imagenete.edit.ClassifierGuidance;
import org.imagenete.io.SafeTensors;
import org.imagenete.nn.Adm;
import org.imagenete.nn.ResNet;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Exactly one guided blended step of ImageNet-E from tensors in a safetensors file, writing every
 * intermediate under the tensor names of the golden {@code guidance.safetensors}: a checking tool for users
 * who compare against the original code.
 */
@Command(name = "step", mixinStandardHelpOptions = true,
        description = {"Run one guided blended diffusion step: reads x_t, x_obj, m_obj, noise_sample, noise_obj, t_index (and y,",
                "int64 labels, with --classifier); writes pmv.* (model_out, mean, variance, log_variance, pred_xstart) and step.*",
                "(g, g_complexity, g_range, C_pred, range, loss, guided_mean, sample, q_obj, x_prev, t_model, t_unscaled; with",
                "--classifier also g_adv, the adversarial part of g, taken at pred_x0 as the released cond_fn does)."})
public final class StepCommand implements Callable<Integer> {
    @Option(names = "--weights", required = true, paramLabel = "FILE", description = "ADM checkpoint (.pt or .safetensors)")
    Path weights;

    @Option(names = "--input", required = true, paramLabel = "IN") Path input;

    @Option(names = "--output", required = true, paramLabel = "OUT") Path output;

    @Option(names = "--respacing", paramLabel = "SPEC", description = "timestep respacing (default: the input's metadata, else 100)")
    String respacing;

    @Option(names = "--lambda", paramLabel = "L", description = "complexity guidance weight (default: the input's metadata, else 20)")
    Float lambda;

    @Option(names = "--range-lambda", paramLabel = "R", description = "range loss weight (default: the input's metadata, else 50)")
    Float rangeLambda;

    @Option(names = "--per-sample", description = "normalise the complexity per sample instead of over the batch (the released code)")
    boolean perSample;

    @Option(names = "--classifier", paramLabel = "FILE", description = "torchvision ResNet (.pth/.safetensors): adds the adversarial term for labels y")
    Path classifier;

    @Option(names = "--num-head-channels", paramLabel = "N", description = "channels per attention head (default 64)")
    Integer numHeadChannels;

    @Mixin AdversarialOptions adv;

    @Mixin BackendOptions backend;

    @Mixin StatsOptions stats;

    @Override
    public Integer call() throws Exception {
        UnetCommand.checkOutput(output, input, weights);
        Main.requireFile(input);
        Ops ops = backend.ops();
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        ClassifierGuidance.Input advMode = adv.mode();
        if (classifier != null && !Files.isRegularFile(classifier)) throw new IllegalArgumentException(classifier + ": no such file");
        List<Tensor> owned = new ArrayList<>();
        stats.start(ops);
        DeviceCounters counters = ops.device() == null ? null : ops.device().counters();
        try (Adm model = Adm.open(weights, flags, ops.convWeightType()); SafeTensors in = SafeTensors.open(input);
             ResNet cls = classifier == null ? null : ResNet.open(classifier, ops.convWeightType())) {
            Map<String, String> meta = in.metadata();
            String resp = respacing != null ? respacing : meta.getOrDefault("respacing", "100");
            float lam = lambda != null ? lambda : number(meta, "lambda", "20");
            float rl = rangeLambda != null ? rangeLambda : number(meta, "range_lambda", "50");
            Tensor x = UnetCommand.f32(in, "x_t", owned);
            int c = model.config().inChannels();
            if (x.rank() != 4 || x.dim(1) != c)
                throw new IllegalArgumentException(input + ": tensor 'x_t' has shape " + x.shape() + ", expected [B," + c + ",H,W]");
            int b = x.dim(0), h = x.dim(2), w = x.dim(3);
            Tensor xObj = want(in, "x_obj", owned, b, c, h, w);
            Tensor m = want(in, "m_obj", owned, b, 1, h, w);
            Tensor zs = want(in, "noise_sample", owned, b, c, h, w);
            Tensor zo = want(in, "noise_obj", owned, b, c, h, w);
            if (!in.has("t_index")) throw new IllegalArgumentException(input + ": missing tensor 't_index' (has " + in.tensors().keySet() + ")");
            Tensor ti = in.get("t_index");
            if (ti.numel() != b && ti.numel() != 1)
                throw new IllegalArgumentException(input + ": tensor 't_index' has shape " + ti.shape() + ", expected [" + b + "]");
            GaussianDiffusion d = new GaussianDiffusion(Schedule.respaced(1000, resp));
            int[] idx = new int[b];
            for (int i = 0; i < b; i++) {
                idx[i] = (int) (ti.dtype() == DType.I64 || ti.dtype() == DType.I32 ? ti.getLong(ti.numel() == 1 ? 0 : i)
                        : Math.round(ti.getDouble(ti.numel() == 1 ? 0 : i)));
                if (idx[i] < 0 || idx[i] >= d.schedule().steps)
                    throw new IllegalArgumentException(input + ": t_index " + idx[i] + " outside 0.." + (d.schedule().steps - 1) + " for respacing " + resp);
            }
            float[] lams = new float[b];
            Arrays.fill(lams, lam);
            Guidance.Terms terms = Guidance.Terms.complexity(lams, rl, perSample);
            if (cls != null)
                terms = new Guidance.Terms(lams, rl, perSample, new ClassifierGuidance(cls, advMode), adv.scale, labels(in, b, cls.arch().numClasses()));
            long t0 = System.nanoTime();
            Map<String, Tensor> out = new LinkedHashMap<>();
            if (counters != null) counters.beginStep();
            try (GuidedStep.Result r = GuidedStep.run(model, ops, d, x, idx, terms);
                 GuidedStep.Result rc = GuidedStep.run(model, ops, d, x, idx, Guidance.Terms.complexity(lams, 0, perSample));
                 GuidedStep.Result rr = GuidedStep.run(model, ops, d, x, idx, Guidance.Terms.complexity(new float[b], rl, perSample))) {
                Tensor g = r.g() != null ? r.g() : keep(owned, Tensor.zeros(DType.F32, b, c, h, w));
                Tensor gm = keep(owned, d.sample(ops, r.pmv(), g, idx, null));          // without noise: the guided mean
                Tensor sample = keep(owned, d.sample(ops, r.pmv(), g, idx, zs));
                Tensor qObj = keep(owned, d.qSample(ops, xObj, idx, zo));
                Tensor xPrev = keep(owned, ops.blend(sample, qObj, m, false));
                out.put("pmv.model_out", r.modelOut());
                out.put("pmv.mean", r.pmv().mean());
                out.put("pmv.variance", r.pmv().variance());
                out.put("pmv.log_variance", r.pmv().logVariance());
                out.put("pmv.pred_xstart", r.pmv().predX0());
                out.put("step.g", g);
                out.put("step.g_complexity", rc.g() != null ? rc.g() : keep(owned, Tensor.zeros(DType.F32, b, c, h, w)));
                out.put("step.g_range", rr.g() != null ? rr.g() : keep(owned, Tensor.zeros(DType.F32, b, c, h, w)));
                if (r.gAdv() != null) out.put("step.g_adv", r.gAdv());
                out.put("step.C_pred", keep(owned, Tensor.of(new float[]{(float) r.complexity()}, 1)));
                out.put("step.range", keep(owned, Tensor.of(new float[]{(float) r.range()}, 1)));
                out.put("step.loss", keep(owned, Tensor.of(new float[]{(float) r.loss()}, 1)));
                out.put("step.guided_mean", gm);
                out.put("step.sample", sample);
                out.put("step.q_obj", qObj);
                out.put("step.x_prev", xPrev);
                out.put("step.t_model", keep(owned, d.modelTimesteps(idx)));
                Tensor tu = keep(owned, Tensor.zeros(DType.I64, b));
                for (int i = 0; i < b; i++) tu.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, i, idx[i]);
                out.put("step.t_unscaled", tu);
                if (counters != null) counters.endStep();
                double s = (System.nanoTime() - t0) / 1e9;
                Map<String, String> written = new LinkedHashMap<>(Map.of("backend", ops.name(), "precision", ops.convPrecision().flag(), "respacing", resp, "lambda", Float.toString(lam),
                        "range_lambda", Float.toString(rl), "per_sample", Boolean.toString(perSample)));
                if (cls != null) {
                    written.put("adv_scale", Float.toString(adv.scale));
                    written.put("adv_input", advMode.flag());
                }
                SafeTensors.write(output, out, written);
                System.err.printf(Locale.ROOT, "step: index %s, lambda %s, range %s -> %s in %.2f s (%s)%n",
                        Arrays.toString(idx), lam, rl, output, s, ops.name());
            }
        } finally {
            owned.forEach(Tensor::close);
            stats.print(ops);
        }
        return 0;
    }

    /** The labels y (int64 [B]) of the adversarial term, each one of the classifier's classes. */
    private int[] labels(SafeTensors in, int b, int classes) {
        if (!in.has("y"))
            throw new IllegalArgumentException(input + ": missing tensor 'y' (int64 labels, one per sample), needed with --classifier (has "
                    + in.tensors().keySet() + ")");
        Tensor y = in.get("y");
        if (y.numel() != b || !(y.dtype() == DType.I64 || y.dtype() == DType.I32))
            throw new IllegalArgumentException(input + ": tensor 'y' is " + y.dtype() + " " + y.shape() + ", expected I64 [" + b + "]");
        int[] out = new int[b];
        for (int i = 0; i < b; i++) {
            long v = y.getLong(i);
            if (v < 0 || v >= classes)
                throw new IllegalArgumentException(input + ": y[" + i + "] = " + v + " is not one of the classes of " + classifier + ", which has "
                        + classes + " (0.." + (classes - 1) + ")");
            out[i] = (int) v;
        }
        return out;
    }

    private float number(Map<String, String> meta, String key, String otherwise) {
        String v = meta.getOrDefault(key, otherwise);
        try {
            return Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(input + ": metadata '" + key + "' is '" + v + "', not a number");
        }
    }

    private static Tensor keep(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    private Tensor want(SafeTensors in, String name, List<Tensor> owned, int... dims) {
        Tensor t = UnetCommand.f32(in, name, owned);
        if (!Arrays.equals(t.shape().dims(), dims))
            throw new IllegalArgumentException(input + ": tensor '" + name + "' has shape " + t.shape() + ", expected " + Arrays.toString(dims));
        return t;
    }
}
