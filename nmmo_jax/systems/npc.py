"""NPCs (SPEC section 8): spawning by danger, and their behaviour each tick.

NPCs live in the entity slots after the players (``num_agents..N-1``) and
share every array and rule with them (vitals aside: they neither eat nor
drink, and regenerate ``npc_regen`` a tick). Everything here works on whole
arrays of NPC slots; there is no per-NPC Python.

Spawning (``spawn``): each tick, ``npc_spawn_attempts`` random tiles of the
playable square are tried; an attempt succeeds on a passable, non-lava tile
that no live entity occupies and no earlier attempt of the tick took, while
live NPCs are fewer than ``max_npcs``. Successful attempts fill free NPC
slots in order. A spawn's danger is ``2 * (distance to the border) / playable
side`` (0 on the spawn ring, about 1 in the centre); it fixes the kind
(aggressive from 0.8, neutral from 0.5, else passive) and the level
``floor(danger * 9 + 1)``. Offense and defense are ``floor(8 * (level - u))``
with one u ~ U[0, 1) per NPC, the style is uniform among melee, range and
mage, the NPC is given its style's XP for that level (so its style shows as
that level in observations and is its main style from level 2), and it
carries gold equal to its level, which its killer takes (combat.py).

Behaviour (``decide``), as in Neural MMO's scripted NPCs:

* passive: random walk;
* neutral: random walk until attacked, then chases and attacks its attacker;
* aggressive: chases and attacks its attacker, or else the closest player in
  sight, or else walks at random.

An NPC forgets an attacker that died or is farther than ``npc_vision``
tiles. "In sight" uses the players' own entity sets read backwards: an NPC
sees exactly the players whose last observation lists it (within
``npc_vision``). That costs O(players x rows) with no search over pairs, and
makes perception symmetric: a player is only hunted by an NPC it can see. A
random priority drawn each tick per tile (``combat.tile_priority``) breaks ties
between equally close players, so slot order never matters.

Chasing (Neural MMO path-finds; we step greedily, which needs no search):
step along the axis with the larger gap (rows on a tie), or along the other
axis when that tile is blocked, or else take a random walkable step (to slip
round the obstacle); stop when 4-adjacent. The attack is made with
the NPC's style whenever the target is within reach at the start of the tick.
A random walk picks uniformly among the passable, non-lava neighbours.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import rand
from nmmo_jax import tiles as T
from nmmo_jax.terrain import ring_distance_at
from nmmo_jax.config import EnvParams, StaticConfig
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_PASSIVE, WorldState, fresh_entities, write_rows
from nmmo_jax.systems import combat, skills

_NEIGHBOURS = T.MOVE_DELTAS[1:]  # N, S, E, W: move k+1
_WALKABLE = T.PASSABLE.copy()
_WALKABLE[T.LAVA] = False  # NPCs never step into lava


def danger(pos, cfg: StaticConfig):
    """2 * (distance to the border) / playable side: 0 at the edge, about 1 in the centre."""
    return (2.0 * ring_distance_at(pos, cfg) / cfg.playable_size).astype(jnp.float32)


def kind_for_danger(d, params: EnvParams):
    return jnp.where(d >= params.npc_aggressive_danger, KIND_AGGRESSIVE,
                     jnp.where(d >= params.npc_neutral_danger, KIND_NEUTRAL, KIND_PASSIVE)).astype(jnp.int32)


def level_for_danger(d, params: EnvParams):
    span = (params.npc_level_max - params.npc_level_min).astype(jnp.float32)
    level = jnp.floor(d * span + params.npc_level_min).astype(jnp.int32)
    return jnp.clip(level, 1, skills.MAX_LEVEL)


def npc_power(level, u, params: EnvParams):
    """Offense (= defense) floor(npc_power_per_level * (level - u))."""
    return jnp.floor(params.npc_power_per_level * (level - u)).astype(jnp.int32)


def spawn(key, state: WorldState, params: EnvParams, cfg: StaticConfig, attempts: int) -> WorldState:
    """Refill free NPC slots from ``attempts`` random tiles (see the module docstring)."""
    m, a = cfg.num_npcs, cfg.num_agents
    if m == 0 or attempts == 0:
        return state
    e = state.entities
    h, w = state.tiles.shape
    draws = rand.words(key, 2 * attempts + 2 * m)  # tiles tried, then u and style per NPC slot
    rc = rand.integers(draws[:2 * attempts], cfg.border, cfg.border + cfg.playable_size).reshape(attempts, 2)
    flat = rc[:, 0] * w + rc[:, 1]
    ent_flat = jnp.where(e.alive, e.pos[:, 0] * w + e.pos[:, 1], -1)
    index = jnp.arange(attempts, dtype=jnp.int32)
    if attempts * (attempts + e.alive.shape[0]) <= 2 * h * w:
        # A tick's few attempts: compare with every entity and every earlier attempt (no map-sized grid).
        occupied = jnp.any(flat[:, None] == ent_flat[None, :], axis=1)
        repeat = jnp.any((flat[:, None] == flat[None, :]) & (index[None, :] < index[:, None]), axis=1)
    else:
        # Many attempts (reset): map-sized grids.
        occupied = jnp.zeros(h * w, bool).at[jnp.where(ent_flat >= 0, ent_flat, h * w)].set(
            True, mode="drop")[flat]
        first = jnp.full(h * w, attempts, jnp.int32).at[flat].min(index)
        repeat = first[flat] != index
    ok = jnp.asarray(_WALKABLE)[state.tiles[rc[:, 0], rc[:, 1]]] & ~occupied & ~repeat
    cap = jnp.where(params.max_npcs < 0, m, jnp.minimum(params.max_npcs, m))
    room = jnp.maximum(cap - jnp.sum(e.alive[a:]), 0)
    rank = jnp.cumsum(ok) - 1
    ok = ok & (rank < room)
    placed = jnp.sum(ok)
    table = jnp.zeros((attempts, 2), jnp.int32).at[jnp.where(ok, rank, attempts)].set(rc, mode="drop")

    free = ~e.alive[a:]
    free_rank = jnp.cumsum(free) - 1
    take = free & (free_rank < placed)
    pos = table[jnp.clip(free_rank, 0, attempts - 1)]
    d = danger(pos, cfg)
    kind = kind_for_danger(d, params)
    level = level_for_danger(d, params)
    power = npc_power(level, rand.uniform(draws[2 * attempts:2 * attempts + m]), params)
    style = rand.integers(draws[2 * attempts + m:], 1, 4)
    style_col = jax.nn.one_hot(style - 1, e.levels.shape[1], dtype=jnp.int32)
    levels = 1 + style_col * (level - 1)[:, None]
    xp = style_col * skills.xp_for_level(level)[:, None]

    fresh = fresh_entities(m, params, player=False).replace(
        pos=pos, kind=kind, gold=level, levels=levels, xp=xp, npc_style=style, npc_offense=power,
        npc_defense=power)
    e = write_rows(e, a, take, fresh)
    return state.replace(entities=e)


def _chebyshev(p, q):
    return jnp.max(jnp.abs(p - q), axis=-1)


def decide(key, state: WorldState, params: EnvParams, cfg: StaticConfig):
    """NPC actions for this tick: (state with stale attackers forgotten, move, style, target) over NPC slots.

    ``move`` i32[M] (0 stay, 1 N, 2 S, 3 E, 4 W), ``style`` i32[M] (0: no attack),
    ``target`` i32[M] (entity slot, -1 none).
    """
    m, a = cfg.num_npcs, cfg.num_agents
    e = state.entities
    n = e.alive.shape[0]
    draws = rand.words(key, 4 * m + 1)  # random-walk scores, then the tie-break seed
    pos = e.pos[a:]
    live = e.alive[a:]
    kind = e.kind[a:]

    # Forget an attacker that died or left sight.
    mem = e.attacker[a:]
    mem_pos = e.pos[jnp.clip(mem, 0, n - 1)]
    mem_ok = (mem >= 0) & e.alive[jnp.clip(mem, 0, n - 1)] & (_chebyshev(pos, mem_pos) <= params.npc_vision)
    mem = jnp.where(mem_ok, mem, -1)

    # Closest player that sees this NPC: scatter-min of (distance, random priority, player) over entity rows.
    slots = state.obs_slots
    seen = (slots >= a) & e.alive[:a, None]
    seen_pos = e.pos[jnp.clip(slots, 0, n - 1)]
    dist = _chebyshev(e.pos[:a, None, :], seen_pos)
    seen = seen & (dist <= params.npc_vision)
    prio, low = combat.tile_priority(draws[4 * m], e.pos[:a], state.tiles.shape[1], total_bits=26)
    rank_key = (jnp.minimum(dist, 31) << 26) | prio[:, None]
    big = jnp.iinfo(jnp.int32).max
    best = jnp.full(m, big, jnp.int32).at[jnp.where(seen, slots - a, m)].min(rank_key, mode="drop")
    nearest = jnp.where(best < big, best & low, -1)

    fights = (kind == KIND_NEUTRAL) | (kind == KIND_AGGRESSIVE)
    target = jnp.where(fights & (mem >= 0), mem, jnp.where(kind == KIND_AGGRESSIVE, nearest, -1))
    target = jnp.where(live, target, -1)
    has = target >= 0
    t_pos = e.pos[jnp.clip(target, 0, n - 1)]

    # Walkable neighbours (N, S, E, W).
    neigh = pos[:, None, :] + jnp.asarray(_NEIGHBOURS)[None]
    neigh = jnp.clip(neigh, 0, state.tiles.shape[0] - 1)
    walkable = jnp.asarray(_WALKABLE)[state.tiles[neigh[..., 0], neigh[..., 1]]]  # [M, 4]

    # Random walk: uniform among walkable neighbours (stay if there is none).
    score = jnp.where(walkable, rand.uniform(draws[:4 * m]).reshape(m, 4), -1.0)
    walk = jnp.where(jnp.any(walkable, axis=1), jnp.argmax(score, axis=1) + 1, 0)

    # Chase: greedy step along the larger gap, else the other axis, else a random step around the
    # obstacle; stop when 4-adjacent.
    dr, dc = t_pos[:, 0] - pos[:, 0], t_pos[:, 1] - pos[:, 1]
    vert = jnp.where(dr < 0, 1, jnp.where(dr > 0, 2, 0))
    horiz = jnp.where(dc > 0, 3, jnp.where(dc < 0, 4, 0))
    rows_first = jnp.abs(dr) >= jnp.abs(dc)
    first = jnp.where(rows_first, vert, horiz)
    second = jnp.where(rows_first, horiz, vert)
    can = lambda mv: (mv > 0) & jnp.take_along_axis(walkable, jnp.maximum(mv - 1, 0)[:, None], 1)[:, 0]
    chase = jnp.where(can(first), first, jnp.where(can(second), second, walk))
    chase = jnp.where(jnp.abs(dr) + jnp.abs(dc) > 1, chase, 0)

    move = jnp.where(has, chase, walk).astype(jnp.int32)
    move = jnp.where(live, move, 0)
    style = e.npc_style[a:]
    in_reach = _chebyshev(pos, t_pos) <= combat.reach_table(params)[jnp.clip(style, 0, 3)]
    attack = has & in_reach
    style = jnp.where(attack, style, 0)
    target = jnp.where(attack, target, -1)
    state = state.replace(entities=e.replace(attacker=e.attacker.at[a:].set(mem)))
    return state, move, style, target
