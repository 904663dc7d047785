"""Spaces: what ``reset``/``step`` return and accept, as small hashable descriptions.

After gymnax's spaces, with two additions a Neural MMO model needs:

* ``Box.names`` names the entries of the last axis (the attribute columns of
  an entity row, the channels of the tile window), so a model or a wrapper
  can find a feature by name instead of by a constant;
* a row set is a ``Box`` of shape ``[R, F]`` whose ``mask`` names the bool
  ``Box`` of shape ``[R]`` in the same ``Dict`` that marks its real rows, and a
  pointer head is a ``Discrete(R + offset, rows="<that Box's key>",
  row_offset=offset)``: "choose one of those rows" (after ``offset`` fixed
  choices such as a no-op) (``attack_target`` points at ``entities`` today; item heads will
  point at inventory rows). A model built from the spaces scores such a head
  against that row set's embeddings, with no code per head.

Spaces describe one agent. A world's arrays carry a leading axis of
``num_agents`` (and a vmapped batch one more): ``space.batched(n)`` is the
space of n of them, so ``env.observation_space().batched(env.num_agents)
.contains(obs)`` checks a whole world's observation.

Everything here is a frozen dataclass of plain Python values, so a space can
be a static (hashed) field of a Flax module or a ``jax.jit`` static argument.
``contains`` works on host (numpy) values; ``sample`` is a pure JAX function.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np


def _as_bound(value, width: int):
    """A scalar bound stays scalar; a per-entry bound must have one value per last-axis entry."""
    if isinstance(value, (tuple, list, np.ndarray)):
        value = tuple(np.asarray(value).reshape(-1).tolist())
        if len(value) != width:
            raise ValueError(f"a per-entry bound needs {width} values (the last axis), got {len(value)}")
    return value


@dataclass(frozen=True)
class Discrete:
    """Integers 0..n-1 (an action head).

    ``rows``: the observation row set this head points at, if any; choice c
    then names row ``c - row_offset`` (``attack_target``: offset 0, row 0 is the
    agent itself, the no-op; the inventory heads: offset 1, choice 0 is the
    no-op and 1..12 the slots). Choices below the offset are fixed choices.
    """

    n: int
    rows: str | None = None
    row_offset: int = 0
    shape: tuple = ()
    dtype: str = "int32"

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return (x.shape == tuple(self.shape) and np.issubdtype(x.dtype, np.integer)
                and bool(np.all((x >= 0) & (x < self.n))))

    def sample(self, key):
        return jax.random.randint(key, self.shape, 0, self.n, dtype=jnp.dtype(self.dtype))

    def batched(self, n: int) -> "Discrete":
        return replace(self, shape=(n, *self.shape))


@dataclass(frozen=True)
class Box:
    """An array of ``shape`` and ``dtype`` with ``low <= x <= high`` (scalars, or one value per last-axis entry).

    ``names``: the meaning of each last-axis entry. ``mask``: for a row set
    (shape ``[R, F]``), the key of its bool row mask in the enclosing ``Dict``.
    """

    low: Any
    high: Any
    shape: tuple
    dtype: str
    names: tuple | None = None
    mask: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        width = self.shape[-1] if self.shape else 1
        object.__setattr__(self, "low", _as_bound(self.low, width))
        object.__setattr__(self, "high", _as_bound(self.high, width))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))
            if len(self.names) != width:
                raise ValueError(f"Box names {self.names} do not match the last axis of shape {self.shape}")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) as numpy arrays broadcastable to ``shape``."""
        return np.asarray(self.low), np.asarray(self.high)

    def index(self, name: str) -> int:
        """Position of a named last-axis entry (a feature or a channel)."""
        if self.names is None or name not in self.names:
            raise KeyError(f"{name!r} is not an entry of this Box; entries: {self.names}")
        return self.names.index(name)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        if x.shape != self.shape or x.dtype != np.dtype(self.dtype):
            return False
        if x.dtype == bool:
            return True
        low, high = self.bounds()
        return bool(np.all((x >= low) & (x <= high)))

    def sample(self, key):
        dt = jnp.dtype(self.dtype)
        if dt == jnp.bool_:
            return jax.random.bernoulli(key, 0.5, self.shape)
        low, high = self.bounds()
        if jnp.issubdtype(dt, jnp.integer):
            lo = jnp.broadcast_to(jnp.asarray(low, jnp.int32), self.shape)
            hi = jnp.broadcast_to(jnp.asarray(high, jnp.int32), self.shape)
            return jax.random.randint(key, self.shape, lo, hi + 1).astype(dt)
        return jax.random.uniform(key, self.shape, dt, low, high)

    def batched(self, n: int) -> "Box":
        return replace(self, shape=(n, *self.shape))

    def categories(self) -> tuple[int, ...] | None:
        """Values each last-axis entry can take (high - low + 1), for integer boxes; None otherwise."""
        if not np.issubdtype(np.dtype(self.dtype), np.integer):
            return None
        width = self.shape[-1] if self.shape else 1
        low, high = (np.broadcast_to(b, (width,)) for b in self.bounds())
        return tuple(int(h - l + 1) for l, h in zip(low, high))


@dataclass(frozen=True)
class Dict:
    """Named sub-spaces, in a fixed order; ``space["tiles"]``, ``space.keys()``, ``space.items()``."""

    spaces: tuple = field(default=())

    def __init__(self, spaces: Mapping[str, Any] | tuple = ()):
        items = tuple(spaces.items()) if isinstance(spaces, Mapping) else tuple(spaces)
        object.__setattr__(self, "spaces", items)

    def __getitem__(self, key):
        for k, v in self.spaces:
            if k == key:
                return v
        raise KeyError(f"{key!r} is not in this space; keys: {list(self.keys())}")

    def __contains__(self, key) -> bool:
        return any(k == key for k, _ in self.spaces)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.spaces)

    def keys(self):
        return [k for k, _ in self.spaces]

    def items(self):
        return list(self.spaces)

    def values(self):
        return [v for _, v in self.spaces]

    def contains(self, x) -> bool:
        if not isinstance(x, Mapping) or set(x) != set(self.keys()):
            return False
        return all(space.contains(x[k]) for k, space in self.spaces)

    def sample(self, key):
        keys = jax.random.split(key, max(len(self.spaces), 1))
        return {k: space.sample(kk) for (k, space), kk in zip(self.spaces, keys)}

    def batched(self, n: int) -> "Dict":
        return Dict({k: space.batched(n) for k, space in self.spaces})


def explain_mismatch(space, x, path: str = "obs") -> str | None:
    """Why ``x`` is not in ``space`` (the first offending key, shape, dtype or bound), or None if it is."""
    if isinstance(space, Dict):
        if not isinstance(x, Mapping):
            return f"{path}: expected a dict, got {type(x).__name__}"
        if set(x) != set(space.keys()):
            return f"{path}: keys {sorted(x)} != {sorted(space.keys())}"
        for k, sub in space.items():
            why = explain_mismatch(sub, x[k], f"{path}[{k!r}]")
            if why:
                return why
        return None
    if space.contains(x):
        return None
    arr = np.asarray(x)
    if arr.shape != tuple(space.shape):
        return f"{path}: shape {arr.shape} != {space.shape}"
    if isinstance(space, Box) and arr.dtype != np.dtype(space.dtype):
        return f"{path}: dtype {arr.dtype} != {space.dtype}"
    low, high = space.bounds() if isinstance(space, Box) else (0, space.n - 1)
    bad = np.argwhere(~((arr >= low) & (arr <= high)))[:3].tolist()
    return f"{path}: values out of [{low}, {high}] at {bad}"
