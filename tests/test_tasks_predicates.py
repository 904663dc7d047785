"""Tasks (SPEC section 13): every predicate, AND / OR, and the task reward of ``tasks.system.update``.

Everything here runs on hand-built ``WorldState``s, without compiling a world:
``blank_state`` takes the state's structure from ``jax.eval_shape(env.reset)``
(so a field added later is still there) and fills it by hand: a grass square
inside a void border, the given players alive at the given tiles, NPC slots
empty. ``system.measure`` / ``predicates.progress`` / ``system.update`` run
eagerly on it (their ops are small); the last test checks that jitting and
vmapping ``update`` changes nothing.

The world: 24 x 24 tiles with a 4-tile border (16 x 16 playable), 4 players.
Its spawn ring is at L-infinity distance 7 from the centre.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.observe import SKILL_NAMES
from nmmo_jax.state import NEVER, empty_inventory, fresh_entities
from nmmo_jax.tasks import counters as C
from nmmo_jax.tasks import predicates as P
from nmmo_jax.tasks import system as S
from nmmo_jax.tasks.curriculum import parse_tasks

OVERRIDES = {"map_size": 24, "border": 4, "num_agents": 4, "num_npcs": 2, "entity_rows": 6, "horizon": 16,
             "comm_tokens": 0}
A = 4
FAR = 7  # the spawn ring's distance from the centre: (24 - 2 * 4 - 1) // 2


@pytest.fixture(scope="module")
def world():
    config = nmmo_jax.load_config("small", overrides=OVERRIDES)
    env = nmmo_jax.Env(config)
    shapes = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env.default_params)[1]
    zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    return env, zero


def blank_state(world, pos=None, **entity_fields):
    """Players 0..3 alive at ``pos`` (map coordinates; default: along row 10), fresh, on grass.

    ``entity_fields``: ``Entities`` fields for the 4 players, e.g. ``gold=[0, 2, 5, 9]``.
    """
    env, zero = world
    cfg, params = env.cfg, env.default_params
    h, b, s = cfg.map_size, cfg.border, cfg.playable_size
    grid = np.full((h, h), T.VOID, np.uint8)
    grid[b:b + s, b:b + s] = T.GRASS
    pos = [(10, 6 + 2 * i) for i in range(A)] if pos is None else pos
    players = fresh_entities(A, params, player=True).replace(pos=jnp.asarray(pos, jnp.int32))
    for name, values in entity_fields.items():
        players = players.replace(**{name: jnp.asarray(values, getattr(players, name).dtype)})
    npcs = fresh_entities(cfg.num_npcs, params, player=False)
    npcs = npcs.replace(alive=jnp.zeros(cfg.num_npcs, bool), health=jnp.zeros(cfg.num_npcs, jnp.int32))
    entities = jax.tree.map(lambda p, q: jnp.concatenate([p, q]), players, npcs)
    return zero.replace(tiles=jnp.asarray(grid), regrow_tick=jnp.full((h, h), NEVER, jnp.int32),
                        entities=entities, obs_slots=jnp.full_like(zero.obs_slots, -1),
                        inventory=empty_inventory(A, I.INVENTORY_SLOTS))


def counters_with(column: str, values, others=0):
    """i32[A, C]: ``values`` in ``column``, ``others`` in every other column."""
    out = np.full((A, len(C.COUNTERS)), others, np.int32)
    out[:, C.INDEX[column]] = values
    return jnp.asarray(out)


def one_task(part, combine="all"):
    return parse_tasks([{"name": "t", combine: [part] if isinstance(part, dict) else part}], horizon=16)


def measure(world, cur, state, counters=None, task=None):
    env, _ = world
    counters = state.tasks.counters if counters is None else counters
    if task is not None:
        state = state.replace(tasks=state.tasks.replace(task=jnp.asarray(task, jnp.int32)))
    return np.asarray(S.measure(cur, state, counters, env.cfg))


def f32(*fractions):
    """Exact float32 values of the fractions (num, den) or plain numbers."""
    return np.array([np.float32(x[0]) / np.float32(x[1]) if isinstance(x, tuple) else x for x in fractions],
                    np.float32)


def assert_progress(got, expected, what):
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, err_msg=what)


# ----------------------------------------------------------------------------- each predicate


def test_count_reads_its_own_counter(world):
    cur = one_task({"predicate": "count", "counter": "harvest_fish", "n": 5})
    state = blank_state(world)
    # every other counter is high: a predicate reading the wrong column would complete
    got = measure(world, cur, state, counters_with("harvest_fish", [0, 2, 5, 9], others=100))
    assert_progress(got, f32(0.0, (2, 5), 1.0, 1.0), "count harvest_fish >= 5")
    cur = one_task({"predicate": "count", "counter": "tiles_explored", "n": 30})  # the last column
    got = measure(world, cur, state, counters_with("tiles_explored", [0, 3, 30, 31], others=100))
    assert_progress(got, f32(0.0, (3, 30), 1.0, 1.0), "count tiles_explored >= 30")


def test_skill_level_counts_levels_gained_above_1(world):
    cur = one_task({"predicate": "skill_level", "skill": "fishing", "level": 5})
    levels = np.full((A, len(SKILL_NAMES)), 10, np.int32)  # every other skill at 10
    levels[:, SKILL_NAMES.index("fishing")] = [1, 3, 5, 10]
    state = blank_state(world, levels=levels)
    assert_progress(measure(world, cur, state), f32(0.0, (2, 4), 1.0, 1.0), "fishing level >= 5")


def test_time_alive(world):
    cur = one_task({"predicate": "time_alive", "ticks": 8})
    state = blank_state(world, time_alive=[0, 2, 8, 20])
    assert_progress(measure(world, cur, state), f32(0.0, (2, 8), 1.0, 1.0), "time alive >= 8")
    horizon = one_task({"predicate": "time_alive", "ticks": "horizon"})  # 16
    assert int(horizon.target[0, 0]) == 16
    state = blank_state(world, time_alive=[1, 8, 15, 16])
    assert_progress(measure(world, horizon, state), f32((1, 16), (8, 16), (15, 16), 1.0), "time alive >= horizon")


def test_gold_held(world):
    cur = one_task({"predicate": "gold", "gold": 5})
    state = blank_state(world, gold=[0, 2, 5, 99])
    assert_progress(measure(world, cur, state), f32(0.0, (2, 5), 1.0, 1.0), "gold >= 5")


def test_equipped_item_of_the_type_at_a_level(world):
    cur = one_task({"predicate": "equipped", "item": "hat", "level": 4})
    hat, top = I.NAMES.index("hat"), I.NAMES.index("top")
    inv = {f: np.zeros((A, I.INVENTORY_SLOTS), np.int32) for f in ("item", "level", "quantity")}
    equipped = np.zeros((A, I.INVENTORY_SLOTS), bool)

    def put(agent, slot, item, level, on):
        inv["item"][agent, slot], inv["level"][agent, slot], inv["quantity"][agent, slot] = item, level, 1
        equipped[agent, slot] = on

    put(0, 0, hat, 9, False)   # a hat in the bag, not worn
    put(0, 1, top, 9, True)    # another type, worn
    put(1, 3, hat, 2, True)    # half way
    put(2, 5, hat, 4, True)    # exactly
    put(3, 0, top, 1, True)
    put(3, 11, hat, 10, True)  # above
    state = blank_state(world)
    state = state.replace(inventory=state.inventory.replace(
        item=jnp.asarray(inv["item"]), level=jnp.asarray(inv["level"]), quantity=jnp.asarray(inv["quantity"]),
        equipped=jnp.asarray(equipped)))
    assert_progress(measure(world, cur, state), f32(0.0, (2, 4), 1.0, 1.0), "hat level >= 4 equipped")


def test_near_centre_counts_the_way_in_from_the_spawn_ring(world):
    env, _ = world
    assert (env.cfg.map_size - 2 * env.cfg.border - 1) // 2 == FAR
    ring = np.asarray(env.spawn_ring)
    d_ring = np.asarray(P.centre_distance(jnp.asarray(ring), env.cfg.map_size))
    assert np.all(d_ring == FAR), "every spawn tile is at the spawn ring's distance"
    # the central 2x2 block (11..12) is at 0; rows 6 and 8 are at 5 and 3
    pos = [(4, 10), (6, 12), (8, 12), (12, 11)]
    assert np.asarray(P.centre_distance(jnp.asarray(pos), 24)).tolist() == [7, 5, 3, 0]
    cur = one_task({"predicate": "near_centre", "distance": 3})
    state = blank_state(world, pos=pos)
    assert_progress(measure(world, cur, state), f32(0.0, (2, 4), 1.0, 1.0), "within 3 of the centre")


@pytest.mark.parametrize("distance", [FAR, FAR + 5])
def test_near_centre_is_complete_wherever_the_agent_already_is_within_the_distance(world, distance):
    """A target at or beyond the spawn ring's distance is met everywhere on the map, the ring included."""
    cur = one_task({"predicate": "near_centre", "distance": distance})
    state = blank_state(world, pos=[(4, 10), (6, 12), (8, 12), (12, 11)])
    assert_progress(measure(world, cur, state), f32(1.0, 1.0, 1.0, 1.0), f"within {distance} of the centre")


