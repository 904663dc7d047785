"""Movement (SPEC section 3): stay / N / S / E / W, blocked by impassable tiles.

A move out of range (not 0..4) is a stay. Dead and frozen entities stay. Lava
is passable and kills on entry (the death itself is processed in lifecycle.py).

Classic one-entity-per-tile: a move succeeds only into a tile that was empty
at the start of the tick, and among several entities moving into the same
tile the one with the highest random priority this tick wins. Entities that
fail stay where they were, so no two entities ever share a tile and the result
depends on the random priority only, never on slot order. (Following into a
tile that is vacated in the same tick is not allowed: that would need a chain
resolution whose outcome depends on an evaluation order.)
"""
import jax
import jax.numpy as jnp

from nmmo_jax import tiles as T
from nmmo_jax.state import WorldState


def _targets(state: WorldState, move, movers):
    e = state.entities
    move = jnp.where((move >= 0) & (move < T.NUM_MOVES), move, 0)
    target = e.pos + jnp.asarray(T.MOVE_DELTAS)[move]
    target = jnp.clip(target, 0, state.tiles.shape[0] - 1)
    passable = jnp.asarray(T.PASSABLE)[state.tiles[target[:, 0], target[:, 1]]]
    wants = movers & (move > 0) & passable
    return target, wants


def move(key, state: WorldState, move_action, one_per_tile: bool) -> WorldState:
    """``move_action`` is i32[N] over all entity slots (players' actions then NPCs')."""
    e = state.entities
    movers = e.alive & (e.freeze <= 0)
    target, wants = _targets(state, move_action, movers)
    if one_per_tile:
        h, w = state.tiles.shape
        n = e.alive.shape[0]
        flat_now = jnp.where(e.alive, e.pos[:, 0] * w + e.pos[:, 1], h * w)
        occupied = jnp.zeros(h * w, bool).at[flat_now].set(True, mode="drop")
        flat_target = target[:, 0] * w + target[:, 1]
        wants = wants & ~occupied[flat_target]
        # Random priority with the slot index in the low bits: distinct, so exactly one winner a tile.
        index_bits = max(1, int(n).bit_length())
        noise = jax.random.randint(key, (n,), 0, 2 ** (30 - index_bits))
        priority = (noise << index_bits) | jnp.arange(n)
        best = jnp.full(h * w, -1, jnp.int32).at[jnp.where(wants, flat_target, h * w)].max(priority, mode="drop")
        wants = wants & (best[flat_target] == priority)
    pos = jnp.where(wants[:, None], target, e.pos)
    return state.replace(entities=e.replace(pos=pos))
