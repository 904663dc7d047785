"""Invariants over 200-tick random rollouts (one jitted scan per config, shared by the tests)."""
import numpy as np
import pytest

from conftest import ROLLOUT_TICKS, assert_obs_matches_reference, traj_tick
from nmmo_jax import tiles as T
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_PASSIVE, KIND_PLAYER, NEVER


def _prev_alive(traj, num_agents, auto_reset):
    """Alive flags at the start of each tick (the reset state has every player alive)."""
    alive = traj["state"].entities.alive[:, :num_agents]
    prev = np.ones_like(alive)
    prev[1:] = alive[:-1]
    if auto_reset:
        prev[1:][traj["info"]["done"][:-1]] = True
    return prev


def _check_world(world, traj):
    e = traj["state"].entities
    p = world.params
    a = world.A
    for name, cap in (("health", p.max_health), ("food", p.max_food), ("water", p.max_water)):
        v = getattr(e, name)
        assert v.min() >= 0 and v.max() <= int(cap), name
    alive = e.alive[:, :a]
    assert np.all(e.health[:, :a][alive] >= 1), "a live agent with no health"
    _check_npcs_and_skills(world, traj)
    ticks, agents = np.nonzero(alive)
    r, c = e.pos[ticks, agents, 0], e.pos[ticks, agents, 1]
    lo, hi = world.b, world.b + world.s
    assert np.all((r >= lo) & (r < hi) & (c >= lo) & (c < hi)), "live agent outside the playable square"
    mat = traj["state"].tiles[ticks, r, c]
    assert np.all(T.PASSABLE[mat]), f"live agent on impassable {set(mat[~T.PASSABLE[mat]].tolist())}"
    assert not np.any(mat == T.LAVA), "live agent on lava"
    # border untouched, playable square never void/lava
    tiles = traj["state"].tiles
    inner = tiles[:, lo:hi, lo:hi]
    border = tiles.copy()
    border[:, lo:hi, lo:hi] = world.edge
    assert np.all(border == world.edge)
    assert not np.any((inner == T.VOID) | (inner == T.LAVA))
    # regrowth timers exactly on the depleted tiles, and in the future
    depleted = T.RESOURCE_STATE[tiles] == 2
    regrow = traj["state"].regrow_tick
    assert np.all(regrow[~depleted] == NEVER)
    now = np.broadcast_to(traj["state"].tick[:, None, None], regrow.shape)
    assert np.all(regrow[depleted] > now[depleted])
    # every sampled action was legal under the observation it was sampled from
    assert traj["legal"].all()
    assert np.array_equal(traj["info"]["alive"], alive.sum(1))
    assert np.array_equal(traj["info"]["deaths"], traj["terminated"].sum(1))


def _check_npcs_and_skills(world, traj):
    """NPC slots hold well-formed NPCs; levels follow XP everywhere; gold and timers stay in range."""
    e = traj["state"].entities
    p, a = world.params, world.A
    npc_alive = e.alive[:, a:]
    assert npc_alive.any(axis=1).all(), "NPCs should be in the world every tick"
    if int(p.max_npcs) < 0:
        assert npc_alive.sum(1).min() >= world.cfg.num_npcs - 2, "the refill keeps NPC slots nearly full"
    h = e.health[:, a:]
    assert h.max() <= int(p.npc_health) and np.all(h[npc_alive] >= 1)
    assert np.all(np.isin(e.kind[:, a:][npc_alive], [KIND_PASSIVE, KIND_NEUTRAL, KIND_AGGRESSIVE]))
    assert np.all(e.kind[:, :a] == KIND_PLAYER)
    assert np.all(e.food[:, a:][npc_alive] == 0) and np.all(e.water[:, a:][npc_alive] == 0)
    assert np.all(np.isin(e.npc_style[:, a:][npc_alive], [1, 2, 3]))
    lvl = e.levels[:, a:][npc_alive]  # an NPC's level shows in its style's column only
    style_col = e.npc_style[:, a:][npc_alive] - 1
    npc_level = lvl[np.arange(lvl.shape[0]), style_col]
    assert np.all((npc_level >= 1) & (npc_level <= 10))
    assert np.all(lvl.sum(1) == npc_level + 7)
    assert np.all(e.gold[:, a:][npc_alive] == npc_level), "an NPC carries gold equal to its level"
    assert np.all(e.npc_offense[:, a:][npc_alive] == e.npc_defense[:, a:][npc_alive])
    off = e.npc_offense[:, a:][npc_alive]
    assert np.all((off >= 8 * (npc_level - 1)) & (off <= 8 * npc_level))
    # levels are the XP table applied to XP, for everyone
    thresholds = np.array([0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737])
    assert np.array_equal(e.levels, 1 + (e.xp[..., None] >= thresholds[1:]).sum(-1))
    assert np.all(e.xp >= 0) and np.all(e.gold >= 0)
    assert np.all((e.combat_timer >= 0) & (e.combat_timer <= int(p.combat_status_ticks)))
    assert np.all((e.freeze >= 0) & (e.freeze <= int(p.freeze_ticks)))
    # every live NPC stands on a walkable playable tile
    ticks, slots = np.nonzero(npc_alive)
    r, c = e.pos[ticks, slots + a, 0], e.pos[ticks, slots + a, 1]
    lo, hi = world.b, world.b + world.s
    assert np.all((r >= lo) & (r < hi) & (c >= lo) & (c < hi))
    mat = traj["state"].tiles[ticks, r, c]
    assert np.all(T.PASSABLE[mat]) and not np.any(mat == T.LAVA)
    # info counters agree with the state
    info = traj["info"]
    assert np.array_equal(info["npcs_alive"], npc_alive.sum(1))
    assert np.array_equal(info["npcs_passive"] + info["npcs_neutral"] + info["npcs_aggressive"], info["npcs_alive"])
    assert np.array_equal(info["kills"], info["player_kills"] + info["npc_kills"])
    assert np.all(info["player_kills"] + info["killed_by_npcs"] >= 0)
    assert np.all(info["player_kills"] <= info["deaths"])