def test_progress_selects_each_agents_own_predicate(world):
    """``predicates.progress`` with a different predicate per agent (and 0: no part, progress 0)."""
    env, _ = world
    state = blank_state(world, gold=[4, 4, 4, 4], time_alive=[3, 3, 3, 3])
    counters = counters_with("eat", [1, 1, 1, 1])
    ctx = P.Context(state=state, counters=counters, num_agents=A, map_size=env.cfg.map_size,
                    border=env.cfg.border)
    ids = P.PREDICATE_ID
    pid = jnp.asarray([ids["count"], ids["gold"], ids["time_alive"], 0], jnp.int32)
    subj = jnp.asarray([C.INDEX["eat"], 0, 0, 0], jnp.int32)
    targ = jnp.asarray([2, 8, 12, 1], jnp.int32)
    used = (ids["count"], ids["gold"], ids["time_alive"])
    got = np.asarray(P.progress(ctx, pid, subj, targ, used))
    assert_progress(got, f32((1, 2), (4, 8), (3, 12), 0.0), "per-agent predicates")


# ----------------------------------------------------------------------------- AND, OR


def test_all_is_the_minimum_and_any_the_maximum_of_the_parts(world):
    parts = [{"predicate": "count", "counter": "eat", "n": 4}, {"predicate": "gold", "gold": 8},
             {"predicate": "time_alive", "ticks": 10}]
    cur = parse_tasks([{"name": "both", "all": parts[:2]}, {"name": "either", "any": parts[:2]},
                       {"name": "three", "all": parts}, {"name": "any3", "any": parts}], horizon=16)
    eat = [0, 2, 4, 1]
    gold = [0, 6, 1, 8]
    alive = [5, 5, 10, 1]
    state = blank_state(world, gold=gold, time_alive=alive)
    counters = counters_with("eat", eat)
    p_eat = f32((0, 4), (2, 4), (4, 4), (1, 4))
    p_gold = f32((0, 8), (6, 8), (1, 8), (8, 8))
    p_alive = f32((5, 10), (5, 10), (10, 10), (1, 10))
    for t, expected in enumerate([np.minimum(p_eat, p_gold), np.maximum(p_eat, p_gold),
                                  np.minimum(np.minimum(p_eat, p_gold), p_alive),
                                  np.maximum(np.maximum(p_eat, p_gold), p_alive)]):
        got = measure(world, cur, state, counters, task=[t] * A)
        assert_progress(got, expected, cur.names[t])
    # every agent its own task
    got = measure(world, cur, state, counters, task=[0, 1, 2, 3])
    assert_progress(got, f32(0.0, (6, 8), (1, 8), 1.0), "mixed tasks")


