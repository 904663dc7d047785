"""Deaths, lava, and the respawn of dead player slots (SPEC sections 3 and 4).

``process_deaths`` runs after actions: an entity on lava or at zero health
dies this tick (``env.step`` then advances the tick counter, SPEC tick step 4).

``respawn_players`` is the persistent-mode spawn: a dead player slot whose
delay has run out comes back as a new player (``state.fresh_entities``: full
vitals, level 1 in every skill, 1 gold, nothing equipped) on the spawn ring, keeping its team. A death destroys the gold the dead entity
still holds (a killer's share was taken in combat.py). The slots
coming back on one tick take ring tiles spread evenly from a random offset,
so they are distinct; under one-entity-per-tile a slot whose tile is taken
waits for the next tick.
"""
import jax
import jax.numpy as jnp

from nmmo_jax import tiles as T
from nmmo_jax.config import EnvParams
from nmmo_jax.state import KIND_PLAYER, NEVER, WorldState, fresh_entities, write_rows


def process_deaths(state: WorldState, params: EnvParams, persistent: bool):
    """Returns (state, died bool[N]); a dead player's respawn is due ``respawn_delay`` ticks after the next tick."""
    e = state.entities
    on_lava = state.tiles[e.pos[:, 0], e.pos[:, 1]] == T.LAVA
    died = e.alive & ((e.health <= 0) | on_lava)
    respawn_at = state.tick + 1 + params.respawn_delay if persistent else NEVER
    is_player = e.kind == KIND_PLAYER
    e = e.replace(
        alive=e.alive & ~died,
        health=jnp.where(died, 0, e.health),
        gold=jnp.where(died, 0, e.gold),  # a killer's loot was taken in combat.py; the rest is destroyed
        attacker=jnp.where(died, -1, e.attacker),
        respawn_tick=jnp.where(died & is_player, respawn_at, e.respawn_tick),
    )
    state = state.replace(entities=e, total_deaths=state.total_deaths + jnp.sum(died & is_player))
    return state, died


def respawn_players(key, state: WorldState, params: EnvParams, ring, num_agents: int,
                    one_per_tile: bool) -> WorldState:
    e = state.entities
    h, w = state.tiles.shape
    ring = jnp.asarray(ring)
    ring_len = ring.shape[0]
    ready = (~e.alive[:num_agents]) & (e.respawn_tick[:num_agents] <= state.tick)
    count = jnp.sum(ready)
    rank = jnp.cumsum(ready) - 1
    stride = jnp.maximum(ring_len // jnp.maximum(count, 1), 1)
    offset = jax.random.randint(key, (), 0, ring_len)
    spot = ring[(offset + rank * stride) % ring_len]
    if one_per_tile:
        flat_now = jnp.where(e.alive, e.pos[:, 0] * w + e.pos[:, 1], h * w)
        occupied = jnp.zeros(h * w, bool).at[flat_now].set(True, mode="drop")
        ready = ready & ~occupied[spot[:, 0] * w + spot[:, 1]]
    ready = ready & (rank < ring_len)

    fresh = fresh_entities(num_agents, params, player=True, team=e.team[:num_agents]).replace(pos=spot)
    e = write_rows(e, 0, ready, fresh)
    return state.replace(entities=e)
