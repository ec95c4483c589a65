package org.imagenete.ops;

/**
 * The closed op set. Three implementations ({@code ops.ref}, {@code ops.cpu}, CUDA) must agree on every
 * entry; add one only when a model needs it.
 */
public enum Op {
    // forward
    CONV2D, LINEAR, GROUP_NORM, SILU, ADD, CONCAT, UPSAMPLE_NEAREST_2X, AVG_POOL_2X, ATTENTION,
    TIMESTEP_EMBEDDING, FFT2, RELU, MAX_POOL, GLOBAL_AVG_POOL, AFFINE_COMPOSITE,
    // forward, for the vision transformers (evaluation only: no model takes their input-gradient)
    LAYER_NORM, GELU,
    // input-gradients (vector-Jacobian products with respect to the op's input; add's is the identity)
    CONV2D_GRAD, LINEAR_GRAD, GROUP_NORM_GRAD, SILU_GRAD, CONCAT_GRAD, UPSAMPLE_NEAREST_2X_GRAD,
    AVG_POOL_2X_GRAD, ATTENTION_GRAD, FFT2_GRAD, RELU_GRAD, MAX_POOL_GRAD, GLOBAL_AVG_POOL_GRAD,
    // the sampler's arithmetic around the UNet (diffusion/), so that a sampling step stays on the backend's device
    AXPBY, P_MEAN_VARIANCE, POSTERIOR_SAMPLE, BLEND, PHILOX_NORMAL, SPECTRUM_MEAN_ABS, SPECTRUM_SCALE, RANGE_GRAD,
    NONFINITE_COUNT
}
