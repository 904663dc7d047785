"""Classic combat (SPEC section 5, ``classic_combat``): d20 hit roll, per-style damage, mage freeze.

The ``classic`` world: one entity per tile, reach melee 1 / range 3 / mage 4 (classic preset params).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key, to_np
from nmmo_jax.systems import combat

XP = [0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737]
SKILL = {"melee": 0, "range": 1, "mage": 2, "fishing": 3, "carving": 6}
MELEE, RANGE, MAGE = 1, 2, 3


def test_classic_damage_table_by_hand():
    style = jnp.asarray([MELEE] * 3 + [RANGE] * 3 + [MAGE] * 3)
    level = jnp.asarray([1, 5, 10] * 3)
    # floor(7 + 63L/99): 7, floor(10.18), floor(13.36); floor(3 + 32L/99): 3, floor(4.62), floor(6.23);
    # floor(1 + 24L/99): 1, floor(2.21), floor(3.42)
    assert np.array_equal(combat.classic_hit_damage(style, level), [7, 10, 13, 3, 4, 6, 1, 2, 3])


def test_classic_dc_and_roll_by_hand():
    # DC = 0.3*defense + 0.7*target style level - attacker level + 10, in tenths
    dc = combat.classic_dc_tenths(jnp.asarray([1, 10, 10, 1, 6]), jnp.asarray([1, 10, 1, 1, 1]),
                                  jnp.asarray([1, 1, 1, 10, 4]))
    assert np.array_equal(dc, [100, 190, 127, 10, 85])  # 10, 19, 12.7, 1, 8.5
    rolls = jnp.arange(1, 21)
    hits = lambda d: int(combat.classic_hits(rolls, d).sum())
    assert [hits(100), hits(190), hits(127), hits(10), hits(85), hits(260)] == [11, 2, 8, 20, 12, 1]


def _pairs_state(classic):
    """Six duels side by side: (attacker, target, style, attacker XP, target XP, P(hit), hit damage)."""
    pairs = [
        (0, 1, MELEE, {}, {}, 11 / 20, 7),                                    # DC 10
        (2, 3, MELEE, {}, {"melee": XP[9]}, 2 / 20, 7),                        # DC 19: 19, 20
        (4, 5, RANGE, {}, {"carving": XP[9]}, 8 / 20, 3),                      # DC 12.7: 13..20
        (6, 7, MAGE, {"mage": XP[9]}, {}, 20 / 20, 3),                         # DC 1
        (8, 9, MAGE, {}, {}, 11 / 20, 1),                                      # hit damage = miss: freeze tells
        (10, 11, RANGE, {"range": XP[4]}, {"range": XP[4]}, 11 / 20, 4),      # DC 10; floor(3 + 160/99)
    ]
    agents, xp, levels = {}, {}, {}
    for i, (att, tgt, style, axp, txp, _, _) in enumerate(pairs):
        agents[att] = (12 + 2 * i, 12)
        agents[tgt] = (12 + 2 * i, 13)  # adjacent: in every style's reach
        for slot, d in ((att, axp), (tgt, txp)):
            row = np.zeros(8, np.int32)
            for name, v in d.items():
                row[SKILL[name]] = v
            xp[slot] = row
            levels[slot] = np.array([sum(v >= t for t in XP) for v in row], np.int32)
    state = classic.lab_state(agents, xp=xp, levels=levels, time_alive={s: 50 for s in agents})
    return state, pairs


def test_classic_hit_rate_statistics(classic):
    """4000 draws per duel through combat.resolve: hit frequencies match the d20 odds; a hit deals the
    style's damage and trains the style, a miss deals 1 and trains nothing; mage hits freeze."""
    state, pairs = _pairs_state(classic)
    n = classic.N
    style = np.zeros(n, np.int32)
    target = np.full(n, -1, np.int32)
    for att, tgt, s, *_ in pairs:
        style[att], target[att] = s, tgt
    style, target = jnp.asarray(style), jnp.asarray(target)

    def one(k):
        st, ev = combat.resolve(k, state, style, target, classic.params, classic.cfg)
        return ev["taken"], st.entities.freeze, st.entities.xp - state.entities.xp

    draws = 4000
    taken, freeze, gained = to_np(jax.jit(jax.vmap(one))(jax.random.split(key(77), draws)))
    for att, tgt, s, _, _, p_hit, hit_damage in pairs:
        if s == MAGE:
            hit = freeze[:, tgt] == 3
        else:
            hit = taken[:, tgt] == hit_damage
            assert np.all(hit | (taken[:, tgt] == 1)), "a miss deals exactly 1"
            assert not freeze[:, tgt].any()
        assert np.all(taken[:, tgt] == np.where(hit, hit_damage, 1))
        assert np.array_equal(gained[:, att, s - 1], np.where(hit, 6, 0)), "XP per hit, not per miss"
        sd = np.sqrt(p_hit * (1 - p_hit) / draws)
        assert abs(hit.mean() - p_hit) <= max(4 * sd, 1e-9), (att, hit.mean(), p_hit)