# ----------------------------------------------------------------------------- the task reward

NO_EVENTS = dict(harvested=dict(stand=jnp.zeros(A, jnp.int32), fish=jnp.zeros(A, bool),
                                drink=jnp.zeros(A, bool)))
# 'other' has weight 0 (never drawn); a newborn draws 'wealth' (p 1/4) or 'thirst' (p 3/4)
WEALTH = [{"name": "wealth", "reward": 2.0, "all": [{"predicate": "gold", "gold": 5}]},
          {"name": "other", "weight": 0, "all": [{"predicate": "count", "counter": "eat", "n": 3}]},
          {"name": "thirst", "weight": 3, "all": [{"predicate": "count", "counter": "drink", "n": 2}]}]


@pytest.fixture(scope="module")
def wealth_update(world):
    """``system.update`` of the WEALTH curriculum: (key, state, born, reports) -> (state, reward, facts).

    ``.raw`` is the function before ``jax.jit``.
    """
    env, _ = world
    cur = parse_tasks(WEALTH, horizon=16)

    def update(k, s, born, reports):
        return S.update(k, cur, s, reports, born, env.cfg, env.default_params)

    jitted = jax.jit(update)
    jitted.raw = update
    return jitted


def run_update(update, state, golds, alive=None, born=None, seed=0):
    """``update`` once per row of ``golds`` (the players' gold that tick); returns per-tick arrays and states."""
    rewards, completed, states = [], [], []
    for t, gold in enumerate(golds):
        e = state.entities
        e = e.replace(gold=e.gold.at[:A].set(jnp.asarray(gold, jnp.int32)))
        if alive is not None:
            e = e.replace(alive=e.alive.at[:A].set(jnp.asarray(alive[t])))
        state = state.replace(entities=e)
        b = jnp.zeros(A, bool) if born is None else jnp.asarray(born[t])
        state, reward, facts = update(jax.random.PRNGKey(100 * seed + t), state, b, NO_EVENTS)
        rewards.append(np.asarray(reward))
        completed.append(np.asarray(facts["completed"]))
        states.append(state)
    return np.array(rewards), np.array(completed), states


