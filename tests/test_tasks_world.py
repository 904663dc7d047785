"""Tasks in the world (SPEC section 13), through ``env.step``: counters, respawn, end on completion, rewards.

Two persistent worlds of 24 x 24 tiles (16 x 16 playable), 4 players, horizon
16, respawn_delay 1, with the curriculum ``CURRICULUM`` written to a file:

* ``full``: combat, the economy and 2 NPC slots; ``env.task_reward: add``;
* ``lite``: no combat, no economy, no NPCs; ``env.task_reward: replace``.

Each compiles ``step`` once (module fixtures); no test calls ``reset``: worlds
are hand-built (``World.state``: a grass square in a void border, the given
players alive, the given NPCs, every other slot empty and never respawning),
with the state's structure from ``jax.eval_shape(env.reset)``. NPCs never
refill (params.max_npcs = 0) and resources never regrow. Every step a test
takes checks ``obs["task"]`` against the observation space and the task rows
(``World.run``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.observe import FEATURE_INDEX
from nmmo_jax.state import KIND_PASSIVE, NEVER, empty_inventory, fresh_entities
from nmmo_jax.tasks import counters as C
from nmmo_jax.tasks import system as S
from nmmo_jax.tasks.curriculum import ANY, MAX_PARTS

CURRICULUM = """
tasks:
  - name: survive          # row 0
    all: [{predicate: time_alive, ticks: horizon}]
  - name: idle             # row 1: nothing in these tests makes progress on it
    all: [{predicate: count, counter: kills_player, n: 50}]
  - name: centre           # row 2: never drawn, held when a test says so
    weight: 0
    reward: 1.5
    end_on_completion: true
    all: [{predicate: near_centre, distance: 3}]
  - name: wealth           # row 3: never drawn
    weight: 0
    reward: 2.0
    all: [{predicate: gold, gold: 5}]
