"""Survival rules (SPEC section 3, tick order of section 4), with numbers worked out by hand.

Defaults: bars start at 100 and drop 5 a tick; starvation and regeneration look at the
bars as they were at the start of the tick (vitals.py docstring, as Neural MMO's
Resources.update does), then the bars decay. An agent that never eats or drinks:
after tick t (t <= 20) its bars are 100 - 5t, so they are empty after tick 20; from
tick 21 both empty bars cost 10 each, 20 a tick: 80, 60, 40, 20, and it dies on tick 25.
"""
import numpy as np
import pytest

HORIZON = 64


def test_starvation_timeline(tiny):
    state = tiny.lab_state({0: (24, 24)})  # all grass: nothing to eat or drink
    outs = tiny.run(state, ticks=27)
    for t, (obs, st, reward, term, trunc, info) in enumerate(outs, start=1):
        e = st.entities
        assert int(st.tick) == t
        if t <= 20:
            assert (e.health[0], e.food[0], e.water[0]) == (100, 100 - 5 * t, 100 - 5 * t), t
        elif t < 25:
            assert (e.health[0], e.food[0], e.water[0]) == (100 - 20 * (t - 20), 0, 0), t
        if t < 25:
            assert e.alive[0] and not term[0] and not info["done"], t
            assert reward[0] == np.float32(1.0 / HORIZON), t
            assert e.time_alive[0] == t
        elif t == 25:
            assert not e.alive[0] and term[0] and e.health[0] == 0
            assert reward[0] == -1.0 and not trunc[0]
            assert info["done"], "everyone is dead"
            assert int(info["deaths"]) == 1 and int(st.total_deaths) == 1
            assert float(info["mean_lifetime"]) == 25.0
            assert not obs["entity_mask"][0].any()
        else:
            assert not e.alive[0] and not term[0] and reward[0] == 0.0


def test_vitals_one_tick_cases(tiny):
    """Regen needs both bars > 50 at the start of the tick; each empty bar costs 10; caps hold."""
    cases = {  # slot: (health, food, water) -> expected after one tick, alive
        0: ((50, 100, 100), (60, 95, 95), True),   # regen
        1: ((95, 100, 100), (100, 95, 95), True),  # regen capped at max
        2: ((50, 51, 51), (60, 46, 46), True),     # 51 > 50: regen
        3: ((50, 50, 100), (50, 45, 95), True),    # food == threshold: no regen
        4: ((50, 5, 100), (50, 0, 95), True),      # bar empties this tick: no damage yet
        5: ((50, 0, 0), (30, 0, 0), True),         # two empty bars: -20
        6: ((50, 0, 80), (40, 0, 75), True),       # one empty bar: -10, and no regen
        7: ((20, 0, 0), (0, 0, 0), False),         # dies at exactly 0
        8: ((11, 100, 0), (1, 95, 0), True),       # survives with 1
        9: ((50, 3, 2), (50, 0, 0), True),         # decay floors at 0
    }
    agents = {slot: (12 + 2 * slot, 12) for slot in cases}
    state = tiny.lab_state(agents, health={s: c[0][0] for s, c in cases.items()},
                           food={s: c[0][1] for s, c in cases.items()},
                           water={s: c[0][2] for s, c in cases.items()})
    (obs, st, reward, term, trunc, info), = tiny.run(state)
    e = st.entities
    for slot, (_, (h, f, w), alive) in cases.items():
        assert bool(e.alive[slot]) == alive, slot
        assert (e.health[slot], e.food[slot], e.water[slot]) == (h, f, w), slot
        assert term[slot] == (not alive)
        assert reward[slot] == (np.float32(1 / HORIZON) if alive else -1.0)
    assert int(info["deaths"]) == 1 and not info["done"]
    # time alive counts ticks lived; dead slots are untouched
    assert np.array_equal(e.time_alive[list(cases)], np.ones(len(cases)))
    assert np.array_equal(e.time_alive[10:], np.zeros(tiny.N - 10))
    assert not e.alive[10:].any() and np.all(e.health[10:tiny.A] == 0)


def test_second_tick_after_bar_empties(tiny):
    state = tiny.lab_state({0: (20, 20)}, health={0: 50}, food={0: 5})
    outs = tiny.run(state, ticks=2)
    assert outs[0][1].entities.health[0] == 50
    assert outs[1][1].entities.health[0] == 40  # food empty at the start of tick 2


def test_vitals_follow_params(tiny):
    """Rates come from EnvParams (traced): changed values change the outcome, no recompile."""
    params = tiny.p(food_decay=3, water_decay=7, starvation_damage=4, regen=2, regen_threshold=90,
                    max_health=120)
    agents = {0: (20, 20), 1: (22, 20), 2: (24, 20)}
    state = tiny.lab_state(agents, health={0: 50, 1: 50, 2: 119}, food={0: 100, 1: 0, 2: 95},
                           water={0: 100, 1: 0, 2: 89})
    (_, st, *_), = tiny.run(state, params=params)
    e = st.entities
    assert (e.health[0], e.food[0], e.water[0]) == (52, 97, 93)
    assert (e.health[1], e.food[1], e.water[1]) == (42, 0, 0)
    assert (e.health[2], e.food[2], e.water[2]) == (119, 92, 82)  # water 89 <= 90: no regen


def test_dead_slots_never_change(tiny):
    state = tiny.lab_state({0: (20, 20)})
    outs = tiny.run(state, actions=tiny.moves(default=1), ticks=3)
    e0, e3 = state.entities, outs[-1][1].entities
    for name in ("pos", "health", "food", "water", "time_alive", "alive"):
        assert np.array_equal(np.asarray(getattr(e0, name))[1:], getattr(e3, name)[1:]), name


def test_vitals_reward_pays_the_change_in_the_bars(tiny):
    """vitals_reward pays k x the change of mean(health, food, water as fractions) on the tick it happens."""
    from nmmo_jax import tiles as T
    state = tiny.lab_state({0: (24, 24), 1: (12, 12), 2: (16, 16)}, tiles={(24, 24): T.FOLIAGE},
                           health={1: 50, 2: 20}, food={0: 30, 1: 100, 2: 0}, water={0: 80, 2: 0})
    plain, = tiny.run(state)
    shaped, = tiny.run(state, params=tiny.p(vitals_reward=2.0))
    base = 1.0 / HORIZON
    # 0 eats: food 30 -> 100 (decay, then harvest to full), water 80 -> 75, health 100 (no regen: food 30)
    assert plain[2][0] == pytest.approx(base)
    assert shaped[2][0] == pytest.approx(base + 2.0 * (0.70 - 0.05) / 3)
    # 1 regenerates 50 -> 60 while both bars drop 5
    assert shaped[2][1] == pytest.approx(base + 2.0 * (0.10 - 0.05 - 0.05) / 3, abs=1e-6)
    # 2 dies of two empty bars (20 -> 0): the death penalty plus the lost health
    assert not shaped[1].entities.alive[2]
    assert shaped[2][2] == pytest.approx(-1.0 + 2.0 * (-0.20) / 3)
    # dead slots are paid nothing more
    dead, = tiny.run(shaped[1], params=tiny.p(vitals_reward=2.0))
    assert dead[2][2] == 0.0
