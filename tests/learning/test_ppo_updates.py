"""PPO updates on the tiny run: compiled once, finite, the rollout batch is consistent, learning lowers the loss."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from .conftest import HISTORY_UPDATES, Run, assert_trees_equal, snapshot, tiny_config

LEARN_CALLS = 8


def test_update_chunk_compiles_once_and_updates(rec):
    runners, metrics = rec.history  # init, then HISTORY_UPDATES calls of update_chunk(runner, 1)
    assert rec.chunk_compiles() == 1, "update_chunk was compiled more than once for one shape"
    t = rec.config.train
    slots_ticks = t.num_envs * rec.config.env.num_agents * t.rollout_len
    for i, m in enumerate(metrics, start=1):
        assert int(runners[i].update) == i
        for k, v in m.items():
            assert v.shape == (1,) and np.all(np.isfinite(v)), f"update {i}: {k}={v}"
        assert 0 < int(m["agent_steps"][0]) <= slots_ticks
        assert m["entropy"][0] > 0 and m["v_loss"][0] >= 0
        # every update changes every parameter tensor (Adam moves all of them) and the optimiser state
        for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(runners[i - 1].params),
                                jax.tree.leaves(runners[i].params)):
            assert not np.array_equal(a, b), f"update {i}: {jax.tree_util.keystr(path)} did not change"
        assert not np.array_equal(runners[i - 1].key, runners[i].key)
        tick = runners[i].env_state.tick  # each world advanced rollout_len ticks (or restarted, then advanced)
        assert np.all((tick > 0) & (tick <= i * t.rollout_len) & (tick % t.rollout_len == 0)), tick
    # deaths happen in this run by design (food and water 40): episodes end, mean lifetime is measured
    assert sum(float(m["episodes"][0]) for m in metrics) > 0
    life = [float(m["mean_lifetime"][0]) for m in metrics if m["episodes"][0] > 0]
    assert all(0 < x <= HISTORY_UPDATES * t.rollout_len for x in life)


def test_the_run_is_deterministic(rec):
    """The same key gives the same first update, bit for bit (no hidden state, no nondeterminism)."""
    runners, metrics = rec.history
    runner = rec.init(jax.random.PRNGKey(rec.config.train.seed))
    again = snapshot(runner)
    runner, m = rec.update(runner)
    assert_trees_equal(again, runners[0], "init")
    assert_trees_equal(snapshot(runner), runners[1], "runner after update 1")
    assert_trees_equal(snapshot(m), metrics[0], "metrics of update 1")
    assert rec.chunk_compiles() == 1


def test_rollout_batch_is_consistent(rec):
    """Masks and boundaries of one real rollout: what the loss relies on."""
    runner, batch, carry0, stats = rec.fixed_batch
    t = rec.config.train
    T, slots = t.rollout_len, rec.trainer.slots
    valid, reset = np.asarray(batch.valid), np.asarray(batch.reset)
    assert valid.shape == reset.shape == batch.advantage.shape == batch.logp.shape == (T, slots)
    obs = jax.tree.map(np.asarray, batch.obs)
    # valid = the agent has its own row (alive); this batch has deaths in it
    np.testing.assert_array_equal(valid, obs["entity_mask"][:, :, 0])
    assert 0 < valid.sum() < valid.size
    # the recurrent state restarts after every invalid step
    assert np.all(reset[1:][~valid[:-1]])
    # actions are legal; their log-probs are those of legal actions
    for h, a in batch.action.items():
        m = obs["action_mask"][h]
        assert np.all(np.take_along_axis(m, np.asarray(a)[..., None], -1)), h
    assert np.all(np.isfinite(np.asarray(batch.logp))) and np.all(np.asarray(batch.logp) <= 0)
    for x in (batch.value, batch.advantage, batch.target):
        assert np.all(np.isfinite(np.asarray(x)))
    np.testing.assert_allclose(np.asarray(batch.target), np.asarray(batch.advantage) + np.asarray(batch.value),
                               rtol=1e-5, atol=1e-6)
    assert int(stats["valid"]) == valid.sum()
    assert jax.tree.map(np.shape, carry0) == jax.tree.map(np.shape, runner.carry)


@pytest.mark.parametrize("which", ["rec", "ff"])
def test_learning_on_a_fixed_batch_lowers_the_loss(which, request):
    """Repeated PPO learning phases on one rollout batch, one compile: value and policy losses fall."""
    run: Run = request.getfixturevalue(which)
    runner, batch, carry0, _ = run.fixed_batch
    params0 = snapshot(runner.params)
    losses = []
    for i in range(LEARN_CALLS):
        runner, l = run.learn(runner, batch, carry0, jax.random.PRNGKey(i))
        losses.append({k: float(v) for k, v in snapshot(l).items()})
    assert run.learn_traces == 1, f"the learning phase was traced {run.learn_traces} times"
    loss = np.array([x["loss"] for x in losses])
    v_loss = np.array([x["v_loss"] for x in losses])
    pg = np.array([x["pg_loss"] for x in losses])
    assert np.all(np.isfinite(loss))
    assert loss[-1] < loss[0] - 0.01, loss
    assert v_loss[-1] < 0.9 * v_loss[0], v_loss   # the row-MLP model: about -13% in 8 learning phases
    assert pg[-1] < pg[0] - 0.005, pg
    # near its floor the loss wobbles by minibatch noise (rises of ~2e-4 on 0.15); more than 1% is a real rise
    assert np.sum(np.diff(loss) > 0.01 * loss[0]) <= 1, f"the loss went up more than once: {loss}"
    assert losses[-1]["approx_kl"] > losses[0]["approx_kl"]
    assert not np.array_equal(jax.tree.leaves(params0)[0], np.asarray(jax.tree.leaves(runner.params)[0]))


@pytest.mark.slow
def test_feedforward_update_chunk_compiles_once(ff):
    runner = ff.init(jax.random.PRNGKey(0))
    for i in range(3):
        runner, m = ff.update(runner)
        assert all(np.all(np.isfinite(np.asarray(v))) for v in m.values())
    assert int(runner.update) == 3
    assert ff.chunk_compiles() == 1


@pytest.mark.slow
def test_several_updates_in_one_chunk_equal_single_updates(rec):
    """update_chunk(runner, 3) = three update_chunk(runner, 1) calls (a second compile: slow)."""
    runners, metrics = rec.history
    runner, m = rec.trainer.update_chunk(jax.device_put(runners[0]), HISTORY_UPDATES)
    assert_trees_equal(snapshot(runner), runners[-1], "runner after 3 updates")
    for k in m:
        np.testing.assert_array_equal(np.asarray(m[k]), np.concatenate([x[k] for x in metrics]), err_msg=k)


@pytest.fixture(scope="module")
def ending_worlds():
    """Three rollouts of worlds that end at tick 12, in the middle of the second rollout (ticks 8-15),
    without the persistent training worlds: the finished worlds idle, then restart."""
    run = Run(tiny_config(horizon=12, **{"train.persistent_worlds": False}))
    runner = run.trainer.init(jax.random.PRNGKey(4))
    out = []
    for i in range(3):
        runner, batch, carry0, stats = run.rollout(runner, jax.random.PRNGKey(10 + i))
        out.append((snapshot(runner), snapshot(batch), snapshot(stats)))
    return run, out


def test_finished_worlds_idle_masked_then_restart(ending_worlds):
    run, ((r1, b1, s1), (r2, b2, s2), (r3, b3, s3)) = ending_worlds
    n = run.trainer.slots
    assert b1.reset[0].all() and b1.valid[0].all(), "the first tick of a run starts every episode"
    assert not r1.env_done.any() and np.all(r1.env_state.tick == 8)
    # second rollout: ticks 8..11 are played, the world is over from tick 12 on
    assert r2.env_done.all()
    assert not b2.valid[4:].any(), "steps of a finished world must be invalid"
    assert b2.valid[:4].any()
    # every agent's one episode ended by tick 12 (death or horizon), each counted once
    assert int(s1["ended"]) + int(s2["ended"]) == n
    assert 0 < (int(s1["lifetime_sum"]) + int(s2["lifetime_sum"])) / n <= 12
    # third rollout: the worlds were reset at its start, every slot starts a new episode
    assert b3.reset[0].all() and b3.valid[0].all()
    assert np.all(r3.env_state.tick == 8) and not r3.env_done.any()
    assert not np.array_equal(r3.env_state.tiles, r2.env_state.tiles), "a restarted world gets a new map"
