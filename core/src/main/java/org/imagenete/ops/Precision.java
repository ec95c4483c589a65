package org.imagenete.ops;

import java.util.Arrays;
import java.util.Locale;

/**
 * The arithmetic of the convolutions and GEMMs ({@code --precision}): fp32, or 16-bit operands with fp32
 * accumulation -- bf16 on the CPU (AVX-512 BF16, weights converted once at load), bf16 or fp16 on CUDA tensor
 * cores. Normalisation, softmax, the FFT guidance and the diffusion arithmetic stay fp32 in every mode.
 */
public enum Precision {
    FP32, BF16, FP16;

    /** As the flag spells it: "fp32", "bf16", "fp16". */
    public String flag() { return name().toLowerCase(Locale.ROOT); }

    /** Parses a flag value; an unknown one is an error naming the choices. */
    public static Precision parse(String s) {
        for (Precision p : values()) if (p.flag().equals(s.trim().toLowerCase(Locale.ROOT))) return p;
        throw new IllegalArgumentException("--precision " + s + ": choose from "
                + Arrays.stream(values()).map(Precision::flag).toList());
    }
}
