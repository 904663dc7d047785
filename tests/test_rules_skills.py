"""Skills and progression (SPEC section 6): the XP table, XP from harvests and hits, levels in use."""
import jax
import jax.numpy as jnp
import numpy as np

from conftest import key, to_np
from nmmo_jax import tiles as T
from nmmo_jax.observe import FEATURE_INDEX as F
from nmmo_jax.systems import skills

MELEE = 1


def test_xp_table_thresholds():
    xp = jnp.asarray([0, 89, 90, 216, 217, 372, 373, 552, 553, 753, 754, 973, 974, 1211, 1212, 1466, 1467,
                      1736, 1737, 10 ** 6])
    assert np.array_equal(skills.level_from_xp(xp),
                          [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10])
    assert np.array_equal(skills.xp_for_level(jnp.arange(1, 11)), [0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737])


def test_harvest_xp_by_profession(tiny):
    """Ore/tree/crystal +15 to prospecting/carving/alchemy; herb and fish +30 to herbalism/fishing;
    eating foliage and drinking train nothing."""
    tiles = {(12, 12): T.ORE, (12, 16): T.TREE, (12, 20): T.CRYSTAL, (12, 24): T.HERB, (16, 13): T.FISH,
             (16, 20): T.FOLIAGE, (20, 13): T.WATER}
    agents = {0: (12, 12), 1: (12, 16), 2: (12, 20), 3: (12, 24), 4: (16, 12), 5: (16, 20), 6: (20, 12),
              7: (24, 24)}
    state = tiny.lab_state(agents, tiles=tiles)
    (obs, st, *_), = tiny.run(state)
    expected = {0: (5, 15), 1: (6, 15), 2: (7, 15), 3: (4, 30), 4: (3, 30)}
    for slot in agents:
        row = np.zeros(8, int)
        if slot in expected:
            row[expected[slot][0]] = expected[slot][1]
        assert np.array_equal(st.entities.xp[slot], row), slot
    # two harvesters on one ore tile both learn; the tile depletes once
    state = tiny.lab_state({0: (12, 12), 1: (12, 12)}, tiles={(12, 12): T.ORE})
    (_, st, *_), = tiny.run(state)
    assert st.entities.xp[0, 5] == st.entities.xp[1, 5] == 15 and st.tiles[12, 12] == T.SLAG


def test_levels_rise_and_show_in_entity_rows(tiny):
    state = tiny.lab_state({0: (12, 12)}, tiles={(12, 12): T.ORE}, xp={0: [0, 0, 0, 0, 0, 80, 0, 0]})
    (obs, st, *_), = tiny.run(state)
    assert st.entities.xp[0, 5] == 95 and st.entities.levels[0, 5] == 2
    assert obs["entities"][0, 0, F["level_prospecting"]] == 2
    assert obs["entities"][0, 0, F["level_melee"]] == 1


def test_hits_train_the_style_and_levels_feed_damage(tiny):
    """melee XP 84: the first hit (offense 15 - defense 5 = 10) brings it to 90 = level 2; the next
    hit has offense 10 + 5*2 = 20 and deals 15."""
    state = tiny.lab_state({4: (20, 20), 0: (20, 22)}, xp={4: [84, 0, 0, 0, 0, 0, 0, 0]},
                           food={0: 40}, water={0: 40}, time_alive={0: 30, 4: 30})
    obs = tiny.obs_of(state)
    act = tiny.attacks({4: (MELEE, tiny.row_of(obs, 4, 0))})
    outs = tiny.run(state, actions=act, ticks=2)
    assert [int(o[1].entities.health[0]) for o in outs] == [90, 75]
    assert [int(o[1].entities.xp[4, 0]) for o in outs] == [90, 96]
    assert outs[0][0]["entities"][4, 0, F["level_melee"]] == 2
    assert outs[0][5]["mean_level_melee"] == (2 + 1) / 2  # info: mean over the two live players
    # defense comes from the highest of all eight skills: a level-4 fisher takes 15 - 20 -> minimum 3
    state = tiny.lab_state({4: (20, 20), 0: (20, 22)}, xp={0: [0, 0, 0, 373, 0, 0, 0, 0]},
                           levels={0: [1, 1, 1, 4, 1, 1, 1, 1]}, food={0: 40}, water={0: 40},
                           time_alive={0: 30, 4: 30})
    (_, st, *_), = tiny.run(state, actions=act)
    assert st.entities.health[0] == 100 - 3


def test_persistent_respawn_starts_a_new_player(classic):
    """In the persistent world a slot that died comes back at level 1 with 1 gold."""
    state = classic.lab_state({0: (20, 20)}, health={0: 5}, food={0: 0}, water={0: 0}, gold={0: 40},
                              xp={0: [553, 0, 0, 974, 0, 0, 0, 0]}, levels={0: [5, 1, 1, 7, 1, 1, 1, 1]})
    delay = int(classic.params.respawn_delay)
    outs = classic.run(state, ticks=delay + 2)
    assert not outs[0][1].entities.alive[0] and outs[0][1].entities.gold[0] == 0
    back = [o for o in outs if o[1].entities.alive[0]]
    assert back, "the slot should respawn"
    e = back[0][1].entities
    assert np.all(e.levels[0] == 1) and np.all(e.xp[0] == 0) and e.gold[0] == 1 and e.attacker[0] == -1
