"""Map generation, spawning and movement (SPEC sections 2 and 3)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import key, to_np
from nmmo_jax import tiles as T
from nmmo_jax.terrain import ring_distance

SEEDS = range(6)


def _ring_dist(world):
    d = np.full((world.H, world.H), -1)
    d[world.b:world.b + world.s, world.b:world.b + world.s] = ring_distance(world.s)
    return d


@pytest.mark.parametrize("world_name", ["tiny", "classic"])
def test_map_layout(world_name, request):
    world = request.getfixturevalue(world_name)
    d = _ring_dist(world)
    seen = set()
    for seed in SEEDS:
        obs, st = to_np(world.reset(key(seed), world.params))
        tiles = st.tiles
        assert tiles.shape == (world.H, world.H) and tiles.dtype == np.uint8
        # border of the configured width: void (lava for classic), and only there
        assert np.all(tiles[d < 0] == world.edge)
        assert not np.any((tiles[d >= 0] == T.VOID) | (tiles[d >= 0] == T.LAVA))
        # spawn ring all grass; the ring inside it has no stone or water (nor fish/ocean)
        assert np.all(tiles[d == 0] == T.GRASS)
        assert not np.isin(tiles[d == 1], [T.STONE, T.WATER, T.FISH, T.OCEAN]).any()
        # resources stay off both rings; nothing is depleted at reset
        resources = [T.ORE, T.TREE, T.CRYSTAL, T.HERB, T.FISH]
        assert not np.isin(tiles[(d >= 0) & (d <= 1)], resources).any()
        assert not np.any(T.RESOURCE_STATE[tiles] == 2)
        seen |= set(np.unique(tiles[d >= 2]).tolist())
    # across a few maps every terrain class and resource shows up
    for m in (T.WATER, T.GRASS, T.FOLIAGE, T.STONE, T.ORE, T.TREE, T.CRYSTAL, T.HERB, T.FISH):
        assert m in seen, T.NAMES[m]


def test_maps_differ_by_key(tiny):
    a = np.asarray(tiny.reset(key(0), tiny.params)[1].tiles)
    b = np.asarray(tiny.reset(key(1), tiny.params)[1].tiles)
    assert (a != b).mean() > 0.2


@pytest.mark.parametrize("world_name", ["tiny", "classic"])
def test_spawn_on_distinct_ring_tiles_with_full_vitals(world_name, request):
    world = request.getfixturevalue(world_name)
    ring = world.ring_set()
    d = _ring_dist(world)
    assert len(ring) == 4 * (world.s - 1)
    assert all(d[r, c] == 0 for r, c in ring)
    starts = set()
    for seed in SEEDS:
        obs, st = to_np(world.reset(key(seed), world.params))
        e = st.entities
        a = world.A
        pos = [tuple(p) for p in e.pos[:a].tolist()]
        assert len(set(pos)) == a, "agents must start on distinct tiles"
        assert set(pos) <= ring
        assert np.all(st.tiles[tuple(np.asarray(pos).T)] == T.GRASS)
        assert e.alive[:a].all()
        npcs = np.flatnonzero(e.alive[a:]) + a
        assert npcs.size == world.cfg.num_npcs, "the world starts with every NPC slot filled"
        assert len({tuple(p) for p in e.pos[e.alive].tolist()}) == a + npcs.size, "one entity per tile at spawn"
        assert np.all(T.PASSABLE[st.tiles[tuple(e.pos[npcs].T)]]) and not np.any(st.tiles[tuple(e.pos[npcs].T)] == T.LAVA)
        assert np.all(e.health[:a] == 100) and np.all(e.food[:a] == 100) and np.all(e.water[:a] == 100)
        assert np.all(e.time_alive == 0) and int(st.tick) == 0 and int(st.total_deaths) == 0
        assert np.all(e.kind[:a] == 0) and np.all(e.gold[:a] == 1)
        starts.add(tuple(pos))
    assert len(starts) == len(SEEDS), "spawn tiles should depend on the key"


def test_movement_deltas_and_blocking(tiny):
    """N = row-1, S = row+1, E = col+1, W = col-1; stone, water, fish, ocean, void block."""
    tiles = {(23, 24): T.STONE, (25, 30): T.WATER, (30, 25): T.FISH, (30, 29): T.OCEAN,
             (16, 15): T.ORE, (20, 21): T.SCRUB, (34, 21): T.FOLIAGE}
    agents = {0: (24, 24), 1: (24, 30), 2: (30, 24), 3: (30, 30), 4: (8, 8), 5: (20, 8),
              6: (16, 16), 7: (16, 20), 8: (16, 24), 9: (16, 28), 10: (16, 15 + 1), 11: (20, 20),
              12: (34, 33), 13: (34, 35), 14: (34, 20)}
    moves = {0: 1, 1: 2, 2: 3, 3: 4, 4: 1, 5: 4, 6: 1, 7: 2, 8: 3, 9: 4, 10: 4, 11: 3,
             12: 3, 13: 4, 14: 3}
    # slot 15 is dead and asks to move: it must not
    state = tiny.lab_state(agents, tiles=tiles)
    (obs, st, *_), = tiny.run(state, actions=tiny.moves({**moves, 15: 2}))
    pos = st.entities.pos
    expected = {0: (24, 24), 1: (24, 30), 2: (30, 24), 3: (30, 30), 4: (8, 8), 5: (20, 8),
                6: (15, 16), 7: (17, 20), 8: (16, 25), 9: (16, 27), 10: (16, 15), 11: (20, 21),
                12: (34, 34), 13: (34, 34), 14: (34, 21)}
    for slot, rc in expected.items():
        assert tuple(pos[slot]) == rc, (slot, tuple(pos[slot]), rc)
    assert np.array_equal(pos[15], np.asarray(state.entities.pos[15]))
    assert obs["tiles"][12, tiny.R, tiny.R, 2] == 2, "agents may share a tile (v2 rules)"


def test_moves_against_mask_do_nothing_but_stay(tiny):
    """The move mask marks exactly the blocked moves; taking one is a stay."""
    tiles = {(23, 24): T.STONE, (25, 24): T.WATER, (24, 25): T.FISH, (24, 23): T.OCEAN}
    state = tiny.lab_state({0: (24, 24), 1: (8, 8)}, tiles=tiles)
    (obs, _, *_), = tiny.run(state)
    assert obs["action_mask"]["move"][0].tolist() == [True, False, False, False, False]
    assert obs["action_mask"]["move"][1].tolist() == [True, False, True, True, False]
    for m in range(5):
        (_, st, *_), = tiny.run(state, actions=tiny.moves({0: m, 1: m}))
        assert tuple(st.entities.pos[0]) == (24, 24)
        assert tuple(st.entities.pos[1]) == {2: (9, 8), 3: (8, 9)}.get(m, (8, 8))


def test_lava_kills_on_entry_and_is_passable(classic):
    """Classic: the ring borders lava; stepping onto it kills on that tick (SPEC section 2)."""
    b = classic.b
    state = classic.lab_state({0: (b, 15), 1: (b, 20), 2: (25, b), 3: (b + 5, b + 5)})
    (obs, st, reward, term, trunc, info), = classic.run(state, actions=classic.moves({0: 1, 2: 4, 3: 1}))
    e = st.entities
    assert tuple(e.pos[0]) == (b - 1, 15) and tuple(e.pos[2]) == (25, b - 1)
    assert not e.alive[0] and not e.alive[2] and e.health[0] == 0
    assert e.alive[1] and e.alive[3] and tuple(e.pos[3]) == (b + 4, b + 5)
    assert term.tolist()[:4] == [True, False, True, False]
    assert reward[0] == -1.0 and reward[1] == np.float32(1 / classic.cfg.horizon)
    assert int(info["deaths"]) == 2 and int(st.total_deaths) == 2 and not info["done"]
    # the mask offers lava (it is passable); the observer sees lava north of the ring
    assert obs["action_mask"]["move"][1].tolist() == [True, True, True, True, True]
    assert obs["tiles"][1, classic.R - 1, classic.R, 0] == T.LAVA


def test_one_per_tile_conflicts_resolved_by_random_priority(classic):
    """Two agents moving into one empty tile: exactly one gets it, chosen by the tick's key."""
    state = classic.lab_state({0: (20, 19), 1: (20, 21)})
    winners = []
    for seed in range(24):
        (_, st, *_), = classic.run(state, actions=classic.moves({0: 3, 1: 4}), seed=seed)
        p0, p1 = tuple(st.entities.pos[0]), tuple(st.entities.pos[1])
        assert sorted([p0, p1]) in ([(20, 19), (20, 20)], [(20, 20), (20, 21)]), (p0, p1)
        winners.append(0 if p0 == (20, 20) else 1)
    assert 0 < sum(winners) < len(winners), "the winner must not depend on slot order alone"


