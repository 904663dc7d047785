"""Shared, compiled-once worlds for the test suite.

Compiling is the expensive part of these tests, so every jitted function lives
in a session-scoped fixture and is reused by every test:

* ``tiny``: the small preset shrunk to a 32x32 playable square (48 with an
  8-tile void border), 16 agents, 4 NPC slots, 8 entity rows, horizon 64,
  with every system on: combat, NPCs, death fog (from tick 32), 4 teams
  of 4 that cannot attack each other, the economy and communication, and
  SPEC's default reward (no damage charge).
* ``classic``: the classic preset shrunk the same way (20x20 playable inside a
  10-tile lava border), persistent, one entity per tile, classic combat (d20,
  reach 1/3/4, mage freeze), horizon 32.

Each world has jitted ``reset``, ``step`` (wrapped in ``chex.assert_max_traces``
so a second trace anywhere in the session fails the test that caused it),
``sample`` and a jitted random-rollout scan. Tests build exact situations by
editing a state with ``lab_state`` and stepping it with the shared ``step``.

``reference_obs`` is a plain-numpy model of the observation (SPEC section 10,
the brief's ordering rules and the documented two-entities-per-tile limit),
written independently of ``nmmo_jax.observe``.

Compiles are what the suite spends its time on (the programs themselves run in
milliseconds), so the whole session, children included, compiles with
``FAST_COMPILE``: XLA's LLVM backend at optimisation level 0 and XLA's older
elemental fusion emitters instead of the MLIR fusion emitters (together a fifth
to a third of the default compile time: 3 s instead of 16 s for the tiny world's
step, 9 s with -O0 alone; an eager step's op-by-op compiles take half as long). HLO
optimisations still run; float results can differ from a default build in the
last bits, so every process of the session uses the same flags and exact
comparisons compare like with like. ``NMMO_TEST_FULL_OPT=1`` turns it off. It
is set here, before jax creates its backend (this file is imported first); an
XLA that does not know the emitters' switch (older, or newer once it is gone)
gets -O0 alone, since an unknown XLA flag would abort the run.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
OLD_XLA_FAST_COMPILE = "--xla_backend_optimization_level=0"  # for an XLA without the emitters' switch


def _backends_started() -> bool:
    """Whether jax already created its backend (then XLA_FLAGS can no longer change this process)."""
    from jax._src import xla_bridge
    return xla_bridge.backends_are_initialized()


def _xla_accepts(flags: str) -> bool:
    """Whether this jaxlib's XLA knows these flags (an unknown flag aborts the process that starts the
    backend, so a child tries them: about a second)."""
    import subprocess
    import sys
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-c", "import jax; jax.devices()"], env=env,
                          capture_output=True, timeout=120).returncode == 0


if os.environ.get("NMMO_TEST_FULL_OPT") != "1" and not _backends_started():
    if not _xla_accepts(FAST_COMPILE):
        FAST_COMPILE = OLD_XLA_FAST_COMPILE
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

import chex  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nmmo_jax  # noqa: E402
from nmmo_jax import tiles as T  # noqa: E402
from nmmo_jax import observe as O  # noqa: E402
from nmmo_jax.observe import FEATURE_INDEX  # noqa: E402
from nmmo_jax.state import NEVER, fresh_entities  # noqa: E402

TINY_OVERRIDES = {"map_size": 48, "border": 8, "num_agents": 16, "num_npcs": 4,
                  "entity_rows": 8, "horizon": 64, "fog": True, "num_teams": 4,
                  "items": True, "comm_tokens": 16,
                  "player_damage_reward": 0.0}  # SPEC's reward; the small preset's training charge is
                                                # tested on its own (test_rules_combat)
CLASSIC_OVERRIDES = {"map_size": 40, "border": 10, "num_agents": 16, "num_npcs": 4,
                     "entity_rows": 8, "horizon": 32}
ROLLOUT_TICKS = 200


def key(i: int):
    return jax.random.PRNGKey(i)


def to_np(tree):
    return jax.tree.map(np.asarray, tree)


def assert_trees_equal(a, b, what=""):
    """Every leaf bit-identical (same structure, dtype, shape, values)."""
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb, f"{what}: different tree structure"
    for (path, x), (_, y) in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        name = f"{what}{jax.tree_util.keystr(path)}"
        assert x.dtype == y.dtype, f"{name}: dtype {x.dtype} != {y.dtype}"
        assert x.shape == y.shape, f"{name}: shape {x.shape} != {y.shape}"
        assert np.array_equal(x, y), f"{name}: values differ at {np.argwhere(x != y)[:5].tolist()}"


def _rollout_fn(env, reset, length: int, auto_reset: bool):
    """reset, then ``length`` ticks of random legal actions, one jitted scan; returns every tick.

    The first reset is the world's own jitted ``reset`` (shared with the tests), so the scan's
    program holds no second copy of the map generator outside its auto-reset."""

    def ticks(k_ticks, obs0, state0, params):
        def tick(carry, k_tick):
            obs, state = carry
            k_act, k_step, k_new = jax.random.split(k_tick, 3)
            act = env.sample_actions(k_act, obs)
            legal = jnp.stack([jnp.take_along_axis(obs["action_mask"][h], act[h][:, None], axis=1)[:, 0]
                               for h in sorted(act)], axis=1).all(axis=1)
            obs2, state2, reward, term, trunc, info = env.step(k_step, state, act, params)
            out = dict(action=act["move"], actions=act, legal=legal, obs=obs2, state=state2, reward=reward,
                       terminated=term, truncated=trunc, info=info)
            if auto_reset:
                obs2, state2 = jax.lax.cond(info["done"], lambda: env.reset(k_new, params),
                                            lambda: (obs2, state2))
            return (obs2, state2), out

        return jax.lax.scan(tick, (obs0, state0), jax.random.split(k_ticks, length))[1]

    ticks = jax.jit(ticks)

    def rollout(k, params):
        k_reset, k_ticks = jax.random.split(k)
        obs0, state0 = reset(k_reset, params)
        return (obs0, state0), ticks(k_ticks, obs0, state0, params)

    return rollout


class World:
    """One static config with its compiled functions, shared by the whole session."""

    def __init__(self, overrides: dict, preset: str, step_fn):
        self.config = nmmo_jax.load_config(preset, overrides=overrides)
        self.cfg = self.config.env
        self.env = nmmo_jax.Env(self.config)
        self.params = self.env.default_params
        self.A = self.cfg.num_agents
        self.N = self.cfg.num_entities
        self.K = self.cfg.entity_rows
        self.R = self.cfg.window_radius
        self.b = self.cfg.border
        self.s = self.cfg.playable_size
        self.H = self.cfg.map_size
        self.edge = T.LAVA if self.cfg.lava_border else T.VOID
        self.reset = jax.jit(self.env.reset)
        self.step = step_fn
        self.sample = jax.jit(self.env.sample_actions)
        self.rollout = _rollout_fn(self.env, self.reset, ROLLOUT_TICKS, auto_reset=not self.cfg.persistent)
        cfg = self.cfg
        self.observe = jax.jit(lambda state, params: O.observe(state, cfg, params))
        self._base = None

    # -- helpers ---------------------------------------------------------
    def p(self, **kw):
        """Default params with some fields replaced, keeping each field's dtype (no retrace)."""
        vals = {k: jnp.asarray(v, dtype=getattr(self.params, k).dtype) for k, v in kw.items()}
        return self.params.replace(**vals)

    def actions(self, **heads):
        """Every head of the env (so the shared step never retraces): no-ops unless given."""
        act = self.env.noop_actions()
        for head, value in heads.items():
            assert head in act, f"unknown action head {head!r}"
            act[head] = jnp.asarray(np.asarray(value, np.int64).astype(np.int32))
        return act

    def moves(self, mapping=None, default=0):
        m = np.full(self.A, default, np.int32)
        for slot, a in (mapping or {}).items():
            m[slot] = a
        return self.actions(move=m)

    def at(self, r, c):
        """Map coordinates of playable coordinates (r, c)."""
        return (self.b + r, self.b + c)

    def ring_set(self):
        return {tuple(x) for x in np.asarray(self.env.spawn_ring).tolist()}

    def base_state(self):
        if self._base is None:
            self._base = to_np(self.reset(key(0), self.params)[1])
        return self._base

    def lab_state(self, agents: dict, fill=T.GRASS, tiles: dict | None = None, tick=0, inventory=None, **fields):
        """A hand-made world: border of the config's edge material, playable square of ``fill``.

        ``agents`` maps slot -> (row, col) in map coordinates; only those slots are alive. Players
        start with full vitals, level 1, 1 gold, time_alive 0; NPC slots (>= num_agents) start as
        level-1 passive melee NPCs with ``npc_health``, offense = defense = 0 and gold 1.
        ``fields`` overrides any ``Entities`` field per slot, ``health={slot: v}``-style
        (``levels``/``xp`` take a row of 8). ``inventory`` maps a player slot to its items, filled
        from inventory slot 0: tuples (item, level, quantity[, equipped[, price, listed_tick]]). ``tiles`` maps (row, col) -> material. Dead slots never
        respawn (respawn_tick NEVER). ``obs_slots`` is recomputed, as if the state had just been
        observed, so attack targets name rows of that observation.
        """
        base = self.base_state()
        grid = np.full((self.H, self.H), self.edge, np.uint8)
        grid[self.b:self.b + self.s, self.b:self.b + self.s] = fill
        for (r, c), m in (tiles or {}).items():
            grid[r, c] = m
        n, a = self.N, self.A
        is_player = np.arange(n) < a
        pos = np.array(base.entities.pos)
        alive = np.zeros(n, bool)
        for slot, rc in agents.items():
            pos[slot] = rc
            alive[slot] = True
        p = self.params
        team = jnp.asarray(base.entities.team)
        fresh = to_np(jax.tree.map(lambda x, y: jnp.concatenate([x, y]),
                                   fresh_entities(a, p, player=True, team=team[:a]),
                                   fresh_entities(n - a, p, player=False, team=team[a:])))
        values = {name: np.array(getattr(fresh, name)) for name in fresh.__dataclass_fields__}
        values.update(pos=pos.astype(np.int32), alive=alive, gold=np.ones(n, np.int32),
                      npc_style=np.where(is_player, 0, 1).astype(np.int32))
        for vital in ("health", "food", "water", "gold"):  # dead slots hold nothing
            values[vital] = np.where(alive, values[vital], 0).astype(np.int32)
        for name, per_slot in fields.items():
            assert name in values, f"lab_state: unknown entity field {name!r}"
            for slot, val in per_slot.items():
                values[name][slot] = val
        ent = base.entities.replace(**values)
        inv = {f: np.zeros_like(np.asarray(getattr(base.inventory, f))) for f in base.inventory.__dataclass_fields__}
        for slot, stacks in (inventory or {}).items():
            for i, stack in enumerate(stacks):
                item, level, qty, *rest = stack
                equipped, price, listed = (list(rest) + [False, 0, 0])[:3] if len(rest) < 3 else rest
                inv["item"][slot, i], inv["level"][slot, i], inv["quantity"][slot, i] = item, level, qty
                inv["equipped"][slot, i], inv["price"][slot, i], inv["listed_tick"][slot, i] = equipped, price, listed
        state = base.replace(tiles=grid, regrow_tick=np.full((self.H, self.H), NEVER, np.int32),
                             entities=ent, tick=np.asarray(tick, np.int32),
                             total_deaths=np.asarray(0, np.int32), inventory=base.inventory.replace(**inv))
        state = jax.tree.map(jnp.asarray, state)
        return state.replace(obs_slots=self.observe(state, self.params)[1])

    def attacks(self, mapping: dict, moves: dict | None = None):
        """Actions: ``mapping`` slot -> (style, target row); everyone else stays and does not attack."""
        act = self.moves(moves)
        style = np.zeros(self.A, np.int32)
        row = np.zeros(self.A, np.int32)
        for slot, (s, r) in mapping.items():
            style[slot], row[slot] = s, r
        act.update(attack_style=jnp.asarray(style), attack_target=jnp.asarray(row))
        return act

    def obs_of(self, state, params=None):
        """The observation of ``state`` (what the agents saw before acting on it)."""
        return to_np(self.observe(state, self.params if params is None else params)[0])

    def row_of(self, obs, observer: int, slot: int) -> int:
        """The entity row in which ``observer`` sees ``slot`` (from an observation)."""
        ids = np.asarray(obs["entities"])[observer, :, FEATURE_INDEX["id"]]
        mask = np.asarray(obs["entity_mask"])[observer]
        rows = np.flatnonzero(mask & (ids == slot + 1))
        assert rows.size == 1, f"slot {slot} not seen by {observer}"
        return int(rows[0])

    def run(self, state, actions=None, ticks=1, params=None, seed=0, npc_refill=False, fog=False):
        """Step ``ticks`` times with the same actions; returns the list of step outputs (numpy).

        Lab worlds stay as built: unless ``npc_refill``, no NPC spawns (params.max_npcs = 0), and
        unless ``fog``, the fog never comes (params.fog_onset = NEVER).
        """
        params = self.params if params is None else params
        if not npc_refill:
            params = params.replace(max_npcs=jnp.zeros_like(params.max_npcs))
        if not fog:
            params = params.replace(fog_onset=jnp.full_like(params.fog_onset, NEVER))
        actions = self.moves() if actions is None else actions
        outs = []
        for t in range(ticks):
            out = self.step(key(10_000 * seed + t), state, actions, params)
            state = out[1]
            outs.append(to_np(out))
        return outs