"""
SURVIVE, IDLE, CENTRE, WEALTH = range(4)
DRAWN = {SURVIVE, IDLE}  # the rows of weight > 0
BASE = {"map_size": 24, "border": 4, "num_agents": 4, "horizon": 16, "persistent": True, "comm_tokens": 0,
        "respawn_delay": 1, "player_damage_reward": 0.0}
FULL = dict(BASE, num_npcs=2, entity_rows=6, task_reward="add")
LITE = dict(BASE, num_npcs=0, entity_rows=4, combat=False, items=False, task_reward="replace")
A = 4
H = 16
STILL = {"time_alive": [50] * A}  # past spawn immunity (20)
NO_REGROWTH = dict(foliage_respawn=0.0, ore_respawn=0.0, tree_respawn=0.0, crystal_respawn=0.0,
                   herb_respawn=0.0, fish_respawn=0.0, max_npcs=0)
EAST, WEST = 3, 4


class World:
    def __init__(self, overrides: dict, curriculum: str):
        self.config = nmmo_jax.load_config("small", overrides=dict(overrides, curriculum=curriculum))
        self.env = nmmo_jax.Env(self.config)
        self.cfg = self.env.cfg
        self.cur = self.env.curriculum
        p = self.env.default_params
        self.params = p.replace(**{k: jnp.asarray(v, getattr(p, k).dtype) for k, v in NO_REGROWTH.items()})
        self.step = jax.jit(self.env.step)
        shapes = jax.eval_shape(self.env.reset, jax.random.PRNGKey(0), self.params)
        self.zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[1])
        self.task_space = self.env.observation_space()["task"]

    def state(self, players: dict, tasks: dict | None = None, tiles: dict | None = None, npcs: dict | None = None,
              inventory: dict | None = None, **fields):
        """Players ``slot -> (row, col)`` alive, fresh except ``fields`` (``name -> list over the 4 players``);
        ``tasks``: ``slot -> curriculum row`` (default idle); ``npcs``: ``slot -> dict`` of Entities fields;
        ``inventory``: ``slot -> [(item, level, quantity, equipped)]``."""
        cfg, params = self.cfg, self.params
        h, b, s = cfg.map_size, cfg.border, cfg.playable_size
        grid = np.full((h, h), T.VOID, np.uint8)
        grid[b:b + s, b:b + s] = T.GRASS
        for rc, m in (tiles or {}).items():
            grid[rc] = m
        pl = fresh_entities(A, params, player=True)
        pos = np.zeros((A, 2), np.int32)
        alive = np.zeros(A, bool)
        for slot, rc in players.items():
            pos[slot], alive[slot] = rc, True
        pl = pl.replace(pos=jnp.asarray(pos), alive=jnp.asarray(alive))
        for name, values in fields.items():
            pl = pl.replace(**{name: jnp.asarray(values, getattr(pl, name).dtype)})
        n_npc = cfg.num_npcs
        ent = pl
        if n_npc:
            npc = fresh_entities(n_npc, params, player=False)
            npc = npc.replace(alive=jnp.zeros(n_npc, bool), health=jnp.zeros(n_npc, jnp.int32),
                              npc_style=jnp.ones(n_npc, jnp.int32))
            for slot, values in (npcs or {}).items():
                i = slot - A
                for name, v in dict(values, alive=True).items():
                    field = getattr(npc, name)
                    npc = npc.replace(**{name: field.at[i].set(jnp.asarray(v, field.dtype))})
            ent = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), pl, npc)
        inv = empty_inventory(A, I.INVENTORY_SLOTS)
        for slot, stacks in (inventory or {}).items():
            for k, (item, level, qty, on) in enumerate(stacks):
                inv = inv.replace(item=inv.item.at[slot, k].set(item), level=inv.level.at[slot, k].set(level),
                                  quantity=inv.quantity.at[slot, k].set(qty),
                                  equipped=inv.equipped.at[slot, k].set(on))
        rows = np.full(A, IDLE, np.int32)
        for slot, row in (tasks or {}).items():
            rows[slot] = row
        z = self.zero
        return z.replace(tiles=jnp.asarray(grid), regrow_tick=jnp.full((h, h), NEVER, jnp.int32), entities=ent,
                         obs_slots=jnp.full_like(z.obs_slots, -1), inventory=inv,
                         tasks=z.tasks.replace(task=jnp.asarray(rows)))

    def actions(self, **heads):
        act = self.env.noop_actions()
        for head, values in heads.items():
            act[head] = jnp.asarray(values, jnp.int32)
        return act

    def run(self, state, actions=None, ticks=1, seed=0, edit=None):
        """Steps ``ticks`` times (``actions``: one dict, or a list of one per tick); returns numpy outputs.

        ``edit(t, state) -> state`` changes the state before step ``t``. Every observation's task is checked.
        """
        outs = []
        for t in range(ticks):
            act = actions[t] if isinstance(actions, list) else (actions or self.actions())
            if edit is not None:
                state = edit(t, state)
            out = self.step(jax.random.PRNGKey(1000 * seed + t), state, act, self.params)
            state = out[1]
            outs.append(jax.tree.map(np.asarray, out))
            self.check_task_obs(outs[-1][0], outs[-1][1])
        return outs

    def check_task_obs(self, obs, state):
        """obs["task"]: inside the observation space, and the row of each agent's task with its progress."""
        task_obs = obs["task"]
        assert task_obs.shape == (A, len(S.DESCRIPTOR)) and task_obs.dtype == np.int16
        for i in range(A):
            assert self.task_space.contains(task_obs[i]), f"obs['task'][{i}] = {task_obs[i]} outside the space"
        cur, row = self.cur, state.tasks.task
        want = np.concatenate([np.stack([cur.predicate[row], cur.subject[row], cur.target[row]], -1).reshape(A, -1),
                               (cur.combine[row] == ANY)[:, None], cur.ends[row][:, None],
                               np.floor(state.tasks.best * np.float32(100))[:, None]], axis=1)
        np.testing.assert_array_equal(task_obs, want.astype(np.int16))


