"""Out-of-range actions are stays (SPEC section 11), for arbitrary int32 action vectors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_trees_equal, key, to_np
from nmmo_jax import tiles as T

INT32 = st.integers(min_value=-2 ** 31, max_value=2 ** 31 - 1)
ACTION = st.one_of(st.integers(-3, 8), st.sampled_from([-2 ** 31, 2 ** 31 - 1, 5, -1, 256, 2 ** 16 + 1]), INT32)
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def mid_game(tiny, tiny_rollout):
    """A world 10 ticks into the shared random rollout (agents off the ring, some tiles depleted)."""
    _, traj = tiny_rollout
    obs = jax.tree.map(lambda x: jnp.asarray(x[9]), traj["obs"])
    state = jax.tree.map(lambda x: jnp.asarray(x[9]), traj["state"])
    return obs, state


@pytest.fixture(scope="module")
def classic_mid_game(classic, classic_rollout):
    _, traj = classic_rollout
    return jax.tree.map(lambda x: jnp.asarray(x[40]), traj["state"])


def _check_valid(world, state):
    e = to_np(state.entities)
    live = np.flatnonzero(e.alive)
    r, c = e.pos[live, 0], e.pos[live, 1]
    tiles = np.asarray(state.tiles)
    assert np.all(T.PASSABLE[tiles[r, c]])
    assert np.all((r >= world.b) & (r < world.b + world.s) & (c >= world.b) & (c < world.b + world.s))
    for name in ("health", "food", "water"):
        v = getattr(e, name)
        assert v.min() >= 0 and v.max() <= 100


@SETTINGS
@given(actions=st.lists(ACTION, min_size=16, max_size=16), seed=st.integers(0, 2 ** 16))
def test_out_of_range_actions_are_stays(tiny, mid_game, actions, seed):
    _, state = mid_game
    raw = np.asarray(actions, np.int64).astype(np.int32)
    clean = np.where((raw >= 0) & (raw < T.NUM_MOVES), raw, 0).astype(np.int32)
    out_raw = tiny.step(key(seed), state, tiny.actions(move=raw), tiny.params)
    out_clean = tiny.step(key(seed), state, tiny.actions(move=clean), tiny.params)
    assert_trees_equal(to_np(out_raw), to_np(out_clean), "raw vs cleaned actions")
    _check_valid(tiny, out_raw[1])
    # agents with an out-of-range action did not move
    bad = (raw < 0) | (raw >= T.NUM_MOVES)
    pos0 = np.asarray(state.entities.pos[:16])
    pos1 = np.asarray(out_raw[1].entities.pos[:16])
    assert np.array_equal(pos1[bad], pos0[bad])


@SETTINGS
@given(actions=st.lists(ACTION, min_size=16, max_size=16), seed=st.integers(0, 2 ** 16))
def test_out_of_range_actions_are_stays_classic(classic, classic_mid_game, actions, seed):
    state = classic_mid_game
    raw = np.asarray(actions, np.int64).astype(np.int32)
    clean = np.where((raw >= 0) & (raw < T.NUM_MOVES), raw, 0).astype(np.int32)
    out_raw = classic.step(key(seed), state, classic.actions(move=raw), classic.params)
    out_clean = classic.step(key(seed), state, classic.actions(move=clean), classic.params)
    assert_trees_equal(to_np(out_raw), to_np(out_clean), "raw vs cleaned actions")
    _check_valid(classic, out_raw[1])
    e = to_np(out_raw[1].entities)
    live = np.flatnonzero(e.alive)
    assert len({tuple(p) for p in e.pos[live].tolist()}) == live.size


@SETTINGS
@given(moves=st.lists(st.integers(0, 4), min_size=16, max_size=16), seed=st.integers(0, 2 ** 16))
def test_legal_moves_go_where_the_mask_says(tiny, mid_game, moves, seed):
    """A live agent taking a move its mask allows lands on pos + MOVE_DELTAS[move]; a masked
    move (impassable neighbour) leaves it in place (tiny config: agents may share tiles)."""
    obs, state = mid_game
    moves = np.asarray(moves, np.int32)
    out = tiny.step(key(seed), state, tiny.actions(move=moves), tiny.params)
    e0, e1 = to_np(state.entities), to_np(out[1].entities)
    mask = np.asarray(obs["action_mask"]["move"])
    for a in range(16):
        if not e0.alive[a]:
            assert np.array_equal(e1.pos[a], e0.pos[a])
            continue
        expected = e0.pos[a] + (T.MOVE_DELTAS[moves[a]] if mask[a, moves[a]] else 0)
        assert np.array_equal(e1.pos[a], expected), (a, moves[a])


# ---------------------------------------------------------------------------
# Attack heads: anything out of range or against the masks is a no-op for that agent alone.
# ---------------------------------------------------------------------------

def _fight_tick(traj, first=20):
    """The tick of the rollout (from ``first`` on) with the most legal attack targets."""
    legal = traj["obs"]["action_mask"]["attack_target"][:, :, 1:].sum(axis=(1, 2))
    return first + int(np.argmax(legal[first:]))


@pytest.fixture(scope="module")
def tiny_fight(tiny, tiny_rollout):
    _, traj = tiny_rollout
    t = _fight_tick(traj)
    obs = jax.tree.map(lambda x: np.asarray(x[t]), traj["obs"])
    state = jax.tree.map(lambda x: jnp.asarray(x[t]), traj["state"])
    assert obs["action_mask"]["attack_target"][:, 1:].sum() >= 3, "the fixture needs fights to choose from"
    return obs, state


@pytest.fixture(scope="module")
def classic_fight(classic, classic_rollout):
    _, traj = classic_rollout
    t = _fight_tick(traj, first=30)
    obs = jax.tree.map(lambda x: np.asarray(x[t]), traj["obs"])
    state = jax.tree.map(lambda x: jnp.asarray(x[t]), traj["state"])
    assert obs["action_mask"]["attack_target"][:, 1:].sum() >= 3, "the fixture needs fights to choose from"
    return obs, state


def _lands(world, obs, style, row):
    """Which agents' (style, row) is legal: both heads allowed by the masks and the row within the
    style's reach (reach differs by style only in classic)."""
    k = world.K
    reach = np.array([-1, int(world.params.melee_reach), int(world.params.range_reach), int(world.params.mage_reach)])
    ok = (style >= 1) & (style <= 3) & (row >= 1) & (row < k)
    s, r = np.clip(style, 0, 3), np.clip(row, 0, k - 1)
    a = np.arange(world.A)
    ok &= obs["action_mask"]["attack_style"][a, s] & obs["action_mask"]["attack_target"][a, r]
    rel = obs["entities"][a, r][:, [3, 4]].astype(int)
    return ok & (np.abs(rel).max(axis=1) <= reach[s])


