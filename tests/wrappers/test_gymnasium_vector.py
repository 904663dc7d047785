"""GymnasiumVectorEnv: a CleanRL-style random loop, auto-reset of only the worlds that end, dead slots."""
import gymnasium
import numpy as np
import pytest

from nmmo_jax.wrappers import GymnasiumVectorEnv
from .conftest import TINY, kill, legal_actions

N, A, H = 2, TINY["num_agents"], TINY["horizon"]


@pytest.fixture(scope="module")
def envs():
    return GymnasiumVectorEnv("small", num_envs=N, **TINY)


def world_slots(w):
    return np.arange(w * A, (w + 1) * A)


def test_spaces(envs):
    assert envs.num_envs == N * A and envs.num_worlds == N
    assert envs.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    assert isinstance(envs.single_action_space, gymnasium.spaces.Dict)
    assert {h: s.n for h, s in envs.single_action_space.items()} == envs.world.action_heads
    assert envs.action_space["move"].shape == (N * A,)
    assert envs.observation_space["entities"].shape == (N * A, TINY["entity_rows"], envs.world.observation_space()
                                                         ["entities"].shape[-1])


def test_random_loop(envs):
    """CleanRL-style: legal random actions from the masks; shapes, dtypes, spaces, SAME_STEP autoreset."""
    rng = np.random.default_rng(0)
    obs, infos = envs.reset(seed=0)
    assert envs.observation_space.contains(obs) and infos["mask"].all()
    mask, ticks = infos["mask"], envs.ticks.copy()
    ended_once = np.zeros(N * A, bool)  # per slot and episode: terminated/truncated at most once
    resets = 0
    for t in range(2 * H + 10):
        obs, rew, term, trunc, infos = envs.step(legal_actions(rng, obs["action_mask"]))
        assert envs.observation_space.contains(obs)
        assert rew.shape == term.shape == trunc.shape == infos["mask"].shape == (N * A,)
        assert rew.dtype == np.float32 and term.dtype == trunc.dtype == infos["mask"].dtype == np.bool_
        # Masked slots (dead in the obs they acted on) get nothing.
        assert not (term | trunc)[~mask].any() and (rew[~mask] == 0).all()
        ended = term | trunc
        assert not (ended & ended_once).any() and not (term & trunc).any()
        ended_once |= ended
        done = infos["world"]["done"]
        assert np.array_equal(envs.ticks, np.where(done, 0, ticks + 1))  # only the ended worlds reset
        if ended.any():
            assert np.array_equal(infos["_final_obs"], ended) and np.array_equal(infos["_final_info"], ended)
            for j in range(N * A):
                if ended[j]:
                    assert envs.single_observation_space.contains(infos["final_obs"][j])
                else:
                    assert infos["final_obs"][j] is None
            np.testing.assert_array_equal(infos["final_info"]["mask"], trunc)
        else:
            assert "final_obs" not in infos
        for w in np.flatnonzero(done):
            s = world_slots(w)
            assert infos["mask"][s].all()  # a fresh episode
            assert ended[s][mask[s]].all()  # every slot live at the end ended now
            ended_once[s] = False
            resets += 1
        mask, ticks = infos["mask"], envs.ticks.copy()
    assert resets >= N


def peaceful(envs):
    """The same worlds (same compile: params are traced) where nobody starves and no NPC spawns."""
    p = envs.params
    zero = lambda x: np.zeros_like(np.asarray(x))
    params = p.replace(food_decay=zero(p.food_decay), water_decay=zero(p.water_decay), max_npcs=zero(p.max_npcs))
    return GymnasiumVectorEnv(envs.world, num_envs=N, params=params)


def test_only_the_world_that_ends_resets(envs):
    envs = peaceful(envs)
    envs.reset(seed=1)
    envs.state = kill(envs.state, world=0, slots=np.arange(A))  # everyone in world 0 dies next tick
    obs, rew, term, trunc, infos = envs.step({})
    assert list(infos["world"]["done"]) == [True, False] and list(envs.ticks) == [0, 1]
    w0, w1 = world_slots(0), world_slots(1)
    assert term[w0].all() and (rew[w0] < 0).all() and infos["mask"][w0].all()
    assert not term[w1].any() and infos["mask"][w1].all()  # spawn immunity: nobody dies at tick 1
    assert np.array_equal(infos["_final_obs"], np.isin(np.arange(N * A), w0))
    assert not infos["final_obs"][w0[0]]["entity_mask"].any()  # the final obs of a dead agent
    assert obs["entity_mask"][w0, 0].all()  # ... and the returned one is the new episode's
    # World 1 reaches its horizon alone; world 0 plays on.
    for _ in range(H - 1):
        obs, rew, term, trunc, infos = envs.step({})
    assert list(envs.ticks) == [H - 1, 0] and list(infos["world"]["done"]) == [False, True]
    assert not (term | trunc)[w0].any() and trunc[w1].all()
    assert np.array_equal(infos["_final_obs"], np.isin(np.arange(N * A), w1))


def test_dead_slot_terminates_once_then_is_masked(envs):
    envs.reset(seed=2)
    dead = world_slots(1)[:4]
    envs.state = kill(envs.state, world=1, slots=np.arange(4))
    obs, rew, term, trunc, infos = envs.step({})
    assert term[dead].all() and term.sum() == 4 and not infos["mask"][dead].any()
    assert np.array_equal(infos["_final_obs"], term)
    for _ in range(5):
        obs, rew, term, trunc, infos = envs.step({"move": np.full(N * A, 1)})
        assert not term[dead].any() and not trunc[dead].any() and (rew[dead] == 0).all()
        assert not infos["mask"][dead].any() and envs.single_observation_space.contains(
            {k: (v[dead[0]] if k != "action_mask" else {h: m[dead[0]] for h, m in v.items()})
             for k, v in obs.items()})
        assert (obs["action_mask"]["move"][dead, 1:] == 0).all()


def test_seeding_and_actions(envs):
    a, _ = envs.reset(seed=7)
    acts = {"move": np.arange(N * A) % 5, "attack_style": np.full(N * A, 9), "attack_target": -np.ones(N * A, int)}
    out_a = envs.step(acts)
    b, _ = envs.reset(seed=7)
    out_b = envs.step(acts)
    np.testing.assert_array_equal(a["tiles"], b["tiles"])
    np.testing.assert_array_equal(out_a[0]["entities"], out_b[0]["entities"])
    np.testing.assert_array_equal(out_a[1], out_b[1])
    with pytest.raises(KeyError, match="unknown action heads"):
        envs.step({"jump": np.zeros(N * A, int)})
    with pytest.raises(ValueError, match="shape"):
        envs.step({"move": np.zeros(A, int)})


def test_render_and_close():
    envs = GymnasiumVectorEnv("small", num_envs=N, **TINY)
    envs.reset(seed=0)
    frame = envs.render()
    assert frame.dtype == np.uint8 and frame.shape == (TINY["map_size"] * 8, TINY["map_size"] * 8, 3)
    envs.close()
    assert envs.closed and envs.state is None
