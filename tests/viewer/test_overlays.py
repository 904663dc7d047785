"""Overlays computed in the recorder equal straightforward host computations from the recorded frames."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nmmo_jax import observe as O
from nmmo_jax import tiles as T
from nmmo_jax.render import Recorder, Replay, register_overlay, unregister_overlay
from nmmo_jax.render.overlays import custom_overlays, hallucination_batches, observe_world, patch_geometry
from nmmo_jax.state import NEVER

from .conftest import RECORD_TICKS, cli_world_env, forget_example_overlay


def test_global_values_equal_one_forward_pass_per_tile(world, recorded):
    """Each passable tile's value is that of a single forward pass with one agent alone on it."""
    rp = recorded[3]
    gv = rp.overlay("globalValues", 0)
    s0 = rp.state(0)
    cfg, a = world.cfg, world.A
    restored = T.RESTORES_TO[s0.tiles]

    @jax.jit
    def lone_value(r, c):
        e = jax.tree.map(jnp.asarray, s0.entities)
        alive = jnp.zeros_like(e.alive).at[0].set(True)
        ent = e.replace(alive=alive, pos=e.pos.at[0].set(jnp.stack([r, c])))
        state = jax.tree.map(jnp.asarray, s0).replace(
            tiles=jnp.asarray(restored), regrow_tick=jnp.full(s0.tiles.shape, NEVER, jnp.int32), entities=ent)
        obs = observe_world(state, cfg, world.params_env)   # the world's real observe
        _, value, _ = world.model.apply(world.params, obs, world.model.initial_carry(a), jnp.ones(a, bool))
        return value[0]

    b, p = cfg.border, cfg.playable_size
    checked = 0
    for r in range(gv.shape[0]):
        for c in range(gv.shape[1]):
            inside = b <= r < b + p and b <= c < b + p
            if not (inside and T.PASSABLE[restored[r, c]]):
                assert np.isnan(gv[r, c]), (r, c)
                continue
            want = float(lone_value(r, c))
            assert gv[r, c] == pytest.approx(want, rel=1e-5, abs=1e-5), (r, c)
            checked += 1
    assert checked > 300
    assert np.nanstd(gv) > 0, "a constant map would not show anything"


def test_hallucination_batches_cover_each_tile_once_with_no_agent_in_anothers_window(world):
    cfg = world.cfg
    batches = hallucination_batches(cfg)
    pts = batches.reshape(-1, 2)
    pts = pts[pts[:, 0] >= 0]
    assert len(pts) == cfg.playable_size ** 2 == len({tuple(x) for x in pts.tolist()})
    for batch in batches:
        q = batch[batch[:, 0] >= 0]
        d = np.abs(q[:, None, :] - q[None, :, :]).max(-1)
        np.fill_diagonal(d, 99)
        assert d.min() > cfg.window_radius


def test_counts_and_values_are_accumulated_from_the_frames(world, recorded):
    rp = recorded[3]
    h, w = rp.shape
    a = world.A
    counts = np.zeros((h, w), np.int64)
    values = np.full((h, w), np.nan, np.float32)
    for t in range(RECORD_TICKS + 1):
        alive = rp.frame("state/entities/alive", t)[:a]
        pos = rp.frame("state/entities/pos", t)[:a]
        v = rp.frame("agent/value", t)
        assert np.all(np.isnan(v[~alive])) and np.all(np.isfinite(v[alive]))
        np.add.at(counts, (pos[alive, 0], pos[alive, 1]), 1)
        tiles = {}
        for i in np.flatnonzero(alive):
            tiles.setdefault(tuple(pos[i]), []).append(v[i])
        for (r, c), vs in tiles.items():
            values[r, c] = np.mean(np.asarray(vs, np.float32))
        np.testing.assert_array_equal(rp.frame("overlay/counts", t), counts, err_msg=f"counts {t}")
        np.testing.assert_allclose(rp.frame("overlay/values", t), values, rtol=1e-6, err_msg=f"values {t}")
    assert counts.sum() > RECORD_TICKS
    shown = rp.overlay("counts", RECORD_TICKS)
    assert np.all(np.isnan(shown[counts == 0])) and np.array_equal(shown[counts > 0], counts[counts > 0])


def test_recorded_value_and_attention_are_the_models_on_that_frame(world, recorded):
    rp = recorded[3]
    t = 12

    @jax.jit
    def forward(state):
        obs = observe_world(state, world.cfg, world.params_env)
        # a feed-forward model's carry is its initial carry; reset flags do not matter to it
        return obs, world.model.apply(world.params, obs, world.model.initial_carry(world.A),
                                      jnp.zeros(world.A, bool), mutable=["intermediates"])

    obs, ((_, value, _), inter) = forward(jax.tree.map(jnp.asarray, rp.state(t)))
    alive = rp.frame("state/entities/alive", t)[:world.A]
    np.testing.assert_allclose(rp.frame("agent/value", t)[alive], np.asarray(value)[alive], rtol=1e-5, atol=1e-6)
    att = np.asarray(inter["intermediates"]["entity_pool"]["attention"][0]).mean(axis=-2)
    ent = rp.frame("agent/attention/entities", t).astype(np.float32)
    np.testing.assert_allclose(ent[alive], att[alive], atol=2e-3)
    np.testing.assert_allclose(ent[alive].sum(-1), 1.0, atol=1e-2)
    slots = rp.frame("agent/attention/slots", t)
    ids = np.asarray(obs["entities"][..., O.FEATURE_INDEX["id"]]) - 1
    mask = np.asarray(obs["entity_mask"])
    np.testing.assert_array_equal(slots, np.where(mask, ids, -1))
    tiles = rp.frame("agent/attention/tiles", t).astype(np.float32)
    np.testing.assert_allclose(tiles[alive].sum((-1, -2)), 1.0, atol=1e-2)
    assert np.all(tiles[~alive] == 0)


