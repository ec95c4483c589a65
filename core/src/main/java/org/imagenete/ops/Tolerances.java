package org.imagenete.ops;

import org.imagenete.tensor.DType;

import java.util.EnumMap;
import java.util.Map;

/**
 * The one tolerance table of the fast backends against the float64 reference: |fast - ref| <= atol + rtol |ref|
 * per op and operand precision. The CPU agreement tests (OpsAgreementTest, GradAgreementTest), the CUDA tests on
 * the emulated device (CudaEmulatedOpsTest) and the GPU check ({@code org.imagenete.gpucheck.GpuCheck}) all read it.
 * One fp32 entry per op holds for every fp32 fast path, the native C kernels and the CUDA kernels alike (the
 * emulator and a GPU: the GPU build contracts a*b+c into FMAs, the emulation build does not, both well inside);
 * the overrides (Winograd on the CPU, the 16-bit tensor-core convolutions) each say why.
 */
public final class Tolerances {
    /** |got - ref| <= atol + rtol |ref|, and why that much. */
    public record Tol(double atol, double rtol, String why) {}

    private Tolerances() {}

    public static final Map<Op, Tol> FP32 = new EnumMap<>(Map.ofEntries(
            Map.entry(Op.CONV2D, new Tol(2e-5, 1e-4, "fp32 sums of up to 18k products (|y| ~ 1): CPU GEMM tiles and Winograd for"
                    + " small channel counts add a few ulp; CUDA sums K-tiles of 16 in order with FMAs")),
            Map.entry(Op.CONV2D_GRAD, new Tol(2e-5, 1e-4, "as CONV2D: fp32 sums of Cout*K*K products, through the same GEMM/conv")),
            Map.entry(Op.LINEAR, new Tol(1e-5, 1e-5, "fp32 sums of up to 1k products on the CPU (the CUDA kernel sums in fp64: ~1e-7)")),
            Map.entry(Op.LINEAR_GRAD, new Tol(1e-5, 1e-5, "fp32 sums of up to 2k products on the CPU (CUDA: fp64 sums)")),
            Map.entry(Op.GROUP_NORM, new Tol(1e-5, 1e-5, "float64 statistics, fp32 apply; exp approximation (CPU) or expf (CUDA) in SiLU")),
            Map.entry(Op.GROUP_NORM_GRAD, new Tol(2e-5, 1e-5, "float64 statistics and group sums, fp32 per element; |dx| up to ~10"
                    + " (inv std ~ 1.7 x gamma x dy)")),
            Map.entry(Op.SILU, new Tol(1e-6, 1e-6, "vectorised exp with 2e-7 relative error (CPU), x / (1 + expf(-x)) (CUDA)")),
            Map.entry(Op.SILU_GRAD, new Tol(1e-6, 2e-6, "exp (2e-7) and ~5 fp32 roundings in s (1 + x (1 - s))")),
            Map.entry(Op.ADD, new Tol(0, 0, "one correctly rounded fp32 add: exact")),
            Map.entry(Op.CONCAT, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.CONCAT_GRAD, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.UPSAMPLE_NEAREST_2X, new Tol(0, 0, "copy: exact")),
            Map.entry(Op.UPSAMPLE_NEAREST_2X_GRAD, new Tol(1e-6, 1e-6, "fp32 sum of 4 values: an ulp of the partial sums (|sum| <= 4)")),
            Map.entry(Op.AVG_POOL_2X, new Tol(2e-6, 1e-6, "fp32 sum of 4 values (inputs up to 12 here): the error is an ulp of the"
                    + " partial sums (~4e-6 at 48), not of the mean")),
            Map.entry(Op.AVG_POOL_2X_GRAD, new Tol(0, 0, "dy * 0.25 is exact in fp32")),
            Map.entry(Op.ATTENTION, new Tol(1e-5, 1e-4, "fp32 GEMMs (CPU) or online softmax (CUDA) over T keys and 64 channels, fp32 softmax")),
            Map.entry(Op.ATTENTION_GRAD, new Tol(1e-5, 1e-4, "fp32 GEMMs over T and 64 channels, fp32 softmax recomputed as the forward does")),
            Map.entry(Op.TIMESTEP_EMBEDDING, new Tol(1.2e-7, 0, "the reference's float32 steps (the CPU shares them: exact); exp/cos/sin of"
                    + " the device's libm in double can differ from Java's by an ulp of double, which can move the final fp32 rounding by one"
                    + " ulp (1.2e-7 at 1)")),
            // FFT rounding is absolute, not relative: ~eps sqrt(log n) ||x|| in every bin, so small bins carry the error of the big
            // ones. atol is therefore stated per unit of sqrt(H W) (the size of |F| for unit inputs): the tests multiply it by
            // sqrt(H W) of the case.
            Map.entry(Op.FFT2, new Tol(1e-6, 1e-6, "fp32 butterflies with twiddles rounded once (CPU, ~3e-7 sqrt(HW), Bluestein lengths"
                    + " included) or an fp64 DFT rounded once (CUDA); atol x sqrt(HW)")),
            Map.entry(Op.FFT2_GRAD, new Tol(1e-6, 1e-6, "the same transforms (conjugated) as FFT2; atol x sqrt(HW)")),
            Map.entry(Op.RELU, new Tol(0, 0, "a comparison: exact")),
            Map.entry(Op.RELU_GRAD, new Tol(0, 0, "a selection: exact")),
            Map.entry(Op.MAX_POOL, new Tol(0, 0, "a selection of an input value with the same first-maximum rule: exact")),
            Map.entry(Op.MAX_POOL_GRAD, new Tol(1e-6, 1e-6, "fp32 sums of up to 4 overlapping window gradients vs float64")),
            Map.entry(Op.GLOBAL_AVG_POOL, new Tol(1e-7, 1e-6, "float64 sums, one fp32 rounding")),
            Map.entry(Op.GLOBAL_AVG_POOL_GRAD, new Tol(0, 1e-7, "dy / (h w) rounded once")),
            Map.entry(Op.AFFINE_COMPOSITE, new Tol(1e-6, 1e-6, "coordinates in float64; the reference sums its 4 taps in float64, the"
                    + " AVX-512 path in fp32 with fp32 weights (~1e-7)")),
            Map.entry(Op.AXPBY, new Tol(0, 0, "the same float64 operations in every backend (fp32 products are exact in float64, so an FMA"
                    + " contraction changes nothing), rounded once: exact")),
            Map.entry(Op.P_MEAN_VARIANCE, new Tol(0, 1.2e-7, "the same float64 operations and fma()s, exact, except variance = exp(log"
                    + " variance): libm's exp (Java, glibc, CUDA) may differ by an ulp of double, which can move the fp32 rounding by one"
                    + " ulp")),
            Map.entry(Op.POSTERIOR_SAMPLE, new Tol(1e-12, 1.2e-7, "as P_MEAN_VARIANCE: exact but for exp(log variance / 2), whose ulp of"
                    + " double can move the fp32 rounding of the sample by one ulp")),
            Map.entry(Op.BLEND, new Tol(0, 0, "one fma of exact float64 products, rounded once: exact")),
            Map.entry(Op.PHILOX_NORMAL, new Tol(0, 0, "Philox and a Box-Muller of IEEE operations only (ops.Philox): bit-identical")),
            Map.entry(Op.SPECTRUM_MEAN_ABS, new Tol(0, 2e-7, "float64 sums of |F| in another order (chunks, block reductions), rounded"
                    + " once to fp32: an ulp")),
            Map.entry(Op.SPECTRUM_SCALE, new Tol(0, 0, "the same float64 operations (sqrt, divide, multiply), rounded once: exact")),
            Map.entry(Op.RANGE_GRAD, new Tol(0, 2e-7, "the gradient is one fma, exact; the per-sample mean square sums in float64 in"
                    + " another order, rounded once: an ulp")),
            Map.entry(Op.NONFINITE_COUNT, new Tol(0, 0, "integer counts and indices: exact")),
            Map.entry(Op.LAYER_NORM, new Tol(2e-6, 1e-6, "float64 statistics in every backend; the CPU path rounds (x - mean) inv gamma +"
                    + " beta once, from fp32 mean and inverse std products in double: a few ulp of |y| up to ~5 (CUDA: fp64 apply, one rounding)")),
            Map.entry(Op.GELU, new Tol(1e-6, 1e-6, "CPU: erf by Abramowitz-Stegun 7.1.26 as PyTorch's vectorised CPU erf (|err| <= 1.5e-7) and a"
                    + " 2e-7 exp: |d| <= 0.5 |x| 1.5e-7 + a few ulp, under 1e-6 for |x| <= 12; CUDA: erff (2 ulp) and ~4 fp32 roundings"))));

