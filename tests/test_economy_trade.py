"""Random legal agents on the medium preset trade (issue 11's check; slow: ``python -m pytest -m slow``).

A 1,000-tick rollout of one persistent medium world (dead agents respawn, as in the speed check),
the economy on, random legal actions from the masks: listings, sales and gifts all happen, and the
mean equipment level rises from 0. (In a non-persistent world random agents are dead within about
100 ticks, and with 1 gold at spawn they rarely afford a listing.)
"""
from __future__ import annotations

import jax
import numpy as np
import pytest

import nmmo_jax

TICKS = 1000


@pytest.mark.slow
def test_random_agents_on_medium_list_sell_give_and_equip():
    env = nmmo_jax.make("medium", items=True, comm_tokens=16, persistent=True, respawn_delay=1)
    params = env.default_params

    def run(key):
        obs, state = env.reset(key, params)

        def tick(c, k):
            obs, state = c
            k1, k2 = jax.random.split(k)
            obs, state, _, _, _, info = env.step(k2, state, env.sample_actions(k1, obs), params)
            keep = ("listings", "sales", "gifts", "gold_gifts", "items_equipped", "mean_equipment_level", "alive")
            return (obs, state), {k: info[k] for k in keep}

        return jax.lax.scan(tick, (obs, state), jax.random.split(key, TICKS))[1]

    info = jax.device_get(jax.jit(run)(jax.random.PRNGKey(0)))
    totals = {k: float(np.sum(v)) for k, v in info.items()}
    print({k: totals[k] for k in ("listings", "sales", "gifts", "gold_gifts", "items_equipped")},
          "mean equipment level at ticks 1, 100, 500, 1000:",
          [float(info["mean_equipment_level"][t]) for t in (0, 99, 499, TICKS - 1)])
    assert totals["listings"] > 0 and totals["sales"] > 0 and totals["gifts"] > 0 and totals["items_equipped"] > 0
    assert info["mean_equipment_level"][0] == 0 and np.max(info["mean_equipment_level"]) > 0
