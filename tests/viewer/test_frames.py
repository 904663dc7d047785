"""Frames: known tiles and entities come out in the documented colours; GIF export writes the frames."""
from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest

from nmmo_jax import replay as cli
from nmmo_jax import tiles as T
from nmmo_jax.render.record import jitted_reset
from nmmo_jax.render.frames import (COLORMAP, HEALTH_LOST, HEALTH_OK, KIND_COLOURS, OUTLINE, OVERLAY_ALPHA, PALETTE,
                                    TEAM_COLOURS, export_video, render_frame, replay_frame)
from nmmo_jax.state import KIND_AGGRESSIVE

S = 8  # pixels per tile


@pytest.fixture(scope="module")
def lab(world):
    """A hand-made state: every material once on row 10, three players, one NPC, one dead player."""
    _, state = jitted_reset(world.env)(jax.random.PRNGKey(0), world.params_env)
    state = jax.tree.map(np.array, state)
    tiles = np.full(state.tiles.shape, T.GRASS, np.uint8)
    tiles[:8, :] = T.VOID
    for m in range(T.NUM_MATERIALS):
        tiles[10, 10 + m] = m
    e = state.entities
    alive = np.zeros_like(e.alive)
    pos = e.pos.copy()
    team, kind, health = e.team.copy(), e.kind.copy(), e.health.copy()
    for slot, (rc, tm, hp) in {0: ((20, 20), 0, 100), 1: ((22, 22), 1, 50), 2: ((24, 24), 2, 0)}.items():
        pos[slot], team[slot], health[slot], alive[slot] = rc, tm, hp, True
    alive[2] = False                      # a dead player is not drawn
    npc = world.A
    pos[npc], kind[npc], health[npc], alive[npc] = (26, 26), KIND_AGGRESSIVE, 100, True
    pos[3], team[3], health[3], alive[3] = (28, 28), 1, 100, True
    pos[npc + 1], kind[npc + 1], health[npc + 1], alive[npc + 1] = (28, 28), 2, 100, True  # shares a tile
    ent = e.replace(alive=alive, pos=pos, team=team, kind=kind, health=health)
    return state.replace(tiles=tiles, entities=ent)


def cell(img, r, c):
    return img[r * S:(r + 1) * S, c * S:(c + 1) * S]


def test_every_material_has_its_palette_colour(lab):
    img = render_frame(lab, scale=S)
    assert img.shape == (48 * S, 48 * S, 3) and img.dtype == np.uint8
    for m in range(T.NUM_MATERIALS):
        block = cell(img, 10, 10 + m)
        assert np.all(block == PALETTE[m]), f"material {T.NAMES[m]}"
    assert np.all(cell(img, 3, 3) == PALETTE[T.VOID])
    assert len({tuple(c) for c in PALETTE}) == T.NUM_MATERIALS, "two materials share a colour"


def test_entities_are_drawn_by_team_and_kind_with_outline_and_health_bar(lab):
    img = render_frame(lab, scale=S)
    p0, p1, npc = cell(img, 20, 20), cell(img, 22, 22), cell(img, 26, 26)
    assert np.all(p0[3, 3] == TEAM_COLOURS[0]) and np.all(p1[3, 3] == TEAM_COLOURS[1])
    assert np.all(npc[3, 3] == KIND_COLOURS[KIND_AGGRESSIVE])
    for c in (p0, p1, npc):   # 1-pixel dark outline all round
        assert np.all(c[0] == OUTLINE) and np.all(c[-1] == OUTLINE) and np.all(c[:, 0] == OUTLINE)
    bar = S - 2   # the health bar is the bottom row inside the outline
    assert np.all(p0[bar, 1:S - 1] == HEALTH_OK)                       # full health
    assert np.all(p1[bar, 1:4] == HEALTH_OK) and np.all(p1[bar, 4:S - 1] == HEALTH_LOST)  # 50 of 100
    assert np.all(cell(img, 24, 24) == PALETTE[T.GRASS]), "dead player drawn"
    # two entities on one tile: the higher slot (the NPC, a neutral one) is shown
    assert np.all(cell(img, 28, 28)[3, 3] == KIND_COLOURS[2])


def test_health_bar_scales_with_max_health(lab):
    img = render_frame(lab, scale=S, max_health=200)
    p0 = cell(img, 20, 20)   # 100 of 200: half the bar
    assert np.all(p0[S - 2, 1:4] == HEALTH_OK) and np.all(p0[S - 2, 4:S - 1] == HEALTH_LOST)


def test_overlay_tints_cells_with_finite_values_only(lab):
    ov = np.full(lab.tiles.shape, np.nan, np.float32)
    ov[30, 30], ov[30, 31], ov[20, 20] = 0.0, 1.0, 1.0   # low end, high end, on top of an entity
    img = render_frame(lab, scale=S, overlay=ov)
    plain = render_frame(lab, scale=S)
    mix = lambda base, rgb: np.round(base * (1 - OVERLAY_ALPHA) + rgb * OVERLAY_ALPHA).astype(np.uint8)
    assert np.all(cell(img, 30, 30) == mix(PALETTE[T.GRASS].astype(np.float32), COLORMAP[0]))
    assert np.all(cell(img, 30, 31) == mix(PALETTE[T.GRASS].astype(np.float32), COLORMAP[-1]))
    assert np.all(cell(img, 20, 20)[3, 3] == mix(TEAM_COLOURS[0].astype(np.float32), COLORMAP[-1]))
    untouched = np.ones(lab.tiles.shape, bool)
    untouched[30, 30] = untouched[30, 31] = untouched[20, 20] = False
    big = np.repeat(np.repeat(untouched, S, 0), S, 1)
    assert np.array_equal(img[big], plain[big])
    with pytest.raises(ValueError, match="overlay shape"):
        render_frame(lab, overlay=np.zeros((3, 3)))


def test_replay_frame_matches_render_of_the_rebuilt_state(recorded):
    rp = recorded[3]
    for t in (0, 25):
        np.testing.assert_array_equal(replay_frame(rp, t, scale=2), render_frame(rp.state(t), scale=2))


def test_gif_export_holds_the_rendered_frames(recorded, tmp_path):
    import imageio.v3 as iio
    rp = recorded[3]
    out = tmp_path / "run.gif"
    assert export_video(rp, out, scale=2, start=3, stop=8) == 5
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (5, 96, 96)
    for i, t in enumerate(range(3, 8)):
        want = replay_frame(rp, t, scale=2)
        assert np.mean(np.all(frames[i, ..., :3] == want, axis=-1)) > 0.98, f"frame {t}"
    # the CLI route, with an overlay
    gif = tmp_path / "counts.gif"
    cli.main([f"--export={recorded[2]}", f"--gif={gif}", "--overlay=counts", "--scale=1", "--stop=4"])
    assert iio.imread(gif, index=None).shape[:3] == (4, 48, 48)
    with pytest.raises(SystemExit, match="no overlay 'nope'"):
        cli.main([f"--export={recorded[2]}", f"--gif={gif}", "--overlay=nope"])


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is not None, reason="imageio-ffmpeg is installed")
def test_mp4_without_the_video_extra_says_what_to_install(recorded, tmp_path):
    with pytest.raises(ValueError, match="imageio-ffmpeg"):
        export_video(recorded[3], tmp_path / "run.mp4")
