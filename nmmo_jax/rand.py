"""Several random draws from one call of the key's bit generator.

Each ``jax.random`` call compiles to its own copy of the generator (threefry
on the CPU), and a tick needs a dozen small draws, so compile time was
dominated by them. A system instead asks for one block of uint32 words and
turns slices of it into the numbers it needs:

* ``uniform(words)``: floats in [0, 1) from the top 24 bits (every float32
  multiple of 2**-24, equally likely, as ``jax.random.uniform`` gives);
* ``integers(words, lo, hi)``: ``lo + words % (hi - lo)``; the modulo bias is
  at most (hi - lo) / 2**32, far below anything a test could see;
* ``mix(x)``: murmur3's 32-bit finaliser, a bijection that spreads every input
  bit over the output: one random word hashed with an index gives a cheap,
  well-spread number per index (random priorities, the random legal action).
"""
import jax
import jax.numpy as jnp


def words(key, count: int):
    """uint32[count] random words."""
    return jax.random.bits(key, (count,), jnp.uint32)


def uniform(w):
    return (w >> 8).astype(jnp.float32) * jnp.float32(2.0 ** -24)


def integers(w, lo, hi):
    return (lo + (w % jnp.uint32(hi - lo)).astype(jnp.int32)).astype(jnp.int32)


def mix(x):
    """uint32 -> uint32: murmur3's finaliser (a bijection with full avalanche)."""
    h = jnp.asarray(x).astype(jnp.uint32)
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)
