"""RGB frames of the world: ``render_frame(state) -> uint8[H*scale, W*scale, 3]``, and GIF/MP4 export.

Every tile becomes a ``scale`` x ``scale`` block in its material's colour
(``PALETTE``). A tile with live entities shows the one in the highest slot
(NPC slots come after players, so NPCs draw over players; a rule, so the
picture does not depend on scatter order): a body in its colour inside a dark
outline, players coloured by team (``TEAM_COLOURS``), NPCs by kind
(``KIND_COLOURS``), and a health bar along the bottom row of the cell, green
for the health left and red for the rest. An optional overlay (f32[H, W], NaN
where there is nothing) tints whole cells, sprites included, with ``COLORMAP``
normalised to its finite range; the web viewer uses the same colours.

The drawing is a jitted JAX function of plain arrays (no Python loop over
entities), so a notebook can render a state directly and a whole replay
exports quickly. ``render_frame`` accepts a ``WorldState`` (numpy or JAX).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import tiles as T
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_PASSIVE, KIND_PLAYER

PALETTE = np.zeros((T.NUM_MATERIALS, 3), np.uint8)
for _m, _rgb in {
    T.VOID: (14, 14, 22), T.LAVA: (207, 70, 16), T.WATER: (52, 116, 204), T.GRASS: (104, 164, 72),
    T.SCRUB: (150, 156, 92), T.FOLIAGE: (44, 118, 48), T.STONE: (128, 128, 128), T.ORE: (176, 132, 96),
    T.SLAG: (112, 98, 90), T.TREE: (22, 78, 36), T.STUMP: (122, 92, 54), T.CRYSTAL: (160, 226, 242),
    T.FRAGMENT: (112, 142, 152), T.HERB: (204, 84, 184), T.WEEDS: (152, 134, 112), T.FISH: (30, 72, 164),
    T.OCEAN: (40, 96, 176),
}.items():
    PALETTE[_m] = _rgb

TEAM_COLOURS = np.array([(255, 235, 59), (0, 229, 255), (255, 64, 129), (124, 77, 255), (118, 255, 3),
                         (255, 255, 255), (255, 167, 38), (29, 233, 182)], np.uint8)
KIND_COLOURS = np.zeros((4, 3), np.uint8)
KIND_COLOURS[KIND_PLAYER] = TEAM_COLOURS[0]
KIND_COLOURS[KIND_PASSIVE] = (236, 236, 236)
KIND_COLOURS[KIND_NEUTRAL] = (255, 140, 0)
KIND_COLOURS[KIND_AGGRESSIVE] = (214, 24, 24)
OUTLINE = np.array((10, 10, 10), np.uint8)
HEALTH_OK = np.array((40, 210, 40), np.uint8)
HEALTH_LOST = np.array((200, 30, 30), np.uint8)
# Overlay colour ramp (low -> high), linearly interpolated; same anchors in viewer/static/viewer.js.
COLORMAP = np.array([(12, 7, 134), (106, 0, 168), (177, 42, 144), (225, 100, 98), (252, 166, 54),
                     (240, 249, 33)], np.float32)
OVERLAY_ALPHA = 0.65


def entity_colours(kind, team):
    """uint8[N, 3]: team colour for players, kind colour for NPCs."""
    kind = jnp.asarray(kind)
    team_c = jnp.asarray(TEAM_COLOURS)[jnp.asarray(team) % len(TEAM_COLOURS)]
    kind_c = jnp.asarray(KIND_COLOURS)[jnp.clip(kind, 0, len(KIND_COLOURS) - 1)]
    return jnp.where((kind == KIND_PLAYER)[:, None], team_c, kind_c)


def colorize(values):
    """f32[H, W] -> (f32[H, W, 3] colours, bool[H, W] where finite), normalised to the finite range."""
    values = jnp.asarray(values, jnp.float32)
    finite = jnp.isfinite(values)
    lo = jnp.min(jnp.where(finite, values, jnp.inf))
    hi = jnp.max(jnp.where(finite, values, -jnp.inf))
    x = jnp.where(finite, (values - lo) / jnp.where(hi > lo, hi - lo, 1.0), 0.0)
    x = jnp.where(hi > lo, x, 1.0)  # a constant overlay shows at the top colour
    pos = x * (len(COLORMAP) - 1)
    i = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, len(COLORMAP) - 2)
    f = (pos - i)[..., None]
    cmap = jnp.asarray(COLORMAP)
    return cmap[i] * (1 - f) + cmap[i + 1] * f, finite


@partial(jax.jit, static_argnames=("scale",))
def render_arrays(tiles, pos, alive, kind, team, health, max_health, overlay, scale: int):
    """The renderer on plain arrays; ``overlay`` f32[H, W] (all-NaN: none). See the module doc."""
    h, w = tiles.shape
    n = alive.shape[0]
    base = jnp.asarray(PALETTE)[tiles]                                         # [H, W, 3]

    # The entity shown on each tile: the highest live slot (scatter-max: order-independent).
    flat = jnp.where(alive, pos[:, 0] * w + pos[:, 1], h * w)
    top = jnp.full(h * w, -1, jnp.int32).at[flat].max(jnp.arange(n, dtype=jnp.int32), mode="drop")
    has = top >= 0
    slot = jnp.maximum(top, 0)
    colour = entity_colours(kind, team)[slot].reshape(h, w, 3)
    frac = jnp.clip(jnp.asarray(health, jnp.float32)[slot] / jnp.maximum(max_health, 1), 0.0, 1.0)
    has, frac = has.reshape(h, w), frac.reshape(h, w)

    s = scale
    r = jnp.arange(s)[:, None]
    c = jnp.arange(s)[None, :]
    margin = 1 if s >= 4 else 0
    body = (r >= margin) & (r < s - margin) & (c >= margin) & (c < s - margin)   # [s, s]
    bar = (r == s - 1 - margin) if s >= 4 else jnp.zeros((s, s), bool)
    green = (c.astype(jnp.float32) + 0.5) <= frac[..., None, None] * s           # [H, W, 1, s]

    cell = jnp.broadcast_to(base[:, :, None, None, :], (h, w, s, s, 3))
    ent = has[..., None, None]
    sprite = jnp.where(body[..., None], colour[:, :, None, None, :], jnp.asarray(OUTLINE))
    sprite = jnp.where((bar & body)[..., None] & green[..., None], jnp.asarray(HEALTH_OK), sprite)
    sprite = jnp.where((bar & body)[..., None] & ~green[..., None], jnp.asarray(HEALTH_LOST), sprite)
    cell = jnp.where(ent[..., None], sprite, cell).astype(jnp.float32)
    # The overlay tints whole cells, sprites included: attention on an entity must show.
    ov_rgb, ov_ok = colorize(overlay)
    tinted = cell * (1 - OVERLAY_ALPHA) + ov_rgb[:, :, None, None, :] * OVERLAY_ALPHA
    cell = jnp.round(jnp.where(ov_ok[:, :, None, None, None], tinted, cell)).astype(jnp.uint8)
    return cell.transpose(0, 2, 1, 3, 4).reshape(h * s, w * s, 3)


def render_frame(state, scale: int = 8, max_health: int = 100, overlay=None) -> np.ndarray:
    """uint8[H*scale, W*scale, 3] picture of a ``WorldState`` (see the module doc).

    ``overlay``: optional f32[H, W] blended over the tiles (NaN: leave the tile alone).
    """
    if scale < 1:
        raise ValueError(f"scale={scale}: must be a positive integer")
    e = state.entities
    tiles = jnp.asarray(state.tiles)
    ov = jnp.full(tiles.shape, jnp.nan, jnp.float32) if overlay is None else jnp.asarray(overlay, jnp.float32)
    if ov.shape != tiles.shape:
        raise ValueError(f"overlay shape {ov.shape} differs from the map's {tiles.shape}")
    img = render_arrays(tiles, jnp.asarray(e.pos), jnp.asarray(e.alive), jnp.asarray(e.kind),
                        jnp.asarray(e.team), jnp.asarray(e.health), jnp.asarray(max_health, jnp.float32), ov,
                        scale=int(scale))
    return np.asarray(img)


def replay_frame(replay, t: int, scale: int = 8, overlay: str | None = None, agent: int | None = None) -> np.ndarray:
    """Frame t of a ``Replay`` as RGB, from its recorded leaves (works on any recorded world fields)."""
    f = replay.fields(t, "state/")
    ov = None if overlay is None else replay.overlay(overlay, t, agent=agent)
    tiles = f["tiles"]
    ov = jnp.full(tiles.shape, jnp.nan, jnp.float32) if ov is None else jnp.asarray(ov)
    img = render_arrays(jnp.asarray(tiles), jnp.asarray(f["entities/pos"]), jnp.asarray(f["entities/alive"]),
                        jnp.asarray(f["entities/kind"]), jnp.asarray(f["entities/team"]),
                        jnp.asarray(f["entities/health"]),
                        jnp.asarray(replay.header.get("max_health", 100), jnp.float32), ov, scale=int(scale))
    return np.asarray(img)


def export_video(replay, path, overlay: str | None = None, agent: int | None = None, scale: int = 4,
                 fps: int = 10, start: int = 0, stop: int | None = None) -> int:
    """Write frames ``start``..``stop-1`` of a replay as a GIF (``.gif``) or MP4 (``.mp4``); returns the count.

    GIF needs only ``imageio`` (a dependency); MP4 needs the ``video`` extra
    (``pip install 'nmmo-jax[video]'``, i.e. ``imageio-ffmpeg``).
    """
    import imageio.v3 as iio
    path = Path(path)
    stop = replay.num_frames if stop is None else stop
    if not 0 <= start < stop <= replay.num_frames:
        raise ValueError(f"frames {start}..{stop} outside the replay's 0..{replay.num_frames}")
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{path}: export writes .gif or .mp4")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError("MP4 export needs imageio-ffmpeg: pip install 'nmmo-jax[video]' "
                             "(or export a .gif)") from None
    frames = np.stack([replay_frame(replay, t, scale, overlay, agent) for t in range(start, stop)])
    if suffix == ".gif":
        iio.imwrite(path, frames, extension=".gif", duration=1000.0 / fps, loop=0)
    else:
        # libx264 wants even sides
        h, w = frames.shape[1:3]
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
        iio.imwrite(path, frames, extension=".mp4", fps=fps, codec="libx264")
    return len(frames)