def test_one_per_tile_blocks_occupied_and_swaps(classic):
    agents = {2: (25, 20), 3: (25, 21), 4: (28, 20), 5: (28, 21), 6: (14, 14), 7: (14, 15)}
    state = classic.lab_state(agents)
    (_, st, *_), = classic.run(state, actions=classic.moves({2: 3, 4: 3, 5: 3, 6: 3, 7: 4}))
    pos = {s: tuple(st.entities.pos[s]) for s in agents}
    assert pos[2] == (25, 20) and pos[3] == (25, 21)  # into a standing agent: blocked
    assert pos[5] == (28, 22) and pos[4] == (28, 20)  # following into a vacated tile: blocked (documented)
    assert pos[6] == (14, 14) and pos[7] == (14, 15)  # swap: both blocked


def permute_players(state, perm, num_entities):
    """The same world with player slots relabelled: new slot i holds old slot perm[i]."""
    a = perm.size
    full_perm = np.concatenate([perm, np.arange(a, num_entities)])
    new_of_old = np.empty(num_entities, np.int64)
    new_of_old[full_perm] = np.arange(num_entities)
    relabel = lambda s: np.where(s >= 0, new_of_old[np.maximum(s, 0)], -1).astype(np.int32)
    e = jax.tree.map(lambda x: np.asarray(x)[full_perm], state.entities)
    e = e.replace(attacker=relabel(e.attacker))
    slots = relabel(np.asarray(state.obs_slots)[perm])
    inv = jax.tree.map(lambda x: np.asarray(x)[perm], state.inventory)
    return jax.tree.map(jnp.asarray, state.replace(entities=e, obs_slots=slots, inventory=inv)), full_perm