@pytest.fixture(scope="module")
def curriculum_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("curricula") / "world_tests.yaml"
    path.write_text(CURRICULUM)
    return str(path)


@pytest.fixture(scope="module")
def full(curriculum_file):
    return World(FULL, curriculum_file)


@pytest.fixture(scope="module")
def lite(curriculum_file):
    return World(LITE, curriculum_file)


def col(name):
    return C.INDEX[name]


def row_of(obs, observer, slot):
    ids = obs["entities"][observer, :, FEATURE_INDEX["id"]]
    rows = np.flatnonzero(obs["entity_mask"][observer] & (ids == slot + 1))
    assert rows.size == 1, f"slot {slot} not seen by {observer}"
    return int(rows[0])


# ----------------------------------------------------------------------------- counters


def test_counters_count_eating_drinking_and_harvests(full):
    tiles = {(6, 6): T.FOLIAGE, (9, 7): T.WATER, (13, 7): T.WATER, (12, 6): T.HERB, (16, 6): T.ORE,
             (16, 7): T.FISH}
    # 0 on foliage; 1 beside water; 2 on a herb, water diagonal (no drink); 3 on ore beside a fish tile
    state = full.state({0: (6, 6), 1: (9, 6), 2: (12, 6), 3: (16, 6)}, tiles=tiles)
    outs = full.run(state, ticks=3)
    got = outs[-1][1].tasks.counters
    want = np.zeros((A, len(C.COUNTERS)), np.int32)
    want[0, col("eat")] = 1              # foliage turns to scrub
    want[1, col("drink")] = 3            # water never depletes
    want[2, col("harvest_herb")] = 1
    want[3, col("harvest_ore")] = 1
    want[3, col("harvest_fish")] = 1     # the fish tile turns to ocean
    want[:, col("tiles_explored")] = 1   # nobody moved
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(outs[0][1].tasks.counters[:, col("drink")], [0, 1, 0, 0])


def test_tiles_explored_counts_distinct_tiles(full):
    state = full.state({0: (10, 6), 1: (10, 12), 2: (14, 6), 3: (14, 12)})
    path = [EAST, EAST, WEST, WEST, EAST, 0, 0, WEST]
    acts = [full.actions(move=[m, 0, 0, 0]) for m in path]
    outs = full.run(state, acts, ticks=len(path))
    pos = [tuple(o[1].entities.pos[0]) for o in outs]
    assert pos == [(10, 7), (10, 8), (10, 7), (10, 6), (10, 7), (10, 7), (10, 7), (10, 6)]
    explored = [int(o[1].tasks.counters[0, col("tiles_explored")]) for o in outs]
    # the first tick's end is the first tile stood on; the start tile (10, 6) is first stood on at tick 4
    assert explored == [1, 2, 2, 3, 3, 3, 3, 3]
    assert all(int(o[1].tasks.counters[1, col("tiles_explored")]) == 1 for o in outs)


