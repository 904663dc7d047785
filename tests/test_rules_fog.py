"""Death fog (SPEC section 9), worked out by hand for the ``tiny`` world.

Side 32, so the edge distance d runs 0..15; the safe square (radius 8 round the central 2x2 block)
is d >= 15 - 8 = 7. Onset tick 32, speed 1: at the start of a tick with ``state.tick = T`` the front
has advanced T - 32 tiles and a tile at d < 7 costs round(T - 32 - d) health.
"""
import numpy as np
import pytest

from nmmo_jax.state import KIND_AGGRESSIVE

# slot -> (map position, distance to the edge)
PLACES = {0: ((8, 20), 0), 1: ((20, 11), 3), 2: ((14, 20), 6), 3: ((15, 20), 7), 4: ((18, 20), 10),
          5: ((39, 39), 0)}
HUNGRY = {"food": {s: 40 for s in PLACES}, "water": {s: 40 for s in PLACES}}  # no regeneration, no starving


def _fog_run(tiny, tick, params=None):
    state = tiny.lab_state({s: p for s, (p, _) in PLACES.items()}, tick=tick, **HUNGRY)
    return tiny.run(state, params=params, fog=True)[0]


@pytest.mark.parametrize("tick,expected", [
    (20, [0, 0, 0, 0, 0, 0]),        # before the onset
    (32, [0, 0, 0, 0, 0, 0]),        # the front is still on the border
    (33, [1, 0, 0, 0, 0, 1]),        # one tile in: the spawn ring costs 1
    (40, [8, 5, 2, 0, 0, 8]),        # 8 - d; d = 7 and beyond are safe
    (100, [68, 65, 62, 0, 0, 68]),   # the safe square never fogs
])
def test_fog_damage_by_hand(tiny, tick, expected):
    obs, st, _, _, _, info = _fog_run(tiny, tick)
    lost = [100 - int(st.entities.health[s]) for s in PLACES]
    assert lost == expected
    assert info["fog_damage"] == sum(expected)


def test_fog_speed_and_rounding(tiny):
    """Speed 0.5 at T = 41: front 4.5; round half to even: d=0 -> 4, d=3 -> round(1.5) = 2, d=6 -> 0."""
    obs, st, *_ = _fog_run(tiny, 41, params=tiny.p(fog_speed=0.5))
    assert [100 - int(st.entities.health[s]) for s in (0, 1, 2)] == [4, 2, 0]


def test_fog_in_the_observation(tiny):
    """Tile channel 3 shows what standing there costs next tick (the counter has advanced)."""
    obs, st, *_ = _fog_run(tiny, 40)
    assert int(st.tick) == 41
    fog = obs["tiles"][..., 3]
    r = tiny.R
    assert fog[0, r, r] == 9                     # its own tile, d = 0
    assert fog[0, r + 1, r] == 8 and fog[0, r + 5, r] == 4  # one and five tiles inward
    assert fog[0, r - 1, r] == 0                 # the void border
    assert fog[3, r, r] == 0 and fog[3, r - 1, r] == 3  # d = 7 is safe, d = 6 is not


def test_npcs_are_not_hurt_by_fog(tiny):
    a = tiny.A
    state = tiny.lab_state({a: (8, 20)}, tick=60, kind={a: KIND_AGGRESSIVE})
    (_, st, *_), = tiny.run(state, fog=True)
    assert st.entities.health[a] == 100
