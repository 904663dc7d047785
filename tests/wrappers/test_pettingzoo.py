"""PettingZooEnv: PettingZoo's own API and seed tests, observations in their spaces, agents leaving."""
import importlib
import sys

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from nmmo_jax.wrappers import PettingZooEnv
from .conftest import TINY, TINY_FOG_TEAMS, kill, legal_actions


@pytest.fixture(scope="module")
def env():
    return PettingZooEnv("small", **TINY)


@pytest.fixture(scope="module")
def fog_env():
    return PettingZooEnv("small", **TINY_FOG_TEAMS)


def test_parallel_api(env):
    parallel_api_test(env, num_cycles=100)  # > horizon: the episode ends inside the test


def test_parallel_api_fog_teams(fog_env):
    parallel_api_test(fog_env, num_cycles=100)


def test_parallel_seed():
    parallel_seed_test(lambda: PettingZooEnv("small", **TINY), num_cycles=100)


def test_seeding(env):
    a, _ = env.reset(seed=3)
    b, _ = env.reset(seed=3)
    c, _ = env.reset(seed=4)
    for agent in env.possible_agents:
        for k in ("tiles", "entities", "entity_mask"):
            np.testing.assert_array_equal(a[agent][k], b[agent][k])
    assert any(not np.array_equal(a[x]["tiles"], c[x]["tiles"]) for x in env.possible_agents)
    d, _ = env.reset()  # seed=None: a fresh seed each time
    e, _ = env.reset()
    assert any(not np.array_equal(d[x]["tiles"], e[x]["tiles"]) for x in env.possible_agents)


def test_observations_in_space_across_episodes(fog_env):
    """16 agents x 400 ticks of random legal play (6 episodes, ~4,000 agent-steps): every obs in its space."""
    env, rng = fog_env, np.random.default_rng(0)
    obs, infos = env.reset(seed=1)
    assert set(obs) == set(env.possible_agents) == set(infos)
    checked = episodes = deaths = 0
    for _ in range(400):
        if not env.agents:
            episodes += 1
            obs, _ = env.reset(seed=1 + episodes)
        live = list(env.agents)
        for a in live:
            space = env.observation_space(a)
            assert space is env.observation_space(a) and env.action_space(a) is env.action_space(a)
            assert space.contains(obs[a]), a
            checked += 1
        actions = {a: {h: int(v) for h, v in legal_actions(rng, obs[a]["action_mask"]).items()} for a in live}
        obs, rew, term, trunc, infos = env.step(actions)
        assert set(obs) == set(rew) == set(term) == set(trunc) == set(infos) == set(live)
        assert all(isinstance(r, float) for r in rew.values())
        ended = {a for a in live if term[a] or trunc[a]}
        deaths += sum(term.values())
        assert set(env.agents) == set(live) - ended
        for a in ended:
            assert env.observation_space(a).contains(obs[a])
        if not env.agents:
            assert bool(env.world_info["done"])
    assert episodes >= 3 and deaths > 0 and checked > 3000


def test_dead_agents_leave(env):
    obs, _ = env.reset(seed=0)
    env.state = kill(env.state, slots=np.array([3, 5]))
    # Out-of-range values, missing heads, None and missing agents are no-ops.
    obs, rew, term, trunc, _ = env.step({"player_0": {"move": 99, "attack_target": -4}, "player_1": None,
                                         "player_2": {"move": np.int64(1)}})
    assert term["player_3"] and term["player_5"] and not any(trunc.values())
    assert sum(term.values()) == 2 and rew["player_3"] < 0
    assert "player_3" not in env.agents and "player_5" not in env.agents and len(env.agents) == 14
    obs, rew, term, trunc, _ = env.step({"player_3": {"move": 1}})  # a dead agent's action is ignored
    assert "player_3" not in obs and set(obs) == set(env.agents) | {a for a in obs if term[a]}
    with pytest.raises(KeyError, match="unknown action head"):
        env.step({"player_0": {"jump": 1}})
    with pytest.raises(KeyError, match="unknown agent"):
        env.step({"player_99": {"move": 1}})


def test_episode_end_truncates_everyone_left(env):
    rng = np.random.default_rng(5)
    obs, _ = env.reset(seed=2)
    ticks = 0
    while env.agents:
        live = list(env.agents)
        obs, rew, term, trunc, _ = env.step({a: legal_actions(rng, obs[a]["action_mask"]) for a in live})
        ticks += 1
    assert ticks <= TINY["horizon"] and bool(env.world_info["done"])
    assert all(term[a] != trunc[a] for a in live)  # each one ends once, one way
    if ticks == TINY["horizon"]:
        assert all(trunc[a] for a in live if not term[a])
    else:  # everyone died first
        assert all(term.values())
    assert env.step({}) == ({}, {}, {}, {}, {})


def test_render(env):
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (TINY["map_size"] * 8, TINY["map_size"] * 8, 3)
    assert env.metadata["render_modes"] == ["rgb_array"]


def test_missing_dependency_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "nmmo_jax.wrappers.pettingzoo")
    with pytest.raises(ImportError, match=r'pip install "nmmo-jax\[adapters\]"'):
        importlib.import_module("nmmo_jax.wrappers.pettingzoo")
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "nmmo_jax.wrappers.gymnasium", raising=False)
    with pytest.raises(ImportError, match=r'pip install "nmmo-jax\[adapters\]"'):
        importlib.import_module("nmmo_jax.wrappers.gymnasium")


def test_to_gymnasium(env):
    import gymnasium
    from nmmo_jax import spaces
    from nmmo_jax.wrappers import to_gymnasium
    box = to_gymnasium(spaces.Box((0, -1), (5, 1), (3, 2), "int16"))
    assert isinstance(box, gymnasium.spaces.Box) and box.dtype == np.int16 and box.shape == (3, 2)
    np.testing.assert_array_equal(box.low, [[0, -1]] * 3)
    np.testing.assert_array_equal(box.high, [[5, 1]] * 3)
    flags = to_gymnasium(spaces.Box(0, 1, (4,), "bool"))
    assert flags.contains(np.array([True, False, True, False])) and flags.sample().dtype == np.bool_
    d = to_gymnasium(spaces.Dict({"a": spaces.Discrete(7, rows="x"), "b": spaces.Dict({"c": spaces.Discrete(2)})}))
    assert d["a"] == gymnasium.spaces.Discrete(7) and d["b"]["c"].n == 2
    # The world's own observation (bool masks) lies in to_gymnasium of the world's space.
    obs, _ = env.reset(seed=0)
    world = to_gymnasium(env.world.observation_space())
    for a in env.possible_agents[:4]:
        raw = dict(obs[a], action_mask={h: m.astype(bool) for h, m in obs[a]["action_mask"].items()})
        assert world.contains(raw)
