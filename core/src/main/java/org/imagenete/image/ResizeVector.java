package org.imagenete.image;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API pass of {@link Resize}, in a class of its own so that it is loaded only when
 * {@link Resize#VECTOR} says the {@code jdk.incubator.vector} module is there.
 */
final class ResizeVector {
    private ResizeVector() {}

    /** Lanes of the vertical pass: as many ints as the preferred vector holds, and as many bytes. */
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Byte> BYTES = VectorSpecies.of(byte.class, VectorShape.forBitSize(INTS.length() * 8));

    /**
     * One output row of the 8-bit vertical pass: {@code out[d + i] = clip8(2^21 + sum_j k[kb + j] * in[s + j * stride + i])}
     * for {@code i < len}. The row's bytes are contiguous whatever the channel, so the Vector API takes
     * {@link #INTS} bytes at a time (zero-extended to int, the same integer arithmetic as {@link Resize#verticalRowScalar},
     * so the result is identical); the tail is scalar.
     */
    static void verticalRow(byte[] in, int s, int stride, int[] k, int kb, int n, byte[] out, int d, int len) {
        int lanes = INTS.length(), i = 0;
        for (; i + lanes <= len; i += lanes) {
            IntVector acc = IntVector.broadcast(INTS, 1 << (Resize.PRECISION_BITS - 1));
            for (int j = 0; j < n; j++) {
                IntVector v = (IntVector) ByteVector.fromArray(BYTES, in, s + j * stride + i)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, INTS, 0);
                acc = v.mul(k[kb + j]).add(acc);
            }
            acc.lanewise(VectorOperators.ASHR, Resize.PRECISION_BITS).max(0).min(255)
                    .convertShape(VectorOperators.I2B, BYTES, 0).reinterpretAsBytes().intoArray(out, d + i);
        }
        Resize.verticalRowScalar(in, s + i, stride, k, kb, n, out, d + i, len - i);
    }
}
