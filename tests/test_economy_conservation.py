"""Conservation (SPEC section 7): over long random legal play with every system on, gold and every
item type change only by their named sources and sinks, which ``info`` and ``state.item_ledger`` count.

The tiny world plays 1,200 ticks of random legal actions (six runs of the suite's shared, compiled
200-tick random rollout, ``World.rollout``, resetting when done; nothing compiles here), so trades,
gifts, kills, loot, drops and deaths all happen; a wrong count anywhere breaks the books on the tick it
happens.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ROLLOUT_TICKS, key, to_np

TICKS = 1200


def units(item, quantity):
    """Units held of each item type per tick, from inventories [T, slots, inventory slots]: i32[T, 17]
    (type 0, the empty slot, counts nothing)."""
    item, quantity = np.asarray(item), np.asarray(quantity)
    out = np.zeros((item.shape[0], 17), np.int64)
    ticks = np.broadcast_to(np.arange(item.shape[0])[:, None, None], item.shape)
    np.add.at(out, (ticks.ravel(), item.ravel()), quantity.ravel())
    out[:, 0] = 0
    return out


@pytest.fixture(scope="module")
def long_play(tiny):
    """Per tick: units before and after the step, the step's ledger and info, and which ticks can be
    checked: ``items_known`` is False on the first tick after an auto-reset (the fresh world's units are
    not recorded), ``gold_known`` also on the first tick of each run (no previous tick's info)."""
    params = tiny.p(weapon_drop_prob=0.2)
    parts = []
    for run in range(TICKS // ROLLOUT_TICKS):
        (_, state0), traj = to_np(tiny.rollout(key(11 + run), params))
        inv, inv0 = traj["state"].inventory, state0.inventory
        after = units(inv.item, inv.quantity)
        before = np.concatenate([units(inv0.item[None], inv0.quantity[None]), after[:-1]])
        fresh = np.concatenate([[False], traj["info"]["done"][:-1]])   # the tick right after an auto-reset
        parts.append(dict(before=before, after=after, items_known=~fresh,
                          gold_known=~fresh & (np.arange(ROLLOUT_TICKS) > 0),
                          ledger=traj["state"].item_ledger, info=traj["info"]))
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "info"}
    joined["info"] = {k: np.concatenate([p["info"][k] for p in parts]) for k in parts[0]["info"]}
    return joined


def test_every_item_type_changes_only_by_its_sources_and_sinks(long_play):
    d = long_play
    assert d["after"].shape == (TICKS, 17) == d["ledger"][:, 0].shape and d["items_known"].sum() > 0.9 * TICKS
    change = d["after"] - d["before"]
    ledger = d["ledger"]
    bad = np.argwhere((change != ledger[:, 0] - ledger[:, 1]) & d["items_known"][:, None])  # resets excluded
    assert bad.size == 0, f"item books broken at (tick, type) {bad[:5].tolist()}"
    info = d["info"]
    np.testing.assert_array_equal(info["item_units_created"], ledger[:, 0].sum(1))
    # the play is rich enough to exercise every flow
    for name in ("items_harvested", "items_equipped", "items_consumed", "items_destroyed", "listings", "sales",
                 "gifts", "items_looted", "ammunition_fired", "items_dropped_by_npcs"):
        assert info[name].sum() > 0, name


def test_gold_changes_only_by_its_sources_and_sinks(long_play):
    info, known = long_play["info"], long_play["gold_known"]
    gold = info["gold_in_circulation"].astype(np.int64)
    flow = (info["gold_created"] - info["gold_destroyed"]).astype(np.int64)
    assert known.sum() > 0.9 * TICKS
    ok = [(gold[t] - gold[t - 1] == flow[t]) for t in range(1, len(gold)) if known[t]]
    assert all(ok), f"gold books broken on {len(ok) - sum(ok)} ticks"
    assert info["gold_given"].sum() > 0 and info["sales_gold"].sum() > 0 and info["gold_created"].sum() > 0
