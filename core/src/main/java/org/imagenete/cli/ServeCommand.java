package org.imagenete.cli;

import org.imagenete.edit.EditRequest;
import org.imagenete.eval.Classifier;
import org.imagenete.eval.OnnxClassifier;
import org.imagenete.eval.ResNetClassifier;
import org.imagenete.io.Checksums;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Ops;
import org.imagenete.serve.Server;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** The web editor: {@code imagenet-e serve} starts the HTTP server of {@link Server} and prints its URL. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Start the web editor: upload or pick a photo, mask it, edit size, position, direction and background,",
                "see the achieved values and the classifier's top-5 and CAMs, sweep an attribute, browse a benchmark.",
                "Listens on 127.0.0.1 only unless --host is given. The page's HTTP API is usable from scripts (README)."})
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "8765", description = "TCP port (0: a free one); default ${DEFAULT-VALUE}") int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "address to listen on (default ${DEFAULT-VALUE}: this machine only; 0.0.0.0 serves the network, unauthenticated)")
    String host;

    @Option(names = "--weights", paramLabel = "ADM", description = "ADM diffusion checkpoint: background edits, diffusion fill")
    Path weights;

    @Option(names = "--classifier", paramLabel = "MODEL",
            description = "torchvision ResNet (.pth/.safetensors: top-5, CAMs, '-adv' edits) or .onnx (top-5)")
    Path classifier;

    @Option(names = "--benchmark", paramLabel = "DIR", description = "a folder made by generate, to browse")
    Path benchmark;

    @Option(names = "--report", paramLabel = "DIR", description = "its evaluation report (default: DIR/report.html or DIR/../report/)")
    Path report;

    @Option(names = "--size", defaultValue = "256", description = "working resolution (the diffusion model's)") int size;

    @Option(names = "--num-head-channels", paramLabel = "N") Integer numHeadChannels;

    @Option(names = "--queue", defaultValue = "4", description = "edits that may wait while one runs (more get 503); default ${DEFAULT-VALUE}")
    int queue;

    @Option(names = "--max-upload-mb", defaultValue = "25", description = "largest request body; default ${DEFAULT-VALUE}") int maxUploadMb;

    @Option(names = "--max-megapixels", defaultValue = "50", description = "largest image; default ${DEFAULT-VALUE}") int maxMegapixels;

    @Option(names = "--keep-minutes", defaultValue = "30", description = "results expire after this; default ${DEFAULT-VALUE}") int keepMinutes;

    @Option(names = "--results", paramLabel = "DIR", description = "where results are kept (default: a temporary folder, deleted at exit)")
    Path results;

    @Option(names = "--results-max-mb", defaultValue = "2048", description = "results kept in all; default ${DEFAULT-VALUE}") long resultsMaxMb;

    @Mixin BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port " + port + " outside 0..65535");
        if (queue < 0 || maxUploadMb < 1 || maxMegapixels < 1 || keepMinutes < 1 || resultsMaxMb < 1)
            throw new IllegalArgumentException("--queue must be >= 0; --max-upload-mb, --max-megapixels, --keep-minutes, --results-max-mb >= 1");
        if (benchmark != null && !Files.isDirectory(benchmark)) throw new IllegalArgumentException("--benchmark " + benchmark + ": no such folder");
        Ops ops = backend.ops();
        Map<String, String> flags = new LinkedHashMap<>();
        if (numHeadChannels != null) flags.put("num_head_channels", numHeadChannels.toString());
        boolean onnx = classifier != null && classifier.toString().endsWith(".onnx");
        try (Adm adm = weights == null ? null : Adm.open(weights, flags, ops.convWeightType());
             Classifier cls = classifier == null ? null : onnx ? new OnnxClassifier(classifier, 0, false) : ResNetClassifier.open(classifier, ops)) {
            var resnet = cls instanceof ResNetClassifier r ? r.net() : null;
            var models = new EditRequest.Models(adm, weights == null ? null : weights.toString(), weights == null ? null : Checksums.sha256(weights),
                    resnet, resnet == null ? null : classifier.toString(), resnet == null ? null : Checksums.sha256(classifier));
            var options = new Server.Options(host, port, queue, (long) maxUploadMb << 20, maxMegapixels * 1_000_000L,
                    Duration.ofMinutes(keepMinutes), resultsMaxMb << 20, results, size);
            Server server = Server.start(options, new Server.Engine(ops, models, cls, benchmark, report));
            // Ctrl-C: the hook wakes this thread, which closes the server (its results deleted), and waits for that
            CountDownLatch stop = new CountDownLatch(1), closed = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stop.countDown();
                try {
                    closed.await(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
            try {
                System.out.println(server.url());
                System.out.flush();
                System.err.println("serve: " + server.url() + " (backend " + ops.name() + "; diffusion model: "
                        + (adm == null ? "none, geometric edits only" : weights.getFileName()) + "; classifier: "
                        + (cls == null ? "none" : cls.name()) + "). Ctrl-C stops.");
                if (!server.address().getAddress().isLoopbackAddress())
                    System.err.println("serve: listening on " + server.address() + ": anyone who can reach it can use it (no authentication)");
                stop.await();
            } finally {
                server.close();
                closed.countDown();
            }
        }
        return 0;
    }
}
