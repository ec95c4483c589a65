package org.imagenete.ops.cpu;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads the fast CPU kernels ({@code native/*.c}, built by Maven into the jar) through the FFM API: the
 * AVX-512 build where the CPU has it, else the AVX2 build. Load failures are kept, not thrown, so that the
 * backend provider can fall back and say why.
 */
public final class NativeLib {
    private static final String VARIANT;
    private static final SymbolLookup LOOKUP;
    private static final String ERROR;

    static {
        String variant = null, error = null;
        SymbolLookup lookup = null;
        try {
            variant = pickVariant();
            if (variant == null) throw new IllegalStateException("CPU has neither AVX-512 nor AVX2+FMA");
            Path lib = locate("libimagenete-" + variant + ".so");
            lookup = SymbolLookup.libraryLookup(lib, Arena.global());
        } catch (Throwable t) {
            error = t.toString();
            lookup = null;
        }
        VARIANT = variant;
        LOOKUP = lookup;
        ERROR = error;
    }

    private NativeLib() {}

    public static boolean available() { return LOOKUP != null; }

    /** Why the library is not available, or null. */
    public static String error() { return ERROR; }

    /** "avx512" or "avx2". */
    public static String variant() { return VARIANT; }

    public static MethodHandle handle(String name, FunctionDescriptor fd) {
        if (LOOKUP == null) throw new IllegalStateException("native kernels not loaded: " + ERROR);
        return Linker.nativeLinker().downcallHandle(
                LOOKUP.find(name).orElseThrow(() -> new IllegalStateException("native symbol " + name + " missing")), fd);
    }

    static Set<String> cpuFlags() {
        Set<String> flags = new TreeSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    for (String f : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) flags.add(f);
                    break;
                }
            }
        } catch (IOException ignored) {
            // not Linux: no flags, no native library
        }
        return flags;
    }

    private static String pickVariant() {
        String arch = System.getProperty("os.arch");
        if (!arch.equals("amd64") && !arch.equals("x86_64")) return null;
        Set<String> f = cpuFlags();
        if (f.containsAll(Set.of("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"))) return "avx512";
        if (f.containsAll(Set.of("avx2", "fma"))) return "avx2";
        return null;
    }

    /** Whether the CPU has AVX-512 bf16 dot products (vdpbf16ps). */
    public static boolean hasBf16() { return cpuFlags().contains("avx512_bf16"); }

    private static Path locate(String file) throws IOException, URISyntaxException {
        URL url = NativeLib.class.getResource("/native/" + file);
        if (url == null) throw new IllegalStateException("native library /native/" + file + " not on the class path (built by `mvn package`; needs gcc)");
        if (url.getProtocol().equals("file")) return Path.of(url.toURI());
        Path dir = Files.createTempDirectory("imagenete-native");
        Path out = dir.resolve(file);
        try (InputStream in = url.openStream()) {
            Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
        }
        out.toFile().deleteOnExit();
        dir.toFile().deleteOnExit();
        return out;
    }

    static FunctionDescriptor voidFn(java.lang.foreign.MemoryLayout... args) { return FunctionDescriptor.ofVoid(args); }
}
