"""What both adapters share: loading a world, its gymnasium spaces, compiled functions, actions in.

Spaces. ``to_gymnasium`` maps an ``nmmo_jax.spaces`` description to gymnasium's:
``Box`` -> ``gymnasium.spaces.Box`` with ``low``/``high`` broadcast to the shape (the
world's per-column bounds become arrays) in the world's dtype; a bool ``Box`` ->
``Box(0, 1, shape, bool)`` (its ``contains`` takes the world's bool arrays as they are, and its
``sample`` gives bools; ``MultiBinary`` would sample int8); ``Discrete`` -> ``Discrete``
(gymnasium has no ``rows``: the pointer target is lost); ``Dict`` -> ``Dict``.

The adapters' observation space is ``to_gymnasium(env.observation_space())`` with one change:
each ``action_mask`` head is a ``MultiBinary(n)`` and arrives as int8, because gymnasium's
``Discrete.sample(mask=...)`` (and so PettingZoo's API test and any gymnasium-style trainer)
takes int8 masks only. The cast happens inside the jitted step (same bytes as bool).

Compiled functions are cached per ``StaticConfig`` (hashable; the rates in ``EnvParams`` are
traced arguments), so every adapter of one config shares one compile.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import spaces as S

INSTALL_HINT = 'pip install "nmmo-jax[adapters]"'


def require(module: str):
    """Import an optional dependency, or raise ImportError naming the extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"nmmo_jax.wrappers needs {module}: {INSTALL_HINT}") from err


def to_gymnasium(space):
    """The gymnasium space of an ``nmmo_jax.spaces`` Box, Discrete or Dict (see the module doc)."""
    gspaces = require("gymnasium").spaces
    if isinstance(space, S.Dict):
        return gspaces.Dict({k: to_gymnasium(v) for k, v in space.items()})
    if isinstance(space, S.Discrete):
        if space.shape:
            return gspaces.MultiDiscrete(np.full(space.shape, space.n, np.int64))
        return gspaces.Discrete(space.n)
    if isinstance(space, S.Box):
        dtype = np.dtype(space.dtype)
        if dtype == np.bool_:
            return gspaces.Box(0, 1, space.shape, dtype=np.bool_)
        low, high = (np.broadcast_to(np.asarray(b, dtype), space.shape).copy() for b in space.bounds())
        return gspaces.Box(low, high, space.shape, dtype=dtype)
    raise TypeError(f"to_gymnasium: not an nmmo_jax space: {space!r}")


def observation_space(env):
    """One agent's observation as the adapters return it (action masks as int8 MultiBinary)."""
    gspaces = require("gymnasium").spaces
    world = env.observation_space()
    out = {k: to_gymnasium(v) for k, v in world.items() if k != "action_mask"}
    out["action_mask"] = gspaces.Dict({h: gspaces.MultiBinary(m.shape[-1]) for h, m in world["action_mask"].items()})
    return gspaces.Dict(out)


def action_space(env):
    """One agent's action: a gymnasium ``Dict`` of ``Discrete``, one per head."""
    return to_gymnasium(env.action_space())


def load(config, params, overrides):
    """An ``nmmo_jax.Env`` from a preset name / YAML path / ``Config`` (with overrides), or a ready ``Env``."""
    import nmmo_jax
    if isinstance(config, nmmo_jax.Env):
        if overrides:
            raise ValueError("overrides go with a preset name or YAML path, not with a ready Env")
        env = config
    elif isinstance(config, nmmo_jax.Config):
        env = nmmo_jax.Env(config.replace(**overrides) if overrides else config)
    else:
        env = nmmo_jax.make(config, **overrides)
    return env, (env.default_params if params is None else params)


def seed_key(seed, rng: np.random.Generator):
    """A PRNG key from an int seed (its low 32 bits), or from ``rng`` when seed is None."""
    if seed is None:
        seed = int(rng.integers(0, 2**31))
    elif not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return jax.random.PRNGKey(int(seed))


def _edge(obs):
    """The observation as the adapters hand it out: action masks as int8."""
    out = dict(obs)
    out["action_mask"] = {h: m.astype(jnp.int8) for h, m in obs["action_mask"].items()}
    return out


