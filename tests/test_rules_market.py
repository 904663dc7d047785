"""The market, gifts and communication (SPEC sections 7 and 14), by hand from SPEC.

Lab worlds of the shared ``tiny`` world (16 players; teams do not matter for trade).
"""
from __future__ import annotations

import itertools

import numpy as np

from nmmo_jax import items as I
from nmmo_jax.observe import FEATURE_INDEX

HAT_1 = I.offer_index(I.HAT, 1)  # offer of level-1 hats; the buy head names it as HAT_1 + 1


def acts(world, **heads):
    """Actions from {head: {slot: value}}; every other slot and head is the no-op."""
    out = {}
    for head, per_slot in heads.items():
        v = np.zeros(world.A, np.int32)
        for slot, value in per_slot.items():
            v[slot] = value
        out[head] = v
    return world.actions(**out)


def items_of(state, slot):
    inv = state.inventory
    return [(int(inv.item[slot, i]), int(inv.level[slot, i]), int(inv.quantity[slot, i]), int(inv.price[slot, i]))
            for i in range(inv.item.shape[1]) if inv.item[slot, i]]


def test_a_sale_lists_then_sells_at_the_listed_price(tiny):
    state = tiny.lab_state({0: (20, 20), 9: (30, 30)}, inventory={0: [(I.TOP, 1, 1), (I.HAT, 1, 1)]},
                           gold={0: 1, 9: 20})
    out = tiny.run(state, acts(tiny, sell_item={0: 2}, sell_price={0: 9}))[0]
    obs, st = out[0], out[1]
    assert items_of(st, 0) == [(I.TOP, 1, 1, 0), (I.HAT, 1, 1, 10)] and out[5]["listings"] == 1
    assert tuple(obs["market"][9, HAT_1]) == (10, 1) and obs["market"][9].sum() == 11  # one offer, seen by all
    assert obs["action_mask"]["buy"][9, HAT_1 + 1] and not obs["action_mask"]["buy"][0, HAT_1 + 1]  # not its own
    assert not obs["action_mask"]["use"][0, 2] and not obs["action_mask"]["give_item"][0, 2]  # locked
    out = tiny.run(st, acts(tiny, buy={9: HAT_1 + 1}))[0]
    st = out[1]
    assert items_of(st, 9) == [(I.HAT, 1, 1, 0)] and items_of(st, 0) == [(I.TOP, 1, 1, 0)]
    assert (st.entities.gold[9], st.entities.gold[0]) == (10, 11)
    assert (out[5]["sales"], out[5]["sales_gold"], out[5]["mean_price"]) == (1, 10, 10.0)
    assert st.market_sales[HAT_1] == 1 and st.market_volume[HAT_1] == 10


def test_a_listing_made_at_tick_t_sells_until_t_plus_3_and_expires_at_t_plus_4(tiny):
    state = tiny.lab_state({0: (20, 20), 9: (30, 30)}, inventory={0: [(I.HAT, 1, 1, False, 4, 5)]}, tick=6,
                           gold={9: 20})  # listed at tick 5; the next tick played is tick 6
    st = state
    for tick in (6, 7):
        st = tiny.run(st)[0][1]
        assert items_of(st, 0) == [(I.HAT, 1, 1, 4)], tick
    # tick 8 = 5 + 3: still for sale
    bought = tiny.run(st, acts(tiny, buy={9: HAT_1 + 1}))[0][1]
    assert items_of(bought, 9) == [(I.HAT, 1, 1, 0)]
    # unbought, it is unlisted at the end of tick 8 (the counter then reads 9 = 5 + 4)
    assert int(st.tick) == 8
    out = tiny.run(st)[0]
    assert items_of(out[1], 0) == [(I.HAT, 1, 1, 0)] and out[5]["listings_expired"] == 1


BUYER_TILES = ((24, 24), (14, 30), (33, 12))


def _contest(world, buyer_slots, gold=10):
    """Seller 0 lists hats at 5 and 7; the players in ``buyer_slots`` (on BUYER_TILES) all buy the offer."""
    agents = {0: (20, 20), **{s: t for s, t in zip(buyer_slots, BUYER_TILES)}}
    state = world.lab_state(agents, inventory={0: [(I.HAT, 1, 1, False, 7, 3), (I.HAT, 1, 1, False, 5, 3)]},
                            tick=4, gold={0: 1, **{s: gold for s in buyer_slots}})
    st = world.run(state, acts(world, buy={s: HAT_1 + 1 for s in buyer_slots}))[0][1]
    # the outcome per buyer tile: (gold left, items)
    return tuple((int(st.entities.gold[s]), tuple(items_of(st, s))) for s in buyer_slots), int(st.entities.gold[0])


def test_several_buyers_of_one_offer_get_its_listings_cheapest_first_whatever_the_slot_order(tiny):
    for n in (2, 3):
        outcomes = set()
        for slots in itertools.permutations((4, 9, 13)[:n]):
            per_tile, seller_gold = _contest(tiny, slots)
            outcomes.add(per_tile)
            assert seller_gold == 1 + 5 + 7
        assert len(outcomes) == 1, outcomes
        (per_tile,) = outcomes
        paid = sorted(10 - g for g, _ in per_tile)
        assert paid == ([5, 7] if n == 2 else [0, 5, 7])  # the third buyer gets nothing and pays nothing
        assert sum(len(items) for _, items in per_tile) == 2


