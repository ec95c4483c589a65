package org.imagenete.serve;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.imagenete.diffusion.BlendedSampler;
import org.imagenete.edit.Edit;
import org.imagenete.edit.EditRequest;
import org.imagenete.edit.automask.IsNetMasker;
import org.imagenete.eval.Classifier;
import org.imagenete.image.Filter;
import org.imagenete.image.ImageException;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.Masks;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.imagenete.io.AtomicFiles;
import org.imagenete.io.Checksums;
import org.imagenete.ops.Ops;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.function.Supplier;

/**
 * Turns an upload into an {@link EditRequest} (the code path of {@code imagenet-e edit}), runs it for a job and
 * stores what it made: each output's PNG, object mask and sidecar (the bytes {@code edit} writes), the original
 * at the working size, and, with a classifier, the top-5 before and after with CAM overlays.
 */
final class EditService {
    /** The form fields of {@code POST /api/edit}; anything else is refused, so a typo is not silently ignored. */
    static final Set<String> FIELDS = Set.of("image", "mask", "auto_mask", "mask_format", "edits", "seed", "steps", "harmonize_steps", "fill", "label");
    /** Fills a request may ask for: names only, never a file. */
    static final List<String> FILLS = List.of("fast", "patch", "telea", "pushpull", "diffusion");

    private final Ops ops;
    private final EditRequest.Models models;
    private final Classifier classifier;
    private final Supplier<IsNetMasker> masker;
    private final int size;
    private final long maxPixels;
    private final FillCache fillCache = new FillCache(8);

    EditService(Ops ops, EditRequest.Models models, Classifier classifier, Supplier<IsNetMasker> masker, int size, long maxPixels) {
        this.ops = ops;
        this.models = models;
        this.classifier = classifier;
        this.masker = masker;
        this.size = size;
        this.maxPixels = maxPixels;
    }

    /** A decoded upload: the image and its mask file's bytes (null with {@code auto_mask}). */
    record Upload(String name, byte[] image, RgbImage decoded, byte[] mask) {}

    /** The image part of a form, checked to be JPEG, PNG or WebP of at most {@code maxPixels} and decoded. */
    Upload image(Form f) {
        Multipart.Part p = f.file("image");
        if (p == null) throw new HttpError(400, "no 'image' file in the form");
        String name = Uploads.safeName(p.filename(), "upload.png");
        RgbImage img = decode(p.data(), name);
        Multipart.Part m = f.file("mask");
        return new Upload(name, p.data(), img, m == null ? null : m.data());
    }

    RgbImage decode(byte[] data, String name) {
        Uploads.Format fmt = Uploads.format(data);
        if (fmt == null) throw new HttpError(415, name + ": not an image (JPEG, PNG or WebP), " + Uploads.describe(data));
        long px = Uploads.pixels(data, fmt);
        if (px > maxPixels)
            throw new HttpError(413, String.format(Locale.ROOT, "%s: %d megapixels is over the limit of %d", name, px / 1_000_000, maxPixels / 1_000_000));
        return Images.decode(data, Path.of(name));
    }

