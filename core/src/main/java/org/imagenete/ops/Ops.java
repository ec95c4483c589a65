package org.imagenete.ops;

import org.imagenete.tensor.DType;
import org.imagenete.tensor.Tensor;

import java.util.Set;

/**
 * The closed set of ops the models are written in (see {@link Op}). Inputs and outputs are F32, NCHW,
 * contiguous. Every op returns a new owning tensor that the caller closes; inputs are never modified.
 * Shapes are checked before any work: a wrong shape is an {@link IllegalArgumentException} naming the
 * argument and the expected shape.
 */
public interface Ops {
    /** Backend name as the {@code --backend} flag spells it. */
    String name();

    /** The ops this backend implements; a model checks this before it starts. */
    Set<Op> supports();

    /** The backend's device memory, graphs and counters, or null when it computes in host memory. */
    default DeviceSupport device() { return null; }

    /** The arithmetic of this backend's convolutions (recorded in sidecars and manifests). */
    default Precision convPrecision() { return Precision.FP32; }

    /**
     * The dtype a model converts its convolution weights to when it is loaded for this backend: F32, or BF16 for
     * the CPU backend in bf16 mode, whose {@link #conv2d} and {@link #conv2dGrad} then take bf16 operands.
     */
    default DType convWeightType() { return DType.F32; }

