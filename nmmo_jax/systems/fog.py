"""Death fog (SPEC section 9), an optional system (``env.fog``).

From ``fog_onset`` the fog front moves inward from the border by
``fog_speed`` tiles a tick. A tile's fog strength is how far the front has
passed it: ``speed * (tick - onset) - d`` for a tile at distance ``d`` from the
playable edge (0 on the spawn ring), so the longer a tile has been fogged the
more it hurts. A live player standing in fog loses ``round(strength)`` health
in the per-agent update (SPEC tick step 2, before regeneration; Neural MMO's
rounding, half to even). The tiles within ``fog_safe_radius`` (L-infinity) of
the centre never fog. NPCs are the world's fauna and are not hurt by it.

The fog needs no state: its strength is a function of the tick and the
position. At step 2 of a tick ``state.tick`` still counts the ticks completed,
i.e. the fog as it stood after the previous tick's step 5; the observation's
fog channel is computed from the same formula after the counter advanced, so it
shows what standing on each tile will cost on the next tick.
"""
import jax.numpy as jnp
import numpy as np

from nmmo_jax.config import EnvParams, StaticConfig
from nmmo_jax.terrain import ring_distance, ring_distance_at


def strength(pos, tick, params: EnvParams, cfg: StaticConfig):
    """Fog strength (f32, >= 0) at map positions [..., 2] after ``tick`` ticks; 0 off the playable square."""
    d = ring_distance_at(pos, cfg)
    s = cfg.playable_size
    on_map = jnp.all((pos >= cfg.border) & (pos < cfg.border + s), axis=-1)
    safe = d >= (s - 1) // 2 - params.fog_safe_radius
    front = params.fog_speed * jnp.maximum(tick - params.fog_onset, 0).astype(jnp.float32)
    return jnp.where(on_map & ~safe, jnp.maximum(front - d, 0.0), 0.0)


def damage(pos, tick, params: EnvParams, cfg: StaticConfig):
    """Health lost per tick standing at ``pos``: round(strength), int32."""
    return jnp.round(strength(pos, tick, params, cfg)).astype(jnp.int32)


def damage_grid(tick, params: EnvParams, cfg: StaticConfig):
    """i32[H, W]: ``damage`` of every map tile, from a static grid of ring distances (for observations)."""
    s, b = cfg.playable_size, cfg.border
    d = np.full((cfg.map_size, cfg.map_size), -1, np.int32)
    d[b:b + s, b:b + s] = ring_distance(s)
    d = jnp.asarray(d)
    front = params.fog_speed * jnp.maximum(tick - params.fog_onset, 0).astype(jnp.float32)
    fogged = (d >= 0) & (d < (s - 1) // 2 - params.fog_safe_radius)
    return jnp.where(fogged, jnp.round(jnp.maximum(front - d, 0.0)), 0.0).astype(jnp.int32)
