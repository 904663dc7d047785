"""Procedural maps in JAX (SPEC section 2): one map per environment from its key.

Everything here is jittable and vmappable: gradient (Perlin) noise from a grid
of random unit gradients, several octaves, thresholds into materials, the
spawn ring and the ring inside it, then resources placed with static counts.

Placement draws ``oversample * count`` random interior positions, keeps the
ones whose tile qualifies (grass, or water next to grass for fish) and writes
the first ``count`` of them. Shapes stay static and no sort runs over the map;
on a map with too few qualifying tiles, fewer resources are placed (and two
draws that hit the same tile place one).
"""
import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import tiles as T
from nmmo_jax.config import StaticConfig

_OVERSAMPLE = 4


def _fade(t):
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin(key, size: int, period: float):
    """Gradient noise on a size x size grid, lattice spacing ``period`` tiles, about in [-0.7, 0.7]."""
    cells = int(np.ceil(size / period)) + 2
    angles = jax.random.uniform(key, (cells, cells), maxval=2 * np.pi)
    grad = jnp.stack([jnp.cos(angles), jnp.sin(angles)], -1)
    coords = (jnp.arange(size, dtype=jnp.float32) + 0.5) / period
    i0 = jnp.floor(coords).astype(jnp.int32)
    f = coords - i0
    fy, fx = f[:, None], f[None, :]
    y0, x0 = i0[:, None], i0[None, :]

    def corner(dy, dx):
        g = grad[y0 + dy, x0 + dx]
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    u, v = _fade(fx), _fade(fy)
    top = corner(0, 0) + u * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + u * (corner(1, 1) - corner(1, 0))
    return top + v * (bottom - top)


def fractal_noise(key, size: int, period: float, octaves: int):
    """Octaves of Perlin noise, each half the period and half the amplitude, normalised to [0, 1]."""
    keys = jax.random.split(key, octaves)
    total = sum((0.5 ** o) * perlin(keys[o], size, period / (2 ** o)) for o in range(octaves))
    lo, hi = total.min(), total.max()
    return (total - lo) / jnp.maximum(hi - lo, 1e-6)


def ring_distance(size: int) -> np.ndarray:
    """Distance of each playable tile from the playable square's edge (0 on the spawn ring)."""
    idx = np.arange(size)
    d = np.minimum(idx, size - 1 - idx)
    return np.minimum(d[:, None], d[None, :])


def ring_distance_at(pos, cfg: StaticConfig):
    """JAX: L-infinity distance of map positions [..., 2] from the playable edge (0 on the spawn ring)."""
    rel = pos - cfg.border
    far = cfg.playable_size - 1 - rel
    return jnp.minimum(jnp.minimum(rel[..., 0], far[..., 0]), jnp.minimum(rel[..., 1], far[..., 1]))


def spawn_ring(cfg: StaticConfig) -> np.ndarray:
    """Map coordinates (row, col) of the spawn ring, i32[4*(S-1), 2], walking clockwise."""
    s, b = cfg.playable_size, cfg.border
    top = [(0, c) for c in range(s - 1)]
    right = [(r, s - 1) for r in range(s - 1)]
    bottom = [(s - 1, c) for c in range(s - 1, 0, -1)]
    left = [(r, 0) for r in range(s - 1, 0, -1)]
    return np.array(top + right + bottom + left, np.int32) + b


def _place(key, mat, candidates, count: int, value, shape_offsets=((0, 0),)):
    """Write ``value`` at up to ``count`` random candidate tiles (plus ``shape_offsets`` around each)."""
    size = mat.shape[0]
    draws = jax.random.randint(key, (_OVERSAMPLE * count, 2), 0, size)
    ok = candidates[draws[:, 0], draws[:, 1]]
    rank = jnp.cumsum(ok) - 1
    keep = ok & (rank < count)
    for dr, dc in shape_offsets:
        r = jnp.clip(draws[:, 0] + dr, 0, size - 1)
        c = jnp.clip(draws[:, 1] + dc, 0, size - 1)
        arm_ok = keep & candidates[r, c]
        r = jnp.where(arm_ok, r, size)  # out of bounds: dropped
        mat = mat.at[r, c].set(value, mode="drop")
    return mat


def generate_map(key, cfg: StaticConfig):
    """u8[map_size, map_size] materials: border, terrain, spawn ring, resources."""
    s = cfg.playable_size
    k_noise, k_ore, k_tree, k_crystal, k_herb, k_fish, k_water, k_foliage = jax.random.split(key, 8)
    v = fractal_noise(k_noise, s, cfg.noise_scale, cfg.noise_octaves)
    mat = jnp.where(v <= 0.30, T.WATER,
                    jnp.where(v <= 0.70, T.GRASS, jnp.where(v <= 0.85, T.FOLIAGE, T.STONE))).astype(jnp.uint8)
    d = jnp.asarray(ring_distance(s))
    mat = jnp.where(d == 0, jnp.uint8(T.GRASS), mat)
    mat = jnp.where((d == 1) & ((mat == T.STONE) | (mat == T.WATER)), jnp.uint8(T.FOLIAGE), mat)

    interior = d >= 2  # resources stay off the spawn ring and the ring inside it
    plus = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
    for k, material, n in ((k_ore, T.ORE, cfg.ore_clusters), (k_tree, T.TREE, cfg.tree_clusters),
                           (k_crystal, T.CRYSTAL, cfg.crystal_clusters)):
        mat = _place(k, mat, interior & (mat == T.GRASS), n, jnp.uint8(material), plus)
    mat = _place(k_herb, mat, interior & (mat == T.GRASS), cfg.herb_tiles, jnp.uint8(T.HERB))
    grass = mat == T.GRASS
    grass_pad = jnp.pad(grass, 1)
    next_to_grass = grass_pad[:-2, 1:-1] | grass_pad[2:, 1:-1] | grass_pad[1:-1, :-2] | grass_pad[1:-1, 2:]
    mat = _place(k_fish, mat, interior & (mat == T.WATER) & next_to_grass, cfg.fish_tiles, jnp.uint8(T.FISH))
    mat = _place(k_water, mat, interior & (mat == T.GRASS), cfg.extra_water, jnp.uint8(T.WATER))
    mat = _place(k_foliage, mat, interior & (mat == T.GRASS), cfg.extra_foliage, jnp.uint8(T.FOLIAGE))

    edge = T.LAVA if cfg.lava_border else T.VOID
    return jnp.pad(mat, cfg.border, constant_values=edge)
