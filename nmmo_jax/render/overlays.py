"""Overlays: per-tile pictures of what the agents do and what the policy thinks, computed in JAX.

The original Neural MMO client shipped four overlays (its README, "Rendering
and Overlays"); each is computed here inside the compiled recorder and stored
in the replay:

* ``counts``: exploration heatmap, how many agent-ticks were spent on each tile
  so far (players only).
* ``values``: the value function painted where agents stand. Each tick, the
  tiles under live agents take the mean value of the agents on them; a tile
  keeps the last value painted on it (NaN: never visited), as in the original.
* ``attention``: the selected agent's attention, whatever the policy function
  returns as ``attention`` (see ``record.py``): ``entities`` f32[A, K], a
  weight per entity row (stored with the slot each row shows), and ``tiles``
  f32[A, g, g], a weight per patch of the tile window (the window padded
  equally on both sides to a multiple of g, see ``patch_geometry``). For the
  Flax policies of ``agents`` these are the true ``EntityPool`` softmax
  weights (mean over heads) and, since the tile encoder is a patch
  convolution with no attention, the L2 norm of each patch's embedding
  normalised to sum to 1, what the original showed for its convolution
  (``agents.policy_fn``). They are painted on the map for one agent by
  ``paint_attention`` when shown.
* ``globalValues``: the value of a hallucinated agent alone on every passable
  tile, with all resources grown back. The original needed ~30 s of
  precompute for 3,600 tiles; here it is one batched call of the policy
  function (see ``global_values``).

Custom overlays: ``register_overlay(name, fn)`` with
``fn(state, outputs) -> f32[H, W]``, traced inside the recorder every tick.
``outputs`` holds ``obs`` and ``actions`` always, and with a policy also
``value`` f32[A] (NaN for dead agents) and ``attention`` (the policy
function's dict, as it returned it). Return NaN where there is nothing to show. Example::

    from nmmo_jax.render import register_overlay

    def health(state, outputs):   # players' health where they stand
        e = state.entities
        h, w = state.tiles.shape
        a = outputs["obs"]["entity_mask"].shape[0]
        flat = jnp.where(e.alive[:a], e.pos[:a, 0] * w + e.pos[:a, 1], h * w)
        grid = jnp.full(h * w, jnp.nan).at[flat].set(e.health[:a].astype(jnp.float32), mode="drop")
        return grid.reshape(h, w)

    register_overlay("health", health, "players' health where they stand")

then ``python -m nmmo_jax.replay --random ... --overlays=health`` or
``python -m agents.record --checkpoint=DIR ... --overlays=health`` (or every
registered overlay by default when the module defining it is imported, e.g.
with ``--import=mypkg.overlays``) records it and the viewer lists it with the
others.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import observe as O
from nmmo_jax import tiles as T
from nmmo_jax.state import NEVER

BUILTIN = {
    "counts": "exploration: agent-ticks spent on each tile so far",
    "values": "value function painted where agents stand (last value painted on each tile)",
    "attention": "the selected agent's attention over its entities and tile patches",
    "globalValues": "value of a lone agent on every passable tile, all resources present",
}


@dataclass(frozen=True)
class CustomOverlay:
    name: str
    fn: Callable
    description: str = ""


_CUSTOM: dict[str, CustomOverlay] = {}


def register_overlay(name: str, fn: Callable, description: str = "") -> None:
    """Add a custom overlay ``fn(state, outputs) -> f32[H, W]`` (see the module doc)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"overlay name {name!r} must be an identifier (letters, digits, underscores)")
    if name in BUILTIN:
        raise ValueError(f"overlay name {name!r} is a built-in overlay; pick another")
    if not callable(fn):
        raise ValueError(f"overlay {name!r}: fn must be callable as fn(state, outputs) -> f32[H, W]")
    _CUSTOM[name] = CustomOverlay(name, fn, description)


def unregister_overlay(name: str) -> None:
    _CUSTOM.pop(name, None)


def custom_overlays() -> dict[str, CustomOverlay]:
    return dict(_CUSTOM)


# ------------------------------------------------------------------ per tick
def _player_tiles(state, num_agents: int):
    """Flat tile index of each live player (H*W for dead ones, dropped by scatters)."""
    e = state.entities
    h, w = state.tiles.shape
    return jnp.where(e.alive[:num_agents], e.pos[:num_agents, 0] * w + e.pos[:num_agents, 1], h * w)