STYLE = st.one_of(st.integers(0, 3), st.integers(-3, 6), st.sampled_from([-2 ** 31, 2 ** 31 - 1, 256]))
ROW = st.one_of(st.integers(0, 7), st.integers(-2, 10), st.sampled_from([-2 ** 31, 2 ** 31 - 1, 2 ** 16]))


def _check_attack_noops(world, obs, state, styles, rows, moves, seed):
    style = np.asarray(styles, np.int64).astype(np.int32)
    row = np.asarray(rows, np.int64).astype(np.int32)
    move = np.asarray(moves, np.int32)
    lands = _lands(world, obs, style, row)
    raw = world.actions(move=move, attack_style=style, attack_target=row)
    clean = world.actions(move=move, attack_style=np.where(lands, style, 0), attack_target=np.where(lands, row, 0))
    out_raw = to_np(world.step(key(seed), state, raw, world.params))
    out_clean = to_np(world.step(key(seed), state, clean, world.params))
    assert_trees_equal(out_raw, out_clean, "raw vs cleaned attacks")
    assert out_raw[5]["attacks"] == lands.sum(), "every legal attack lands, nothing else does"
    _check_valid(world, out_raw[1])
    return lands.sum()


@SETTINGS
@given(styles=st.lists(STYLE, min_size=16, max_size=16), rows=st.lists(ROW, min_size=16, max_size=16),
       moves=st.lists(st.integers(0, 4), min_size=16, max_size=16), seed=st.integers(0, 2 ** 16))
def test_illegal_attacks_are_noops(tiny, tiny_fight, styles, rows, moves, seed):
    obs, state = tiny_fight
    _check_attack_noops(tiny, obs, state, styles, rows, moves, seed)


@SETTINGS
@given(styles=st.lists(STYLE, min_size=16, max_size=16), rows=st.lists(ROW, min_size=16, max_size=16),
       moves=st.lists(st.integers(0, 4), min_size=16, max_size=16), seed=st.integers(0, 2 ** 16))
