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
 * correctness tool), in the {@link Precision} of {@code --precision} (or {@code imagenete.precision}). Logs its
 * choice once per name, with the reason when a faster one (or the precision asked for) was unavailable.
 */
public final class Backends {
    /** "cuda[-bf16|-fp16]": a GPU; "cuda-emulated[-bf16|-fp16]": the CUDA kernels compiled for the CPU (slow, for checks).
     *  The -bf16/-fp16 names are aliases of {@code --backend cuda --precision bf16|fp16}. */
    public static final List<String> NAMES = List.of("reference", "cpu", "cuda", "cuda-bf16", "cuda-fp16", "cuda-emulated",
            "cuda-emulated-bf16", "cuda-emulated-fp16");
    private static final System.Logger LOG = System.getLogger("imagenete");
    private static volatile String logged;

    private Backends() {}

    /** The backend named {@code name} (one of {@link #NAMES}), or the best available when null or "auto", in fp32. */
    public static Ops get(String name) { return get(name, null); }

    /**
     * The same in {@code precision} (null: {@code imagenete.precision}, else fp32, or what a cuda-bf16/-fp16 name
     * says). bf16 on a CPU without AVX-512 BF16 runs fp32 and says so; the reference backend is fp32/fp64 only.
     */
    public static Ops get(String name, Precision precision) {
        if (name == null || name.isBlank()) name = System.getProperty("imagenete.backend", "auto");
        String prop = System.getProperty("imagenete.precision");
        if (precision == null && prop != null && !prop.isBlank()) precision = Precision.parse(prop);
        Precision named = name.endsWith("-bf16") ? Precision.BF16 : name.endsWith("-fp16") ? Precision.FP16 : null;
        if (named != null && precision != null && precision != named)
            throw new IllegalArgumentException("--backend " + name + " computes in " + named.flag() + ", not --precision " + precision.flag());
        Precision p = named != null ? named : precision != null ? precision : Precision.FP32;
        String why = null;
        Ops ops;
        if (name.equals("auto")) {
            Optional<CudaContext> gpu = CudaContext.gpu();
            if (gpu.isPresent()) ops = new CudaOps(gpu.get(), cuda(p));
            else {
                why = "no CUDA: " + Devices.gpuError();
                if (NativeLib.available()) {
                    if (p == Precision.FP16) throw new IllegalArgumentException("--precision fp16 needs a CUDA GPU (" + why
                            + "); the cpu backend computes in fp32 or bf16");
                    String[] fallback = {null};
                    ops = cpu(p, fallback);
                    if (fallback[0] != null) why += "; " + fallback[0];
                } else {
                    if (p != Precision.FP32) throw new IllegalArgumentException(referenceOnly(p));
                    ops = new ReferenceOps();
                    why += "; the native kernels did not load: " + NativeLib.error();
                }
            }
        } else if (name.equals("reference")) {
            if (p != Precision.FP32) throw new IllegalArgumentException(referenceOnly(p));
            ops = new ReferenceOps();
        } else if (name.equals("cpu")) {
            if (!NativeLib.available()) throw new IllegalStateException("backend 'cpu' unavailable: " + NativeLib.error());
            String[] fallback = {null};
            ops = cpu(p, fallback);
            why = fallback[0];
        } else if (name.startsWith("cuda") && NAMES.contains(name)) {
            CudaOps.Precision cp = cuda(p);
            name = named != null ? name.substring(0, name.length() - 5) : name;
            CudaContext ctx;
            if (name.startsWith("cuda-emulated")) {
                if (!EmulatedDevice.available())
                    throw new IllegalStateException("backend '" + name + "' unavailable: " + EmulatedDevice.error());
                ctx = CudaContext.emulated();
            } else {
                    String n = name;
                ctx = CudaContext.gpu().orElseThrow(() -> new IllegalStateException("backend '" + n + "' unavailable: " + Devices.gpuError()));
            }
            CudaOps c = new CudaOps(ctx, cp);
            if (!c.unsupported().isEmpty()) why = "unsupported ops " + c.unsupported();
            ops = c;
        } else {
            throw new IllegalArgumentException("unknown backend '" + name + "' (choose from " + NAMES + " or auto)");
        }
        String what = ops.name() + switch (ops) {
            case CpuOps c -> " (native " + NativeLib.variant() + ", " + Runtime.getRuntime().availableProcessors() + " cores, "
                    + c.convPrecision().flag() + ")";
            case CudaOps c -> " (" + c.context().device().name() + ")";
            default -> "";
        } + (why != null ? " [" + why + "]" : "");
        if (!what.equals(logged)) {
            logged = what;
            boolean fellBack = p != ops.convPrecision();
            LOG.log(fellBack ? System.Logger.Level.WARNING : System.Logger.Level.INFO, "backend: " + what);
        }
        return ops;
    }

    private static String referenceOnly(Precision p) {
        return "--precision " + p.flag() + ": the reference backend computes in fp32/fp64 only (use --backend cpu or cuda)";
    }

    /** The CPU backend in p; bf16 without AVX-512 BF16 falls back to fp32 with the reason in why[0]. */
    private static CpuOps cpu(Precision p, String[] why) {
        if (p == Precision.BF16 && !CpuOps.bf16Supported()) {
            why[0] = "this CPU has no AVX-512 BF16 (vdpbf16ps): running fp32";
            p = Precision.FP32;
        }
        return new CpuOps(Integer.getInteger("imagenete.threads", 0), p);
    }

    private static CudaOps.Precision cuda(Precision p) {
        return switch (p) {
            case FP32 -> CudaOps.Precision.FP32;
            case BF16 -> CudaOps.Precision.BF16;
            case FP16 -> CudaOps.Precision.FP16;
        };
    }
}
