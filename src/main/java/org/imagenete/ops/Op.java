package org.imagenete.ops;

/**
 * The closed op set. Three implementations ({@code ops.ref}, {@code ops.cpu}, CUDA) must agree on every
 * entry; add one only when a model needs it.
 */
public enum Op {
    CONV2D, LINEAR, GROUP_NORM, SILU, ADD, CONCAT, UPSAMPLE_NEAREST_2X, AVG_POOL_2X, ATTENTION,
    TIMESTEP_EMBEDDING
}
