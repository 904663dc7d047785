"""The scripted forager of ``bench.survival``: its path-finding and its choice of step."""
import jax.numpy as jnp
import numpy as np

from bench.survival import distance_field, forager_moves
from nmmo_jax import tiles as T


def test_distance_field_walks_round_walls():
    passable = np.ones((5, 5), bool)
    passable[1:4, 2] = False  # a wall between the target's column and the far side, open at rows 0 and 4
    targets = np.zeros((5, 5), bool)
    targets[2, 0] = True
    d = np.asarray(distance_field(jnp.asarray(targets), jnp.asarray(passable), iters=25))
    assert d[2, 0] == 0 and d[2, 1] == 1
    assert d[2, 3] == 7  # round the wall: (1,3) (0,3) (0,2) (0,1) (1,1) (2,1) (2,0)
    assert d[1, 2] >= 1 << 20  # a wall tile is never reached


def test_forager_goes_for_the_lower_bar_and_stays_when_full(tiny):
    tiles = {(20, 24): T.FOLIAGE, (20, 16): T.WATER}
    state = tiny.lab_state({0: (20, 20), 1: (20, 20), 2: (20, 20), 3: (20, 24)}, tiles=tiles,
                           food={0: 10, 1: 50, 3: 10}, water={0: 50, 1: 10})
    move = np.asarray(forager_moves(state, tiny.A))
    assert move[0] == 3   # hungry: east, towards the foliage
    assert move[1] == 4   # thirsty: west, towards the water
    assert move[2] == 0   # both bars full: stays
    assert move[3] == 0   # already on the foliage: stays to eat


def test_sighted_forager_paths_inside_its_window_and_wanders_when_blind(tiny):
    import jax
    from bench.survival import sighted_forager_moves
    r = tiny.R
    # agent 0 sees foliage 3 tiles east and finds it round a stone; agent 1's nearest foliage lies beyond its
    # window (r + 3 tiles west), so it can only wander; agent 2 is fed and stays
    tiles = {(20, 23): T.FOLIAGE, (20, 21): T.STONE, (30, 30 - r - 3): T.FOLIAGE}
    state = tiny.lab_state({0: (20, 20), 1: (30, 30), 2: (20, 20)}, tiles=tiles, food={0: 10, 1: 10})
    moves = np.stack([np.asarray(sighted_forager_moves(k, state, tiny.A, r))
                      for k in jax.random.split(jax.random.PRNGKey(0), 40)])
    full = np.asarray(forager_moves(state, tiny.A))
    assert full[1] == 4                                   # the all-seeing forager heads west for it
    assert set(moves[:, 0]) <= {1, 2} and len(set(moves[:, 0])) == 1   # round the stone: north or south, every key
    assert len(set(moves[:, 1])) >= 3 and 0 not in moves[:, 1]         # blind: random steps, never standing
    assert set(moves[:, 2]) == {0}
