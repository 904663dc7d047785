"""Items, equipment, harvest drops, loot (SPEC section 7), each rule computed by hand from SPEC.

Lab worlds of the shared ``tiny`` world (16 players, NPC slots 16..19, teams of 4): players start
at level 1 with full vitals; ``lab_state(inventory=...)`` fills their slots from slot 0.
"""
from __future__ import annotations

import numpy as np

from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.observe import FEATURE_INDEX

MELEE = 1
NPC = 16
# Levels are recomputed from XP every tick (skills.py), so lab states give both; 90 XP is level 2.


def inv_of(out, slot):
    """The inventory of a player after a step, as a list of (item, level, qty, equipped, price) per slot."""
    inv = out[1].inventory
    return [tuple(int(x) for x in (inv.item[slot, i], inv.level[slot, i], inv.quantity[slot, i],
                                   inv.equipped[slot, i], inv.price[slot, i])) for i in range(inv.item.shape[1])]


def held(out, slot):
    return [row for row in inv_of(out, slot) if row[0]]


def test_equipping_a_weapon_adds_its_attack_on_the_same_tick(tiny):
    """use comes before attack: a level-1 spear gives 5 + 5 = 10 more offense: 25 instead of 15."""
    for equip, expected in ((0, 100 - 15), (1, 100 - 25)):
        state = tiny.lab_state({0: (20, 20), NPC: (20, 21)}, inventory={0: [(I.SPEAR, 1, 1)]})
        row = tiny.row_of(tiny.obs_of(state), 0, NPC)
        out = tiny.run(state, tiny.actions(use=[equip] + [0] * 15, attack_style=[MELEE] + [0] * 15,
                                          attack_target=[row] + [0] * 15))[0]
        assert out[1].entities.health[NPC] == expected
        assert held(out, 0) == [(I.SPEAR, 1, 1, equip, 0)]
        assert out[5]["items_equipped"] == equip


def test_armour_and_tools_add_defense_and_equipment_level(tiny):
    """An NPC of offense 60 hits a player of defense 5 x 2 wearing a level-2 hat (6) and holding a rod (15): 29."""
    inventory = {0: [(I.HAT, 2, 1, True), (I.ROD, 1, 1, True), (I.TOP, 1, 1)]}
    state = tiny.lab_state({0: (20, 20), NPC: (20, 21)}, inventory=inventory, npc_offense={NPC: 60},
                           kind={NPC: 3}, levels={0: [1, 1, 2, 1, 1, 1, 1, 1]}, xp={0: [0, 0, 90, 0, 0, 0, 0, 0]})
    out = tiny.run(state)[0]
    # vitals first (+10 regen at full food and water, capped at 100), then the aggressive NPC's hit
    assert out[1].entities.health[0] == 100 - (60 - 5 * 2 - 6 - 15)
    assert out[1].entities.equipment_level[0] == 3
    assert out[0]["entities"][0, 0, FEATURE_INDEX["equipment_level"]] == 3


def test_level_requirements_replace_and_unequip(tiny):
    # melee 1 cannot equip a level-3 spear; the mask says so
    state = tiny.lab_state({0: (20, 20)}, inventory={0: [(I.SPEAR, 3, 1), (I.HAT, 1, 1), (I.HAT, 2, 1, True)]},
                           levels={0: [1, 2, 1, 1, 1, 1, 1, 1]}, xp={0: [0, 90, 0, 0, 0, 0, 0, 0]})
    mask = tiny.obs_of(state)["action_mask"]["use"][0]
    assert list(mask[:4]) == [True, False, True, True]  # no-op, spear (no), hat 1 (yes), equipped hat 2 (unequip)
    out = tiny.run(state, tiny.actions(use=[1] + [0] * 15))[0]
    assert held(out, 0)[0] == (I.SPEAR, 3, 1, 0, 0)
    # equipping hat 1 unequips hat 2 (one item per equipment slot)
    out = tiny.run(state, tiny.actions(use=[2] + [0] * 15))[0]
    assert [r[3] for r in held(out, 0)] == [0, 1, 0]
    # using the equipped hat unequips it
    out = tiny.run(state, tiny.actions(use=[3] + [0] * 15))[0]
    assert [r[3] for r in held(out, 0)] == [0, 0, 0]