def test_attention_picture_marks_the_window_and_the_attended_entities(world, recorded):
    rp = recorded[3]
    t = 12
    alive = rp.frame("state/entities/alive", t)
    pos = rp.frame("state/entities/pos", t)
    agent = int(np.flatnonzero(alive[:world.A])[0])
    pic = rp.overlay("attention", t, agent=agent)
    r, c = pos[agent]
    rad = world.cfg.window_radius
    window = pic[r - rad:r + rad + 1, c - rad:c + rad + 1]
    assert np.all(np.isfinite(window)) and np.count_nonzero(np.isfinite(pic)) == window.size
    assert pic[r, c] > 1.0, "the agent attends to its own row: its tile is in the entity band"
    slots = rp.frame("agent/attention/slots", t)[agent]
    weights = rp.frame("agent/attention/entities", t)[agent]
    strongest = slots[np.argmax(np.where(slots >= 0, weights, -1))]
    assert pic[tuple(pos[strongest])] == pytest.approx(2.0, abs=1e-3) or pic[tuple(pos[strongest])] > 1.9
    assert np.nanmax(pic[pic <= 1.0]) == pytest.approx(1.0)
    assert patch_geometry(15, 5) == (3, 0) and patch_geometry(7, 3) == (3, 1)
    dead = int(np.flatnonzero(~alive[:world.A])[0]) if not alive[:world.A].all() else None
    if dead is not None:
        assert np.all(np.isnan(rp.overlay("attention", t, agent=dead)))
    with pytest.raises(ValueError, match="per agent"):
        rp.overlay("attention", t)


def health_here(state, outputs):
    """The README/overlays.py example: players' health where they stand."""
    e = state.entities
    h, w = state.tiles.shape
    a = outputs["obs"]["entity_mask"].shape[0]
    flat = jnp.where(e.alive[:a], e.pos[:a, 0] * w + e.pos[:a, 1], h * w)
    grid = jnp.full(h * w, jnp.nan).at[flat].set(e.health[:a].astype(jnp.float32), mode="drop")
    return grid.reshape(h, w)


def test_custom_overlay_hook_is_recorded_and_listed():
    """The README's example (tests/viewer/example_overlay.py registers it on import), recorded in-process.

    The world, overlay and chunk of the command-line recordings of test_browser and test_replay: one
    program, compiled once for the three (the persistent compilation cache of conftest.py)."""
    import importlib
    module = importlib.import_module("viewer.example_overlay")
    env = cli_world_env()
    a = env.cfg.num_agents
    try:
        rec = Recorder(env, None, chunk=8, overlays=["health"])
        writer, _ = rec.record(jax.random.PRNGKey(11), 10)
        rp = Replay.from_writer(writer, rec.header())
    finally:
        forget_example_overlay()
    assert callable(module.health) and "health" not in custom_overlays()   # forgotten again
    assert {"name": "health", "kind": "map", "description": "players' health where they stand"} in rp.overlays
    for t in (0, 10):
        want = np.full(rp.shape, np.nan, np.float32)
        alive = rp.frame("state/entities/alive", t)[:a]
        pos = rp.frame("state/entities/pos", t)[:a]
        hp = rp.frame("state/entities/health", t)[:a]
        want[pos[alive, 0], pos[alive, 1]] = hp[alive]   # players share tiles rarely; equal health at t=0
        got = rp.overlay("health", t)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        if t == 0:
            np.testing.assert_array_equal(got, want)


def test_custom_overlay_errors_are_clear(world):
    with pytest.raises(ValueError, match="identifier"):
        register_overlay("no spaces", health_here)
    with pytest.raises(ValueError, match="built-in"):
        register_overlay("counts", health_here)
    register_overlay("needs_value", lambda state, out: jnp.zeros(state.tiles.shape) + out["value"].mean())
    register_overlay("bad_shape", lambda state, out: jnp.zeros((3, 3)))
    try:
        with pytest.raises(ValueError, match="needs_value.*record with a policy"):
            Recorder(world.env, None, chunk=2, overlays=["needs_value"]).record(jax.random.PRNGKey(0), 1)
        with pytest.raises(ValueError, match=r"bad_shape.*\(3, 3\)"):
            Recorder(world.env, None, chunk=2, overlays=["bad_shape"]).record(jax.random.PRNGKey(0), 1)
        with pytest.raises(ValueError, match="unknown overlay"):
            Recorder(world.env, None, overlays=["absent"])
    finally:
        unregister_overlay("needs_value")
        unregister_overlay("bad_shape")
