package org.imagenete.ops;

import org.imagenete.ops.cpu.CpuOps;
import org.imagenete.ops.cpu.NativeLib;
import org.imagenete.ops.ref.ReferenceOps;

import java.util.List;

/**
 * Picks a backend: the one named by {@code --backend} or the system property {@code imagenete.backend}, else
 * the fastest available (fast CPU, then reference). Logs its choice once per name.
 */
public final class Backends {
    public static final List<String> NAMES = List.of("reference", "cpu");
    private static final System.Logger LOG = System.getLogger("imagenete");
    private static volatile String logged;

    private Backends() {}

    /** The backend named {@code name} ("reference", "cpu"), or the best available when null or "auto". */
    public static Ops get(String name) {
        if (name == null || name.isBlank()) name = System.getProperty("imagenete.backend", "auto");
        Ops ops = switch (name) {
            case "auto" -> NativeLib.available() ? new CpuOps() : new ReferenceOps();
            case "reference" -> new ReferenceOps();
            case "cpu" -> {
                if (!NativeLib.available())
                    throw new IllegalStateException("backend 'cpu' unavailable: " + NativeLib.error());
                yield new CpuOps();
            }
            default -> throw new IllegalArgumentException("unknown backend '" + name + "' (choose from " + NAMES + " or auto)");
        };
        String what = ops.name() + (ops instanceof CpuOps ? " (native " + NativeLib.variant() + ", "
                + Runtime.getRuntime().availableProcessors() + " cores)" : "")
                + (name.equals("auto") && !NativeLib.available() ? " because the native kernels did not load: " + NativeLib.error() : "");
        if (!what.equals(logged)) {
            logged = what;
            LOG.log(System.Logger.Level.INFO, "backend: " + what);
        }
        return ops;
    }
}