def test_mage_hit_freezes_three_ticks(classic):
    """A level-10 mage always hits (DC 1): the target cannot move on the tick of the hit nor the next
    two, its masks say so, and it moves on the fourth."""
    state = classic.lab_state({0: (15, 15), 1: (15, 19)}, xp={0: [0, 0, XP[9], 0, 0, 0, 0, 0]},
                              levels={0: [1, 1, 10, 1, 1, 1, 1, 1]}, time_alive={0: 50, 1: 50})
    obs = classic.obs_of(state)
    row = classic.row_of(obs, 0, 1)
    assert obs["action_mask"]["attack_style"][0].tolist() == [True, False, False, True]  # distance 4: mage only
    hit = classic.attacks({0: (MAGE, row)}, moves={1: 3})
    outs = classic.run(state, actions=hit)
    st = jax.tree.map(jnp.asarray, outs[0][1])
    outs += classic.run(st, actions=classic.moves({1: 3}), ticks=4, seed=1)
    cols = [int(o[1].entities.pos[1, 1]) for o in outs]
    assert cols == [19, 19, 19, 20, 21]
    assert [int(o[1].entities.freeze[1]) for o in outs] == [3, 2, 1, 0, 0]
    assert outs[0][1].entities.health[1] == 100 - 3  # floor(1 + 240/99)
    for t, frozen in enumerate((True, True, False, False, False)):
        mask = outs[t][0]["action_mask"]
        assert mask["move"][1, 1:].any() != frozen, t
        assert (not mask["attack_style"][1, 1:].any()) or not frozen


def test_frozen_entities_do_not_attack(classic):
    state = classic.lab_state({0: (15, 15), 1: (15, 16)}, freeze={0: 2}, time_alive={0: 50, 1: 50})
    obs = classic.obs_of(state)
    assert not obs["action_mask"]["attack_style"][0, 1:].any() and not obs["action_mask"]["move"][0, 1:].any()
    (_, st, _, _, _, info), = classic.run(state, actions=classic.attacks({0: (MELEE, classic.row_of(obs, 0, 1))}))
    assert info["attacks"] == 0 and st.entities.health[1] == 100
    # with freeze 1 the countdown frees it first: the attack lands
    state = classic.lab_state({0: (15, 15), 1: (15, 16)}, freeze={0: 1}, time_alive={0: 50, 1: 50})
    obs = classic.obs_of(state)
    assert obs["action_mask"]["attack_style"][0, MELEE]
    (_, st, _, _, _, info), = classic.run(state, actions=classic.attacks({0: (MELEE, classic.row_of(obs, 0, 1))}))
    assert info["attacks"] == 1


@pytest.mark.parametrize("dist,legal", [(1, [True, True, True]), (2, [False, True, True]),
                                        (3, [False, True, True]), (4, [False, False, True])])
def test_classic_reach_per_style(classic, dist, legal):
    state = classic.lab_state({0: (15, 15), 1: (15, 15 + dist)}, time_alive={0: 50, 1: 50})
    obs = classic.obs_of(state)
    row = classic.row_of(obs, 0, 1)
    assert obs["action_mask"]["attack_style"][0, 1:].tolist() == legal
    assert obs["action_mask"]["attack_target"][0, row]
    for style in (MELEE, RANGE, MAGE):
        (_, st, _, _, _, info), = classic.run(state, actions=classic.attacks({0: (style, row)}))
        assert info["attacks"] == int(legal[style - 1]), (dist, style)
