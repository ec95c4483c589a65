package org.imagenete.eval;

import org.imagenete.image.RgbImage;
import org.imagenete.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Batched evaluation with decoding and preprocessing running ahead of inference: decoder threads fill a
 * bounded queue of ready batches (in input order), the calling thread runs the classifier on them. Unreadable
 * images are reported with their path and reason and skipped; they never stop the run.
 */
public final class Evaluator {
    /** @param decodeThreads threads decoding and preprocessing; @param prefetch ready batches kept ahead */
    public record Options(int batch, int decodeThreads, int prefetch) {
        public static Options defaults() { return new Options(32, Math.max(1, Runtime.getRuntime().availableProcessors() / 2), 3); }
    }

    public record Failure(Path file, String reason) {}

    /** Seconds spent decoding (summed over decoder threads), in inference, and waiting for a batch. */
    public record Outcome(List<Prediction> predictions, List<Failure> failures, double seconds, double decodeSeconds,
                          double inferSeconds, double waitSeconds) {
        public double imagesPerSecond() { return predictions.size() / seconds; }
    }

    /** Called after each batch: images done, total, elapsed seconds. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total, double seconds);
    }

    private record Batch(int index, List<EvalItem> items, float[] data, List<Failure> failures, double decodeSeconds) {}

    private Evaluator() {}

    public static Outcome run(Classifier model, List<EvalItem> items, Options o, Progress progress) {
        Datasets.checkLabels(items, model.numClasses(), model.name());
        Preprocessing pre = model.preprocessing();
        int per = 3 * pre.crop() * pre.crop();
        int nBatches = (items.size() + o.batch - 1) / o.batch;
        BlockingQueue<Batch> ready = new ArrayBlockingQueue<>(Math.max(1, o.prefetch));
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, o.decodeThreads), r -> {
            Thread t = new Thread(r, "imagenete-decode");
            t.setDaemon(true);
            return t;
        });
        AtomicBoolean stop = new AtomicBoolean();
        long t0 = System.nanoTime();
        List<Prediction> preds = new ArrayList<>();
        List<Failure> failures = new ArrayList<>();
        double decode = 0, infer = 0, wait = 0;
        // A single producer hands batch indices to the pool in order and puts results in order.
        Thread producer = new Thread(() -> {
            try {
                List<Future<Batch>> inflight = new ArrayList<>();
                int next = 0;
                for (int b = 0; b < nBatches && !stop.get(); b++) {
                    while (next < nBatches && inflight.size() < Math.max(1, o.decodeThreads) + 1) {
                        int bi = next++;
                        inflight.add(pool.submit(() -> decodeBatch(bi, items.subList(bi * o.batch, Math.min(items.size(), (bi + 1) * o.batch)), pre, per)));
                    }
                    ready.put(inflight.removeFirst().get());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                stop.set(true);
                ready.offer(new Batch(-1, List.of(), null, List.of(new Failure(null, e.toString())), 0));
            }
        }, "imagenete-prefetch");
        producer.setDaemon(true);
        producer.start();
        try {
            for (int b = 0; b < nBatches; b++) {
                long w0 = System.nanoTime();
                Batch batch = ready.take();
                wait += (System.nanoTime() - w0) / 1e9;
                if (batch.index < 0) throw new IllegalStateException("decoding failed: " + batch.failures.getFirst().reason());
                decode += batch.decodeSeconds;
                failures.addAll(batch.failures);
                int n = batch.items.size();
                if (n > 0) {
                    long i0 = System.nanoTime();
                    try (Tensor x = Tensor.of(batch.data, n, 3, pre.crop(), pre.crop()); Tensor logits = model.logits(x)) {
                        infer += (System.nanoTime() - i0) / 1e9;
                        for (int s = 0; s < n; s++) preds.add(predict(batch.items.get(s), logits, s, model.numClasses()));
                    }
                }
                if (progress != null) progress.update(preds.size() + failures.size(), items.size(), (System.nanoTime() - t0) / 1e9);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            stop.set(true);
            producer.interrupt();
            pool.shutdownNow();
        }
        return new Outcome(preds, failures, (System.nanoTime() - t0) / 1e9, decode, infer, wait);
    }

    private static Batch decodeBatch(int index, List<EvalItem> items, Preprocessing pre, int per) {
        long t0 = System.nanoTime();
        List<EvalItem> ok = new ArrayList<>();
        List<Failure> bad = new ArrayList<>();
        float[] data = new float[items.size() * per];
        for (EvalItem it : items) {
            try {
                RgbImage img = Preprocess.crop(it.read(), pre);
                System.arraycopy(Preprocess.normalise(img, pre), 0, data, ok.size() * per, per);
                ok.add(it);
            } catch (RuntimeException e) {
                bad.add(new Failure(it.file(), e.getMessage() == null ? e.toString() : e.getMessage()));
            }
        }
        float[] packed = ok.size() == items.size() ? data : java.util.Arrays.copyOf(data, ok.size() * per);
        return new Batch(index, ok, packed, bad, (System.nanoTime() - t0) / 1e9);
    }

    /** Softmax (float64) top-5 and confidence of one row of logits. */
    static Prediction predict(EvalItem it, Tensor logits, int row, int classes) {
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) max = Math.max(max, logits.getFloat((long) row * classes + c));
        double z = 0;
        for (int c = 0; c < classes; c++) z += Math.exp(logits.getFloat((long) row * classes + c) - max);
        int[] top = new int[Math.min(5, classes)];
        java.util.Arrays.fill(top, -1);
        for (int c = 0; c < classes; c++) {
            float v = logits.getFloat((long) row * classes + c);
            for (int k = 0; k < top.length; k++) {
                if (top[k] < 0 || v > logits.getFloat((long) row * classes + top[k])) {
                    System.arraycopy(top, k, top, k + 1, top.length - k - 1);
                    top[k] = c;
                    break;
                }
            }
        }
        float conf = (float) (Math.exp(logits.getFloat((long) row * classes + top[0]) - max) / z);
        return new Prediction(it.image(), it.variant(), it.attribute(), it.value(), it.label(), top, conf,
                Map.of("file", it.location()));
    }

    /** A one-line progress bar on stderr: done/total, images/s, ETA. */
    public static Progress consoleProgress(String what) {
        return (done, total, s) -> {
            int width = 30, fill = total == 0 ? width : (int) ((long) width * done / total);
            double rate = done / Math.max(1e-9, s);
            double eta = rate > 0 ? (total - done) / rate : 0;
            System.err.printf(Locale.ROOT, "\r%s [%s%s] %d/%d  %.1f img/s  ETA %d:%02d ", what, "=".repeat(fill), " ".repeat(width - fill),
                    done, total, rate, (int) eta / 60, (int) eta % 60);
            if (done >= total) System.err.println();
        };
    }
}
