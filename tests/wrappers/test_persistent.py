"""Persistent worlds through the adapters (slow: one more config to compile)."""
import numpy as np
import pytest

from .conftest import kill, legal_actions

CLASSIC = dict(map_size=40, border=10, num_agents=16, num_npcs=4, entity_rows=8, horizon=32)
pytestmark = pytest.mark.slow


def test_pettingzoo_persistent_episode_is_the_first_horizon():
    from nmmo_jax.wrappers import PettingZooEnv
    env = PettingZooEnv("classic", **CLASSIC)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    env.state = kill(env.state, slots=np.array([0]))
    gone, ticks = set(), 0
    while env.agents:
        obs, rew, term, trunc, _ = env.step({a: legal_actions(rng, obs[a]["action_mask"]) for a in env.agents})
        gone |= {a for a in term if term[a]}
        assert not gone & set(env.agents)  # a respawned slot is not played again
        ticks += 1
    assert "player_0" in gone and ticks == CLASSIC["horizon"]


def test_gymnasium_persistent_slots_come_back():
    from nmmo_jax.wrappers import GymnasiumVectorEnv
    envs = GymnasiumVectorEnv("classic", num_envs=2, **CLASSIC)
    obs, _ = envs.reset(seed=0)
    envs.state = kill(envs.state, world=1, slots=np.array([2]))
    slot = 16 + 2
    obs, rew, term, trunc, infos = envs.step({})
    assert term[slot] and not infos["mask"][slot]
    delay = int(np.asarray(envs.params.respawn_delay))
    seen_back = False
    for t in range(2 * CLASSIC["horizon"]):
        obs, rew, term, trunc, infos = envs.step({})
        assert not infos["world"]["done"].any()
        seen_back |= bool(infos["mask"][slot])
        if envs.ticks[0] % CLASSIC["horizon"] == 0:
            assert np.array_equal(trunc, infos["mask"] & trunc) and trunc.any()
            assert np.array_equal(infos["_final_obs"], term | trunc)
    assert seen_back and delay < 2 * CLASSIC["horizon"]