class _Fns:
    """A config's compiled functions, and the names of the world info it packs (set when traced)."""

    info_ints: tuple = ()
    info_floats: tuple = ()

    def pack_info(self, info):
        """The world's info scalars as one int32 and one float32 array (2 transfers instead of ~40)."""
        keys = sorted(info)
        self.info_ints = tuple(k for k in keys if not jnp.issubdtype(info[k].dtype, jnp.floating))
        self.info_floats = tuple(k for k in keys if jnp.issubdtype(info[k].dtype, jnp.floating))
        ints = jnp.stack([info[k].astype(jnp.int32) for k in self.info_ints], axis=-1)
        floats = jnp.stack([info[k].astype(jnp.float32) for k in self.info_floats], axis=-1)
        return ints, floats

    def unpack_info(self, packed):
        """Host side of ``pack_info``: a dict of numpy values (``done`` as bool)."""
        ints, floats = packed
        out = {k: ints[..., i] for i, k in enumerate(self.info_ints)}
        out.update({k: floats[..., i] for i, k in enumerate(self.info_floats)})
        out["done"] = out["done"].astype(bool)
        return out


@functools.lru_cache(maxsize=None)
def world_fns(cfg):
    """Jitted reset and step of one world for a ``StaticConfig`` (PettingZooEnv)."""
    from nmmo_jax.env import Env
    env = Env(cfg)
    fns = _Fns()

    @jax.jit
    def reset(key, params):
        key, k_reset = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        return key, state, _edge(obs)

    @jax.jit
    def step(key, state, actions, params):
        key, k_step = jax.random.split(key)
        obs, state, reward, term, trunc, info = env.step(k_step, state, actions, params)
        return key, state, (_edge(obs), reward, term, trunc, fns.pack_info(info))

    fns.reset, fns.step = reset, step
    return fns


@functools.lru_cache(maxsize=None)
def vector_fns(cfg):
    """Jitted reset, step and state splice of a batch of worlds (GymnasiumVectorEnv).

    ``step`` steps every world (one vmapped call) and returns its observation flattened to
    ``[N * A, ...]``; when some world is done the host calls ``reset`` (the same compiled function
    as the adapter's ``reset``) and ``splice_state`` keeps the fresh worlds where ``done``. A reset
    inside the jitted step, even behind a ``lax.cond``, compiles the map generator a second time
    (+5 s of compile for the tiny test world, 8.8 s against 3.4 s), for nothing at run time.
    """
    from nmmo_jax.env import Env
    env = Env(cfg)
    a = cfg.num_agents
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    flat = lambda tree: jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), tree)
    fns = _Fns()

    @functools.partial(jax.jit, static_argnums=2)
    def reset(key, params, n: int):
        key, k_reset = jax.random.split(key)
        obs, state = v_reset(jax.random.split(k_reset, n), params)
        return key, state, flat(_edge(obs))

    @jax.jit
    def step(key, state, actions, params):
        n = state.tick.shape[0]
        key, k_step = jax.random.split(key)
        was_live = state.entities.alive[:, :a]
        obs, state, reward, term, trunc, info = v_step(jax.random.split(k_step, n), state, actions, params)
        out = dict(
            reward=jnp.where(was_live, reward, 0.0).reshape(-1),
            terminated=(term & was_live).reshape(-1),
            truncated=(trunc & was_live).reshape(-1),
            mask=state.entities.alive[:, :a].reshape(-1),
            done=info["done"],
            ticks=state.tick,
            world=fns.pack_info(info),
            obs=flat(_edge(obs)),
        )
        return key, state, out

    @jax.jit
    def splice_state(done, new, old):
        pick = lambda x, y: jnp.where(done.reshape(done.shape + (1,) * (y.ndim - 1)), x, y)
        return jax.tree.map(pick, new, old)

    fns.reset, fns.step, fns.splice_state = reset, step, splice_state
    return fns


def encode_vector_actions(actions, heads: dict, n: int, a: int):
    """A dict head -> int array [n * a] as the world's int32 [n, a] per head; missing/out of range: 0."""
    if actions is None:
        actions = {}
    unknown = set(actions) - set(heads)
    if unknown:
        raise KeyError(f"unknown action heads {sorted(unknown)}; heads: {list(heads)}")
    out = {}
    for head, size in heads.items():
        v = actions.get(head)
        if v is None:
            out[head] = np.zeros((n, a), np.int32)
            continue
        v = np.asarray(v)
        if v.shape != (n * a,):
            raise ValueError(f"actions[{head!r}] has shape {v.shape}; expected ({n * a},) (worlds x agents)")
        if not (np.issubdtype(v.dtype, np.integer) or v.dtype == np.bool_):
            raise TypeError(f"actions[{head!r}] must be integers, got {v.dtype}")
        out[head] = np.where((v >= 0) & (v < size), v, 0).astype(np.int32).reshape(n, a)
    return out
