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
 * Batched evaluation of one or many classifiers with decoding and preprocessing running ahead of inference: decoder
 * threads fill a bounded queue of ready batches (in input order), the calling thread runs every classifier on them.
 * Each image is decoded once; the models that share a {@link PreprocessSettings} share its floats, and each distinct
 * preprocessing is computed once per image. Unreadable images are reported with their path and reason and skipped;
 * they never stop the run. A model that fails mid-run is marked failed with the reason and the others go on.
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

    /**
     * One model's part of a run: its predictions, the seconds spent in its inference, and the reason it failed (null
     * when it did not; its predictions are then those of the batches before the failure).
     */
    public record ModelOutcome(Classifier model, List<Prediction> predictions, double inferSeconds, String failure) {
        public boolean failed() { return failure != null; }

        /** Images per second of inference alone (decoding is shared and overlapped). */
        public double imagesPerSecond() { return inferSeconds > 0 ? predictions.size() / inferSeconds : Double.NaN; }
    }

    /** A run of several models over one list of images: per model outcomes in the order given, shared decoding. */
    public record MultiOutcome(List<ModelOutcome> models, List<Failure> failures, double seconds, double decodeSeconds,
                               double waitSeconds) {}

    /** Called after each batch: images done, total, elapsed seconds. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total, double seconds);
    }

    /** A decoded batch: the images that decoded, and their floats for each distinct preprocessing (in order). */
    private record Batch(int index, List<EvalItem> items, float[][] data, List<Failure> failures, double decodeSeconds) {}

    private Evaluator() {}

    /** One model; a failure of the model is thrown (as {@link IllegalStateException} with the reason). */
    public static Outcome run(Classifier model, List<EvalItem> items, Options o, Progress progress) {
        MultiOutcome m = runAll(List.of(model), items, o, progress);
        ModelOutcome r = m.models().getFirst();
        if (r.failed()) throw new IllegalStateException(model.name() + " failed: " + r.failure());
        return new Outcome(r.predictions(), m.failures(), m.seconds(), m.decodeSeconds(), r.inferSeconds(), m.waitSeconds());
    }

    /**
     * Every model over every image. Labels are checked against each model's class count before any work. A model
     * whose {@link Classifier#logits} throws is marked failed and not run again; the run stops early only when every
     * model has failed.
     */
    public static MultiOutcome runAll(List<Classifier> models, List<EvalItem> items, Options o, Progress progress) {
        if (models.isEmpty()) throw new IllegalArgumentException("no models to evaluate");
        for (Classifier m : models) Datasets.checkLabels(items, m.numClasses(), m.name());
        List<PreprocessSettings> pres = new ArrayList<>();
        int[] preOf = new int[models.size()];
        for (int i = 0; i < models.size(); i++) {
            PreprocessSettings p = models.get(i).preprocessing();
            if (!pres.contains(p)) pres.add(p);
            preOf[i] = pres.indexOf(p);
        }
        int nBatches = (items.size() + o.batch - 1) / o.batch;
        BlockingQueue<Batch> ready = new ArrayBlockingQueue<>(Math.max(1, o.prefetch));
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, o.decodeThreads), r -> {
            Thread t = new Thread(r, "imagenete-decode");
            t.setDaemon(true);
            return t;
        });
        AtomicBoolean stop = new AtomicBoolean();
        long t0 = System.nanoTime();
        List<List<Prediction>> preds = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) preds.add(new ArrayList<>());
        double[] infer = new double[models.size()];
        String[] failed = new String[models.size()];
        List<Failure> failures = new ArrayList<>();
        double decode = 0, wait = 0;
        int done = 0;
        // A single producer hands batch indices to the pool in order and puts results in order.
        Thread producer = new Thread(() -> {
            try {
                List<Future<Batch>> inflight = new ArrayList<>();
                int next = 0;
                for (int b = 0; b < nBatches && !stop.get(); b++) {
                    while (next < nBatches && inflight.size() < Math.max(1, o.decodeThreads) + 1) {
                        int bi = next++;
                        inflight.add(pool.submit(() -> decodeBatch(bi, items.subList(bi * o.batch, Math.min(items.size(), (bi + 1) * o.batch)), pres)));
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
                for (int m = 0; m < models.size() && n > 0; m++) {
                    if (failed[m] != null) continue;
                    Classifier model = models.get(m);
                    PreprocessSettings pre = pres.get(preOf[m]);
                    long i0 = System.nanoTime();
                    try (Tensor x = Tensor.of(batch.data[preOf[m]], n, 3, pre.crop(), pre.crop()); Tensor logits = model.logits(x)) {
                        for (int s = 0; s < n; s++) preds.get(m).add(predict(batch.items.get(s), logits, s, model.numClasses()));
                    } catch (RuntimeException | OutOfMemoryError e) {
                        String why = e.getMessage() == null ? e.toString() : e.getMessage();
                        failed[m] = String.format(Locale.ROOT, "failed at images %d-%d of %d: %s", b * o.batch, b * o.batch + n - 1,
                                items.size(), why.replaceAll("\\s*\\R\\s*", " ").strip());   // one line: it goes into a CSV cell
                    } finally {
                        infer[m] += (System.nanoTime() - i0) / 1e9;
                    }
                }
                done += n + batch.failures.size();
                if (progress != null) progress.update(done, items.size(), (System.nanoTime() - t0) / 1e9);
                if (java.util.Arrays.stream(failed).allMatch(java.util.Objects::nonNull)) break;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            stop.set(true);
            producer.interrupt();
            pool.shutdownNow();
        }
        List<ModelOutcome> out = new ArrayList<>();
        for (int m = 0; m < models.size(); m++) out.add(new ModelOutcome(models.get(m), preds.get(m), infer[m], failed[m]));
        return new MultiOutcome(out, failures, (System.nanoTime() - t0) / 1e9, decode, wait);
    }

    /** Decodes each image once and prepares it for every distinct preprocessing. */
    private static Batch decodeBatch(int index, List<EvalItem> items, List<PreprocessSettings> pres) {
        long t0 = System.nanoTime();
        List<EvalItem> ok = new ArrayList<>();
        List<Failure> bad = new ArrayList<>();
        float[][] data = new float[pres.size()][];
        for (int p = 0; p < pres.size(); p++) data[p] = new float[items.size() * 3 * pres.get(p).crop() * pres.get(p).crop()];
        for (EvalItem it : items) {
            try {
                RgbImage img = it.read();
                for (int p = 0; p < pres.size(); p++) {
                    PreprocessSettings pre = pres.get(p);
                    int per = 3 * pre.crop() * pre.crop();
                    System.arraycopy(Preprocessor.normalise(Preprocessor.crop(img, pre), pre), 0, data[p], ok.size() * per, per);
                }
                ok.add(it);
            } catch (RuntimeException e) {
                bad.add(new Failure(it.file(), e.getMessage() == null ? e.toString() : e.getMessage()));
            }
        }
        if (ok.size() < items.size())
            for (int p = 0; p < pres.size(); p++) data[p] = java.util.Arrays.copyOf(data[p], ok.size() * 3 * pres.get(p).crop() * pres.get(p).crop());
        return new Batch(index, ok, data, bad, (System.nanoTime() - t0) / 1e9);
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
                Map.of("file", it.location()), it.complexity());
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
