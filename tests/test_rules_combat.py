"""Combat (SPEC section 5), Neural MMO 2 rules, in hand-built worlds; every number worked out by hand.

The ``tiny`` world has 4 teams of 4 player slots (0-3, 4-7, 8-11, 12-15) that cannot attack each
other, reach 3 for every style, spawn immunity 20 ticks, and NPC slots 16..19.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key, to_np
from nmmo_jax.observe import FEATURE_INDEX as F
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_PASSIVE
from nmmo_jax.systems import combat

XP = [0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737]
SKILL = {"melee": 0, "range": 1, "mage": 2, "fishing": 3, "herbalism": 4, "prospecting": 5,
         "carving": 6, "alchemy": 7}
MELEE, RANGE, MAGE = 1, 2, 3
VETERAN = 30  # time_alive well past spawn immunity


def skill_rows(xp: dict):
    """(xp row, level row) of 8 skills from {skill: xp}, levels read off the XP table by hand."""
    x = np.zeros(8, np.int32)
    for name, v in xp.items():
        x[SKILL[name]] = v
    lv = np.array([sum(v >= t for t in XP) for v in x], np.int32)
    return x, lv


def duel_state(world, att_xp, tgt_xp, att=4, tgt=0, dist=2, **fields):
    (ax, al), (tx, tl) = skill_rows(att_xp), skill_rows(tgt_xp)
    fields.setdefault("time_alive", {att: VETERAN, tgt: VETERAN})
    return world.lab_state({att: (20, 20), tgt: (20, 20 + dist)}, xp={att: ax, tgt: tx},
                           levels={att: al, tgt: tl}, **fields)


def attack_once(world, state, attacks: dict, ticks=1, **kw):
    """``attacks`` maps attacker slot -> (style, target slot); rows are looked up in the observation."""
    obs = world.obs_of(state)
    act = world.attacks({a: (s, world.row_of(obs, a, t)) for a, (s, t) in attacks.items()})
    return world.run(state, actions=act, ticks=ticks, **kw)


# (style, attacker XP, target XP, damage, worked out)
DAMAGE_CASES = [
    (MELEE, {}, {}, 10, "offense 10+5*1=15, defense 5*1=5, no main style: 15-5"),
    (MELEE, {"melee": 553}, {"fishing": 217}, 20, "melee L5: 10+25=35; target highest L3: 15; 35-15"),
    (MAGE, {}, {"melee": 6}, 17, "mage beats main style melee: floor(1.5*15 - 5) = floor(17.5)"),
    (RANGE, {"range": 90}, {"mage": 100}, 20, "range beats mage: 1.5*(10+5*2) - 5*2 = 20"),
    (MELEE, {}, {"mage": 100}, 5, "melee does not beat mage: 15 - 10"),
    (MELEE, {}, {"carving": 1737}, 3, "minimum: 15-50 < 0.25*15 = 3.75, floor 3"),
    (MELEE, {"melee": 1737}, {"range": 90}, 80, "melee L10 beats range: 1.5*60 - 10"),
    (MAGE, {}, {"melee": 1737}, 3, "weakness yet minimum: max(22.5-50, 3.75)"),
    (MAGE, {}, {"melee": 100, "range": 100}, 12, "tie for main style: the first (melee); 22.5-10"),
    (RANGE, {"range": 1212, "carving": 1737}, {"herbalism": 974}, 15, "range L8: 10+40=50; target L7: 35; "
                                                                     "attacker's other skills don't count"),
]


@pytest.mark.parametrize("style,att_xp,tgt_xp,dmg,why", DAMAGE_CASES, ids=[c[4][:30] for c in DAMAGE_CASES])
def test_damage_by_hand(tiny, style, att_xp, tgt_xp, dmg, why):
    state = duel_state(tiny, att_xp, tgt_xp)
    (obs, st, reward, term, trunc, info), = attack_once(tiny, state, {4: (style, 0)})
    e = st.entities
    assert e.health[0] == 100 - dmg, why  # full bars: the tick's regeneration is capped at 100 first
    assert e.health[4] == 100
    assert info["damage_dealt"] == dmg and info["damage_taken"] == dmg and info["attacks"] == 1
    # +6 XP to the style used, nothing else
    ax, _ = skill_rows(att_xp)
    expected = ax.copy()
    expected[style - 1] += 6
    assert np.array_equal(e.xp[4], expected)


def test_damage_formula_functions_by_hand(tiny):
    p = tiny.params
    lv = jnp.asarray([1, 3, 10])
    assert np.array_equal(combat.player_offense(lv, p), [15, 25, 60])
    levels = jnp.asarray([[1] * 8, [1, 1, 1, 4, 1, 1, 1, 1], [10] + [1] * 7])
    assert np.array_equal(combat.player_defense(levels, p), [5, 20, 50])
    assert np.array_equal(combat.damage(jnp.asarray([15, 15, 60, 40]), jnp.asarray([5, 50, 10, 0]),
                                        jnp.asarray([1.0, 1.0, 1.5, 1.5]), p), [10, 3, 80, 60])
    xp = jnp.asarray([[0, 0, 0, 9], [5, 5, 5, 0], [1, 0, 0, 0], [0, 7, 7, 0], [0, 0, 3, 0]])
    assert np.array_equal(combat.main_style(xp), [-1, -1, 0, 1, 2])
    # mage > melee > range > mage; no main style: never weak
    styles = jnp.asarray([MAGE, MELEE, RANGE, MELEE, RANGE, MAGE, MELEE])
    target_xp = jnp.asarray([[9, 0, 0], [0, 9, 0], [0, 0, 9], [0, 0, 9], [9, 0, 0], [0, 9, 0], [0, 0, 0]])
    assert np.allclose(combat.weakness_multiplier(styles, target_xp, p), [1.5, 1.5, 1.5, 1, 1, 1, 1])


def test_two_attackers_sum_and_slot_order_does_not_matter(tiny):
    """Two attackers on one target: damage is summed, the kill and the gold are shared, and swapping
    which slots the attackers occupy changes nothing but the labels."""
    def world(first, second, target_health):
        (mx, ml), (gx, gl) = skill_rows({"melee": 553}), skill_rows({"mage": 90})
        state = tiny.lab_state({first: (20, 20), second: (22, 23), 0: (20, 22)},
                               xp={first: mx, second: gx}, levels={first: ml, second: gl},
                               health={0: target_health}, food={0: 40}, water={0: 40},  # no regeneration
                               gold={0: 9, first: 1, second: 1},
                               time_alive={0: VETERAN, first: VETERAN, second: VETERAN})
        return attack_once(tiny, state, {first: (MELEE, 0), second: (MAGE, 0)})[0]

    # melee L5: 35-5 = 30; mage L2: 20-5 = 15 (target has no main style)
    for target_health, survives in ((60, True), (40, False)):
        a = world(4, 8, target_health)
        b = world(8, 4, target_health)
        ea, eb = a[1].entities, b[1].entities
        assert ea.health[0] == eb.health[0] == (target_health - 45 if survives else 0)
        assert ea.alive[0] == eb.alive[0] == survives
        assert (ea.health[4], ea.health[8]) == (eb.health[8], eb.health[4]) == (100, 100)
        assert (ea.xp[4, 0], ea.xp[8, 2]) == (eb.xp[8, 0], eb.xp[4, 2]) == (559, 96)
        gold = (1, 1) if survives else (1 + 4, 1 + 4)  # 9 gold split two ways, the odd one destroyed
        assert (ea.gold[4], ea.gold[8]) == (eb.gold[8], eb.gold[4]) == gold
        for k in a[5]:
            assert np.array_equal(a[5][k], b[5][k]), k
        assert a[5]["player_kills"] == (0 if survives else 1) and a[5]["kills"] == a[5]["player_kills"]
        assert a[5]["damage_dealt"] == 45 and a[5]["damage_taken"] == 45
        assert list(a[3]) == list(b[3]) and bool(a[3][0]) == (not survives)  # terminated


def test_lone_killer_takes_all_gold_and_a_dead_killer_takes_none(tiny):
    state = duel_state(tiny, {"melee": 1737}, {}, health={0: 30}, gold={0: 7, 4: 2})
    (_, st, _, _, _, info), = attack_once(tiny, state, {4: (MELEE, 0)})
    assert not st.entities.alive[0] and st.entities.gold[4] == 2 + 7 and st.entities.gold[0] == 0
    assert info["player_kills"] == 1 and info["kills"] == 1
    # both kill each other on the same tick (L10 vs L10: 60 - 50 = 10 each): nobody is paid
    (mx, ml) = skill_rows({"melee": 1737})
    state = tiny.lab_state({4: (20, 20), 0: (20, 22)}, xp={4: mx, 0: mx}, levels={4: ml, 0: ml},
                           health={0: 10, 4: 10}, food={0: 40, 4: 40}, water={0: 40, 4: 40},
                           gold={0: 7, 4: 2}, time_alive={0: VETERAN, 4: VETERAN})
    (_, st, _, term, _, info), = attack_once(tiny, state, {4: (MELEE, 0), 0: (MELEE, 4)})
    assert not st.entities.alive[0] and not st.entities.alive[4]
    assert st.entities.gold[0] == 0 and st.entities.gold[4] == 0
    assert info["player_kills"] == 2 and term[0] and term[4]


def test_killing_an_npc_pays_its_level_in_gold(tiny):
    npc = tiny.A  # first NPC slot
    state = tiny.lab_state({4: (20, 20), npc: (20, 22)}, kind={npc: KIND_PASSIVE}, health={npc: 8},
                           levels={npc: [6, 1, 1, 1, 1, 1, 1, 1]}, xp={npc: [754, 0, 0, 0, 0, 0, 0, 0]},
                           gold={npc: 6, 4: 3}, npc_defense={npc: 44}, time_alive={4: VETERAN})
    (_, st, _, _, _, info), = attack_once(tiny, state, {4: (MELEE, npc)})
    # offense 15 vs NPC defense 44: minimum damage floor(3.75) = 3; 8 - 3 + regen... not dead yet
    assert st.entities.health[npc] == 8 + 1 - 3 and st.entities.alive[npc]
    state = state.replace(entities=state.entities.replace(health=state.entities.health.at[npc].set(2)))
    (_, st, _, _, _, info), = attack_once(tiny, state, {4: (MELEE, npc)})
    assert not st.entities.alive[npc]
    assert st.entities.gold[4] == 3 + 6
    assert (info["npc_kills"], info["player_kills"], info["kills"]) == (1, 0, 1)


def test_spawn_immunity_between_players(tiny):
    """A player cannot attack a player that has lived fewer than 20 whole ticks (observed time_alive)."""
    for lived, lands in ((0, False), (19, False), (20, True), (200, True)):
        state = duel_state(tiny, {}, {}, time_alive={4: VETERAN, 0: lived})
        obs = tiny.obs_of(state)
        row = tiny.row_of(obs, 4, 0)
        assert obs["action_mask"]["attack_target"][4, row] == lands
        assert obs["action_mask"]["attack_style"][4, 1:].all() == lands
        (_, st, _, _, _, info), = attack_once(tiny, state, {4: (MELEE, 0)})
        assert st.entities.health[0] == (90 if lands else 100), lived
        assert info["attacks"] == int(lands)
        assert st.entities.combat_timer[4] == (3 if lands else 0)
    # an NPC may attack a newborn player
    npc = tiny.A
    state = tiny.lab_state({0: (20, 22), npc: (20, 20)}, kind={npc: KIND_AGGRESSIVE}, npc_offense={npc: 25})
    (_, st, *_), = tiny.run(state)
    assert st.entities.health[0] == 100 - (25 - 5)


def test_reach_is_three_tiles_l_infinity(tiny):
    for dr, dc, lands in ((3, 3, True), (0, 3, True), (-3, 1, True), (4, 0, False), (2, 4, False)):
        state = tiny.lab_state({4: (20, 20), 0: (20 + dr, 20 + dc)}, time_alive={4: VETERAN, 0: VETERAN})
        obs = tiny.obs_of(state)
        row = tiny.row_of(obs, 4, 0)
        assert obs["action_mask"]["attack_target"][4, row] == lands
        (_, st, *_), = tiny.run(state, actions=tiny.attacks({4: (RANGE, row)}))
        assert st.entities.health[0] == (90 if lands else 100), (dr, dc)


def test_self_and_empty_rows_and_bad_styles_are_noops(tiny):
    state = duel_state(tiny, {}, {})
    obs = tiny.obs_of(state)
    row = tiny.row_of(obs, 4, 0)
    assert obs["action_mask"]["attack_target"][4, 0]  # row 0 (self) is the legal "no target"
    base = tiny.run(state)[0]
    for style, target_row in ((MELEE, 0), (MELEE, 5), (MELEE, 7), (MELEE, -1), (MELEE, 8), (MELEE, 2 ** 31 - 1),
                              (0, row), (4, row), (-1, row), (-2 ** 31, row)):
        out = tiny.run(state, actions=tiny.attacks({4: (style, target_row)}))[0]
        assert out[5]["attacks"] == 0
        for name in ("health", "xp", "combat_timer", "gold", "attacker"):
            assert np.array_equal(getattr(out[1].entities, name), getattr(base[1].entities, name)), (style, target_row)


def test_team_mates_are_not_targets(tiny):
    for attacker, lands in ((1, False), (3, False), (4, True), (12, True)):
        state = tiny.lab_state({attacker: (20, 20), 0: (20, 22)}, time_alive={attacker: VETERAN, 0: VETERAN})
        obs = tiny.obs_of(state)
        assert obs["entities"][attacker, 0, F["team"]] == attacker // 4 + 1
        row = tiny.row_of(obs, attacker, 0)
        assert obs["entities"][attacker, row, F["team"]] == 1
        assert obs["action_mask"]["attack_target"][attacker, row] == lands
        (_, st, *_), = tiny.run(state, actions=tiny.attacks({attacker: (MELEE, row)}))
        assert st.entities.health[0] == (90 if lands else 100)


def test_team_exclusion_switch(tiny):
    """With exclude_teammates off, team-mates are ordinary targets (combat.resolve under that config)."""
    import dataclasses
    cfg = dataclasses.replace(tiny.cfg, exclude_teammates=False)
    state = tiny.lab_state({1: (20, 20), 0: (20, 22)}, time_alive={1: VETERAN, 0: VETERAN})
    n = tiny.N
    style = jnp.zeros(n, jnp.int32).at[1].set(MELEE)
    target = jnp.full(n, -1, jnp.int32).at[1].set(0)
    for config, lands in ((tiny.cfg, False), (cfg, True)):
        st, ev = combat.resolve(key(0), state, style, target, tiny.params, config)
        assert bool(ev["landed"][1]) == lands and int(st.entities.health[0]) == (90 if lands else 100)


def test_combat_status_lasts_three_ticks_for_both_sides(tiny):
    state = duel_state(tiny, {}, {})
    outs = attack_once(tiny, state, {4: (MELEE, 0)})
    st = jax.tree.map(jnp.asarray, outs[0][1])
    outs += tiny.run(st, ticks=4, seed=1)  # no more attacks
    for t, expected in enumerate((1, 1, 1, 0, 0)):
        obs, st = outs[t][0], outs[t][1]
        assert st.entities.combat_timer[0] == st.entities.combat_timer[4] == max(3 - t, 0)
        assert obs["entities"][4, 0, F["in_combat"]] == expected
        assert obs["entities"][0, 0, F["in_combat"]] == expected
        assert obs["entities"][4, tiny.row_of(obs, 4, 0), F["in_combat"]] == expected


def test_npcs_never_attack_npcs_and_the_rules_refuse_it(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (20, 20), a + 1: (20, 21)}, kind={a: KIND_AGGRESSIVE, a + 1: KIND_PASSIVE},
                           npc_offense={a: 50}, health={a + 1: 50})
    (_, st, *_), = tiny.run(state)
    assert st.entities.health[a + 1] == 51  # only its +1 regeneration
    style = jnp.zeros(tiny.N, jnp.int32).at[a].set(MELEE)
    target = jnp.full(tiny.N, -1, jnp.int32).at[a].set(a + 1)
    st, ev = combat.resolve(key(0), state, style, target, tiny.params, tiny.cfg)
    assert not bool(ev["landed"][a]) and int(st.entities.health[a + 1]) == 50


def test_dead_or_dying_bystanders_unchanged_and_dead_attackers_do_nothing(tiny):
    state = duel_state(tiny, {}, {}, health={4: 0})
    state = state.replace(entities=state.entities.replace(alive=state.entities.alive.at[4].set(False)))
    obs = tiny.obs_of(state)
    assert not obs["action_mask"]["attack_style"][4, 1:].any()
    (_, st, _, _, _, info), = tiny.run(state, actions=tiny.attacks({4: (MELEE, 1)}))
    assert info["attacks"] == 0 and st.entities.health[0] == 100


def test_player_damage_reward_charges_the_attacker_per_health_bar_of_harm(tiny):
    """params.player_damage_reward pays (per max_health of damage to players) the attacker only, and
    only for hits on players; 0 (SPEC's default; the small preset sets -1) leaves survival alone."""
    alive = 1.0 / 64  # tiny's horizon
    state = duel_state(tiny, {}, {})  # slot 4 hits slot 0 for 15 - 5 = 10
    (_, _, reward, *_), = attack_once(tiny, state, {4: (MELEE, 0)}, params=tiny.p(player_damage_reward=0.0))
    assert reward[4] == pytest.approx(alive) and reward[0] == pytest.approx(alive)
    harsh = tiny.p(player_damage_reward=-2.0)
    (_, st, reward, *_), = attack_once(tiny, state, {4: (MELEE, 0)}, params=harsh)
    assert st.entities.health[0] == 90
    assert reward[4] == pytest.approx(alive - 2.0 * 10 / 100)
    assert reward[0] == pytest.approx(alive)  # the victim is not charged
    # a hit on an NPC costs nothing
    npc = tiny.A
    state = tiny.lab_state({4: (20, 20), npc: (20, 22)}, kind={npc: KIND_PASSIVE}, npc_defense={npc: 5},
                           time_alive={4: VETERAN})
    (_, st, reward, *_), = attack_once(tiny, state, {4: (MELEE, npc)}, params=harsh)
    assert st.entities.health[npc] < 100
    assert reward[4] == pytest.approx(alive)
    # ...unless npc_damage_reward pays for it (per health bar dealt to NPCs; hits on players unaffected)
    hunting = tiny.p(player_damage_reward=-2.0, npc_damage_reward=0.5)
    (_, st, reward, _, _, info), = attack_once(tiny, state, {4: (MELEE, npc)}, params=hunting)
    dealt = 100 - int(st.entities.health[npc])
    assert dealt > 0 and info["damage_dealt"] == dealt
    assert reward[4] == pytest.approx(alive + 0.5 * dealt / 100)
    (_, _, reward, *_), = attack_once(tiny, duel_state(tiny, {}, {}), {4: (MELEE, 0)}, params=hunting)
    assert reward[4] == pytest.approx(alive - 2.0 * 10 / 100)