def test_a_buyer_without_gold_or_room_gets_nothing_and_pays_nothing(tiny):
    full = [(I.TOP, 1, 1)] * 12
    state = tiny.lab_state({0: (20, 20), 9: (30, 30), 10: (12, 12)}, inventory={0: [(I.HAT, 1, 1, False, 5, 3)], 10: full},
                           tick=4, gold={9: 4, 10: 50})
    mask = tiny.obs_of(state)["action_mask"]["buy"]
    assert not mask[9, HAT_1 + 1] and not mask[10, HAT_1 + 1]
    st = tiny.run(state, acts(tiny, buy={9: HAT_1 + 1, 10: HAT_1 + 1}))[0][1]
    assert (st.entities.gold[9], st.entities.gold[10]) == (4, 50) and items_of(st, 0) == [(I.HAT, 1, 1, 5)]
    # ammunition joins a stack even in a full inventory
    full_arrows = [(I.ARROW, 1, 2)] + [(I.TOP, 1, 1)] * 11
    state = tiny.lab_state({0: (20, 20), 10: (12, 12)}, inventory={0: [(I.ARROW, 1, 3, False, 5, 3)], 10: full_arrows},
                           tick=4, gold={10: 50})
    offer = I.offer_index(I.ARROW, 1) + 1
    assert tiny.obs_of(state)["action_mask"]["buy"][10, offer]
    st = tiny.run(state, acts(tiny, buy={10: offer}))[0][1]
    assert items_of(st, 10)[0] == (I.ARROW, 1, 5, 0) and st.entities.gold[10] == 45


def test_gifts_land_within_the_entity_set_only(tiny):
    state = tiny.lab_state({0: (20, 20), 4: (20, 22), 9: (20, 34)}, inventory={0: [(I.HAT, 1, 1), (I.TOP, 1, 1)]},
                           gold={0: 10})
    obs = tiny.obs_of(state)
    row = tiny.row_of(obs, 0, 4)
    assert obs["action_mask"]["give_target"][0, row] and obs["action_mask"]["give_gold_target"][0, row]
    ids = obs["entities"][0, :, FEATURE_INDEX["id"]]
    assert 9 + 1 not in ids[obs["entity_mask"][0]]  # 14 tiles away: outside the window, no row names it
    assert list(obs["action_mask"]["give_gold_amount"][0, :11]) == [True] * 10 + [False]
    out = tiny.run(state, acts(tiny, give_item={0: 1}, give_target={0: row}, give_gold_amount={0: 6},
                               give_gold_target={0: row}))[0]
    st = out[1]
    assert items_of(st, 0) == [(I.TOP, 1, 1, 0)] and items_of(st, 4) == [(I.HAT, 1, 1, 0)]
    assert (st.entities.gold[0], st.entities.gold[4]) == (10 - 7, 1 + 7)
    assert (out[5]["gifts"], out[5]["gold_given"]) == (1, 7)
    # an empty row, the giver's own row, or more gold than it has: no-ops
    empty = int(np.flatnonzero(~obs["entity_mask"][0])[0])
    for heads in (dict(give_item={0: 1}, give_target={0: empty}), dict(give_item={0: 1}, give_target={0: 0}),
                  dict(give_gold_amount={0: 10}, give_gold_target={0: row})):
        st = tiny.run(state, acts(tiny, **heads))[0][1]
        assert items_of(st, 0) == items_of(state, 0) and st.entities.gold[0] == 10, heads


def test_two_gifts_to_a_receiver_with_room_for_one_land_in_a_fair_order(tiny):
    """Only one gift fits; which one follows the givers' tiles (a per-tick random order), not their slots."""
    outcomes = set()
    tiles = ((20, 18), (20, 22))
    for givers in ((0, 5), (5, 0)):
        agents = {givers[0]: tiles[0], givers[1]: tiles[1], 9: (20, 20)}
        state = tiny.lab_state(agents, inventory={givers[0]: [(I.HAT, 1, 1)], givers[1]: [(I.TOP, 1, 1)],
                                                  9: [(I.BOTTOM, 1, 1)] * 11})
        obs = tiny.obs_of(state)
        rows = {g: tiny.row_of(obs, g, 9) for g in givers}
        st = tiny.run(state, acts(tiny, give_item={g: 1 for g in givers}, give_target=rows))[0][1]
        assert len(items_of(st, 9)) == 12
        outcomes.add(tuple(len(items_of(st, g)) for g in givers))  # per tile: 1 if that giver kept its item
    assert len(outcomes) == 1 and sorted(outcomes.pop()) == [0, 1]


def test_combat_status_blocks_buy_give_and_sell(tiny):
    state = tiny.lab_state({0: (20, 20), 4: (20, 22)}, inventory={0: [(I.HAT, 1, 1)], 4: [(I.TOP, 1, 1, False, 3, 3)]},
                           tick=4, gold={0: 10}, combat_timer={0: 2})
    masks = tiny.obs_of(state)["action_mask"]
    for head in ("buy", "use", "sell_item", "give_item", "give_gold_target"):
        assert masks[head][0].sum() == 1 and masks[head][0, 0], head  # only the no-op
    row = tiny.row_of(tiny.obs_of(state), 0, 4)
    st = tiny.run(state, acts(tiny, buy={0: I.offer_index(I.TOP, 1) + 1}, give_item={0: 1}, give_target={0: row},
                              sell_item={0: 1}, sell_price={0: 5}, give_gold_amount={0: 2},
                              give_gold_target={0: row}))[0][1]
    assert items_of(st, 0) == [(I.HAT, 1, 1, 0)] and st.entities.gold[0] == 10


def test_comm_tokens_show_in_entity_rows_next_tick(tiny):
    state = tiny.lab_state({0: (20, 20), 4: (20, 22)})
    out = tiny.run(state, acts(tiny, comm={4: 7, 0: tiny.cfg.comm_tokens + 5}))[0]  # out of range: silent
    obs = out[0]
    row = tiny.row_of(obs, 0, 4)
    assert obs["entities"][0, row, FEATURE_INDEX["said"]] == 7 and obs["entities"][0, 0, FEATURE_INDEX["said"]] == 0
