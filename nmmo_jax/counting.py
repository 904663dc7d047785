"""Running counts of flags (an inclusive prefix sum of booleans) as two small matrix products.

``jnp.cumsum`` lowers on the CPU to a reduce-window whose work grows with the
square of the axis (XLA rewrites it into blocks, but the window reduction is
still slow): the observation's two compactions spent about 4 ms of a 32-world
medium step in it. Counting instead in blocks of 16 with a triangular 16 x 16
matrix, then adding each block's offset (the blocks' totals times a second
triangular matrix), is a pair of dense products the CPU does fast, about 2.5x
faster here. The flags are 0/1 and every count is below 2**24, so float32
products are exact, in any summation order (deterministic on every backend;
``precision=HIGHEST`` keeps TPUs from rounding the inputs, which are exact in
bfloat16 anyway).
"""
import jax
import jax.numpy as jnp
import numpy as np

BLOCK = 16


def running_count(flags, dtype=jnp.int32):
    """Inclusive count of True along the last axis: out[..., i] = sum(flags[..., :i + 1])."""
    n = flags.shape[-1]
    nb = -(-n // BLOCK)
    x = flags.astype(jnp.float32)
    if nb * BLOCK != n:
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, nb * BLOCK - n)])
    x = x.reshape(x.shape[:-1] + (nb, BLOCK))
    hi = jax.lax.Precision.HIGHEST
    within = jnp.dot(x, jnp.asarray(np.triu(np.ones((BLOCK, BLOCK), np.float32))), precision=hi)
    before = jnp.dot(within[..., -1], jnp.asarray(np.triu(np.ones((nb, nb), np.float32), 1)), precision=hi)
    out = (within + before[..., None]).reshape(x.shape[:-2] + (nb * BLOCK,))[..., :n]
    return out.astype(dtype)