# ---------------------------------------------------------------------------
# Test order and the background lane (tests/background.py)
# ---------------------------------------------------------------------------

from background import LANE  # noqa: E402


def _group(module_items) -> int:
    """0: the world's tests (first: they give the background lane time to train, which the
    learning tests then load from the compilation cache); 1: tests/learning; 2 (``LATE_GROUP``):
    the modules that read a background job's result."""
    if any(LANE.consumers(item) for item in module_items):
        return LATE_GROUP
    return 1 if Path(__file__).parent / "learning" in Path(module_items[0].path).parents else 0


LATE_GROUP = 2


def pytest_collection_modifyitems(session, config, items):
    """Run the world's tests, then the learning tests, then those that read background results;
    each module's tests stay together and in their order."""
    modules: dict = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    group = {path: _group(its) for path, its in modules.items()}
    items[:] = sorted(items, key=lambda item: group[item.path])  # stable: file order within a group


def pytest_collection_finish(session):
    if not session.config.option.collectonly:
        LANE.start(session.items)


def pytest_sessionfinish(session):
    LANE.stop()


def pytest_terminal_summary(terminalreporter):
    lines = LANE.report()
    if lines:
        terminalreporter.write_line("background jobs: " + ", ".join(lines))


@pytest.fixture(scope="session")
def tiny():
    # Each world wraps its own function so the chex trace counters are separate.
    env_holder = {}

    def tiny_step(k, state, actions, params):
        return env_holder["env"].step(k, state, actions, params)

    step = jax.jit(chex.assert_max_traces(tiny_step, n=1))
    w = World(TINY_OVERRIDES, "small", step)
    env_holder["env"] = w.env
    return w