    /**
     * The request of a form: the same options as {@code edit} ({@code edits} once per output, as {@code --set}),
     * the mask read by the same code from a file in {@code scratch}.
     */
    EditRequest request(Form f, Upload up, Path scratch) throws IOException {
        for (String k : f.names())
            if (!FIELDS.contains(k)) throw new HttpError(400, "unknown form field '" + k + "' (" + String.join(", ", new java.util.TreeSet<>(FIELDS)) + ")");
        List<List<Edit>> edits = new ArrayList<>();
        for (String s : f.all("edits")) edits.add(Edit.parse(s));
        if (edits.isEmpty()) throw new HttpError(400, "no 'edits' field (e.g. edits=size=0.05)");
        if (edits.size() > 64) throw new HttpError(400, edits.size() + " edits in one request, at most 64");
        String fill = f.text("fill", "fast");
        if (!FILLS.contains(fill)) throw new HttpError(400, "fill '" + fill + "': " + String.join(", ", FILLS));
        long seed = f.number("seed", 0L, Long::parseLong);
        Integer steps = f.text("steps", null) == null ? null : f.number("steps", 0, Integer::parseInt);
        if (steps != null && (steps < 1 || steps > 1000)) throw new HttpError(400, "steps " + steps + " outside 1..1000");
        Integer harmonize = f.text("harmonize_steps", null) == null ? null : f.number("harmonize_steps", 0, Integer::parseInt);
        if (harmonize != null && (harmonize < 0 || harmonize > 1000)) throw new HttpError(400, "harmonize_steps " + harmonize + " outside 0..1000");
        int label = EditRequest.label(f.text("label", null));
        boolean auto = Boolean.parseBoolean(f.text("auto_mask", "false")) || "1".equals(f.text("auto_mask", null));
        String format = f.text("mask_format", "binary");
        if ((up.mask() == null) == !auto) throw new HttpError(400, "give a 'mask' PNG file or auto_mask=true");
        Mask mask;
        if (auto) {
            IsNetMasker isnet = masker.get();
            if (isnet == null) throw new HttpError(501, "the automatic masker is not installed (" + IsNetMasker.INSTALL_COMMAND + ")");
            synchronized (isnet) {
                mask = isnet.mask(up.decoded());
            }
        } else {
            String maskName = Uploads.safeName(f.file("mask").filename(), "mask.png");
            if (Uploads.format(up.mask()) != Uploads.Format.PNG)
                throw new HttpError(415, maskName + ": masks must be PNG, this is " + Uploads.describe(up.mask()));
            Path tmp = Files.createTempFile(scratch, "mask-", ".png");
            try {
                Files.write(tmp, up.mask());
                mask = Masks.readFor(tmp, EditRequest.maskSource(format), up.decoded(), false);
            } catch (ImageException e) {
                throw new HttpError(400, String.valueOf(e.getMessage()).replace(tmp.toString(), maskName));
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
        String stem = up.name().replaceFirst("\\.[^.]+$", "");
        var source = new EditRequest.Source(stem, up.decoded(), mask, label, up.name(), Checksums.sha256(up.image()),
                auto ? null : Uploads.safeName(f.file("mask").filename(), "mask.png"), auto ? null : Checksums.sha256(up.mask()), format);
        var settings = EditRequest.Settings.defaults().withSize(size).withFill(fill).withSteps(steps).withHarmonizeSteps(harmonize);
        EditRequest req = new EditRequest(source, edits, seed, settings, null);
        req.checkModels(models.adm() != null, models.classifier() != null);
        return req;
    }

    /** Runs a queued job: progress events per diffusion step, cancellable between steps. */
    void run(Job job, EditRequest req) {
        if (!job.start()) return;   // cancelled while queued
        job.event("started", Http.JSON.createObjectNode().put("edits", req.edits().size()));
        long t0 = System.nanoTime();
        int[] pass = {0};
        BlendedSampler.StepListener listener = (index, run, total, complexity) -> {
            if (job.cancelRequested()) throw new CancellationException("cancelled");
            if (run == 1) pass[0]++;
            ObjectNode e = Http.JSON.createObjectNode().put("step", run).put("steps", total).put("pass", pass[0]);
            if (Double.isFinite(complexity)) e.put("complexity", complexity);
            job.event("progress", e);
        };
        try {
            List<EditRequest.Output> outs = req.run(models, ops, listener, fillCache.wrap(req.settings().fill(), req.filler()));
            ObjectNode body = store(job, req, outs);
            body.put("seconds", (System.nanoTime() - t0) / 1e9);
            boolean any = outs.stream().anyMatch(o -> o.result().ok());
            if (any) job.finish(Job.State.DONE, 200, body);
            else {
                body.put("error", outs.getFirst().baseName() + ": " + outs.getFirst().result().unreachable());
                job.finish(Job.State.FAILED, 422, body);
            }
        } catch (CancellationException e) {
            job.finish(Job.State.CANCELLED, 409, Http.error("cancelled"));
        } catch (IllegalArgumentException | IllegalStateException | ImageException e) {
            job.finish(Job.State.FAILED, 400, Http.error(String.valueOf(e.getMessage())));
        } catch (Throwable e) {   // a fault of the engine: reported to the client and logged, the server goes on
            System.err.println("serve: job " + job.id + " failed: " + e);
            e.printStackTrace();
            job.finish(Job.State.FAILED, 500, Http.error("internal error: " + e));
        }
    }

    private ObjectNode store(Job job, EditRequest req, List<EditRequest.Output> outs) throws IOException {
        String url = "/results/" + job.id + "/";
        ObjectNode body = Http.JSON.createObjectNode();
        body.put("id", job.id);
        String stem = req.source().stem();
        RgbImage img = req.source().image(), original = img.width() == size && img.height() == size ? img : Resize.resize(img, size, size, Filter.LANCZOS);
        Mask m = req.source().mask(), originalMask = m.width() == size && m.height() == size ? m : m.resizeNearest(size, size);
        job.store("original.png", "image/png", stem + ".original.png", p -> Images.writePng(original, p));
        body.put("original", url + "original.png");
        body.put("original_ratio", originalMask.areaRatio());
        List<RgbImage> shown = new ArrayList<>(List.of(original));
        ArrayNode results = body.putArray("results");
        for (int k = 0; k < outs.size(); k++) {
            EditRequest.Output o = outs.get(k);
            ObjectNode r = results.addObject();
            r.put("variant", o.result().task().variant());
            r.put("name", o.baseName());
            if (!o.result().ok()) {
                r.put("error", o.result().unreachable());
                continue;
            }
            // written by the writers edit uses, so that the files are the bytes edit writes
            job.store(k + ".png", "image/png", o.baseName() + ".png", p -> Images.writePng(o.result().image(), p));
            job.store(k + ".mask.png", "image/png", o.baseName() + ".mask.png", p -> Masks.write(o.result().mask(), p));
            job.store(k + ".json", "application/json; charset=utf-8", o.baseName() + ".json",
                    p -> AtomicFiles.write(p, o.sidecar().getBytes(StandardCharsets.UTF_8)));
            r.put("image", url + k + ".png");
            r.put("mask", url + k + ".mask.png");
            r.put("sidecar_url", url + k + ".json");
            r.put("derived_seed", Long.toString(o.result().task().seed()));   // exact: JavaScript numbers have 53 bits
            r.set("sidecar", Http.parse(o.sidecar()));
            shown.add(o.result().image());
        }
        if (classifier != null) classify(job, body, req, outs, shown, url);
        // the first output, at the top level: what a script sending one 'edits' field wants
        ObjectNode first = (ObjectNode) results.get(0);
        for (String k : List.of("image", "mask", "sidecar_url", "sidecar"))
            if (first.has(k)) body.set(k, first.get(k));
        return body;
    }

    private void classify(Job job, ObjectNode body, EditRequest req, List<EditRequest.Output> outs, List<RgbImage> shown, String url) throws IOException {
        List<Top5.Seen> seen;
        synchronized (classifier) {
            seen = Top5.classify(classifier, shown, req.source().label());
        }
        ObjectNode c = body.putObject("classifier");
        c.put("name", classifier.name());
        c.set("top5", Http.JSON.valueToTree(seen.getFirst().top5()));
        if (seen.getFirst().cam() != null) {
            job.store("original.cam.png", "image/png", req.source().stem() + ".original.cam.png", p -> Images.writePng(seen.getFirst().cam(), p));
            c.put("cam", url + "original.cam.png");
        }
        ArrayNode results = (ArrayNode) body.get("results");
        int s = 1;
        for (int k = 0; k < outs.size(); k++) {
            if (!outs.get(k).result().ok()) continue;
            Top5.Seen t = seen.get(s++);
            ObjectNode r = ((ObjectNode) results.get(k)).putObject("classifier");
            r.set("top5", Http.JSON.valueToTree(t.top5()));
            if (t.cam() != null) {
                job.store(k + ".cam.png", "image/png", outs.get(k).baseName() + ".cam.png", p -> Images.writePng(t.cam(), p));
                r.put("cam", url + k + ".cam.png");
            }
        }
    }

    /** A job that stores the automatic mask of an uploaded image as a 0/255 PNG; a 501 when ISNet is not installed. */
    void autoMask(Job job, RgbImage img, String stem) {
        if (!job.start()) return;
        try {
            IsNetMasker isnet = masker.get();
            if (isnet == null) throw new HttpError(501, "the automatic masker is not installed (" + IsNetMasker.INSTALL_COMMAND + ")");
            Mask m;
            synchronized (isnet) {
                m = isnet.mask(img);
            }
            job.store("mask.png", "image/png", stem + ".mask.png", p -> Masks.write(m, p));
            job.finish(Job.State.DONE, 200, Http.JSON.createObjectNode().put("id", job.id).put("mask", "/results/" + job.id + "/mask.png")
                    .put("ratio", m.areaRatio()));
        } catch (HttpError e) {
            job.finish(Job.State.FAILED, e.status, Http.error(e.getMessage()));
        } catch (Throwable e) {
            System.err.println("serve: job " + job.id + " failed: " + e);
            job.finish(Job.State.FAILED, 500, Http.error("internal error: " + e));
        }
    }

    boolean hasModel() { return models.adm() != null; }

    boolean hasAdversarial() { return models.classifier() != null; }

    boolean hasClassifier() { return classifier != null; }

    List<String> fills() { return FILLS.stream().filter(f -> !f.equals("diffusion") || hasModel()).toList(); }
}
