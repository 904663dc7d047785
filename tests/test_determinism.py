"""Determinism, jit == eager, vmap == alone, and one trace of step for the whole session."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_trees_equal, key, to_np


def _trajectory(world, seed, ticks):
    obs, state = world.reset(key(seed), world.params)
    out = [to_np((obs, state))]
    for t in range(ticks):
        act = world.sample(jax.random.fold_in(key(seed), 2 * t), obs)
        obs, state, reward, term, trunc, info = world.step(
            jax.random.fold_in(key(seed), 2 * t + 1), state, act, world.params)
        out.append(to_np((act, obs, state, reward, term, trunc, info)))
    return out


def test_same_key_bit_identical_trajectory(tiny):
    a = _trajectory(tiny, 3, 30)
    b = _trajectory(tiny, 3, 30)
    for t, (x, y) in enumerate(zip(a, b)):
        assert_trees_equal(x, y, f"tick {t}")
    # and the key matters: another seed gives another world
    c = _trajectory(tiny, 4, 1)
    assert not np.array_equal(a[0][1].tiles, c[0][1].tiles)


def test_same_key_bit_identical_classic(classic):
    a = _trajectory(classic, 5, 30)
    b = _trajectory(classic, 5, 30)
    for t, (x, y) in enumerate(zip(a, b)):
        assert_trees_equal(x, y, f"tick {t}")


def test_rollout_scan_is_deterministic(tiny, tiny_rollout):
    again = to_np(tiny.rollout(key(7), tiny.params))
    assert_trees_equal(again, tiny_rollout, "rollout")


def test_scan_rollout_equals_python_loop_of_jitted_step(tiny, tiny_rollout):
    """The scanned rollout and the shared jitted step compute the same ticks."""
    (obs, state), traj = tiny_rollout
    state = jax.tree.map(jnp.asarray, state)
    for t in range(5):
        act = jax.tree.map(lambda x: jnp.asarray(x[t]), traj["actions"])
        k_tick = jax.random.split(jax.random.split(key(7))[1], 200)[t]
        k_step = jax.random.split(k_tick, 3)[1]
        obs, state, reward, term, trunc, info = tiny.step(k_step, state, act, tiny.params)
        step_t = jax.tree.map(lambda x: x[t], {k: traj[k] for k in ("obs", "state", "reward")})
        assert_trees_equal(to_np({"obs": obs, "state": state, "reward": reward}), step_t, f"tick {t}")


def test_jit_equals_eager(tiny):
    """A step without jit gives bit-identical results to the jitted one (slow: op by op, every system on).

    The eager step starts from the jitted reset's state: an eager reset (map generation op by op)
    would add 17 s and checks nothing the step does not (same-key resets are compared elsewhere).
    """
    env, params = tiny.env, tiny.params
    obs, state = tiny.reset(key(11), params)
    act = tiny.sample(key(100), obs)
    jit_out = tiny.step(key(200), state, act, params)
    out = env.step(key(200), state, act, params)
    assert_trees_equal(to_np(out), to_np(jit_out), "step")


@pytest.fixture(scope="module")
def batched(tiny):
    return jax.jit(jax.vmap(tiny.env.step, in_axes=(0, 0, 0, None)))


def test_vmapped_batch_equals_alone(tiny, batched):
    seeds = [21, 22, 23]
    singles = [tiny.reset(key(s), tiny.params) for s in seeds]
    obs = jax.tree.map(lambda *x: jnp.stack(x), *[o for o, _ in singles])
    state = jax.tree.map(lambda *x: jnp.stack(x), *[s for _, s in singles])
    for t in range(6):
        acts = [tiny.sample(key(300 + 10 * t + i), o) for i, (o, _) in enumerate(singles)]
        keys = jnp.stack([key(400 + 10 * t + i) for i in range(3)])
        batch_act = jax.tree.map(lambda *x: jnp.stack(x), *acts)
        b_out = to_np(batched(keys, state, batch_act, tiny.params))
        new_singles = []
        for i in range(3):
            out = tiny.step(keys[i], singles[i][1], acts[i], tiny.params)
            assert_trees_equal(to_np(out), jax.tree.map(lambda x: x[i], b_out), f"tick {t} world {i}")
            new_singles.append((out[0], out[1]))
        singles = new_singles
        state = jax.tree.map(jnp.asarray, b_out[1])


def test_worlds_in_a_batch_are_independent(tiny, batched):
    """Changing one world of the batch changes nothing in the others (a batch of 3, like the test above,
    so the batched step does not compile again)."""
    o1, s1 = tiny.reset(key(31), tiny.params)
    o2, s2 = tiny.reset(key(32), tiny.params)
    o3, s3 = tiny.reset(key(33), tiny.params)
    keys = jnp.stack([key(1), key(2), key(3)])
    act = tiny.sample(key(3), o1)
    acts = jax.tree.map(lambda x: jnp.stack([x, x, x]), act)
    stack = lambda *worlds: jax.tree.map(lambda *x: jnp.stack(x), *worlds)
    out_a = to_np(batched(keys, stack(s1, s2, s3), acts, tiny.params))
    out_b = to_np(batched(keys, stack(s1, s1, s3), acts, tiny.params))
    for w in (0, 2):
        assert_trees_equal(jax.tree.map(lambda x: x[w], out_a), jax.tree.map(lambda x: x[w], out_b), f"world {w}")
    assert not np.array_equal(out_a[1].tiles[1], out_b[1].tiles[1]), "the changed world is another world"


def test_step_traced_once(tiny):
    """Many calls with new keys, states, actions and params values: no retrace (chex raises)."""
    obs, state = tiny.reset(key(41), tiny.params)
    obs, state, *_ = tiny.step(key(599), state, tiny.sample(key(499), obs), tiny.params)
    traces = tiny.step._cache_size()  # other tests may have traced the shared step with other argument kinds
    for t in range(20):
        act = tiny.sample(key(500 + t), obs)
        params = tiny.p(foliage_respawn=0.5 * (t % 2), regen=t % 3)
        obs, state, *_ = tiny.step(key(600 + t), state, act, params)
    act = tiny.moves({0: -7, 1: 2 ** 31 - 1})
    tiny.step(key(9), state, act, tiny.params)
    assert tiny.step._cache_size() == traces


def test_assert_max_traces_is_armed():
    """The guard used on step does fail on a second trace (so test_step_traced_once can fail)."""

    def f(x):
        return x + 1

    g = jax.jit(chex.assert_max_traces(f, n=1))
    g(jnp.zeros(3))
    with pytest.raises(AssertionError, match="traced"):
        g(jnp.zeros(4))