@pytest.fixture(scope="session")
def classic():
    env_holder = {}

    def classic_step(k, state, actions, params):
        return env_holder["env"].step(k, state, actions, params)

    step = jax.jit(chex.assert_max_traces(classic_step, n=1))
    w = World(CLASSIC_OVERRIDES, "classic", step)
    env_holder["env"] = w.env
    return w


@pytest.fixture(scope="session")
def tiny_rollout(tiny):
    """200 ticks of random legal play with auto-reset at done (numpy)."""
    return to_np(tiny.rollout(key(7), tiny.params))


@pytest.fixture(scope="session")
def classic_rollout(classic):
    """200 ticks of random legal play in the persistent classic world (numpy)."""
    return to_np(classic.rollout(key(8), classic.params))


def traj_tick(traj, t):
    """The pytree of tick ``t`` out of a stacked trajectory."""
    return jax.tree.map(lambda x: x[t], traj)


# ---------------------------------------------------------------------------
# Reference observation (numpy, independent of nmmo_jax.observe)
# ---------------------------------------------------------------------------

def reference_obs(state, cfg, params=None):
    """The observation SPEC section 10 describes, for a numpy ``WorldState``.

    Tile window: material, resource state, live-entity count (and with fog, the fog damage
    round(front - d) of each playable tile outside the safe square); off-map tiles read as
    void with no entities. Entity rows: self first, then live entities in the window
    (Chebyshev distance <= radius) ordered by squared Euclidean distance, then window
    row-major position, then slot (ascending). A tile shows at most two entities: its
    lowest and highest live slot (documented limit). Dead observers: no rows, only stay.
    Frozen observers (freeze >= 2 now, so still frozen next tick): only stay, no attack.
    Attack masks (combat on): row 0 always; row j >= 1 when its entity is within the
    largest reach, is not a player with time_alive < spawn_immunity, nor a team-mate when
    teams exclude them; style s when some legal row is within the reach of s.
    """
    if params is None:
        params = nmmo_jax.ParamsConfig().to_params()
    reach = [int(params.melee_reach), int(params.range_reach), int(params.mage_reach)]
    immunity = int(params.spawn_immunity)
    st = to_np(state)
    e = st.entities
    a_n, k_n, rad = cfg.num_agents, cfg.entity_rows, cfg.window_radius
    size = 2 * rad + 1
    h, w = st.tiles.shape
    alive = e.alive.astype(bool)
    count = np.zeros((h, w), np.int64)
    on_tile: dict = {}
    for i in np.flatnonzero(alive):
        r, c = e.pos[i]
        count[r, c] += 1
        on_tile.setdefault((int(r), int(c)), []).append(int(i))
    visible = {t: sorted({min(v), max(v)}) for t, v in on_tile.items()}

    pad_t = np.pad(st.tiles, rad, constant_values=T.VOID)
    pad_c = np.pad(count, rad)
    fog_map = np.zeros((h, w), np.int64)
    if cfg.fog:
        b, s_ = cfg.border, cfg.playable_size
        idx = np.arange(s_)
        d1 = np.minimum(idx, s_ - 1 - idx)
        d = np.minimum(d1[:, None], d1[None, :])
        front = float(params.fog_speed) * max(int(st.tick) - int(params.fog_onset), 0)
        inner = np.where(d >= (s_ - 1) // 2 - int(params.fog_safe_radius), 0, np.round(np.maximum(front - d, 0)))
        fog_map[b:b + s_, b:b + s_] = inner
    pad_f = np.pad(fog_map, rad)
    tiles_obs = np.zeros((a_n, size, size, 4 if cfg.fog else 3), np.uint8)
    feats = np.zeros((a_n, k_n, len(FEATURE_INDEX)), np.int64)
    mask = np.zeros((a_n, k_n), bool)
    move = np.zeros((a_n, T.NUM_MOVES), bool)
    move[:, 0] = True
    style_mask = np.zeros((a_n, 4), bool)
    style_mask[:, 0] = True
    target_mask = np.zeros((a_n, k_n), bool)
    target_mask[:, 0] = True
    for a in range(a_n):
        r0, c0 = (int(x) for x in e.pos[a])
        mat = pad_t[r0:r0 + size, c0:c0 + size]
        tiles_obs[a, ..., 0] = mat
        tiles_obs[a, ..., 1] = T.RESOURCE_STATE[mat]
        tiles_obs[a, ..., 2] = np.minimum(pad_c[r0:r0 + size, c0:c0 + size], 255)
        if cfg.fog:
            tiles_obs[a, ..., 3] = np.minimum(pad_f[r0:r0 + size, c0:c0 + size], 255)
        if not alive[a]:
            continue
        can_act = e.freeze[a] <= 1
        for m in range(1, T.NUM_MOVES):
            if not can_act:
                break
            dr, dc = T.MOVE_DELTAS[m]
            move[a, m] = T.PASSABLE[mat[rad + dr, rad + dc]]
        others = []
        for (r, c), slots in visible.items():
            dr, dc = r - r0, c - c0
            if max(abs(dr), abs(dc)) > rad:
                continue
            for slot in slots:
                if slot != a:
                    others.append((dr * dr + dc * dc, (dr + rad) * size + (dc + rad), slot))
        others.sort()
        rows = [a] + [o[2] for o in others][:k_n - 1]
        for j, slot in enumerate(rows):
            mask[a, j] = True
            feats[a, j] = entity_features(e, slot, (r0, c0))
            if j == 0 or not can_act:
                continue
            dist = max(abs(int(e.pos[slot, 0]) - r0), abs(int(e.pos[slot, 1]) - c0))
            player = slot < a_n
            if player and e.time_alive[slot] < immunity:
                continue
            if player and cfg.num_teams > 0 and cfg.exclude_teammates and e.team[slot] == e.team[a]:
                continue
            target_mask[a, j] = dist <= max(reach)
            for style in range(3):
                style_mask[a, 1 + style] |= dist <= reach[style]
    action_mask = {"move": move}
    if cfg.combat:
        action_mask.update(attack_style=style_mask, attack_target=target_mask)
    return {"tiles": tiles_obs, "entities": feats, "entity_mask": mask, "action_mask": action_mask}


def entity_features(e, slot, origin):
    """Row of ENTITY_FEATURES for one slot, seen from map position ``origin``."""
    f = np.zeros(len(FEATURE_INDEX), np.int64)
    values = {
        "id": slot + 1, "type": e.kind[slot], "team": e.team[slot],
        "row": e.pos[slot, 0] - origin[0], "col": e.pos[slot, 1] - origin[1],
        "health": e.health[slot], "food": e.food[slot], "water": e.water[slot],
        "time_alive": e.time_alive[slot], "freeze": e.freeze[slot],
        "equipment_level": e.equipment_level[slot], "in_combat": int(e.combat_timer[slot] > 0),
        "gold": e.gold[slot], "said": e.said[slot],
    }
    from nmmo_jax.observe import SKILL_NAMES
    for s, name in enumerate(SKILL_NAMES):
        values[f"level_{name}"] = e.levels[slot, s]
    unknown = set(FEATURE_INDEX) - set(values)
    assert not unknown, f"reference model does not know entity features {unknown}"
    for name, v in values.items():
        f[FEATURE_INDEX[name]] = v
    return f


def _canonical_within_tiles(entities, mask):
    """Rows re-ordered by slot only inside runs of rows on the same tile; all else kept."""
    out = entities.copy()
    row_i, col_i, id_i = FEATURE_INDEX["row"], FEATURE_INDEX["col"], FEATURE_INDEX["id"]
    for a in range(entities.shape[0]):
        n = int(mask[a].sum())
        rows = entities[a, :n]
        first = {}
        group = [first.setdefault((int(r[row_i]), int(r[col_i])), j) for j, r in enumerate(rows)]
        order = np.lexsort((rows[:, id_i], np.asarray(group)))
        out[a, :n] = rows[order]
    return out


def assert_obs_matches_reference(obs, state, cfg, what="", any_order_within_tile=False, params=None):
    """``obs`` equals ``reference_obs(state)``; optionally ignoring the slot order of entities
    sharing one tile (checked strictly by its own test, so other checks are not masked)."""
    ref = reference_obs(state, cfg, params)
    obs = to_np(obs)
    raw_obs, raw_ref = obs, ref
    if any_order_within_tile:
        obs = dict(obs, entities=_canonical_within_tiles(obs["entities"], obs["entity_mask"]))
        ref = dict(ref, entities=_canonical_within_tiles(ref["entities"], ref["entity_mask"]))
    np.testing.assert_array_equal(obs["tiles"], ref["tiles"], err_msg=f"{what} tiles")
    np.testing.assert_array_equal(obs["entity_mask"], ref["entity_mask"], err_msg=f"{what} entity_mask")
    m = ref["entity_mask"]
    np.testing.assert_array_equal(obs["entities"][m], ref["entities"][m], err_msg=f"{what} entity rows")
    # the reference models the move and attack heads; the item heads' masks have rule tests of their own
    assert set(ref["action_mask"]) <= set(obs["action_mask"]), f"{what} action heads"
    np.testing.assert_array_equal(obs["action_mask"]["move"], ref["action_mask"]["move"],
                                  err_msg=f"{what} move mask")
    if "attack_style" in ref["action_mask"]:
        np.testing.assert_array_equal(obs["action_mask"]["attack_style"], ref["action_mask"]["attack_style"],
                                      err_msg=f"{what} attack_style mask")
        # Row order inside a tile may differ (any_order_within_tile): compare target masks per entity id.
        ids_o = np.where(raw_obs["entity_mask"], raw_obs["entities"][..., FEATURE_INDEX["id"]], 0)
        ids_r = np.where(raw_ref["entity_mask"], raw_ref["entities"][..., FEATURE_INDEX["id"]], 0)
        for a in range(ids_o.shape[0]):
            legal_o = {int(i) for i, ok in zip(ids_o[a], obs["action_mask"]["attack_target"][a]) if ok}
            legal_r = {int(i) for i, ok in zip(ids_r[a], ref["action_mask"]["attack_target"][a]) if ok}
            assert legal_o == legal_r, f"{what} attack_target mask of agent {a}: {legal_o} != {legal_r}"
