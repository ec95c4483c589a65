package org.imagenete.device;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/**
 * The process's devices: the GPU (probed once: JCuda's natives, the driver, a device of sm_80 or later, and the
 * kernel image in the jar must all be there; otherwise the reason is kept for the backend provider to log) and the
 * emulated device. {@code -Dimagenete.cuda=false} turns the GPU off; {@code -Dimagenete.cuda.device=N} picks one.
 */
public final class Devices {
    /** The kernel image the build made with nvcc (cuda-kernels/build.sh). */
    public static final String FATBIN = "/cuda/imagenete.fatbin";

    private static Device gpu;
    private static String gpuError;
    private static boolean probed;
    private static EmulatedDevice emulated;

    private Devices() {}

    /** The GPU, or empty with {@link #gpuError()} saying why. */
    public static synchronized Optional<Device> gpu() {
        if (!probed) {
            probed = true;
            try {
                if (!Boolean.parseBoolean(System.getProperty("imagenete.cuda", "true")))
                    throw new IllegalStateException("disabled by -Dimagenete.cuda=false");
                byte[] image = kernelImage();
                if (image == null)
                    throw new IllegalStateException("this build has no CUDA kernels (" + FATBIN + " missing: nvcc was not available when it was built)");
                gpu = JCudaDevice.open(Integer.getInteger("imagenete.cuda.device", 0), image);
            } catch (LinkageError | RuntimeException e) {   // UnsatisfiedLinkError without libcuda.so.1, CudaException
                gpuError = summary(e);
                gpu = null;
            }
        }
        return Optional.ofNullable(gpu);
    }

    /**
     * One line for the log. JCuda's UnsatisfiedLinkError carries its nested stack traces in the message; the line
     * that names the missing library (libcuda.so.1 without a driver) is the reason.
     */
    static String summary(Throwable e) {
        String m = String.valueOf(e.getMessage());
        for (String line : m.split("\n")) {
            int at = line.indexOf(": cannot open shared object file");
            if (at > 0) return "no NVIDIA driver: " + line.substring(line.lastIndexOf(": ", at - 1) + 2).trim();
            if (line.contains("undefined symbol")) return "the NVIDIA driver lacks a function JCuda needs: " + line.trim();
        }
        return e.getClass().getSimpleName() + ": " + m.lines().findFirst().orElse("");
    }

    /** Why {@link #gpu()} is empty, or null. */
    public static synchronized String gpuError() {
        gpu();
        return gpuError;
    }

    /** The fatbin resource, or null when the build had no nvcc. */
    public static byte[] kernelImage() {
        try (InputStream in = Devices.class.getResourceAsStream(FATBIN)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("reading " + FATBIN, e);
        }
    }

    /** The process's emulated device (all cores), created on first use; throws when the library is missing. */
    public static synchronized EmulatedDevice emulated() {
        if (emulated == null) emulated = new EmulatedDevice();
        return emulated;
    }
}
