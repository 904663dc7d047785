"""Conservation (SPEC section 7): over long random legal play with every system on, gold and every
item type change only by their named sources and sinks, which ``info`` and ``state.item_ledger`` count.

The tiny world plays 1,200 ticks of random legal actions (one jitted scan, resetting when done), so
trades, gifts, kills, loot, drops and deaths all happen; a wrong count anywhere breaks the books on
the tick it happens.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key, to_np

TICKS = 1200


@pytest.fixture(scope="module")
def long_play(tiny):
    env, params = tiny.env, tiny.params.replace(weapon_drop_prob=jnp.asarray(0.2, jnp.float32))

    def units(state):
        inv = state.inventory
        return jnp.zeros(17, jnp.int32).at[inv.item.reshape(-1)].add(inv.quantity.reshape(-1)).at[0].set(0)

    def run(k):
        k_reset, k_ticks = jax.random.split(k)
        obs, state = env.reset(k_reset, params)

        def tick(c, k_tick):
            obs, state = c
            k_act, k_step, k_new = jax.random.split(k_tick, 3)
            before = units(state)
            act = env.sample_actions(k_act, obs)
            obs2, state2, _, _, _, info = env.step(k_step, state, act, params)
            out = dict(before=before, after=units(state2), ledger=state2.item_ledger, info=info)
            obs2, state2 = jax.lax.cond(info["done"], lambda: env.reset(k_new, params), lambda: (obs2, state2))
            return (obs2, state2), out

        return jax.lax.scan(tick, (obs, state), jax.random.split(k_ticks, TICKS))[1]

    return to_np(jax.jit(run)(key(11)))


def test_every_item_type_changes_only_by_its_sources_and_sinks(long_play):
    d = long_play
    change = d["after"] - d["before"]
    ledger = d["ledger"]
    bad = np.argwhere(change != ledger[:, 0] - ledger[:, 1])  # before/after a step, resets excluded
    assert bad.size == 0, f"item books broken at (tick, type) {bad[:5].tolist()}"
    info = d["info"]
    np.testing.assert_array_equal(info["item_units_created"], ledger[:, 0].sum(1))
    # the play is rich enough to exercise every flow
    for name in ("items_harvested", "items_equipped", "items_consumed", "items_destroyed", "listings", "sales",
                 "gifts", "items_looted", "ammunition_fired", "items_dropped_by_npcs"):
        assert info[name].sum() > 0, name


def test_gold_changes_only_by_its_sources_and_sinks(long_play):
    info = long_play["info"]
    gold = info["gold_in_circulation"].astype(np.int64)
    flow = (info["gold_created"] - info["gold_destroyed"]).astype(np.int64)
    done = info["done"]
    ok = [(gold[t] - gold[t - 1] == flow[t]) for t in range(1, len(gold)) if not done[t - 1]]
    assert all(ok), f"gold books broken on {len(ok) - sum(ok)} ticks"
    assert info["gold_given"].sum() > 0 and info["sales_gold"].sum() > 0 and info["gold_created"].sum() > 0