def test_completion_pays_the_weight_once_however_progress_arrives(world, wealth_update):
    golds = np.array([
        [0, 1, 3, 0],
        [0, 2, 0, 4],
        [7, 3, 4, 0],   # agent 0: all at once
        [7, 4, 1, 4],   # agent 2: spent, then regained past its best
        [0, 5, 5, 4],   # agent 1: one gold a tick
        [9, 6, 0, 1],   # after completion: nothing more, whatever the gold does
        [20, 0, 8, 4],
    ])
    rewards, completed, states = run_update(wealth_update, blank_state(world), golds)
    expected = 2.0 * np.array([
        [0.0, 0.2, 0.6, 0.0],
        [0.0, 0.2, 0.0, 0.8],
        [1.0, 0.2, 0.2, 0.0],
        [0.0, 0.2, 0.0, 0.0],
        [0.0, 0.2, 0.2, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ])
    np.testing.assert_allclose(rewards, expected, atol=1e-6)
    np.testing.assert_allclose(rewards.sum(axis=0), [2.0, 2.0, 2.0, 1.6], atol=1e-6)
    assert completed.sum(axis=0).tolist() == [1, 1, 1, 0], "completed once each (agent 3 never)"
    assert [int(np.argmax(completed[:, i])) for i in range(3)] == [2, 4, 4]
    np.testing.assert_allclose(np.asarray(states[-1].tasks.best), [1.0, 1.0, 1.0, 0.8], atol=1e-6)


def test_dead_and_newborn_players_are_not_paid(world, wealth_update):
    golds = [[5, 5, 5, 5], [5, 5, 5, 5]]
    alive = [[True, False, True, True], [True, True, True, True]]
    born = [[False, False, True, False], [False, False, False, False]]
    rewards, completed, states = run_update(wealth_update, blank_state(world), golds, alive=alive, born=born)
    # tick 0: agent 1 is dead, agent 2 was just born (measured from the next tick, on the task it drew)
    drawn = int(states[0].tasks.task[2])
    assert drawn in (0, 2)
    np.testing.assert_allclose(rewards[0], [2.0, 0.0, 0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(rewards[1], [0.0, 2.0, 2.0 if drawn == 0 else 0.0, 0.0], atol=1e-6)
    assert completed.tolist() == [[True, False, False, True], [False, True, drawn == 0, False]]


def test_birth_restarts_counters_explored_tiles_and_progress_and_draws_a_live_task(world, wealth_update):
    """'other' (row 1) has weight 0: a newborn draws 'wealth' or 'thirst'."""
    state = blank_state(world)
    state = state.replace(tasks=state.tasks.replace(
        counters=jnp.full_like(state.tasks.counters, 1), explored=jnp.full_like(state.tasks.explored, 5),
        task=jnp.ones(A, jnp.int32), best=jnp.full(A, 0.5, jnp.float32)))
    born = jnp.asarray([False, True, False, True])
    new, reward, facts = wealth_update(jax.random.PRNGKey(3), state, born, NO_EVENTS)
    t = new.tasks
    task = np.asarray(t.task)
    assert task[[0, 2]].tolist() == [1, 1] and set(task[[1, 3]].tolist()) <= {0, 2}
    np.testing.assert_array_equal(np.asarray(t.best), np.float32([0.5, 0.0, 0.5, 0.0]))
    assert np.all(np.asarray(t.counters)[[1, 3]] == 0) and np.all(np.asarray(t.explored)[[1, 3]] == 0)
    kept = np.asarray(t.counters)[[0, 2]]
    assert np.all(kept[:, C.INDEX["eat"]] == 1) and np.all(kept[:, C.INDEX["tiles_explored"]] >= 1)
    assert np.asarray(facts["task"]).tolist() == [1, 1, 1, 1], "facts name the task held during the tick"


def test_update_is_the_same_alone_or_vmapped(world, wealth_update):
    """One world alone (jitted) and the same world in a vmapped batch give the same bits.

    (Jitted against eager: ``system.draw`` and ``initial`` in test_tasks_curriculum; an eager ``update``
    compiles each of its ops apart, which costs more than the rest of this file.)
    """
    reports = dict(harvested=dict(stand=jnp.asarray([T.FOLIAGE, 0, T.ORE, 0], jnp.int32),
                                  fish=jnp.asarray([False, True, False, False]),
                                  drink=jnp.asarray([True, True, False, False])))
    born = jnp.asarray([False, True, False, True])
    states = [blank_state(world, gold=[3, 1, 6, 0], time_alive=[2, 0, 3, 9]),
              blank_state(world, gold=[0, 4, 2, 2], time_alive=[1, 1, 1, 1])]
    keys = jax.random.split(jax.random.PRNGKey(11), 2)
    batch = jax.tree.map(lambda *x: jnp.stack(x), *states)
    batched = jax.jit(jax.vmap(wealth_update.raw, in_axes=(0, 0, None, None)))(keys, batch, born, reports)
    alone = [jax.tree.map(np.asarray, wealth_update(k, s, born, reports)) for k, s in zip(keys, states)]
    for i in range(2):
        b = jax.tree.map(lambda x: np.asarray(x)[i], batched)
        assert jax.tree_util.tree_structure(alone[i]) == jax.tree_util.tree_structure(b)
        for x, y in zip(jax.tree.leaves(alone[i]), jax.tree.leaves(b)):
            np.testing.assert_array_equal(x, y)
    again = jax.tree.map(np.asarray, wealth_update(keys[0], states[0], born, reports))
    for x, y in zip(jax.tree.leaves(alone[0]), jax.tree.leaves(again)):
        np.testing.assert_array_equal(x, y)
    new, reward, _ = alone[0]
    assert set(new.tasks.task[[1, 3]].tolist()) <= {0, 2}, "newborns draw only tasks of weight > 0"
    c = new.tasks.counters
    assert (c[0, C.INDEX["eat"]], c[0, C.INDEX["drink"]], c[2, C.INDEX["harvest_ore"]]) == (1, 1, 1)
    assert c[1].sum() == 0 and c[3].sum() == 0, "newborns' counters restart after the tally"
    np.testing.assert_allclose(reward, [2 * 0.6, 0.0, 2 * 1.0, 0.0], atol=1e-6)
