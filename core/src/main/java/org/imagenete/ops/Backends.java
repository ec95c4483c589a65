package org.imagenete.ops;

import org.imagenete.device.Devices;
import org.imagenete.device.EmulatedDevice;
import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.ops.cpu.NativeLib;
import org.imagenete.ops.cuda.CudaContext;
import org.imagenete.ops.cuda.CudaOps;
import org.imagenete.ops.ref.ReferenceOps;

import java.util.List;
import java.util.Optional;

/**
 * Picks a backend: the one named by {@code --backend} or the system property {@code imagenete.backend}, else
 * the fastest available (CUDA on a GPU, then fast CPU, then reference; never the emulated CUDA device, which is a
 * correctness tool). Logs its choice once per name, with the reason when a faster one was unavailable.
 */
public final class Backends {
    /** "cuda[-bf16|-fp16]": a GPU; "cuda-emulated[-bf16|-fp16]": the CUDA kernels compiled for the CPU (slow, for checks). */
    public static final List<String> NAMES = List.of("reference", "cpu", "cuda", "cuda-bf16", "cuda-fp16", "cuda-emulated",
            "cuda-emulated-bf16", "cuda-emulated-fp16");
    private static final System.Logger LOG = System.getLogger("imagenete");
    private static volatile String logged;

    private Backends() {}

    /** The backend named {@code name} (one of {@link #NAMES}), or the best available when null or "auto". */
    public static Ops get(String name) {
        if (name == null || name.isBlank()) name = System.getProperty("imagenete.backend", "auto");
        String why = null;
        Ops ops;
        if (name.equals("auto")) {
            Optional<CudaContext> gpu = CudaContext.gpu();
            if (gpu.isPresent()) ops = new CudaOps(gpu.get(), CudaOps.Precision.FP32);
            else {
                why = "no CUDA: " + Devices.gpuError();
                ops = NativeLib.available() ? new CpuOps() : new ReferenceOps();
                if (!NativeLib.available()) why += "; the native kernels did not load: " + NativeLib.error();
            }
        } else if (name.equals("reference")) {
            ops = new ReferenceOps();
        } else if (name.equals("cpu")) {
            if (!NativeLib.available()) throw new IllegalStateException("backend 'cpu' unavailable: " + NativeLib.error());
            ops = new CpuOps();
        } else if (name.startsWith("cuda") && NAMES.contains(name)) {
            CudaOps.Precision p = name.endsWith("-bf16") ? CudaOps.Precision.BF16 : name.endsWith("-fp16") ? CudaOps.Precision.FP16
                    : CudaOps.Precision.FP32;
            CudaContext ctx;
            if (name.startsWith("cuda-emulated")) {
                if (!EmulatedDevice.available())
                    throw new IllegalStateException("backend '" + name + "' unavailable: " + EmulatedDevice.error());
                ctx = CudaContext.emulated();
            } else {
                    String n = name;
                ctx = CudaContext.gpu().orElseThrow(() -> new IllegalStateException("backend '" + n + "' unavailable: " + Devices.gpuError()));
            }
            CudaOps c = new CudaOps(ctx, p);
            if (!c.unsupported().isEmpty()) why = "unsupported ops " + c.unsupported();
            ops = c;
        } else {
            throw new IllegalArgumentException("unknown backend '" + name + "' (choose from " + NAMES + " or auto)");
        }
        String what = ops.name() + switch (ops) {
            case CpuOps c -> " (native " + NativeLib.variant() + ", " + Runtime.getRuntime().availableProcessors() + " cores)";
            case CudaOps c -> " (" + c.context().device().name() + ")";
            default -> "";
        } + (why != null ? " [" + why + "]" : "");
        if (!what.equals(logged)) {
            logged = what;
            LOG.log(System.Logger.Level.INFO, "backend: " + what);
        }
        return ops;
    }
}
