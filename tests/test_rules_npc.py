"""NPCs (SPEC section 8): spawning by danger, kinds, levels and power, and behaviour.

``tiny``: playable square 8..39 (side 32), NPC slots 16..19, NPC sight 7, reach 3.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key, to_np
from nmmo_jax import tiles as T
from nmmo_jax.config import load_config
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_PASSIVE
from nmmo_jax.systems import npc

XP = [0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737]
MELEE = 1

# tiny (side 32, border 8): map position -> (distance to border, kind, level), by hand:
# danger = 2d/32; >= 0.8 aggressive, >= 0.5 neutral; level = floor(9 * danger + 1)
TINY_CASES = [
    ((8, 20), 0, KIND_PASSIVE, 1),      # spawn ring: danger 0
    ((15, 20), 7, KIND_PASSIVE, 4),     # 14/32 = 0.4375 -> floor(4.9375)
    ((16, 20), 8, KIND_NEUTRAL, 5),     # 16/32 = 0.5 exactly -> neutral, floor(5.5)
    ((20, 20), 12, KIND_NEUTRAL, 7),    # 0.75 -> floor(7.75)
    ((21, 21), 13, KIND_AGGRESSIVE, 8),  # 0.8125 -> floor(8.3125)
    ((23, 24), 15, KIND_AGGRESSIVE, 9),  # (15, 16) from the corner, 15 from the far edge: 0.9375
    ((39, 30), 0, KIND_PASSIVE, 1),     # last playable row
]


def test_kind_and_level_by_position_by_hand(tiny):
    pos = jnp.asarray([c[0] for c in TINY_CASES])
    d = npc.danger(pos, tiny.cfg)
    assert np.allclose(d, [2 * c[1] / 32 for c in TINY_CASES])
    assert np.array_equal(npc.kind_for_danger(d, tiny.params), [c[2] for c in TINY_CASES])
    assert np.array_equal(npc.level_for_danger(d, tiny.params), [c[3] for c in TINY_CASES])
    # medium (side 128): the centre is 63 from the edge -> 126/128 -> level 9; 51 -> 0.797 neutral; 52 aggressive
    medium = load_config("medium")
    p = medium.params.to_params()
    b = medium.env.border
    dm = npc.danger(jnp.asarray([[b + 63, b + 64], [b + 51, b + 60], [b + 52, b + 60]]), medium.env)
    assert np.array_equal(npc.kind_for_danger(dm, p), [KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_AGGRESSIVE])
    assert np.array_equal(npc.level_for_danger(dm, p), [9, 8, 8])


def test_npc_power_by_hand(tiny):
    level = jnp.asarray([5, 5, 5, 1, 10])
    u = jnp.asarray([0.0, 0.5, 0.999, 0.9, 0.25])
    # floor(8 * (level - u)): 40, 36, floor(32.008) = 32, floor(0.8) = 0, floor(78)
    assert np.array_equal(npc.npc_power(level, u, tiny.params), [40, 36, 32, 0, 78])


@pytest.mark.parametrize("seed", range(4))
def test_reset_spawns_every_npc_by_the_danger_of_its_tile(tiny, seed):
    _, st = to_np(tiny.reset(key(seed), tiny.params))
    e, a = st.entities, tiny.A
    live = np.flatnonzero(e.alive[a:]) + a
    assert live.size == tiny.cfg.num_npcs
    for slot in live:
        r, c = e.pos[slot] - tiny.b
        d = min(r, c, tiny.s - 1 - r, tiny.s - 1 - c)
        danger = 2 * d / tiny.s
        kind = KIND_AGGRESSIVE if danger >= 0.8 else KIND_NEUTRAL if danger >= 0.5 else KIND_PASSIVE
        level = int(np.floor(danger * 9 + 1))
        style = e.npc_style[slot]
        assert e.kind[slot] == kind and style in (1, 2, 3)
        assert e.levels[slot, style - 1] == level and e.levels[slot].sum() == level + 7
        assert e.xp[slot, style - 1] == XP[level - 1]
        assert e.gold[slot] == level and e.health[slot] == 100 and e.food[slot] == e.water[slot] == 0
        assert 8 * (level - 1) < e.npc_offense[slot] + 1 <= 8 * level + 1 and e.npc_defense[slot] == e.npc_offense[slot]
        assert e.attacker[slot] == -1 and e.time_alive[slot] == 0
        tile = st.tiles[tuple(e.pos[slot])]
        assert T.PASSABLE[tile] and tile != T.LAVA
    taken = [tuple(p) for p in e.pos[e.alive].tolist()]
    assert len(set(taken)) == len(taken)


def test_styles_and_power_are_spread(tiny):
    """Across resets the random style covers all three and offense covers its level's range."""
    styles, fractions = set(), []
    for seed in range(12):
        _, st = to_np(tiny.reset(key(100 + seed), tiny.params))
        e = st.entities
        for slot in range(tiny.A, tiny.N):
            styles.add(int(e.npc_style[slot]))
            level = e.levels[slot].max()
            fractions.append(level - e.npc_offense[slot] / 8)  # = u rounded up to 1/8
    assert styles == {1, 2, 3}
    fractions = np.asarray(fractions)
    assert fractions.min() >= 0 and fractions.max() <= 1 and np.ptp(fractions) >= 0.5


