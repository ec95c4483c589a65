package org.imagenete.cli;

import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import picocli.CommandLine.Option;

/** {@code --backend} and {@code --threads}, shared by every command that computes. */
public final class BackendOptions {
    @Option(names = "--backend", paramLabel = "NAME",
            description = {"reference | cpu | cuda | cuda-bf16 | cuda-fp16 | cuda-emulated[-bf16|-fp16]",
                    "(default: the fastest available: cuda on a GPU, else cpu; also -Dimagenete.backend).",
                    "cuda-bf16/-fp16 run the convolutions on tensor cores (16-bit operands, fp32 accumulation);",
                    "cuda-emulated runs the same CUDA kernels on the CPU, slowly, to check them without a GPU."})
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
