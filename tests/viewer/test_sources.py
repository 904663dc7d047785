"""What the sources compute for the page, in numpy: the meta (item table, palette, sentinels), the market
summary (offers, recent sales), the chart series, and the recorded ``info/`` leaves they rest on."""
from __future__ import annotations

import numpy as np

from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.render import frames as F
from nmmo_jax.state import NEVER
from nmmo_jax.viewer.sources import RECENT_FRAMES, ReplaySource, Series, offers_json, sales_json

from .conftest import LISTINGS, MARKET_FROM, SALES, RECORD_TICKS


def test_meta_carries_the_item_table_palette_and_sentinels(recorded, world):
    meta = ReplaySource(recorded[3]).meta()
    assert meta["economy"] is True and meta["comm_tokens"] == 16
    items = meta["items"]
    assert items["names"] == list(I.NAMES) and items["names"][13] == "arrow"
    assert items["equip_slot"] == I.EQUIP_SLOT.tolist() and items["equip_slot_names"] == list(I.EQUIP_SLOT_NAMES)
    assert items["classes"][I.POTION] == "consumable" and items["classes"][I.HAT] == "armour"
    assert items["listing_ticks"] == 3
    assert meta["palette"] == F.PALETTE.tolist() and meta["materials"] == list(T.NAMES)
    assert meta["colormap"] == F.COLORMAP.tolist()
    assert meta["never"] == NEVER == 2 ** 30
    assert (meta["max_health"], meta["max_food"], meta["max_water"]) == (
        int(world.params_env.max_health), int(world.params_env.max_food), int(world.params_env.max_water))


def test_a_world_with_items_off_sends_no_economy(cli_replay):
    src = ReplaySource(cli_replay)
    meta = src.meta()
    assert meta["economy"] is False and meta["items"] is None and meta["comm_tokens"] == 0
    frame = src.frame(10)
    assert "inventory" not in frame and "market" not in frame
    assert src.series()["names"] == ["population", "mean_lifetime", "kills"]


def test_offers_are_the_observed_market_table():
    """One offer per listed (type, level): the lowest price, the listings and their units; sorted."""
    item = np.array([[13, 1, 13, 0], [1, 13, 16, 1]])
    level = np.array([[2, 1, 2, 0], [1, 3, 1, 2]])
    qty = np.array([[5, 1, 3, 0], [1, 9, 1, 1]])
    price = np.array([[7, 12, 4, 0], [9, 0, 0, 30]])
    assert offers_json(item, level, qty, price) == [
        dict(item=1, level=1, price=9, listings=2, units=2),
        dict(item=1, level=2, price=30, listings=1, units=1),
        dict(item=13, level=2, price=4, listings=2, units=8),
    ]
    assert offers_json(item, level, qty, np.zeros_like(price)) == []


def test_sales_name_the_offer_sold():
    sales, volume = np.zeros(I.NUM_OFFERS, np.int32), np.zeros(I.NUM_OFFERS, np.int32)
    for (t, lv), n, g in [((I.POTION, 10), 2, 30), ((I.HAT, 1), 1, 5), ((I.RUNES, 4), 3, 12)]:
        sales[I.offer_index(t, lv)], volume[I.offer_index(t, lv)] = n, g
    assert sales_json(9, sales, volume) == [
        dict(tick=9, item=I.HAT, level=1, sold=1, gold=5), dict(tick=9, item=I.RUNES, level=4, sold=3, gold=12),
        dict(tick=9, item=I.POTION, level=10, sold=2, gold=30)]


def test_frames_carry_inventories_offers_and_recent_sales(market_replay):
    rp, sellers = market_replay
    src = ReplaySource(rp)
    f = src.frame(35)
    inv = f["inventory"]
    for field in ("item", "level", "quantity", "price", "listed_tick"):
        np.testing.assert_array_equal(inv[field], rp.frame(f"state/inventory/{field}", 35))
    assert inv["item"][sellers[0]][3] == I.ARROW and inv["price"][sellers[0]][3] == LISTINGS[0][3][3]
    assert f["market"]["offers"] == [dict(item=I.HAT, level=1, price=9, listings=2, units=2),
                                     dict(item=I.ARROW, level=2, price=7, listings=1, units=5)]
    # newest first; frame 33's sales still inside the window, nothing from before MARKET_FROM
    assert f["market"]["recent"] == [dict(tick=35, item=I.HAT, level=1, sold=1, gold=9),
                                     dict(tick=35, item=I.ARROW, level=2, sold=1, gold=4),
                                     dict(tick=33, item=I.WHETSTONE, level=1, sold=2, gold=10)]
    assert src.frame(34)["market"]["recent"] == [dict(tick=33, item=I.WHETSTONE, level=1, sold=2, gold=10)]
    assert src.frame(MARKET_FROM - 1)["market"]["offers"] == []
    assert 33 + RECENT_FRAMES > RECORD_TICKS  # (the window is wide enough for the last frame to see both)
    assert [s["tick"] for s in src.frame(RECORD_TICKS)["market"]["recent"]] == [35, 35, 33]


def test_series_are_population_mean_lifetime_kills_and_trades(market_replay, world):
    """Against numpy on the recorded leaves: live players per frame, cumulative means and counts."""
    rp, _ = market_replay
    series = ReplaySource(rp).series()
    assert series["names"] == ["population", "mean_lifetime", "kills", "trades"]
    pts = series["points"]
    assert [p["index"] for p in pts] == list(range(rp.num_frames))
    assert [p["tick"] for p in pts] == rp.array("state/tick").tolist()
    alive = rp.array("state/entities/alive")[:, :world.A].sum(axis=1)
    assert [p["population"] for p in pts] == alive.tolist()
    assert alive[0] == world.A > alive[-1], "a recording where nobody dies would not test much"
    ended = np.cumsum(rp.array("info/ended"))
    lifetimes = np.cumsum(rp.array("info/ended_lifetime_sum"))
    want = [None if n == 0 else s / n for n, s in zip(ended, lifetimes)]
    assert [p["mean_lifetime"] for p in pts] == want and want[-1] is not None
    kills = np.cumsum(rp.array("info/kills"))
    assert [p["kills"] for p in pts] == kills.tolist() and kills[-1] > 0
    trades = np.cumsum(rp.array("state/market_sales").sum(axis=1))
    assert [p["trades"] for p in pts] == trades.tolist()
    assert pts[34]["trades"] == 2 and pts[35]["trades"] == 4 == sum(n for s in SALES.values() for *_, n, _ in s)
    assert ReplaySource(rp).frame(35)["stats"] == pts[35]


def test_series_leave_out_what_a_replay_did_not_record(recorded, world):
    """A replay from before ``info/`` was recorded: population (and trades) only."""
    names = [n for n in recorded[3].names if not n.startswith("info/")]
    s = Series(world.A, names, economy=True)
    assert s.names == ["population", "trades"]
    point = s.add(0, 0, lambda n: recorded[3].frame(n, 5))
    assert set(point) == {"index", "episode", "tick", "population", "trades"}
