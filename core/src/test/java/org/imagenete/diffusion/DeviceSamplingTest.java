package org.imagenete.diffusion;

import org.imagenete.device.DeviceCounters;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.tensor.Tensor;
import org.imagenete.testutil.Rand;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The blended sampler on the CUDA kernels (emulated device, tiny golden ADM at 16x16 to keep the emulator quick):
 * a step's traffic is its scalars only, the captured step graph replays exactly what eager execution computes, an
 * image's result does not depend on its batch, and a NaN is reported from the device's counts.
 */
class DeviceSamplingTest {
    static final TinyAdmFixture TINY = new TinyAdmFixture("cuda-emulated");
    static final Adm model = TINY.model;
    static final Ops ops = TINY.ops;

    @AfterAll
    static void tearDown() { TINY.close(); }

    static Tensor in(Tensor t) { return TINY.in(t); }

    static BlendedSampler.Job job(long seed, float lambda) {
        float[] m = new float[16 * 16];
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) m[y * 16 + x] = (y - 8) * (y - 8) + (x - 7) * (x - 7) <= 16 ? 1 : 0;
        return new BlendedSampler.Job(in(Rand.uniform(seed, 0.8f, 3, 16, 16)), in(Rand.uniform(seed + 100, 0.9f, 3, 16, 16)),
                in(Tensor.of(m, 1, 16, 16)), lambda, seed, -1);
    }

    static BlendedSampler.Options opts(int steps) { return BlendedSampler.Options.defaults().withSkip(steps); }

    static DeviceCounters counters() { return ops.device().counters(); }

    static void closeAll(List<Tensor> ts) { ts.forEach(Tensor::close); }

    /** Replay = eager, bit for bit; the graph path really replays (graph launches, a handful of kernel launches per step). */
    @Test
    void graphReplayEqualsEagerExecutionBitForBit() {
        BlendedSampler.Job a = job(1, 20f);
        counters().reset();
        List<Tensor> eager = BlendedSampler.sample(model, ops, List.of(a), opts(3), false);
        DeviceCounters.Snapshot e = counters().snapshot();
        counters().reset();
        List<Tensor> graph = BlendedSampler.sample(model, ops, List.of(a), opts(3), true);
        DeviceCounters.Snapshot g = counters().snapshot();
        try {
            System.out.println("eager: " + e.stepsLine() + "\ngraph: " + g.stepsLine());
            assertEquals(0, e.graphLaunches(), "eager execution launches no graph");
            assertEquals(2, g.graphLaunches(), "steps 2 and 3 replay the graph captured at step 2");
            assertTrue(g.graphNodes() > 100, "the graph holds the whole step: " + g.graphNodes() + " nodes");
            assertTrue(g.stepLaunches() < e.stepLaunches() / 2, "replayed steps launch no kernels one by one");
            assertEquals(-1L, eager.getFirst().read().mismatch(graph.getFirst().read()), "graph replay = eager execution");
            assertEquals(3, e.steps());
            assertEquals(3, g.steps());
        } finally {
            closeAll(eager);
            closeAll(graph);
        }
    }

    /** One image alone and the same image second in a batch of two: the same bytes (batched UNet calls included). */
    @Test
    void anImagesResultDoesNotDependOnItsBatch() {
        BlendedSampler.Job a = job(3, 20f), b = job(4, -20f);
        List<Tensor> alone = BlendedSampler.sample(model, ops, List.of(a), opts(2));
        List<Tensor> batched = BlendedSampler.sample(model, ops, List.of(b, a), opts(2));
        try {
            assertEquals(-1L, alone.getFirst().read().mismatch(batched.get(1).read()), "batch of 1 = second of a batch of 2, bit for bit");
            assertNotEquals(-1L, batched.get(0).read().mismatch(batched.get(1).read()));
        } finally {
            closeAll(alone);
            closeAll(batched);
        }
    }

    /** The per-step traffic is the step's scalars: the table, the timesteps and the keys up, the stats down. */
    @Test
    void aStepMovesOnlyItsScalars() {
        BlendedSampler.Job a = job(5, 20f), b = job(6, 10f);
        long[] bytes = new long[2], copies = new long[2];
        closeAll(BlendedSampler.sample(model, ops, List.of(a, b), opts(1)));   // the weights and constants go up once: not a step's
        for (int k = 0; k < 2; k++) {
            counters().reset();
            closeAll(BlendedSampler.sample(model, ops, List.of(a, b), opts(2 + 2 * k)));
            DeviceCounters.Snapshot s = counters().snapshot();
            System.out.println((2 + 2 * k) + " steps: " + s.transfersLine());
            bytes[k] = s.h2dBytes() + s.d2hBytes();
            copies[k] = s.copies();
        }
        double perStepPerImage = (bytes[1] - bytes[0]) / 2.0 / 2;
        System.out.printf("per extra step and image: %.0f bytes, %.1f copies%n", perStepPerImage, (copies[1] - copies[0]) / 2.0);
        assertTrue(perStepPerImage > 0 && perStepPerImage <= 1024, perStepPerImage + " bytes per step and image");
        assertTrue((copies[1] - copies[0]) / 2 <= 4, "4 copies per step: table, timesteps, keys up; stats down");
    }

    /** A NaN in sample 1 only: reported with the step index, the sample and the tensor, from the device's counts. */
    @Test
    void aNaNIsReportedWithStepSampleAndTensor() {
        BlendedSampler.Job a = job(7, 20f), b = job(8, 20f);
        b.background().setFloat(77, Float.NaN);
        var e = assertThrows(GuidedStep.NonFiniteException.class, () -> BlendedSampler.sample(model, ops, List.of(a, b), opts(3)));
        assertTrue(e.getMessage().contains("step index 2") && e.getMessage().contains("(sample 1)") && e.getMessage().contains("'x_t'"),
                e.getMessage());
    }
}