def add_counts(counts, state, num_agents: int):
    """counts i32[H, W] plus one for every tile a live player stands on (several players: several)."""
    h, w = counts.shape
    flat = _player_tiles(state, num_agents)
    return counts.reshape(-1).at[flat].add(1, mode="drop").reshape(h, w)


def paint_values(value_map, state, value, num_agents: int):
    """value_map f32[H, W] with the tiles under live players set to the mean value of the players there.

    A mean (segment sums), not a scatter-set: with several agents on one tile the
    result does not depend on slot order.
    """
    h, w = value_map.shape
    flat = _player_tiles(state, num_agents)
    v = jnp.where(flat < h * w, value, 0.0)
    total = jnp.zeros(h * w, jnp.float32).at[flat].add(v, mode="drop")
    n = jnp.zeros(h * w, jnp.int32).at[flat].add(1, mode="drop")
    return jnp.where(n > 0, total / jnp.maximum(n, 1), value_map.reshape(-1)).reshape(h, w)


def attention_leaves(attention: dict, obs, alive) -> dict:
    """The recorded per-agent attention leaves from a policy function's ``attention`` dict.

    Every float array is stored as f16, zero for dead agents: ``entities``
    f16[A, K] (weight of each entity row) gets ``slots`` i16[A, K] beside it,
    the entity slot each row shows (-1 empty), so the picture can find the
    entities; ``tiles`` f16[A, g, g] is a weight per tile patch. Other keys are
    recorded the same way, under their own names.
    """
    out = {}
    for name, value in attention.items():
        value = jnp.asarray(value)
        if jnp.issubdtype(value.dtype, jnp.floating):
            live = alive.reshape(alive.shape + (1,) * (value.ndim - 1))
            value = jnp.where(live, value.astype(jnp.float32), 0.0).astype(jnp.float16)
        out[name] = value
    if "entities" in out:
        ids = obs["entities"][..., O.FEATURE_INDEX["id"]].astype(jnp.int32) - 1
        out["slots"] = jnp.where(obs["entity_mask"], ids, -1).astype(jnp.int16)
    return out


def patch_geometry(window: int, grid: int) -> tuple[int, int]:
    """(patch side, offset of patch 0 inside the window) for a window of side ``window`` cut in grid x grid.

    The convention of the ``tiles`` attention a policy returns: the window is
    padded equally on both sides (the extra row, if odd, after) to a multiple of
    the patch side, so patch (i, j) covers window rows ``i*patch - offset ...``
    and columns ``j*patch - offset ...``.
    """
    patch = math.ceil(window / grid)
    return patch, (grid * patch - window) // 2


def paint_attention(shape, agent_pos, ent_weights, ent_slots, entity_pos, tile_weights, window: int):
    """f32[H, W] picture of one agent's attention (numpy; NaN where it attends to nothing).

    Two bands on one scale, so both stay readable (an entity row weighs ~1/k,
    a tile ~1/225): window tiles get their patch's weight relative to the
    strongest patch, in [0, 1]; a tile holding attended entities gets
    1 + their summed weight relative to the strongest entity, in (1, 2].
    """
    h, w = shape
    out = np.full((h, w), np.nan, np.float32)
    rad = window // 2
    r0, c0 = int(agent_pos[0]) - rad, int(agent_pos[1]) - rad
    if tile_weights is not None:
        g = tile_weights.shape[-1]
        patch, off = patch_geometry(window, g)
        up = np.repeat(np.repeat(np.asarray(tile_weights, np.float32), patch, 0), patch, 1)
        up = up[off:off + window, off:off + window]
        up = up / max(float(up.max()), 1e-12)
        rr, cc = np.meshgrid(np.arange(window) + r0, np.arange(window) + c0, indexing="ij")
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        out[rr[ok], cc[ok]] = up[ok]
    if ent_weights is not None:
        weights = np.asarray(ent_weights, np.float32)
        slots = np.asarray(ent_slots)
        top = max(float(weights[slots >= 0].max()) if np.any(slots >= 0) else 0.0, 1e-12)
        summed = {}
        for weight, slot in zip(weights, slots):
            if slot >= 0 and weight > 0:
                r, c = (int(x) for x in entity_pos[slot])
                summed[(r, c)] = summed.get((r, c), 0.0) + weight / top
        for (r, c), v in summed.items():
            if 0 <= r < h and 0 <= c < w:
                out[r, c] = 1.0 + min(v, 1.0)
    return out


