package org.imagenete.ops.cuda;

import org.imagenete.ops.Op;

import java.util.EnumMap;
import java.util.Map;

/**
 * |cuda - ref| <= atol + rtol |ref| per op, for the CUDA kernels against the float64 reference (used by the CI
 * tests on the emulated device and by {@link GpuCheck} on a GPU). One table for fp32
 * (the emulator and a GPU: the GPU build contracts a*b+c into FMAs, the emulation build does not, both well inside
 * these) and the overrides of the 16-bit tensor-core convolutions; every entry says why.
 */
public final class CudaTolerances {
    /** |got - ref| <= atol + rtol |ref|, and why that much. */
    public record Tol(double atol, double rtol, String why) {}

    private CudaTolerances() {}

    public static final Map<Op, Tol> FP32 = new EnumMap<>(Map.ofEntries(
            Map.entry(Op.CONV2D, new Tol(2e-5, 1e-4, "fp32 FMA sums of up to Cin*K*K products (|y| ~ 1), K-tiles of 16 in order")),
            Map.entry(Op.CONV2D_GRAD, new Tol(2e-5, 1e-4, "as CONV2D: fp32 sums of Cout*K*K products")),
            Map.entry(Op.LINEAR, new Tol(1e-6, 1e-6, "fp64 partial sums per lane and fp64 shuffle reduction: one fp32 rounding")),
            Map.entry(Op.LINEAR_GRAD, new Tol(1e-6, 1e-6, "fp64 sum per output: one fp32 rounding")),
            Map.entry(Op.GROUP_NORM, new Tol(1e-5, 1e-5, "fp64 chunk statistics (Chan's combination), fp32 apply and SiLU (expf)")),
            Map.entry(Op.GROUP_NORM_GRAD, new Tol(2e-5, 1e-5, "fp64 statistics and group sums, fp32 per element; |dx| up to ~10")),
            Map.entry(Op.SILU, new Tol(1e-6, 1e-6, "x / (1 + expf(-x)) in fp32: a few ulp")),
            Map.entry(Op.SILU_GRAD, new Tol(1e-6, 2e-6, "expf and ~5 fp32 roundings in s (1 + x e s); 1 - s as e s avoids cancellation")),
            Map.entry(Op.ADD, new Tol(0, 0, "one correctly rounded fp32 add: exact")),
            Map.entry(Op.CONCAT, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.CONCAT_GRAD, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.UPSAMPLE_NEAREST_2X, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.UPSAMPLE_NEAREST_2X_GRAD, new Tol(1e-6, 1e-6, "fp32 sum of 4 values (|sum| <= 4)")),
            Map.entry(Op.AVG_POOL_2X, new Tol(2e-6, 1e-6, "fp32 sum of 4 values (inputs up to 12): an ulp of the partial sums")),
            Map.entry(Op.AVG_POOL_2X_GRAD, new Tol(0, 0, "dy * 0.25: exact")),
            Map.entry(Op.ATTENTION, new Tol(1e-5, 1e-4, "fp32 online softmax (__expf, max updated every 16 keys) and fp32 dots over <= 64 channels")),
            Map.entry(Op.ATTENTION_GRAD, new Tol(1e-5, 1e-4, "fp32 GEMMs over T and ch, fp32 row softmax recomputed as the forward")),
            Map.entry(Op.TIMESTEP_EMBEDDING, new Tol(1.2e-7, 0, "the reference's float32 steps; exp/cos/sin of the device's libm in double can differ"
                    + " from Java's by an ulp of double, which can move the final fp32 rounding by one ulp (1.2e-7 at 1)")),
            // as in the CPU table, atol is per unit of sqrt(H W) (the size of |F| for unit inputs): the test scales it
            Map.entry(Op.FFT2, new Tol(1e-6, 1e-6, "fp64 DFT with the reference's twiddles, one fp32 rounding per bin; atol x sqrt(HW)")),
            Map.entry(Op.FFT2_GRAD, new Tol(1e-6, 1e-6, "as FFT2 (conjugate twiddles); atol x sqrt(HW)")),
            Map.entry(Op.RELU, new Tol(0, 0, "a comparison: exact")),
            Map.entry(Op.RELU_GRAD, new Tol(0, 0, "a selection: exact")),
            Map.entry(Op.MAX_POOL, new Tol(0, 0, "a selection with the same first-maximum rule: exact")),
            Map.entry(Op.MAX_POOL_GRAD, new Tol(1e-6, 1e-6, "fp32 sums of up to 4 overlapping window gradients vs float64")),
            Map.entry(Op.GLOBAL_AVG_POOL, new Tol(1e-7, 1e-6, "fp64 block sum, one fp32 rounding")),
            Map.entry(Op.GLOBAL_AVG_POOL_GRAD, new Tol(0, 1e-7, "dy / (h w) in fp64, rounded once, as the reference")),
            Map.entry(Op.AFFINE_COMPOSITE, new Tol(1e-6, 1e-6, "bilinear weights and sums in fp64 in the reference's order; one fp32 rounding")),
            Map.entry(Op.LAYER_NORM, new Tol(1e-6, 1e-6, "fp64 statistics and apply, as the reference; one fp32 rounding")),
            Map.entry(Op.GELU, new Tol(1e-6, 1e-6, "erff (within 2 ulp) and ~4 fp32 roundings"))));

    /**
     * Tensor-core convolutions: both operands rounded to 8 significant bits (bf16) before exact products and fp32
     * accumulation. Each product then carries up to 2^-8 relative error, random in sign, so a sum of K terms
     * (|y| ~ 1 for these inputs) is off by ~2^-8 sqrt(K) rms(term) ~ 4e-3 |y| typically, a few times that at
     * worst: the convention's "bf16 near 1e-2". The relative L2 error over the tensor is also bounded.
     */
    public static final Map<Op, Tol> BF16 = Map.of(
            Op.CONV2D, new Tol(2e-2, 2e-2, "bf16 operands (8-bit significands), fp32 accumulation"),
            Op.CONV2D_GRAD, new Tol(2e-2, 2e-2, "bf16 operands (8-bit significands), fp32 accumulation"));
    public static final double BF16_REL_L2 = 1e-2;

    /** IEEE half keeps 11 significant bits: 8 times closer than bf16 (no overflow at these magnitudes). */
    public static final Map<Op, Tol> FP16 = Map.of(
            Op.CONV2D, new Tol(3e-3, 3e-3, "f16 operands (11-bit significands), fp32 accumulation"),
            Op.CONV2D_GRAD, new Tol(3e-3, 3e-3, "f16 operands (11-bit significands), fp32 accumulation"));
    public static final double FP16_REL_L2 = 1.5e-3;

    /** The tolerance of {@code op} at {@code p}. */
    public static Tol of(Op op, CudaOps.Precision p) {
        Tol t = p == CudaOps.Precision.BF16 ? BF16.get(op) : p == CudaOps.Precision.FP16 ? FP16.get(op) : null;
        return t != null ? t : FP32.get(op);
    }

    /** The bound on the relative L2 error of ops computed in 16 bits at {@code p} (infinite where there is none). */
    public static double relL2(Op op, CudaOps.Precision p) {
        if (p == CudaOps.Precision.BF16 && BF16.containsKey(op)) return BF16_REL_L2;
        if (p == CudaOps.Precision.FP16 && FP16.containsKey(op)) return FP16_REL_L2;
        return Double.POSITIVE_INFINITY;
    }
}