def test_population_refills_up_to_the_cap(tiny):
    state = tiny.lab_state({0: (20, 20)}, tiles={(21, 21): T.STONE})
    outs = tiny.run(state, ticks=2, npc_refill=True)
    e = outs[0][1].entities
    assert e.alive[tiny.A:].all(), "25 attempts on an open map fill 4 free slots in one tick"
    assert outs[0][5]["npcs_alive"] == 4
    for slot in range(tiny.A, tiny.N):
        r, c = e.pos[slot] - tiny.b
        d = min(r, c, tiny.s - 1 - r, tiny.s - 1 - c)
        assert e.kind[slot] == (3 if 2 * d / 32 >= 0.8 else 2 if 2 * d / 32 >= 0.5 else 1)
        assert tuple(e.pos[slot]) not in {(20, 20), (21, 21)}
    # a cap of 2 live NPCs, traced: no recompile
    capped = tiny.run(state, ticks=3, params=tiny.p(max_npcs=2), npc_refill=True)
    assert [o[5]["npcs_alive"] for o in capped] == [2, 2, 2]
    # a dead NPC's slot is refilled on the tick it died (step 6 follows step 4)
    a = tiny.A
    full = jax.tree.map(jnp.asarray, outs[1][1])
    e = full.entities
    full = full.replace(entities=e.replace(health=e.health.at[a].set(1), pos=e.pos.at[a].set([20, 21]),
                                           time_alive=e.time_alive.at[0].set(30)))
    full = full.replace(obs_slots=tiny.observe(full, tiny.params)[1])
    obs = tiny.obs_of(full)
    (_, st, _, _, _, info), = tiny.run(full, actions=tiny.attacks({0: (MELEE, tiny.row_of(obs, 0, a))}),
                                       npc_refill=True)
    assert info["npc_kills"] == 1
    assert st.entities.alive[a] and st.entities.time_alive[a] == 0 and info["npcs_alive"] == 4


def test_passive_npcs_walk_at_random_and_never_fight(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 24), 4: (24, 26)}, kind={a: KIND_PASSIVE}, npc_offense={a: 50},
                           time_alive={4: 30})
    obs = tiny.obs_of(state)
    hit = tiny.attacks({4: (MELEE, tiny.row_of(obs, 4, a))})
    outs = tiny.run(state, actions=hit)  # the player attacks it once
    st = jax.tree.map(jnp.asarray, outs[0][1])
    assert st.entities.attacker[a] == 4
    outs += tiny.run(st, ticks=17, seed=2)  # the player's food lasts 20 ticks
    steps = set()
    prev = np.asarray(state.entities.pos[a])
    for out in outs:
        pos = out[1].entities.pos[a]
        step = tuple(pos - prev)
        assert step in {(1, 0), (-1, 0), (0, 1), (0, -1)}, "a passive NPC moves one tile every tick"
        steps.add(step)
        prev = pos
        assert out[1].entities.health[4] == 100 and out[5]["damage_taken"] == 0
    assert len(steps) == 4


def test_neutral_npcs_fight_back_and_chase(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 24), 4: (24, 26)}, kind={a: KIND_NEUTRAL}, npc_offense={a: 25},
                           npc_defense={a: 0}, time_alive={4: 30})
    calm = tiny.run(state, ticks=3)
    assert all(o[1].entities.health[4] == 100 for o in calm), "a neutral NPC leaves players alone"
    obs = tiny.obs_of(state)
    outs = tiny.run(state, actions=tiny.attacks({4: (MELEE, tiny.row_of(obs, 4, a))}))
    assert outs[0][1].entities.health[a] == 100 - 15 and outs[0][1].entities.attacker[a] == 4
    st = jax.tree.map(jnp.asarray, outs[0][1])
    # the player runs east; the NPC follows and hits it every tick (offense 25 - defense 5 = 20)
    run = tiny.run(st, actions=tiny.moves({4: 3}), ticks=4, seed=3)
    health = [int(o[1].entities.health[4]) for o in run]
    assert health == [80, 70, 60, 50]  # +10 regeneration (full bars) then -20 each tick
    for t, o in enumerate(run):
        assert o[1].entities.pos[4, 1] == 27 + t
        assert o[1].entities.pos[a, 1] == 25 + t, "the NPC keeps pace one step behind"
        assert o[5]["damage_taken"] == 20 and o[5]["attacks"] == 0