def test_illegal_attacks_are_noops_classic(classic, classic_fight, styles, rows, moves, seed):
    obs, state = classic_fight
    _check_attack_noops(classic, obs, state, styles, rows, moves, seed)


def test_missing_heads_default_to_noops(tiny, tiny_fight):
    """``actions`` may leave out heads: each missing head is its no-op (a separate trace of step)."""
    obs, state = tiny_fight
    step = jax.jit(tiny.env.step)
    moves = np.asarray(tiny.sample(key(1), jax.tree.map(jnp.asarray, obs))["move"])
    only_move = step(key(2), state, {"move": jnp.asarray(moves)}, tiny.params)
    full = tiny.step(key(2), state, tiny.actions(move=moves), tiny.params)
    assert_trees_equal(to_np(only_move), to_np(full), "missing heads")


ITEM_HEADS = ("use", "destroy", "sell_item", "sell_price", "buy", "give_item", "give_target", "give_gold_amount",
              "give_gold_target", "comm")
# a second head whose illegal value makes its pair's action a no-op: (second head, first head)
PAIRS = (("sell_price", "sell_item"), ("give_target", "give_item"), ("give_gold_amount", "give_gold_target"))


@pytest.fixture(scope="module")
def late_game(tiny, tiny_rollout):
    """A world 50 ticks into the shared rollout: inventories, listings and equipment in play."""
    _, traj = tiny_rollout
    t = 49
    return (jax.tree.map(lambda x: np.asarray(x[t]), traj["obs"]), jax.tree.map(lambda x: jnp.asarray(x[t]), traj["state"]))


def _legal(obs, head, values):
    mask = obs["action_mask"][head]
    inside = (values >= 0) & (values < mask.shape[1])
    return inside & mask[np.arange(len(values)), np.clip(values, 0, mask.shape[1] - 1)]


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.lists(ACTION, min_size=16, max_size=16), min_size=len(ITEM_HEADS), max_size=len(ITEM_HEADS)),
       legal_bias=st.lists(st.booleans(), min_size=len(ITEM_HEADS), max_size=len(ITEM_HEADS)),
       seed=st.integers(0, 2 ** 16))
def test_illegal_item_actions_are_no_ops_and_the_world_stays_valid(tiny, late_game, values, legal_bias, seed):
    """Any mix of values on every economy head: what the masks forbid (or is out of range) changes nothing,
    exactly as if that head were 0, and inventories stay well formed."""
    obs, state = late_game
    rng = np.random.default_rng(seed)
    raw = {}
    for head, vals, bias in zip(ITEM_HEADS, values, legal_bias):
        v = np.asarray(vals, np.int64).astype(np.int32)
        if bias:  # half the heads draw mostly legal values, so legal actions are in the mix too
            mask = obs["action_mask"][head]
            v = np.array([rng.choice(np.flatnonzero(m)) for m in mask], np.int32)
        raw[head] = v
    clean = {h: np.where(_legal(obs, h, v), v, 0).astype(np.int32) for h, v in raw.items()}
    for second, first in PAIRS:
        clean[first] = np.where(_legal(obs, second, raw[second]), clean[first], 0).astype(np.int32)
        clean[second] = np.where(clean[first] != 0, clean[second], 0).astype(np.int32)
    out_raw = tiny.step(key(seed), state, tiny.actions(**raw), tiny.params)
    out_clean = tiny.step(key(seed), state, tiny.actions(**clean), tiny.params)
    assert_trees_equal(to_np(out_raw[1]), to_np(out_clean[1]), "raw vs cleaned item actions")
    _check_valid(tiny, out_raw[1])
    inv = to_np(out_raw[1].inventory)
    from nmmo_jax import items as I
    held = inv.item > 0
    assert np.all((inv.item >= 0) & (inv.item < I.NUM_TYPES))
    assert np.all(inv.quantity[held] >= 1) and np.all(inv.quantity[~held] == 0)
    assert np.all((inv.level[held] >= 1) & (inv.level[held] <= I.MAX_LEVEL))
    assert np.all((inv.price >= 0) & (inv.price <= I.MAX_PRICE)) and not np.any(inv.equipped & (inv.price > 0))
    slot = np.where(inv.equipped, I.EQUIP_SLOT[inv.item], -1)
    for s in range(I.NUM_EQUIP_SLOTS):
        assert np.all(np.sum(slot == s, axis=1) <= 1)
    assert np.all(np.asarray(out_raw[1].entities.gold) >= 0)
