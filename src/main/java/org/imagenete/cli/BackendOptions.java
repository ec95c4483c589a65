package org.imagenete.cli;

import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import picocli.CommandLine.Option;

/** {@code --backend} and {@code --threads}, shared by every command that computes. */
public final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = "reference | cpu (default: the fastest available; also -Dimagenete.backend)")
    String backend;

    @Option(names = "--threads", paramLabel = "N", description = "threads for the native kernels (default: all cores)")
    Integer threads;

    public Ops ops() {
        if (threads != null) {
            if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1");
            System.setProperty("imagenete.threads", threads.toString());
        }
        return Backends.get(backend);
    }
}