def test_consumables_restore_capped_and_need_their_level(tiny):
    # ration level 1 (fishing 1): food and water +55 after the tick's decay of 5, capped at 100
    state = tiny.lab_state({0: (20, 20)}, inventory={0: [(I.RATION, 1, 1), (I.POTION, 2, 1), (I.POTION, 1, 1)]},
                           food={0: 30}, water={0: 70}, health={0: 20})
    out = tiny.run(state, tiny.actions(use=[1] + [0] * 15))[0]
    e = out[1].entities
    assert (e.food[0], e.water[0]) == (30 - 5 + 55, 100)
    assert held(out, 0)[0][0] == I.POTION and out[5]["items_consumed"] == 1
    # potion level 2 needs herbalism 2: a no-op at level 1
    out = tiny.run(state, tiny.actions(use=[2] + [0] * 15))[0]
    assert out[1].entities.health[0] == 20 and len(held(out, 0)) == 3
    # potion level 1: health +55 (no regen: water 70 > 50 but food 30 is not)
    out = tiny.run(state, tiny.actions(use=[3] + [0] * 15))[0]
    assert out[1].entities.health[0] == 20 + 55


def test_harvest_drops_stack_and_a_tool_raises_their_level(tiny):
    ore = {(20, 20): T.ORE, (22, 22): T.ORE}
    state = tiny.lab_state({0: (20, 20), 1: (22, 22)}, tiles=ore,
                           inventory={0: [(I.WHETSTONE, 1, 4)], 1: [(I.PICKAXE, 3, 1, True)]})
    params = tiny.p(weapon_drop_prob=0.0)
    out = tiny.run(state, params=params)[0]
    assert held(out, 0) == [(I.WHETSTONE, 1, 5, 0, 0)]                       # joins the stack
    assert held(out, 1) == [(I.PICKAXE, 3, 1, 1, 0), (I.WHETSTONE, 4, 1, 0, 0)]  # level min(1 + 3, 10)
    assert out[5]["items_harvested"] == 2


def test_a_full_inventory_loses_the_drop_and_counts_it(tiny):
    full = [(I.HAT, 1, 1)] * 12
    state = tiny.lab_state({0: (20, 20)}, tiles={(20, 20): T.HERB}, inventory={0: full})
    out = tiny.run(state, params=tiny.p(weapon_drop_prob=0.0))[0]
    assert len(held(out, 0)) == 12 and all(r[0] == I.HAT for r in held(out, 0))
    assert out[5]["items_lost"] == 1 and out[5]["items_harvested"] == 0


def test_weapon_drops_follow_their_probability(tiny):
    """Ore drops a wand with probability weapon_drop_prob: 16 players on ore for 40 ticks, p = 0.25."""
    tiles = {(12 + 2 * i, 12): T.ORE for i in range(16)}
    state = tiny.lab_state({i: (12 + 2 * i, 12) for i in range(16)}, tiles=tiles,
                           food={i: 100 for i in range(16)})
    params = tiny.p(weapon_drop_prob=0.25, ore_respawn=1.0)
    wands = 0
    trials = 0
    for seed in range(40):
        out = tiny.run(state, params=params, seed=seed)[0]
        inv = out[1].inventory
        wands += int(np.sum(inv.item == I.WAND))
        trials += 16
        assert np.all(inv.level[inv.item == I.WAND] == 1)
    sd = np.sqrt(trials * 0.25 * 0.75)
    assert abs(wands - 0.25 * trials) < 4 * sd, (wands, trials)


def test_killing_an_npc_drops_an_armour_piece_and_a_tool_at_its_level(tiny):
    state = tiny.lab_state({0: (20, 20), NPC: (20, 21)}, health={NPC: 5}, levels={NPC: [4, 1, 1, 1, 1, 1, 1, 1]},
                           xp={NPC: [373, 0, 0, 0, 0, 0, 0, 0]}, gold={NPC: 4})
    row = tiny.row_of(tiny.obs_of(state), 0, NPC)
    out = tiny.run(state, tiny.actions(attack_style=[MELEE] + [0] * 15, attack_target=[row] + [0] * 15))[0]
    items = held(out, 0)
    assert not out[1].entities.alive[NPC] and out[1].entities.gold[0] == 1 + 4
    assert len(items) == 2 and {r[1] for r in items} == {4}
    assert I.CLASS[items[0][0]] == I.ARMOUR and I.CLASS[items[1][0]] == I.TOOL