def test_combat_counters_damage_kills_and_loot(full):
    npc = {4: dict(pos=(14, 11), kind=KIND_PASSIVE, health=3, gold=3)}
    state = full.state({0: (10, 10), 1: (10, 11), 2: (14, 10), 3: (6, 18)}, npcs=npc, **STILL)
    (obs, st, *_), = full.run(state)  # observe, so attack targets name rows
    r1, r4 = row_of(obs, 0, 1), row_of(obs, 2, 4)
    melee = full.actions(attack_style=[1, 0, 1, 0], attack_target=[r1, 0, r4, 0])
    (obs, st, reward, term, trunc, info), = full.run(jax.tree.map(jnp.asarray, st), melee)
    c = st.tasks.counters
    # offense 10 + 5 x level 1 = 15; a player's defense 5 x level 1 = 5, a hand-built NPC's 0
    assert (c[0, col("damage_dealt")], c[1, col("damage_taken")]) == (10, 10)
    assert st.entities.health[1] == 90
    assert (c[2, col("damage_dealt")], c[2, col("kills_passive")], c[2, col("gold_earned")]) == (15, 1, 3)
    assert not st.entities.alive[4]
    for name in ("kills_neutral", "kills_aggressive", "kills_player"):
        assert c[:, col(name)].sum() == 0, name
    assert c[0, col("kills_passive")] == 0 and c[1, col("damage_dealt")] == 0
    # a kill of a player: its gold (1) is the killer's loot (food and water under the regen threshold)
    weak = jax.tree.map(jnp.asarray, st)
    e = weak.entities
    weak = weak.replace(entities=e.replace(health=e.health.at[1].set(5), food=e.food.at[1].set(40),
                                           water=e.water.at[1].set(40)))
    r1 = row_of(obs, 0, 1)
    (obs, st, reward, term, trunc, info), = full.run(weak, full.actions(attack_style=[1, 0, 0, 0],
                                                                         attack_target=[r1, 0, 0, 0]), seed=1)
    c = st.tasks.counters
    assert term[1] and not st.entities.alive[1]
    assert (c[0, col("kills_player")], c[0, col("damage_dealt")], c[0, col("gold_earned")]) == (1, 20, 1)
    assert c[1, col("damage_taken")] == 20


# ----------------------------------------------------------------------------- respawn


def test_a_respawned_agent_draws_a_new_task_and_restarts_its_counters(full):
    state = full.state({0: (10, 6), 1: (10, 12)}, tasks={0: WEALTH}, health=[1, 100, 100, 100],
                       food=[0, 100, 100, 100], water=[0, 100, 100, 100], gold=[4, 1, 1, 1])
    state = state.replace(tasks=state.tasks.replace(
        counters=state.tasks.counters.at[0].set(5), explored=state.tasks.explored.at[0].set(7),
        best=state.tasks.best.at[0].set(0.4)))
    outs = full.run(state, ticks=3)
    (_, st1, r1, term1, _, info1), (_, st2, r2, term2, _, info2), (_, st3, r3, *_) = outs
    # tick 1: it starves; the death pays the death penalty and no task reward (gold 4 would pay 0.8)
    assert term1[0] and not st1.entities.alive[0] and r1[0] == pytest.approx(-1.0)
    assert st1.tasks.task[0] == WEALTH and info1["task_wealth_ended"] == 1 and info1["tasks_completed"] == 0
    # tick 2: it is back (respawn_delay 1), fresh, with a task of weight > 0
    assert st2.entities.alive[0] and st2.entities.time_alive[0] == 0 and r2[0] == 0 and not term2[0]
    assert st2.tasks.task[0] in DRAWN
    assert np.all(st2.tasks.counters[0] == 0) and np.all(st2.tasks.explored[0] == 0) and st2.tasks.best[0] == 0
    # tick 3: its life counts from the spawn tile
    assert st3.tasks.counters[0, col("tiles_explored")] == 1 and st3.entities.time_alive[0] == 1
    assert st3.tasks.counters[0].sum() == 1
    # the others kept their tasks and counters
    assert st3.tasks.task[1] == IDLE and st3.tasks.counters[1, col("tiles_explored")] == 1


# ----------------------------------------------------------------------------- the task reward


