"""Automatic harvest and resource regrowth (SPEC section 2, tick order of section 4)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key
from nmmo_jax import tiles as T
from nmmo_jax.state import NEVER
from nmmo_jax.systems.harvest import geometric_delay

NO_REGROWTH = dict(foliage_respawn=0.0, ore_respawn=0.0, tree_respawn=0.0, crystal_respawn=0.0,
                   herb_respawn=0.0, fish_respawn=0.0)
ALWAYS_REGROW = {k: 1.0 for k in NO_REGROWTH}


def test_eating_on_foliage_restores_food_and_leaves_scrub(tiny):
    tiles = {(24, 24): T.FOLIAGE, (20, 31): T.FOLIAGE}
    # 0 and 1 share a foliage tile; 2 stands next to foliage (does not eat)
    state = tiny.lab_state({0: (24, 24), 1: (24, 24), 2: (20, 30)}, tiles=tiles,
                           food={0: 30, 1: 0, 2: 30}, health={1: 50})
    (obs, st, *_), = tiny.run(state)
    e = st.entities
    assert (e.food[0], e.food[1], e.food[2]) == (100, 100, 25)
    assert e.health[1] == 40  # it was starving at the start of the tick, then ate
    assert st.tiles[24, 24] == T.SCRUB and st.tiles[20, 31] == T.FOLIAGE
    assert st.regrow_tick[24, 24] >= 1 and st.regrow_tick[20, 31] == NEVER
    c = tiny.R
    assert tuple(obs["tiles"][0, c, c, :2]) == (T.SCRUB, 2)  # depleted, regrowing
    assert tuple(obs["tiles"][2, c, c + 1, :2]) == (T.FOLIAGE, 1)
    assert obs["tiles"][0, c, c, 2] == 2  # two live entities on the tile


def test_harvest_happens_before_movement(tiny):
    """Moving onto foliage eats on the next tick, not on the tick of the move (SPEC section 4)."""
    state = tiny.lab_state({3: (30, 30)}, tiles={(30, 31): T.FOLIAGE}, food={3: 50})
    outs = tiny.run(state, actions=tiny.moves({3: 3}), ticks=1)
    st = outs[0][1]
    assert tuple(st.entities.pos[3]) == (30, 31) and st.entities.food[3] == 45
    assert st.tiles[30, 31] == T.FOLIAGE
    (_, st2, *_), = tiny.run(jax.tree.map(jnp.asarray, st))
    assert st2.entities.food[3] == 100 and st2.tiles[30, 31] == T.SCRUB


def test_drinking_when_4_adjacent_to_water_and_water_never_depletes(tiny):
    agents = {0: (13, 12), 1: (11, 12), 2: (12, 11), 3: (12, 13), 4: (13, 13)}
    state = tiny.lab_state(agents, tiles={(12, 12): T.WATER},
                           water={s: 10 for s in agents}, food={s: 10 for s in agents})
    outs = tiny.run(state, ticks=30)
    first = outs[0][1].entities
    for slot in range(4):  # water S, N, E, W of the agent
        assert (first.water[slot], first.food[slot]) == (100, 5), slot
    assert first.water[4] == 5, "diagonal water does not count"
    for _, st, *_ in outs:
        assert st.tiles[12, 12] == T.WATER
        assert np.all(st.entities.water[:4] == 100)
        assert np.all(st.regrow_tick == NEVER)


@pytest.mark.parametrize("full,empty", [(T.ORE, T.SLAG), (T.TREE, T.STUMP), (T.CRYSTAL, T.FRAGMENT),
                                        (T.HERB, T.WEEDS), (T.FOLIAGE, T.SCRUB)])
def test_standing_harvest_depletes(tiny, full, empty):
    params = tiny.p(**NO_REGROWTH)
    tiles = {(20, 20): full, (20, 22): full}
    state = tiny.lab_state({5: (20, 20)}, tiles=tiles)
    outs = tiny.run(state, params=params, ticks=40)
    for _, st, *_ in outs:
        assert st.tiles[20, 20] == empty
        assert st.tiles[20, 22] == full  # nobody on it
    assert outs[0][1].entities.food[5] == (100 if full == T.FOLIAGE else 95)


def test_fish_depletes_first_adjacent_in_nsew_order(tiny):
    params = tiny.p(**NO_REGROWTH)
    tiles = {(20, 20): T.FISH, (29, 30): T.FISH, (30, 31): T.FISH}
    state = tiny.lab_state({0: (20, 19), 1: (30, 30)}, tiles=tiles)
    outs = tiny.run(state, params=params, ticks=3)
    first, second = outs[0][1], outs[1][1]
    assert first.tiles[20, 20] == T.OCEAN
    assert first.tiles[29, 30] == T.OCEAN and first.tiles[30, 31] == T.FISH  # north first
    assert second.tiles[29, 30] == T.OCEAN and second.tiles[30, 31] == T.OCEAN  # then east
    assert np.array_equal(outs[2][1].tiles, second.tiles)  # nothing left to fish


def test_each_depleted_material_regrows_same_tick_with_probability_one(tiny):
    params = tiny.p(**ALWAYS_REGROW)
    fulls = [T.FOLIAGE, T.ORE, T.TREE, T.CRYSTAL, T.HERB]
    tiles = {(14, 10 + 2 * i): m for i, m in enumerate(fulls)}
    tiles[(20, 20)] = T.FISH
    agents = {i: (14, 10 + 2 * i) for i in range(len(fulls))}
    agents[6] = (20, 21)
    state = tiny.lab_state(agents, tiles=tiles, food={0: 40})
    (_, st, *_), = tiny.run(state, params=params)
    for (r, c), m in tiles.items():
        assert st.tiles[r, c] == m
    assert np.all(st.regrow_tick == NEVER)
    assert st.entities.food[0] == 100  # it did eat


def test_regrowth_happens_on_the_drawn_tick(tiny):
    """A tile depleted on tick 1 with regrow_tick R is depleted through tick R-1 and back on R."""
    params = tiny.p(foliage_respawn=0.2)
    for seed in range(40):
        state = tiny.lab_state({0: (24, 24)}, tiles={(24, 24): T.FOLIAGE})
        (_, st, *_), = tiny.run(state, params=params, seed=seed)
        regrow = int(st.regrow_tick[24, 24])
        if 4 <= regrow < NEVER:
            break
    else:
        pytest.fail("no draw of 4 or more ticks in 40 tries at p=0.2")
    assert st.tiles[24, 24] == T.SCRUB and st.entities.food[0] == 100
    # walk off (harvest of the scrub tile first: nothing), then wait
    state = jax.tree.map(jnp.asarray, st)
    outs = tiny.run(state, actions=tiny.moves({0: 3}), ticks=1, params=params, seed=seed)
    outs += tiny.run(jax.tree.map(jnp.asarray, outs[0][1]), ticks=regrow + 2, params=params, seed=seed + 1)
    for _, s, *_ in outs:
        t = int(s.tick)
        expected = T.FOLIAGE if t >= regrow else T.SCRUB
        assert s.tiles[24, 24] == expected, (t, regrow)
        assert s.regrow_tick[24, 24] == (NEVER if t >= regrow else regrow)


def test_regrowth_delay_draws_differ_between_tiles(tiny):
    """Each depleted tile gets its own draw (not one shared timer)."""
    params = tiny.p(foliage_respawn=0.05)
    agents = {i: (10 + 2 * i, 20) for i in range(16)}
    tiles = {rc: T.FOLIAGE for rc in agents.values()}
    state = tiny.lab_state(agents, tiles=tiles)
    (_, st, *_), = tiny.run(state, params=params)
    draws = [int(st.regrow_tick[r, c]) for r, c in agents.values()]
    assert len(set(draws)) >= 8
    assert min(draws) >= 1


def test_geometric_delay_distribution():
    n = 200_000
    d = np.asarray(geometric_delay(key(0), jnp.float32(0.1), (n,)))
    assert d.min() >= 1
    # geometric on {1, 2, ...}: mean 1/p = 10, sd sqrt(1-p)/p ~ 9.49 -> standard error ~0.021
    assert abs(d.mean() - 10.0) < 0.12, d.mean()
    assert abs((d == 1).mean() - 0.1) < 0.005
    assert abs((d == 2).mean() - 0.09) < 0.005
    assert abs((d > 10).mean() - 0.9 ** 10) < 0.006
    # a different key gives different draws
    assert not np.array_equal(d[:100], np.asarray(geometric_delay(key(1), jnp.float32(0.1), (100,))))


def test_geometric_delay_edge_probabilities():
    assert np.all(np.asarray(geometric_delay(key(2), jnp.float32(0.0), (1000,))) == NEVER)
    assert np.all(np.asarray(geometric_delay(key(3), jnp.float32(1.0), (100_000,))) == 1)
    probs = jnp.asarray([0.0, 1.0, 0.5], jnp.float32)
    d = np.asarray(geometric_delay(key(4), probs, (3,)))
    assert d[0] == NEVER and d[1] == 1 and 1 <= d[2] < 64


def test_geometric_delay_with_probability_one_is_always_one(monkeypatch):
    """p = 1 regrows on the first tick for every uniform draw, down to the smallest one
    geometric_delay can draw (minval = float32 tiny); likewise p = 0.5 stays finite."""
    def extreme_uniform(k, shape=(), dtype=jnp.float32, minval=0.0, maxval=1.0):
        return jnp.full(shape, minval, dtype)

    monkeypatch.setattr(jax.random, "uniform", extreme_uniform)
    d = np.asarray(geometric_delay(key(0), jnp.asarray([1.0, 0.5], jnp.float32), (2,)))
    assert d[0] == 1, f"p=1 gave a delay of {d[0]} ticks at the smallest uniform draw"
    assert 1 <= d[1] <= 128