def test_tick_result_does_not_depend_on_slot_order(tiny, tiny_rollout):
    """Permuting player slots (and their actions, attacks and item heads included) permutes the outcome,
    nothing else (SPEC section 4): combat sums, NPC choices, trades, gifts and tie-breaks never look at
    slot order."""
    _, traj = tiny_rollout
    params = tiny.p(foliage_respawn=0.0, ore_respawn=0.0, tree_respawn=0.0, crystal_respawn=0.0,
                    herb_respawn=0.0, fish_respawn=0.0)
    a = tiny.A
    attacks_seen = 0
    for t in (9, 30, 45):
        obs = jax.tree.map(lambda x: jnp.asarray(x[t]), traj["obs"])
        state = jax.tree.map(lambda x: jnp.asarray(x[t]), traj["state"])
        act = tiny.sample(key(5 + t), obs)
        perm = np.asarray(jax.random.permutation(key(6 + t), a))
        permuted, full_perm = permute_players(state, perm, tiny.N)
        act_p = {h: v[perm] for h, v in act.items()}
        out = to_np(tiny.step(key(3), state, act, params))
        out_p = to_np(tiny.step(key(3), permuted, act_p, params))
        attacks_seen += int(out[5]["attacks"])
        assert np.array_equal(out[1].tiles, out_p[1].tiles)
        assert np.array_equal(out[1].regrow_tick, out_p[1].regrow_tick)
        for name in ("pos", "alive", "health", "food", "water", "time_alive", "gold", "xp", "levels",
                     "combat_timer", "freeze", "kind"):
            x, y = getattr(out[1].entities, name), getattr(out_p[1].entities, name)
            assert np.array_equal(x[full_perm], y), name
        for name in ("item", "level", "quantity", "equipped", "price", "listed_tick"):
            x, y = getattr(out[1].inventory, name), getattr(out_p[1].inventory, name)
            assert np.array_equal(x[perm], y), f"inventory.{name}"
        for i in (2, 3, 4):
            assert np.array_equal(out[i][perm], out_p[i]), i
        for k in out[5]:
            assert np.array_equal(out[5][k], out_p[5][k]), k
    assert attacks_seen > 0, "the check should include attacks"


def test_terrain_thresholds(tiny):
    """Noise v <= 0.30 water, <= 0.70 grass, <= 0.85 foliage, else stone (resources and the extra
    water/foliage are only ever placed on grass, so the other classes survive placement)."""
    from nmmo_jax import terrain
    cfg = tiny.cfg
    for seed in range(3):
        k_map = jax.random.split(key(seed))[0]
        k_noise = jax.random.split(k_map, 8)[0]
        v = np.asarray(terrain.fractal_noise(k_noise, cfg.playable_size, cfg.noise_scale, cfg.noise_octaves))
        assert v.min() == 0.0 and v.max() == 1.0
        tiles = np.asarray(tiny.reset(key(seed), tiny.params)[1].tiles)[tiny.b:-tiny.b, tiny.b:-tiny.b]
        inner = ring_distance(cfg.playable_size) >= 2
        assert np.all(np.isin(tiles[inner & (v <= 0.30)], [T.WATER, T.FISH]))
        assert np.all(tiles[inner & (v > 0.70) & (v <= 0.85)] == T.FOLIAGE)
        assert np.all(tiles[inner & (v > 0.85)] == T.STONE)
        grass_band = tiles[inner & (v > 0.30) & (v <= 0.70)]
        assert not np.isin(grass_band, [T.STONE, T.FISH]).any()
        assert (grass_band == T.GRASS).mean() > 0.5
