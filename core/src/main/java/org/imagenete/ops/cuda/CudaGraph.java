package org.imagenete.ops.cuda;

import org.imagenete.device.Device;
import org.imagenete.device.DeviceAllocator;
import org.imagenete.device.DeviceGraph;
import org.imagenete.tensor.Tensor;

import java.util.Arrays;
import java.util.function.Function;

/**
 * A repeated sequence of ops (a UNet forward at fixed shapes: one sampling step) captured once as a device graph
 * and replayed: one launch instead of hundreds. The inputs live in static device buffers that {@link #run} fills;
 * every block the captured ops allocate or free belongs to the graph's allocator pool, so nothing else reuses it
 * between replays.
 *
 * <p>The captured function must touch host memory of no tensor (no host inputs, no reads of outputs): those are
 * copies a graph cannot hold, and the device refuses them during capture. It runs once eagerly first, which
 * uploads the weights and makes every lazily created device constant.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaContext ctx;
    private final Tensor[] inputs;
    private final Tensor output;
    private final DeviceGraph graph;
    private final DeviceAllocator.Pool pool;

    private CudaGraph(CudaContext ctx, Tensor[] inputs, Tensor output, DeviceGraph graph, DeviceAllocator.Pool pool) {
        this.ctx = ctx;
        this.inputs = inputs;
        this.output = output;
        this.graph = graph;
        this.pool = pool;
    }

    /** Captures {@code body} applied to device copies of {@code examples} (their shapes are the graph's). */
    public static CudaGraph capture(CudaOps ops, Function<Tensor[], Tensor> body, Tensor... examples) {
        CudaContext ctx = ops.context();
        Device dev = ctx.device();
        Tensor[] in = new Tensor[examples.length];
        try {
            for (int i = 0; i < in.length; i++) in[i] = ctx.toDevice(examples[i]);
            body.apply(in).close();                                // warm-up: weights, twiddles, 16-bit copies
            DeviceAllocator.Pool pool = ctx.allocator().openPool();
            Tensor out;
            DeviceGraph g;
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
            g = dev.endCapture();
            if (ctx.resident(out) == null) {
                g.close();
                out.close();
                pool.close();
                throw new IllegalStateException("the captured function's result is not on the device");
            }
            return new CudaGraph(ctx, in, out, g, pool);
        } catch (RuntimeException | Error e) {
            for (Tensor t : in) if (t != null) t.close();
            throw e;
        }
    }

    /** Number of recorded launches and copies. */
    public int nodes() { return graph.nodes(); }

    /** Blocks of device memory the graph owns. */
    public int blocks() { return pool.blocks(); }

    /** Copies {@code args} into the static inputs, replays the graph, returns a device-resident copy of its result. */
    public Tensor run(Tensor... args) {
        if (args.length != inputs.length) throw new IllegalArgumentException("graph takes " + inputs.length + " inputs, got " + args.length);
        for (int i = 0; i < args.length; i++)
            if (!args[i].shape().equals(inputs[i].shape()))
                throw new IllegalArgumentException("input " + i + " has shape " + args[i].shape() + ", the graph was captured for "
                        + inputs[i].shape() + " (all shapes " + Arrays.toString(Arrays.stream(inputs).map(Tensor::shape).toArray()) + ")");
        for (int i = 0; i < args.length; i++) ctx.copyInto(inputs[i], args[i]);
        graph.launch();
        Tensor r = ctx.output(output.shape().dims());
        ctx.device().copy(ctx.resident(r).ptr, ctx.resident(output).ptr, output.byteSize());
        return r;
    }

    @Override public void close() {
        graph.close();
        output.close();
        for (Tensor t : inputs) t.close();
        pool.close();
    }
}
