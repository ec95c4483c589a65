package org.imagenete.ops.cuda;

import org.imagenete.device.Device;
import org.imagenete.device.DeviceAllocator;
import org.imagenete.device.DeviceGraph;
import org.imagenete.ops.DeviceSupport;
import org.imagenete.tensor.Tensor;

import java.util.Arrays;
import java.util.function.Function;

/**
 * A repeated sequence of ops (a UNet forward at fixed shapes, a whole sampling step) captured once as a device
 * graph and replayed: one launch instead of hundreds. The inputs live in static device buffers that {@link #run}
 * fills; every block the captured ops allocate or free belongs to the graph's allocator pool, so nothing else
 * reuses it between replays. Device tensors the body closes over (a step's object image and mask) are read in
 * place on every replay and must outlive the graph.
 *
 * <p>The captured function must touch host memory of no tensor (no host inputs, no reads of outputs): those are
 * copies a graph cannot hold, and the device refuses them during capture. Everything it creates lazily (weights on
 * the device, FFT twiddles, 16-bit weight copies) must exist before capture: {@link #capture(CudaOps, Function,
 * Tensor...)} runs the body once eagerly first; {@link #capture(CudaContext, Function, boolean, Tensor...)} leaves
 * that to the caller (the sampler's first step is that eager run).
 */
public final class CudaGraph implements DeviceSupport.Replay {
    private final CudaContext ctx;
    private final Tensor[] inputs;
    private final Tensor[] outputs;
    private final DeviceGraph graph;
    private final DeviceAllocator.Pool pool;

    private CudaGraph(CudaContext ctx, Tensor[] inputs, Tensor[] outputs, DeviceGraph graph, DeviceAllocator.Pool pool) {
        this.ctx = ctx;
        this.inputs = inputs;
        this.outputs = outputs;
        this.graph = graph;
        this.pool = pool;
    }

    /** Captures {@code body} applied to device copies of {@code examples} (their shapes are the graph's), after one eager run. */
    public static CudaGraph capture(CudaOps ops, Function<Tensor[], Tensor> body, Tensor... examples) {
        return capture(ops.context(), in -> new Tensor[]{body.apply(in)}, true, examples);
    }

    /** Captures a body with several outputs; {@code warmUp}: run it once eagerly on the static inputs first. */
    public static CudaGraph capture(CudaContext ctx, Function<Tensor[], Tensor[]> body, boolean warmUp, Tensor... examples) {
        Device dev = ctx.device();
        Tensor[] in = new Tensor[examples.length];
        try {
            for (int i = 0; i < in.length; i++) in[i] = ctx.toDevice(examples[i]);
            if (warmUp) for (Tensor t : body.apply(in)) t.close();
            DeviceAllocator.Pool pool = ctx.allocator().openPool();
            Tensor[] out;
            dev.beginCapture();
            try {
                out = body.apply(in);
            } catch (RuntimeException | Error e) {
                dev.endCapture().close();
                pool.close();
                throw e;
            } finally {
                pool.end();
            }
            DeviceGraph g = dev.endCapture();
            for (Tensor o : out)
                if (ctx.resident(o) == null) {
                    g.close();
                    for (Tensor t : out) t.close();
                    pool.close();
                    throw new IllegalStateException("the captured function's results are not all on the device");
                }
            return new CudaGraph(ctx, in, out, g, pool);
        } catch (RuntimeException | Error e) {
            for (Tensor t : in) if (t != null) t.close();
            throw e;
        }
    }

    /** Number of recorded launches and copies. */
    @Override public int nodes() { return graph.nodes(); }

    /** Blocks of device memory the graph owns. */
    public int blocks() { return pool.blocks(); }

    /** Copies {@code args} into the static inputs, replays the graph, returns device-resident copies of its results. */
    @Override public Tensor[] run(Tensor... args) {
        if (args.length != inputs.length) throw new IllegalArgumentException("graph takes " + inputs.length + " inputs, got " + args.length);
        for (int i = 0; i < args.length; i++)
            if (!args[i].shape().equals(inputs[i].shape()) || args[i].dtype() != inputs[i].dtype())
                throw new IllegalArgumentException("input " + i + " is " + args[i].dtype() + args[i].shape() + ", the graph was captured for "
                        + inputs[i].dtype() + inputs[i].shape() + " (all shapes " + Arrays.toString(Arrays.stream(inputs).map(Tensor::shape).toArray()) + ")");
        for (int i = 0; i < args.length; i++) ctx.copyInto(inputs[i], args[i]);
        graph.launch();
        Tensor[] r = new Tensor[outputs.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = ctx.output(outputs[i].shape().dims());
            ctx.device().copy(ctx.resident(r[i]).ptr, ctx.resident(outputs[i]).ptr, outputs[i].byteSize());
        }
        return r;
    }

    /** The single-output form: the first result. */
    public Tensor run1(Tensor... args) {
        Tensor[] r = run(args);
        for (int i = 1; i < r.length; i++) r[i].close();
        return r[0];
    }

    @Override public void close() {
        graph.close();
        for (Tensor t : outputs) t.close();
        for (Tensor t : inputs) t.close();
        pool.close();
    }
}
