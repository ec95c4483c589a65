package org.imagenete.tensor;

/** Element types a {@link Tensor} can hold. Compute is F32; F16/BF16 are storage formats. */
public enum DType {
    F32(4, "F32"), F16(2, "F16"), BF16(2, "BF16"), F64(8, "F64"), I64(8, "I64"), I32(4, "I32"), U8(1, "U8");

    private final int bytes;
    private final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    public int bytes() { return bytes; }

    /** The dtype string the safetensors format uses. */
    public String safetensorsName() { return safetensorsName; }

    public boolean isFloating() { return this == F32 || this == F16 || this == BF16 || this == F64; }

    /** Parses a safetensors dtype string; null when the format names a type we do not support. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        return null;
    }
}
