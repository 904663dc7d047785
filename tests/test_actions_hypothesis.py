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
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
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
