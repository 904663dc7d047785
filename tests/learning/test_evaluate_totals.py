"""``agents.evaluate.rollout_lifetimes`` against the same episodes stepped one tick at a time.

The evaluation scan is vmapped over episodes and sums lifetimes and combat
metrics inside the graph; here the same random-action episodes (same keys,
same splits) are stepped by hand in Python and the sums taken on the host, so a
wrong key, a dropped tick or a metric summed from the wrong field shows up.
The world is the suite's ``tiny`` world (tests/conftest.py: every system on,
the economy and communication included), so the economy totals and the line
``agents.evaluate`` prints of them are checked the same way, and the hand-stepped
episodes reuse its compiled reset, step and sampler (only the evaluation scan
compiles here).
"""
from __future__ import annotations

import jax
import numpy as np

from agents.evaluate import COMBAT_TOTALS, ECONOMY_TOTALS, economy_line, rollout_lifetimes

EPISODES = 3


def by_hand(world, key, ticks):
    a, params, step, sample = world.A, world.params, world.step, world.sample
    k_reset, k_run = jax.random.split(key)
    obs, state = world.reset(k_reset, params)
    life_sum = ended_count = died = 0
    totals = dict.fromkeys(COMBAT_TOTALS + ECONOMY_TOTALS, 0)
    for tick_key in jax.random.split(k_run, ticks):
        k_act, k_step = jax.random.split(tick_key, 2)
        action = sample(k_act, obs)
        obs, state, _, term, trunc, info = step(k_step, state, action, params)
        ended = np.asarray(term | trunc)
        life_sum += int(np.asarray(state.entities.time_alive[:a])[ended].sum())
        ended_count += int(ended.sum())
        died += int(np.asarray(term).sum())
        for k in COMBAT_TOTALS + ECONOMY_TOTALS:
            totals[k] += float(info[k]) if k == "mean_equipment_level" else int(info[k])
    totals["mean_equipment_level"] /= ticks
    return life_sum, ended_count, died, totals


def test_lifetimes_combat_and_economy_totals_match_a_hand_stepped_rollout(tiny):
    env, params, ticks = tiny.env, tiny.params, tiny.cfg.horizon
    assert tiny.cfg.items and tiny.cfg.comm_tokens > 0 and tiny.cfg.combat
    keys = jax.random.split(jax.random.PRNGKey(7), EPISODES)
    owner = np.zeros(env.num_agents, np.int32)
    sums, counts, totals = rollout_lifetimes(env, params, [None], owner, keys, ticks, greedy=False)
    deaths = 0
    for e in range(EPISODES):
        life_sum, ended_count, died, hand = by_hand(tiny, keys[e], ticks)
        deaths += died
        assert int(sums[e, 0]) == life_sum and int(counts[e, 0]) == ended_count, e
        assert {k: int(totals[k][e]) for k in COMBAT_TOTALS} == {k: hand[k] for k in COMBAT_TOTALS}, e
        for k in ECONOMY_TOTALS:
            np.testing.assert_allclose(float(totals[k][e]), hand[k], rtol=1e-5, err_msg=f"episode {e} {k}")
    # Not a vacuous match: random agents land hits, every slot's life ends by the horizon, and some end
    # before it (deaths, whose lifetimes are summed on the tick they happen).
    assert int(np.sum(totals["attacks"])) > 0
    assert int(np.sum(counts)) >= EPISODES * env.num_agents
    assert deaths > 0
    assert int(np.sum(totals["items_harvested"])) > 0 and int(np.sum(totals["items_equipped"])) > 0
    # The printed line carries the per-episode means of these totals.
    line = economy_line("random", totals)
    mean = lambda k: float(np.mean(np.asarray(totals[k])))
    assert line.startswith("random  per episode:")
    assert f"harvested {mean('items_harvested'):.1f}" in line and f"equipped {mean('items_equipped'):.1f}" in line
    assert f"gifts {mean('gifts'):.1f}" in line
    assert f"mean equipment level {mean('mean_equipment_level'):.2f}" in line