def test_tiny_rollout_invariants(tiny, tiny_rollout):
    _, traj = tiny_rollout
    _check_world(tiny, traj)


def test_tiny_rollout_episode_bookkeeping(tiny, tiny_rollout):
    _, traj = tiny_rollout
    a, horizon = tiny.A, tiny.cfg.horizon
    e = traj["state"].entities
    alive = e.alive[:, :a]
    tick = traj["state"].tick
    done = traj["info"]["done"]
    prev = _prev_alive(traj, a, auto_reset=True)
    died = prev & ~alive
    assert done.sum() >= 2, "the rollout should see several whole episodes"
    assert died.sum() > 0
    # tick counts from the last reset
    expected_tick = np.zeros(ROLLOUT_TICKS, int)
    t_now = 0
    for t in range(ROLLOUT_TICKS):
        t_now += 1
        expected_tick[t] = t_now
        if done[t]:
            t_now = 0
    assert np.array_equal(tick, expected_tick)
    assert np.array_equal(done, (tick >= horizon) | (alive.sum(1) == 0))
    assert np.array_equal(traj["terminated"], died)
    assert np.array_equal(traj["truncated"], prev & alive & (tick == horizon)[:, None])
    expected_reward = np.where(died, -1.0, np.where(prev & alive, 1.0 / horizon, 0.0)).astype(np.float32)
    np.testing.assert_array_equal(traj["reward"], expected_reward)
    # live agents have lived every tick of the episode (no respawn in this mode)
    ta = np.broadcast_to(tick[:, None], alive.shape)
    assert np.array_equal(e.time_alive[:, :a][alive], ta[alive])
    # deaths counted since the reset
    deaths = np.zeros(ROLLOUT_TICKS, int)
    acc = 0
    for t in range(ROLLOUT_TICKS):
        acc += died[t].sum()
        deaths[t] = acc
        if done[t]:
            acc = 0
    assert np.array_equal(traj["state"].total_deaths, deaths)


def test_tiny_tiles_change_only_between_full_and_depleted(tiny, tiny_rollout):
    _, traj = tiny_rollout
    tiles = traj["state"].tiles
    done = traj["info"]["done"]
    for t in range(1, ROLLOUT_TICKS):
        if done[t - 1]:
            continue  # new map after a reset
        before, after = tiles[t - 1], tiles[t]
        changed = before != after
        ok = (T.DEPLETES_TO[before] == after) | (T.RESTORES_TO[before] == after)
        assert np.all(ok[changed]), f"tick {t}: illegal tile change"


@pytest.mark.parametrize("world_name", ["tiny", "classic"])
def test_observations_match_state_over_rollout(world_name, request):
    world = request.getfixturevalue(world_name)
    (obs0, state0), traj = request.getfixturevalue(f"{world_name}_rollout")
    # The slot order of two entities on one tile is checked by test_observations.py alone.
    assert_obs_matches_reference(obs0, state0, world.cfg, "reset", any_order_within_tile=True,
                                 params=world.params)
    for t in range(0, ROLLOUT_TICKS, 3):
        step = traj_tick(traj, t)
        assert_obs_matches_reference(step["obs"], step["state"], world.cfg, f"tick {t}",
                                     any_order_within_tile=True, params=world.params)