def test_task_reward_through_step_pays_the_weight_once(full):
    golds = [3, 1, 6, 10, 0, 7]

    def edit(t, state):
        return state.replace(entities=state.entities.replace(gold=state.entities.gold.at[0].set(golds[t])))

    state = full.state({0: (10, 6), 1: (10, 12), 2: (14, 6)}, tasks={0: WEALTH, 1: IDLE, 2: IDLE}, **STILL)
    outs = full.run(state, ticks=len(golds), edit=edit)
    reward = np.array([o[2] for o in outs])
    alive_share = 1.0 / H  # task_reward add: the survival reward is paid too
    np.testing.assert_allclose(reward[:, 0] - alive_share, [1.2, 0.0, 0.8, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(reward[:, 1:3], alive_share, atol=1e-7)
    assert np.all(reward[:, 3] == 0), "an empty slot is paid nothing"
    info = [o[5] for o in outs]
    np.testing.assert_allclose([i["task_reward"] for i in info], [1.2, 0.0, 0.8, 0.0, 0.0, 0.0], atol=1e-6)
    assert [int(i["tasks_completed"]) for i in info] == [0, 0, 1, 0, 0, 0]
    assert [int(i["task_wealth_completed"]) for i in info] == [0, 0, 1, 0, 0, 0]
    assert int(info[2]["task_wealth_ticks"]) == 53, "ticks to completion: its time alive then"
    assert [int(o[0]["task"][0, S.DESCRIPTOR.index("progress_percent")]) for o in outs] == [60, 60, 100, 100,
                                                                                           100, 100]


def test_replace_pays_no_survival_reward_and_add_does(full, lite):
    starve = dict(health=[100, 100, 100, 1], food=[100, 100, 100, 0], water=[100, 100, 100, 0])
    where = {0: (10, 6), 1: (10, 12), 2: (14, 6), 3: (14, 12)}
    for tasks, add, replace in [
        ({}, [1 / H, 1 / H, 1 / H, -1.0], [0.0, 0.0, 0.0, 0.0]),                     # idle: no progress
        ({0: SURVIVE, 1: SURVIVE}, [2 / H, 2 / H, 1 / H, -1.0], [1 / H, 1 / H, 0.0, 0.0]),
    ]:
        (_, st_a, r_add, term_a, *_), = full.run(full.state(where, tasks=tasks, **starve))
        (_, st_r, r_rep, term_r, *_), = lite.run(lite.state(where, tasks=tasks, **starve))
        assert term_a[3] and term_r[3] and not st_a.entities.alive[3] and not st_r.entities.alive[3]
        np.testing.assert_allclose(r_add, add, atol=1e-7, err_msg=f"add, tasks {tasks}")
        np.testing.assert_allclose(r_rep, replace, atol=1e-7, err_msg=f"replace, tasks {tasks}")


def test_survival_task_with_replace_pays_one_over_a_whole_life(lite):
    """The 'survive' task (time alive >= horizon, reward 1) pays what the survival reward pays, once."""
    state = lite.state({0: (10, 6), 1: (10, 12)}, tasks={0: SURVIVE, 1: IDLE})
    outs = lite.run(state, ticks=H + 4)
    reward = np.array([o[2] for o in outs])
    np.testing.assert_allclose(reward[:H, 0], 1 / H, atol=1e-6)
    assert reward[:, 0].sum() == pytest.approx(1.0, abs=1e-5) and np.all(reward[H:, 0] == 0)
    assert np.all(reward[:, 1] == 0)
    trunc = np.array([o[4] for o in outs])
    assert trunc[H - 1, 0] and trunc[H - 1, 1] and trunc.sum() == 2, "persistent: truncated every horizon"
    assert outs[H - 1][5]["task_survive_completed"] == 1 and outs[H - 1][5]["task_survive_ended"] == 1


# ----------------------------------------------------------------------------- end on completion


def test_completing_an_ending_task_leaves_the_world_and_respawns_with_a_new_task(full):
    hat, ration, arrow = (I.NAMES.index(n) for n in ("hat", "ration", "arrow"))
    stacks = [(hat, 2, 1, True), (ration, 1, 1, False), (arrow, 3, 5, True)]
    state = full.state({0: (12, 12), 1: (10, 6)}, tasks={0: CENTRE, 1: IDLE}, inventory={0: stacks},
                       gold=[7, 1, 1, 1], **STILL)
    outs = full.run(state, ticks=3)
    (_, st1, r1, term1, trunc1, info1), (_, st2, r2, term2, _, info2), _ = outs
    # tick 1: within 3 tiles of the centre: completed, paid 1.5 (+ the survival share), no death penalty
    assert term1[0] and not trunc1[0] and not st1.entities.alive[0]
    assert r1[0] == pytest.approx(1.5 + 1 / H, abs=1e-6)
    assert int(info1["tasks_completed"]) == 1 and int(info1["task_centre_completed"]) == 1
    assert int(info1["task_centre_ended"]) == 1 and int(info1["deaths"]) == 0
    assert np.all(st1.inventory.item[0] == 0), "its items leave with it"
    removed = np.zeros(I.NUM_TYPES, np.int32)
    removed[[hat, ration, arrow]] = [1, 1, 5]
    np.testing.assert_array_equal(st1.item_ledger[1], removed)
    np.testing.assert_array_equal(st1.item_ledger[0], 0)
    assert int(info1["item_units_removed"]) == 7
    # gold books: circulation changes only by what is created and destroyed
    assert int(info1["gold_in_circulation"]) == 1
    assert 8 - int(info1["gold_in_circulation"]) == int(info1["gold_destroyed"]) - int(info1["gold_created"])
    # tick 2: back after respawn_delay, with a fresh life and a task of weight > 0
    assert st2.entities.alive[0] and st2.tasks.task[0] in DRAWN and st2.tasks.best[0] == 0
    assert r2[0] == 0 and not term2[0]
    assert int(info2["gold_created"]) == 1, "a respawn's 1 gold"


# ----------------------------------------------------------------------------- determinism


def test_same_key_same_tasks_and_rewards_alone_or_vmapped(lite):
    """Two players starve and respawn (drawing tasks), one holds 'survive' (paid each tick)."""
    kw = dict(health=[1, 1, 100, 100], food=[0, 0, 100, 100], water=[0, 0, 100, 100])
    states = [lite.state({0: (10, 6), 1: (10, 12), 2: (14, 6), 3: (14, 12)}, tasks={2: SURVIVE}, **kw),
              lite.state({0: (6, 6), 1: (6, 12), 2: (16, 6), 3: (16, 12)}, tasks={3: SURVIVE}, **kw)]
    ticks = 5
    keys = [[jax.random.PRNGKey(7000 + 10 * w + t) for t in range(ticks)] for w in range(2)]
    act = lite.actions(move=[EAST, 0, WEST, 0])

    def alone(w):
        s, out = states[w], []
        for t in range(ticks):
            obs, s, reward, *_ = lite.step(keys[w][t], s, act, lite.params)
            out.append((np.asarray(s.tasks.task), np.asarray(s.tasks.best), np.asarray(reward),
                        np.asarray(obs["task"])))
        return out

    vstep = jax.jit(jax.vmap(lite.env.step, in_axes=(0, 0, None, None)))
    batch = jax.tree.map(lambda *x: jnp.stack(x), *states)
    batched = []
    for t in range(ticks):
        obs, batch, reward, *_ = vstep(jnp.stack([keys[0][t], keys[1][t]]), batch, act, lite.params)
        batched.append((np.asarray(batch.tasks.task), np.asarray(batch.tasks.best), np.asarray(reward),
                        np.asarray(obs["task"])))
    runs = [alone(0), alone(1)]
    assert all(a.tolist() == b.tolist() for x, y in zip(runs[0], alone(0)) for a, b in zip(x, y)), "repeatable"
    for w in range(2):
        for t in range(ticks):
            for name, a, b in zip(("task", "best", "reward", "obs task"), runs[w][t], batched[t]):
                np.testing.assert_array_equal(a, b[w], err_msg=f"world {w} tick {t}: {name}")
    for w in range(2):
        assert set(runs[w][-1][0][:2].tolist()) <= DRAWN, "respawned players drew tasks of weight > 0"
    assert runs[0][-1][2][2] == pytest.approx(1 / H) and runs[1][-1][2][3] == pytest.approx(1 / H)
