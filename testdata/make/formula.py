"""The project's weight formula (org.imagenete.nn.FormulaWeights) in numpy, shared by the golden generators
(golden/make_zoo.py, make/adversarial_step.py): the weights of a formula model, made the same way in Java and here."""
import math

import numpy as np

M64 = (1 << 64) - 1


def formula(k, salt, offset, scale, n):
    """The weight formula for element i < n of tensor k, vectorised in uint64 (wrapping like the Java longs)."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = i + np.uint64(((k << 32) + salt) & M64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    return (offset + (2 * u - 1) * scale).astype(np.float32)


def policy(name, shape):
    """{offset, scale} by role, as FormulaWeights.policy."""
    if name.endswith("running_mean"):
        return 0.0, 0.1
    if name.endswith("running_var"):
        return 1.0, 0.5
    if name.endswith("bias"):
        return 0.0, 0.05
    if len(shape) >= 2:
        return 0.0, math.sqrt(3.0 / math.prod(shape[1:]))
    return 1.0, 0.1