def test_classic_rollout_invariants(classic, classic_rollout):
    _, traj = classic_rollout
    _check_world(classic, traj)
    e = traj["state"].entities
    for t in range(ROLLOUT_TICKS):
        live = np.flatnonzero(e.alive[t])
        tiles_taken = {tuple(x) for x in e.pos[t, live].tolist()}
        assert len(tiles_taken) == len(live), f"tick {t}: two live entities share a tile"


def test_classic_persistent_world_never_ends_and_respawns(classic, classic_rollout):
    _, traj = classic_rollout
    a, horizon, delay = classic.A, classic.cfg.horizon, int(classic.params.respawn_delay)
    e = traj["state"].entities
    alive = e.alive[:, :a]
    tick = traj["state"].tick
    assert np.array_equal(tick, np.arange(1, ROLLOUT_TICKS + 1))
    assert not traj["info"]["done"].any()
    prev = _prev_alive(traj, a, auto_reset=False)
    died = prev & ~alive
    born = ~prev & alive
    assert np.array_equal(traj["terminated"], died)
    assert np.array_equal(traj["truncated"], prev & alive & (tick % horizon == 0)[:, None])
    expected_reward = np.where(died, -1.0, np.where(prev & alive, 1.0 / horizon, 0.0)).astype(np.float32)
    np.testing.assert_array_equal(traj["reward"], expected_reward)
    assert np.array_equal(traj["state"].total_deaths, np.cumsum(died.sum(1)))
    assert died.sum() >= 10 and born.sum() >= 5, "random play on a lava-bordered map should die and respawn"
    ring = classic.ring_set()
    exact = late = 0
    for t, slot in zip(*np.nonzero(born)):
        deaths = np.flatnonzero(died[:t, slot])
        assert deaths.size, "came back without having died"
        gap = t - deaths[-1]
        assert gap >= delay, f"slot {slot} respawned {gap} ticks after death (delay {delay})"
        exact += gap == delay
        late += gap > delay
        assert tuple(e.pos[t, slot]) in ring
        assert (e.health[t, slot], e.food[t, slot], e.water[t, slot], e.time_alive[t, slot]) == (100, 100, 100, 0)
        assert traj["reward"][t, slot] == 0.0
    # one-per-tile may postpone a respawn whose ring tile is taken; that is rare on a 76-tile ring
    assert exact >= 0.8 * (exact + late)
    # every slot that died at least `delay` ticks before the end came back
    for slot in range(a):
        d = np.flatnonzero(died[:, slot])
        if d.size and d[-1] + delay + 3 < ROLLOUT_TICKS:
            assert alive[d[-1] + delay + 3:, slot].any()


@pytest.mark.parametrize("world_name", ["tiny", "classic"])
def test_sampled_legal_attacks_all_land(world_name, request):
    """Random legal play: an attack whose style and row are both legal (and, under classic reach,
    within that style's reach) always lands; nothing else does; damage and kills add up."""
    world = request.getfixturevalue(world_name)
    (obs0, _), traj = request.getfixturevalue(f"{world_name}_rollout")
    reach = np.array([-1, int(world.params.melee_reach), int(world.params.range_reach),
                      int(world.params.mage_reach)])
    done = traj["info"]["done"]
    a = np.arange(world.A)
    total = 0
    for t in range(ROLLOUT_TICKS):
        if t > 0 and done[t - 1]:
            continue  # actions were sampled from the observation of a fresh reset
        obs = obs0 if t == 0 else traj_tick(traj["obs"], t - 1)
        style = traj["actions"]["attack_style"][t]
        row = traj["actions"]["attack_target"][t]
        rel = obs["entities"][a, row][:, [3, 4]].astype(int)
        expected = (style > 0) & (row > 0) & (np.abs(rel).max(axis=1) <= reach[style])
        assert traj["info"]["attacks"][t] == expected.sum(), f"tick {t}"
        total += expected.sum()
    assert total >= 20, "random play should attack often"
    info = traj["info"]
    assert info["damage_dealt"].sum() > 0 and info["kills"].sum() > 0
    assert np.all(info["damage_taken"] >= 0) and np.all(info["damage_dealt"] >= 0)
