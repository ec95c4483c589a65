package org.imagenete.ops.cuda;

import org.imagenete.device.EmulatedDevice;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The launch shapes Java uses are the ones the kernel sources declare (exported by the emulation build). */
class KernelConstantsTest {
    @Test
    void javaLaunchShapesMatchTheKernelSources() {
        Map<String, Long> fromKernels = EmulatedDevice.constants();
        Map<String, Long> fromJava = Kernels.exported();
        for (var e : fromJava.entrySet())
            assertEquals(fromKernels.get(e.getKey()), e.getValue(), e.getKey() + ": Java launches with " + e.getValue()
                    + ", the kernel source says " + fromKernels.get(e.getKey()));
        System.out.println("kernel constants checked: " + fromJava.keySet());
    }

    @Test
    void everyKernelCudaOpsLaunchesExists() {
        EmulatedDevice dev = org.imagenete.device.Devices.emulated();
        for (CudaOps.Precision p : CudaOps.Precision.values())
            for (var e : CudaOps.kernelsByOp(p).entrySet())
                for (String k : e.getValue())
                    assertEquals(true, dev.hasKernel(k), e.getKey() + " needs " + k);
        System.out.println("emulated kernels: " + dev.kernels().size() + " " + dev.kernels().keySet());
    }
}
