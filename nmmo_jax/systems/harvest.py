"""Automatic harvest (SPEC section 2): eat, drink, and deplete resource tiles.

A live player standing on foliage eats (food to full); one standing on ore,
tree, crystal or herb harvests it; one 4-adjacent to water drinks (water to
full; water never depletes) and one 4-adjacent to fish harvests the first fish
tile in N, S, E, W order. Every player on a tile gets its resource and the
tile depletes once, so slot order never matters. A depleted tile's regrowth
tick is drawn here as a geometric delay with the material's per-tick respawn
probability (the same law as one coin flip a tick); when several players
deplete one tile the earliest draw wins (a min, again order-free).

Each harvest trains its profession (skills.py): ore prospecting, tree
carving, crystal alchemy (``xp_ammo_harvest``), herb herbalism and fish
fishing (``xp_food_harvest``). Eating and drinking train nothing.
"""
import jax
import jax.numpy as jnp

from nmmo_jax import tiles as T
from nmmo_jax.config import EnvParams
from nmmo_jax.state import NEVER, WorldState
from nmmo_jax.systems import skills

_NEIGHBOURS = T.MOVE_DELTAS[1:]  # N, S, E, W


def respawn_probability(params: EnvParams) -> jnp.ndarray:
    """f32[NUM_MATERIALS]: per-tick regrowth probability of each depleted material."""
    prob = jnp.zeros(T.NUM_MATERIALS, jnp.float32)
    for material, name in T.RESPAWN_PARAM.items():
        prob = prob.at[material].set(getattr(params, name))
    return prob


def geometric_delay(key, prob, shape):
    """Ticks until the first success of a coin with ``prob`` per tick (>= 1; NEVER when prob is 0)."""
    u = jax.random.uniform(key, shape, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
    log_fail = jnp.log1p(-jnp.minimum(prob, 1.0 - 1e-7))
    trials = jnp.floor(jnp.log(u) / jnp.where(log_fail < 0, log_fail, -1e-30))
    delay = jnp.where(prob >= 1.0, 1, 1 + jnp.minimum(trials, NEVER // 2))  # p = 1: always the next tick
    return jnp.where(prob > 0, delay, NEVER).astype(jnp.int32)


def harvest(key, state: WorldState, params: EnvParams, num_agents: int):
    """Returns (state, harvested): ``stand`` i32[A], the material harvested by standing on it (0 none), and
    ``fish`` bool[A], a fish harvested from a neighbouring tile (for the item drops of systems/items.py), and
    ``drink`` bool[A], water drunk (for the task counters)."""
    e = state.entities
    tiles = state.tiles
    h, w = tiles.shape
    pos = e.pos[:num_agents]
    live = e.alive[:num_agents]
    here = tiles[pos[:, 0], pos[:, 1]]
    neigh = pos[:, None, :] + jnp.asarray(_NEIGHBOURS)[None]
    neigh_mat = tiles[neigh[..., 0], neigh[..., 1]]  # [A, 4]

    eats = live & (here == T.FOLIAGE)
    drinks = live & jnp.any(neigh_mat == T.WATER, axis=1)
    stands = live & jnp.asarray(T.STAND_HARVEST)[here]
    is_fish = neigh_mat == T.FISH
    fishes = live & jnp.any(is_fish, axis=1)
    fish_pos = jnp.take_along_axis(neigh, jnp.argmax(is_fish, axis=1)[:, None, None], axis=1)[:, 0]

    food = e.food.at[:num_agents].set(jnp.where(eats, params.max_food, e.food[:num_agents]))
    water = e.water.at[:num_agents].set(jnp.where(drinks, params.max_water, e.water[:num_agents]))

    # Up to two depletions per player: the tile it stands on and one fish tile.
    flat = jnp.concatenate([jnp.where(stands, pos[:, 0] * w + pos[:, 1], h * w),
                            jnp.where(fishes, fish_pos[:, 0] * w + fish_pos[:, 1], h * w)])
    tiles_flat = tiles.reshape(-1)
    current = tiles_flat[jnp.minimum(flat, h * w - 1)]
    depleted = jnp.asarray(T.DEPLETES_TO)[current]
    delay = geometric_delay(key, respawn_probability(params)[depleted], flat.shape)
    tiles_flat = tiles_flat.at[flat].set(depleted, mode="drop")
    regrow = state.regrow_tick.reshape(-1).at[flat].min(state.tick + delay, mode="drop")
    skill, amount = skills.stand_harvest_gain(here, params)
    num_skills = e.xp.shape[1]
    gain = (jax.nn.one_hot(skill, num_skills, dtype=jnp.int32) * jnp.where(stands, amount, 0)[:, None]
            + jax.nn.one_hot(skills.FISHING, num_skills, dtype=jnp.int32)[None]
            * jnp.where(fishes, params.xp_food_harvest, 0)[:, None])
    gain = jnp.zeros_like(e.xp).at[:num_agents].set(gain)
    e = skills.add_xp(e.replace(food=food, water=water), gain)
    state = state.replace(
        tiles=tiles_flat.reshape(h, w),
        regrow_tick=regrow.reshape(h, w),
        entities=e,
    )
    return state, dict(stand=jnp.where(stands, here, 0).astype(jnp.int32), fish=fishes, drink=drinks)


def regrow_tiles(state: WorldState) -> WorldState:
    """Depleted tiles whose regrowth tick has come grow back (SPEC tick step 5)."""
    ready = state.regrow_tick <= state.tick
    tiles = jnp.where(ready, jnp.asarray(T.RESTORES_TO)[state.tiles], state.tiles)
    return state.replace(tiles=tiles, regrow_tick=jnp.where(ready, NEVER, state.regrow_tick))