def test_aggressive_npcs_hunt_the_closest_player_in_sight(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 20), 4: (24, 26)}, kind={a: KIND_AGGRESSIVE}, npc_offense={a: 25})
    outs = tiny.run(state, ticks=6)
    gap = [int(o[1].entities.pos[4, 1] - o[1].entities.pos[a, 1]) for o in outs]
    health = [int(o[1].entities.health[4]) for o in outs]
    # gap 6 -> 5 -> 4 -> 3 (moves only); from gap 3 it is in reach: it attacks and keeps closing to 1
    assert gap == [5, 4, 3, 2, 1, 1]
    assert health == [100, 100, 100, 80, 70, 60]
    # out of sight (8 tiles): ignored
    far = tiny.lab_state({a: (24, 18), 4: (24, 26)}, kind={a: KIND_AGGRESSIVE}, npc_offense={a: 25})
    outs = tiny.run(far, ticks=2)
    assert all(o[1].entities.health[4] == 100 for o in outs)
    # two players in reach: the closer one is attacked, whichever slots they occupy
    for near, other in ((0, 8), (8, 0)):
        both = tiny.lab_state({a: (24, 24), near: (24, 26), other: (24, 21)}, kind={a: KIND_AGGRESSIVE},
                              npc_offense={a: 25})
        (_, st, *_), = tiny.run(both)
        assert st.entities.health[near] == 80 and st.entities.health[other] == 100


def test_aggressive_out_of_sight_walks_at_random(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 18), 4: (24, 26)}, kind={a: KIND_AGGRESSIVE}, npc_offense={a: 25})
    moves = set()
    for seed in range(8):
        (_, st, *_), = tiny.run(state, seed=seed)
        moves.add(tuple(st.entities.pos[a] - np.asarray(state.entities.pos[a])))
    assert len(moves) >= 3, "no chase: the first step is random"


def test_attacker_forgotten_out_of_sight(tiny):
    a = tiny.A
    for dist, chases in ((5, True), (8, False)):
        state = tiny.lab_state({a: (24, 20), 4: (24, 20 + dist)}, kind={a: KIND_NEUTRAL}, attacker={a: 4})
        (_, st, *_), = tiny.run(state)
        if chases:
            assert tuple(st.entities.pos[a]) == (24, 21) and st.entities.attacker[a] == 4
        else:
            assert st.entities.attacker[a] == -1


def test_chase_steps_around_an_obstacle(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 20), 4: (24, 24)}, kind={a: KIND_NEUTRAL}, attacker={a: 4},
                           tiles={(24, 21): T.STONE})
    outs = tiny.run(state, ticks=8)
    assert min(abs(o[1].entities.pos[a] - o[1].entities.pos[4]).sum() for o in outs) == 1


def test_npcs_regenerate_and_never_starve(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (24, 24)}, health={a: 50})
    outs = tiny.run(state, ticks=40)
    health = [int(o[1].entities.health[a]) for o in outs]
    assert health[:3] == [51, 52, 53] and health[-1] == 90
    assert all(o[1].entities.alive[a] for o in outs)
    assert outs[-1][1].entities.food[a] == 0 and outs[-1][1].entities.water[a] == 0
    full = tiny.lab_state({a: (24, 24)})
    assert tiny.run(full)[0][1].entities.health[a] == 100, "capped at npc_health"


def test_npc_rows_in_observations(tiny):
    a = tiny.A
    state = tiny.lab_state({4: (24, 24), a: (24, 26), a + 1: (22, 24)},
                           kind={a: KIND_AGGRESSIVE, a + 1: KIND_NEUTRAL}, gold={a: 8, a + 1: 5},
                           levels={a: [1, 1, 8, 1, 1, 1, 1, 1]})
    obs = tiny.obs_of(state)
    from nmmo_jax.observe import FEATURE_INDEX as F
    row = tiny.row_of(obs, 4, a)
    ent = obs["entities"][4, row]
    assert (ent[F["type"]], ent[F["gold"]], ent[F["level_mage"]], ent[F["row"]], ent[F["col"]]) == (3, 8, 8, 0, 2)
    assert obs["entities"][4, tiny.row_of(obs, 4, a + 1), F["type"]] == 2
    # NPCs have no spawn immunity: attackable at once
    assert obs["action_mask"]["attack_target"][4, row]