    /**
     * 2-D cross-correlation with zero padding, optionally adding {@code add} (a fused residual), then, when
     * {@code relu}, max(0, .) (a fused activation: ResNet's conv-BN-ReLU, BN folded into w and bias).
     * Grouped (ResNeXt's 3x3): the channels form {@code groups} groups and output channel co (group
     * g = co / (Cout/groups)) sees only the input channels of group g, [g Cin/groups, (g+1) Cin/groups).
     * w is F32, or BF16 where {@link #convWeightType} allows it (bf16 products, fp32 sums).
     * x [B,Cin,H,W], w [Cout,Cin/groups,KH,KW], bias [Cout] or null, add [B,Cout,Ho,Wo] or null
     * -> [B,Cout,Ho,Wo] with Ho = (H + 2 pad - KH) / stride + 1.
     */
    Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, int groups, Tensor add, boolean relu);

    default Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, Tensor add, boolean relu) {
        return conv2d(x, w, bias, stride, pad, 1, add, relu);
    }

    default Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad, Tensor add) {
        return conv2d(x, w, bias, stride, pad, add, false);
    }

    default Tensor conv2d(Tensor x, Tensor w, Tensor bias, int stride, int pad) {
        return conv2d(x, w, bias, stride, pad, null, false);
    }

    /** x [N,in], w [out,in], bias [out] or null -> [N,out]. */
    Tensor linear(Tensor x, Tensor w, Tensor bias);

    /**
     * GroupNorm over (C/groups channels x spatial) per sample and group, biased variance, affine; then,
     * when {@code scaleShift} [B,2C] is given, y = y * (1 + scale) + shift with scale = scaleShift[:, :C],
     * shift = scaleShift[:, C:]; then SiLU when {@code silu}. x [B,C,...] -> same shape.
     */
    Tensor groupNorm(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu);

    /**
     * {@link #groupNorm}, also returning the statistics it used, for {@link #groupNormGrad} to take instead of
     * recomputing them (one pass over x less): {y, stats F64 [B, groups, 2] holding each group's mean and
     * 1/sqrt(var + eps)}.
     */
    Tensor[] groupNormWithStats(Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu);

    /** x * sigmoid(x), any shape. */
    Tensor silu(Tensor x);

    /** a + b, same shapes. */
    Tensor add(Tensor a, Tensor b);

    /** Concatenation along dim 1: a [B,Ca,...], b [B,Cb,...] -> [B,Ca+Cb,...]. */
    Tensor concat(Tensor a, Tensor b);

    /** Nearest-neighbour x2: [B,C,H,W] -> [B,C,2H,2W]. */
    Tensor upsampleNearest2x(Tensor x);

    /** 2x2 average pooling, stride 2: [B,C,H,W] -> [B,C,H/2,W/2] (H, W even). */
    Tensor avgPool2x(Tensor x);

    /**
     * Multi-head self-attention in guided-diffusion's legacy layout: qkv [B, 3C, T], head n owns channels
     * [3ch*n, 3ch*(n+1)) split as q|k|v (ch = C/heads each); weights = softmax_s(q_t . k_s / sqrt(ch))
     * in fp32; out[c,t] = sum_s w[t,s] v[c,s] -> [B, C, T] head-major.
     */
    Tensor attention(Tensor qkv, int heads);

    /**
     * Sinusoidal timestep embedding as guided-diffusion computes it in float32: t [B] (float, original
     * units) -> [B, dim] = [cos(t f_j) | sin(t f_j)], f_j = exp(-ln(10000) j / (dim/2)).
     */
    Tensor timestepEmbedding(Tensor t, int dim);

    /**
     * Unnormalised 2-D DFT over the last two dims of a real tensor: x [..., H, W] -> [..., H, W, 2] (re, im),
     * F[k] = sum_n x[n] e^{-2 pi i (ky ny / H + kx nx / W)}. Any H and W.
     */
    Tensor fft2(Tensor x);

    /** max(x, 0), any shape. */
    Tensor relu(Tensor x);

    /**
     * Max pooling with a k x k window, stride, and padding that never wins (-inf), floor mode:
     * [B,C,H,W] -> [B,C,(H+2p-k)/s+1,(W+2p-k)/s+1]. Ties go to the first maximum in row-major order.
     */
    Tensor maxPool2d(Tensor x, int k, int stride, int pad);

    /** Mean over the spatial dims: [B,C,H,W] -> [B,C]. */
    Tensor globalAvgPool(Tensor x);

    /**
     * Places a premultiplied RGBA layer over a background through an affine map, bilinear, in one pass.
     * bg [B,C,H,W]; src [B,C+1,Hs,Ws] = (colour x alpha, alpha); inverse [B*6] maps each output pixel centre
     * (x, y) (integer coordinates) to the source: sx = i0 x + i1 y + i2, sy = i3 x + i4 y + i5. Source taps
     * outside the layer count as transparent. -> [B,C+1,H,W]: channels 0..C-1 = sampled colour + bg (1 - a),
     * channel C = the sampled alpha a (the placed object's coverage).
     */
    Tensor affineComposite(Tensor bg, Tensor src, float[] inverse);

    /**
     * LayerNorm over the channels (dim 1) at every position: x [B,C,...] -> same shape,
     * y = (x - mean) / sqrt(var + eps) gamma[c] + beta[c], mean and biased variance over the C values of one
     * position. For x [N, C] this is torch's LayerNorm(C); for a transformer's tokens kept channel-major,
     * [B, C, T], it normalises each token (as ConvNeXt's channels-first LayerNorm does for images).
     */
    Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps);

    /** torch's exact GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, any shape. */
    Tensor gelu(Tensor x);

    // ---- input-gradients: given the cotangent dy of an op's output, the cotangent of its input ----

    /** Of {@link #conv2d} (the residual's is dy itself): dy [B,Cout,Ho,Wo], w [Cout,Cin/groups,KH,KW] -> dx [B,Cin,h,w]. */
    Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int groups, int h, int wdt);

    default Tensor conv2dGrad(Tensor dy, Tensor w, int stride, int pad, int h, int wdt) {
        return conv2dGrad(dy, w, stride, pad, 1, h, wdt);
    }

    /** Of {@link #linear}: dy [N,out] -> dx = dy W [N,in]. */
    Tensor linearGrad(Tensor dy, Tensor w);

    /**
     * Of {@link #groupNorm} with the same arguments; x is the forward input. Scale-shift is held constant.
     * {@code stats}: the forward's, from {@link #groupNormWithStats}, or null to recompute them from x.
     * {@code add} (null, or of x's shape) is added to the result: a residual's gradient, fused as {@link #conv2d}'s.
     */
    Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift, boolean silu,
                         Tensor stats, Tensor add);

    default Tensor groupNormGrad(Tensor dy, Tensor x, Tensor gamma, Tensor beta, int groups, float eps, Tensor scaleShift,
                                 boolean silu) {
        return groupNormGrad(dy, x, gamma, beta, groups, eps, scaleShift, silu, null, null);
    }

    /**
     * {@link #groupNormGrad} of x = {@link #concat}(xa, xb), given as its two parts (a decoder's cat([h, skip]), which
     * then need not be built again), with dx returned in the same parts: {dxa, dxb}, as {@link #concatGrad} splits it.
     * This default builds the concatenation; a backend may read and write the parts in place.
     */
    default Tensor[] groupNormGradConcat(Tensor dy, Tensor xa, Tensor xb, Tensor gamma, Tensor beta, int groups, float eps,
                                         Tensor scaleShift, boolean silu, Tensor stats, Tensor add) {
        try (Tensor x = concat(xa, xb); Tensor dx = groupNormGrad(dy, x, gamma, beta, groups, eps, scaleShift, silu, stats, add)) {
            return concatGrad(dx, xa.dim(1));
        }
    }

    /** Of {@link #silu}: dy * sigmoid(x) (1 + x (1 - sigmoid(x))). */
    Tensor siluGrad(Tensor dy, Tensor x);

    /** Of {@link #concat}: dy [B,Ca+Cb,...] -> {da [B,Ca,...], db [B,Cb,...]}. */
    Tensor[] concatGrad(Tensor dy, int channelsA);

    /** Of {@link #upsampleNearest2x}: sums of 2x2 blocks, [B,C,2H,2W] -> [B,C,H,W]. */
    Tensor upsampleNearest2xGrad(Tensor dy);

    /** Of {@link #avgPool2x}: dy/4 spread over each 2x2 block, [B,C,H,W] -> [B,C,2H,2W]. */
    Tensor avgPool2xGrad(Tensor dy);

    /** Of {@link #attention}: dy [B,C,T], the forward's qkv [B,3C,T] -> dqkv [B,3C,T]. */
    Tensor attentionGrad(Tensor dy, Tensor qkv, int heads);

    /** Of {@link #fft2}: complex cotangent g [..., H, W, 2] -> real Re(sum_k g[k] e^{+2 pi i k.n}) [..., H, W]. */
    Tensor fft2Grad(Tensor g);

    /** Of {@link #relu}, from its output y: dy where y > 0, else 0. */
    Tensor reluGrad(Tensor dy, Tensor y);

    /** Of {@link #maxPool2d}: each dy goes to its window's (first) maximum in x; overlapping windows add. */
    Tensor maxPool2dGrad(Tensor dy, Tensor x, int k, int stride, int pad);

    /** Of {@link #globalAvgPool}: dy [B,C] -> dy / (h w) over [B,C,h,w]. */
    Tensor globalAvgPoolGrad(Tensor dy, int h, int w);

    // ---- the sampler's arithmetic (diffusion/) ----
    // Tensors are [B, ...] with a sample's elements contiguous. Per-sample scalars come from a table coef [B,K] (F32)
    // read from column `col`: the sampler fills one table per step, so that a step's scalars are device memory that a
    // captured CUDA graph reads, and only the table crosses to the device. Element-wise results are computed in
    // float64 from the fp32 inputs and rounded to fp32 once; where a product of non-exact values meets a sum the
    // formula says fma, and every backend evaluates it so.

    /**
     * y = a x + c z + d per sample, (a, c, d) = coef[b, col..col+2]; z may be null. A term whose coefficient is 0
     * is not read (BLAS's beta = 0 rule), so it passes no NaN or Inf on: with a = c = 0 the result is d.
     * Evaluated as (a x + c z) + d (fp32 products are exact in float64). x, z [B,...] -> [B,...].
     */
    Tensor axpby(Tensor x, Tensor z, Tensor coef, int col);

    /**
     * guided-diffusion's p_mean_variance for an eps model with learned-range variance. out [B,2C,...] = [eps, v],
     * x [B,C,...], coef[b, col..col+5] = (log beta, clipped log posterior variance, sqrt(1/abar), sqrt(1/abar - 1),
     * posterior mean coef1, coef2) -> {mean, variance, log variance, pred_x0, eps}, each [B,C,...]:
     * frac = (v + 1)/2, logvar = fma(frac, log beta, (1 - frac) log post var), variance = exp(logvar) (libm:
     * within an ulp between backends), pred_x0 = sqrt(1/abar) x - sqrt(1/abar - 1) eps, and
     * mean = fma(coef1, pred_x0, coef2 x) with pred_x0 unrounded.
     */
    Tensor[] pMeanVariance(Tensor out, Tensor x, Tensor coef, int col);

    /**
     * The DDPM step from a guided mean: m = fp32(mean + variance g) (g may be null: the unguided mean), then
     * y = fma(s exp(logvar / 2), z, m) with s = coef[b, col] (1 where the step adds noise; 0 at the last step: z is
     * not read). z may be null: y = m, the guided mean itself. All [B,...].
     */
    Tensor posteriorSample(Tensor mean, Tensor variance, Tensor logVariance, Tensor g, Tensor z, Tensor coef, int col);

    /**
     * The masked blend y = fma(rest, 1 - m, obj m): rest, obj [B,C,H,W], mask [B,1,H,W] broadcast over the channels;
     * clamped to [-1, 1] when {@code clamp}.
     */
    Tensor blend(Tensor rest, Tensor obj, Tensor mask, boolean clamp);

    /**
     * Standard normals of shape {@code dims} (dims[0] = B) from {@link Philox}: sample b's element e is normal e of
     * stream (step_b << 8 | purpose) under seed_b, with keys [B,4] I32 = (seed lo, seed hi, step lo, step hi).
     * Bit-identical on every backend (see {@link Philox}).
     */
    Tensor philoxNormal(Tensor keys, int purpose, int... dims);

    /** Mean |F| per sample of a complex spectrum f [B,...,2] (re, im interleaved) -> [B]: float64 sums, rounded once. */
    Tensor spectrumMeanAbs(Tensor f);

    /**
     * The complexity gradient's spectrum: f / |f| times w_b = coef[b, col], 0 where f = 0 (PyTorch's sgn), [B,...,2]:
     * q = w / sqrt(re^2 + im^2), (re q, im q).
     */
    Tensor spectrumScale(Tensor f, Tensor coef, int col);

    /**
     * The range loss's gradient added to g: {fma(r, x - clamp(x, -1, 1), g) [B,...], mean over each sample of
     * (x - clamp(x, -1, 1))^2 [B]} with r = coef[b, col]; g may be null (zero).
     */
    Tensor[] rangeGrad(Tensor x, Tensor g, Tensor coef, int col);

    /** NaN and Inf per sample: x [B,...] -> [B,2] = (how many, index of the first within the sample or -1); exact below 2^24. */
    Tensor nonFinite(Tensor x);
}