    /**
     * CONV2D and CONV2D_GRAD where the CPU backend takes Winograd F(4x4,3x3) with 128+ channels (ResNet's 3x3 layers at
     * batch 32): the transforms (entries up to 8 in A^T, 1/24 in G) amplify fp32 rounding ~10x over the direct sum, rel L2
     * ~2e-6 against ~2e-7; measured max |d| 3.2e-5 over 2e5-3e5 outputs of |y| ~ 1 at K = 1152 (the CONV2D entry's 2e-5 is
     * exceeded by single elements there). The ResNet-50 golden logits at batch 32 bound the effect on the model.
     */
    public static final Tol CONV2D_WINOGRAD = new Tol(5e-5, 1e-4, "Winograd F(4x4,3x3) transforms: ~10x the direct conv's rounding");

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

    /** Whether operands of {@code dtype} change {@code op}'s result (else the op runs the fp32 kernels). */
    public static boolean lowPrecision(Op op, DType operands) {
        return operands == DType.BF16 ? BF16.containsKey(op) : operands == DType.F16 && FP16.containsKey(op);
    }

    /** The tolerance of {@code op} with operands of {@code dtype} (F32, BF16, F16). */
    public static Tol of(Op op, DType operands) {
        Tol t = operands == DType.BF16 ? BF16.get(op) : operands == DType.F16 ? FP16.get(op) : null;
        return t != null ? t : FP32.get(op);
    }

    /** The bound on the relative L2 error of ops computed in 16 bits (infinite where there is none). */
    public static double relL2(Op op, DType operands) {
        if (operands == DType.BF16 && BF16.containsKey(op)) return BF16_REL_L2;
        if (operands == DType.F16 && FP16.containsKey(op)) return FP16_REL_L2;
        return Double.POSITIVE_INFINITY;
    }
}
