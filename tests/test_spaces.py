"""Spaces describe exactly what reset/step return and accept; make() and presets from anywhere."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from nmmo_jax import spaces
from nmmo_jax import tiles as T
from nmmo_jax.observe import ENTITY_FEATURES, FEATURE_INDEX
from nmmo_jax.spaces import explain_mismatch

from conftest import key, to_np


# ------------------------------------------------------------------ the space types
def test_box_checks_shape_dtype_and_per_entry_bounds():
    box = spaces.Box((0, -3), (10, 3), (2, 2), "int16", names=("a", "b"))
    assert box.contains(np.array([[0, -3], [10, 3]], np.int16))
    assert not box.contains(np.array([[0, -4], [10, 3]], np.int16))      # column b below its low
    assert not box.contains(np.array([[11, 0], [0, 0]], np.int16))       # column a above its high
    assert not box.contains(np.zeros((2, 2), np.int32))                  # dtype
    assert not box.contains(np.zeros((2, 3), np.int16))                  # shape
    assert box.index("b") == 1 and box.categories() == (11, 7)
    with pytest.raises(ValueError):
        spaces.Box((0, 1, 2), 5, (2, 2), "int16")                        # 3 bounds for 2 entries
    mask = spaces.Box(0, 1, (3,), "bool")
    assert mask.contains(np.array([True, False, True])) and not mask.contains(np.array([1, 0, 1]))
    d = spaces.Discrete(5, rows="entities")
    assert d.contains(np.int32(4)) and not d.contains(np.int32(5)) and not d.contains(np.int32(-1))
    assert d.batched(3).contains(np.array([0, 1, 4], np.int32)) and d.rows == "entities"
    hash(spaces.Dict({"x": box, "m": mask, "d": d}))                      # static (hashable) description


def test_sample_is_pure_and_lands_in_the_space():
    space = spaces.Dict({"box": spaces.Box((0, -7), (16, 7), (4, 2), "int16"), "mask": spaces.Box(0, 1, (5,), "bool"),
                         "f": spaces.Box(-1.0, 2.0, (3,), "float32"), "d": spaces.Discrete(7).batched(6)})
    sample = jax.jit(space.sample)
    a, b = to_np(sample(key(0))), to_np(sample(key(0)))
    assert space.contains(a) and all(np.array_equal(a[k], b[k]) for k in a)
    draws = to_np(jax.vmap(space.sample)(jax.random.split(key(1), 200)))
    assert all(space.contains({k: v[i] for k, v in draws.items()}) for i in range(200))
    assert draws["box"][..., 0].min() == 0 and draws["box"][..., 0].max() == 16  # both ends reachable
    assert explain_mismatch(space, {**a, "d": a["d"] + 7}).startswith("obs['d']")


# ------------------------------------------------------------------ the world's spaces
def _world_obs_space(world, leading=()):
    space = world.env.observation_space()
    for n in reversed((*leading, world.A)):
        space = space.batched(n)
    return space


@pytest.mark.parametrize("name", ["tiny", "classic"])
def test_every_observation_of_a_long_rollout_is_in_the_space(name, request):
    world = request.getfixturevalue(name)
    traj = request.getfixturevalue(f"{name}_rollout")[1]
    ticks = traj["obs"]["entities"].shape[0]
    space = _world_obs_space(world, (ticks,))
    assert explain_mismatch(space, traj["obs"]) is None
    assert world.env.action_space().batched(world.A).batched(ticks).contains(traj["actions"])
    # the bounds are tight where the world reaches them, so a looser or shifted space would be noticed
    ent, mask = traj["obs"]["entities"], traj["obs"]["entity_mask"]
    box = space["entities"]
    low, high = (np.broadcast_to(b, (len(ENTITY_FEATURES),)) for b in box.bounds())
    rel = ent[..., FEATURE_INDEX["row"]][mask]
    assert rel.min() == low[FEATURE_INDEX["row"]] and rel.max() == high[FEATURE_INDEX["row"]]
    assert ent[..., FEATURE_INDEX["health"]][mask].max() == high[FEATURE_INDEX["health"]]
    tiles = traj["obs"]["tiles"]
    assert tiles.shape[-1] == len(space["tiles"].names)
    assert tiles[..., 0].max() <= T.NUM_MATERIALS - 1 and tiles[..., 1].max() == 2


def test_masks_and_heads_match_the_action_space(tiny, classic):
    for world in (tiny, classic):
        obs_space, act_space = world.env.observation_space(), world.env.action_space()
        assert obs_space["action_mask"].keys() == act_space.keys()
        for head, d in act_space.items():
            assert obs_space["action_mask"][head].shape == (d.n,)
        assert act_space["attack_target"].rows == "entities" and act_space["attack_target"].n == world.K
        assert obs_space["entities"].mask == "entity_mask" and "entity_mask" in obs_space
        assert obs_space["entities"].names == tuple(n for n, _ in ENTITY_FEATURES)
        assert world.env.action_heads == {h: d.n for h, d in act_space.items()}
    assert tiny.env.observation_space()["tiles"].names == ("material", "resource", "entity_count", "fog")
    off = nmmo_jax.make("small", combat=False, items=False, comm_tokens=0)
    assert off.action_space().keys() == ["move"] and off.observation_space()["action_mask"].keys() == ["move"]
    trade_only = nmmo_jax.make("small", combat=False)  # the preset's economy and comm, no combat
    assert "attack_target" not in trade_only.action_space() and {"buy", "give_item", "comm"} <= set(
        trade_only.action_space().keys())


def test_bounds_follow_the_params():
    env = nmmo_jax.make("small", max_health=250, npc_health=120, max_food=70)
    box = env.observation_space()["entities"]
    high = box.bounds()[1]
    assert high[FEATURE_INDEX["health"]] == 250 and high[FEATURE_INDEX["food"]] == 70
    lower = env.default_params.replace(max_health=jnp.asarray(90), npc_health=jnp.asarray(100))
    assert env.observation_space(lower)["entities"].bounds()[1][FEATURE_INDEX["health"]] == 100


# ------------------------------------------------------------------ make and presets from anywhere
def test_make_builds_an_env_from_a_preset_or_a_path(tmp_path):
    env = nmmo_jax.make("small", num_agents=32)
    assert isinstance(env, nmmo_jax.Env) and env.num_agents == 32 and env.config.source.endswith("small.yaml")
    assert nmmo_jax.make(**{"name": "classic", "env.num_agents": 16}).cfg.lava_border
    path = tmp_path / "mine.yaml"
    path.write_text("env:\n  map_size: 48\n  border: 8\n  num_agents: 16\n  num_npcs: 4\n  entity_rows: 8\n")
    assert nmmo_jax.make(str(path)).cfg.map_size == 48
    with pytest.raises(nmmo_jax.ConfigError, match="num_agentz"):
        nmmo_jax.make("small", num_agentz=3)
    with pytest.raises(nmmo_jax.ConfigError, match="not found"):
        nmmo_jax.make("smol")


def test_presets_load_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("small", "configs/small.yaml", "classic", "configs/medium.yaml"):
        cfg = nmmo_jax.load_config(name)
        assert cfg.source.endswith(".yaml")
    assert nmmo_jax.load_config("configs/small.yaml").env.num_agents == 64
    with pytest.raises(nmmo_jax.ConfigError, match="not found"):
        nmmo_jax.load_config("configs/nope.yaml")