# ------------------------------------------------------------ global values
def hallucination_batches(cfg) -> np.ndarray:
    """i32[B, A, 2]: every playable tile once, in batches of ``num_agents`` positions (-1: unused).

    Positions in one batch differ by a multiple of ``window_radius + 1`` in both
    row and column, so no agent of a batch sees another: each observes exactly
    what it would observe alone, and one ``observe`` call serves A hallucinated
    agents at once.
    """
    s = cfg.window_radius + 1
    b, p, a = cfg.border, cfg.playable_size, cfg.num_agents
    batches = []
    for dr in range(s):
        for dc in range(s):
            rows = np.arange(b + dr, b + p, s)
            cols = np.arange(b + dc, b + p, s)
            pts = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
            for i in range(0, len(pts), a):
                chunk = np.full((a, 2), -1, np.int32)
                part = pts[i:i + a]
                chunk[:len(part)] = part
                batches.append(chunk)
    return np.stack(batches).astype(np.int32)


def lone_state(state, fresh_entities, positions, num_agents: int):
    """The world with every resource grown back, no NPCs, and fresh players only at ``positions`` (i32[A, 2], -1: none).

    The players are copies of one agent, slot 0: each takes slot 0's team, since the team is part of what
    an agent observes of itself (in a world with teams, a copy in slot 5 would otherwise see team 1).
    """
    valid = positions[:, 0] >= 0
    n = fresh_entities.alive.shape[0]
    pos = fresh_entities.pos.at[:num_agents].set(jnp.maximum(positions, 0))
    alive = jnp.zeros(n, bool).at[:num_agents].set(valid)
    team = fresh_entities.team.at[:num_agents].set(fresh_entities.team[0])
    tiles = jnp.asarray(T.RESTORES_TO)[state.tiles]
    return state.replace(tiles=tiles, regrow_tick=jnp.full(state.tiles.shape, NEVER, jnp.int32),
                         entities=fresh_entities.replace(pos=pos, alive=alive, team=team))


def observe_world(state, cfg, params=None):
    """The world's own observation of ``state`` (the observation dict only).

    An adapter because ``observe``'s signature is growing: the combat systems
    make it ``observe(state, cfg, params) -> (obs, row slots)``. Both forms
    are accepted, so overlays keep using the world's real observation.
    """
    if len(inspect.signature(O.observe).parameters) >= 3:
        out = O.observe(state, cfg, params)
    else:
        out = O.observe(state, cfg)
    return out[0] if isinstance(out, tuple) else out


def global_values(policy, initial_carry, state, fresh_entities, cfg, env_params=None, batch_size: int = 8,
                  key=None):
    """f32[H, W]: value of a lone fresh agent (slot 0) on each passable tile (NaN elsewhere), in JAX.

    ``policy`` is the recorder's policy function (``policy(obs, carry, key) ->
    (actions, value, attention, carry)``); only its value is used. Every playable
    tile is visited once through ``hallucination_batches``; each batch is one
    world observation and one call of the policy on A agents, from
    ``initial_carry`` (the agents are fresh: their ``time_alive`` is 0), and
    ``lax.map`` vmaps ``batch_size`` batches at a time (memory stays bounded on
    large maps).
    """
    a = cfg.num_agents
    h, w = state.tiles.shape
    batches = jnp.asarray(hallucination_batches(cfg))
    restored = jnp.asarray(T.RESTORES_TO)[state.tiles]
    passable = jnp.asarray(T.PASSABLE)[restored]
    key = jax.random.PRNGKey(0) if key is None else key

    def one(positions):
        obs = observe_world(lone_state(state, fresh_entities, positions, a), cfg, env_params)
        # The agents of a batch sit in different slots, but the hallucinated agent is one agent:
        # it observes itself as slot 0 everywhere (its team is slot 0's, see lone_state; the id column
        # of its own row is then its only slot-dependent input).
        obs = dict(obs, entities=obs["entities"].at[:, 0, O.FEATURE_INDEX["id"]].set(1))
        _, value, _, _ = policy(obs, initial_carry, key)
        return jnp.asarray(value, jnp.float32)

    values = jax.lax.map(one, batches, batch_size=min(batch_size, batches.shape[0]))
    pos = batches.reshape(-1, 2)
    ok = pos[:, 0] >= 0
    ok = ok & passable[jnp.maximum(pos[:, 0], 0), jnp.maximum(pos[:, 1], 0)]
    flat = jnp.where(ok, pos[:, 0] * w + pos[:, 1], h * w)
    grid = jnp.full(h * w, jnp.nan, jnp.float32).at[flat].set(values.reshape(-1).astype(jnp.float32), mode="drop")
    return grid.reshape(h, w)