def test_a_player_killer_takes_the_items_that_fit_and_the_rest_is_lost(tiny):
    victim_items = [(I.SPEAR, 2, 1, True), (I.ARROW, 1, 7), (I.POTION, 1, 1)]
    killer_items = [(I.HAT, 1, 1)] * 10 + [(I.ARROW, 1, 3)]
    # food 40: no regeneration before the hit (and no starvation), so the victim has 5 health when hit for 10
    state = tiny.lab_state({0: (20, 20), 4: (20, 21)}, health={4: 5}, food={4: 40}, time_alive={0: 50, 4: 50},
                           inventory={0: killer_items, 4: victim_items}, gold={4: 3})
    row = tiny.row_of(tiny.obs_of(state), 0, 4)
    out = tiny.run(state, tiny.actions(attack_style=[MELEE] + [0] * 15, attack_target=[row] + [0] * 15))[0]
    items = held(out, 0)
    assert not out[1].entities.alive[4] and not held(out, 4)
    # one free slot: the spear takes it (arriving unequipped), the arrows join the stack, the potion is lost
    assert (I.SPEAR, 2, 1, 0, 0) in items and (I.ARROW, 1, 10, 0, 0) in items
    assert not any(r[0] == I.POTION for r in items)
    assert out[5]["items_looted"] == 2 and out[5]["items_lost"] == 1 and out[1].entities.gold[0] == 1 + 3


def test_a_player_killed_by_an_npc_loses_everything(tiny):
    state = tiny.lab_state({0: (20, 20), NPC: (20, 21)}, health={0: 5}, kind={NPC: 3}, npc_offense={NPC: 50},
                           inventory={0: [(I.SPEAR, 1, 1), (I.ARROW, 1, 5)]})
    out = tiny.run(state)[0]
    assert not out[1].entities.alive[0] and not held(out, 0)
    assert out[5]["items_lost_at_death"] == 6


def test_ammunition_is_used_per_landed_attack_of_its_style_and_runs_out(tiny):
    state = tiny.lab_state({0: (20, 20), NPC: (20, 21)}, inventory={0: [(I.WHETSTONE, 2, 1, True), (I.ARROW, 1, 3, True)]})
    row = tiny.row_of(tiny.obs_of(state), 0, NPC)
    act = tiny.actions(attack_style=[MELEE] + [0] * 15, attack_target=[row] + [0] * 15)
    out = tiny.run(state, act)[0]
    # offense 10 + 5 + whetstone (5 + 20) = 40; the melee attack uses the whetstone, not the arrows
    assert out[1].entities.health[NPC] == 100 - 40
    assert held(out, 0) == [(I.ARROW, 1, 3, 1, 0)] and out[5]["ammunition_fired"] == 1


def test_destroy_removes_only_unequipped_unlisted_items(tiny):
    state = tiny.lab_state({0: (20, 20)}, inventory={0: [(I.HAT, 1, 1, True), (I.TOP, 1, 1, False, 5, 0),
                                                         (I.BOTTOM, 1, 1)]}, tick=1)
    mask = tiny.obs_of(state)["action_mask"]["destroy"][0]
    assert list(mask[:4]) == [True, False, False, True]
    for choice, left in ((1, 3), (2, 3), (3, 2)):
        out = tiny.run(state, tiny.actions(destroy=[choice] + [0] * 15))[0]
        assert len(held(out, 0)) == left


def test_combat_status_blocks_use_but_not_destroy(tiny):
    state = tiny.lab_state({0: (20, 20)}, inventory={0: [(I.HAT, 1, 1), (I.TOP, 1, 1)]}, combat_timer={0: 2})
    masks = tiny.obs_of(state)["action_mask"]
    assert not masks["use"][0, 1] and masks["destroy"][0, 2] and not masks["sell_item"][0, 1]
    out = tiny.run(state, tiny.actions(use=[1] + [0] * 15, destroy=[2] + [0] * 15))[0]
    assert held(out, 0) == [(I.HAT, 1, 1, 0, 0)]
    # one tick later the status has run out (its countdown runs before actions): use works
    state = tiny.lab_state({0: (20, 20)}, inventory={0: [(I.HAT, 1, 1)]}, combat_timer={0: 1})
    assert tiny.obs_of(state)["action_mask"]["use"][0, 1]
    assert held(tiny.run(state, tiny.actions(use=[1] + [0] * 15))[0], 0) == [(I.HAT, 1, 1, 1, 0)]
