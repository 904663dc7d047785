"""Episodes, rewards and persistent respawn (SPEC section 3; env.py docstring)."""
import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import tiles as T

HORIZON = 64


def _immortal_setup(tiny):
    """Slot 0 stands on foliage that regrows every tick (p = 1) next to water: it never starves.
    Slot 1 starves on bare grass (dies on tick 25). Every other slot is dead from the start."""
    params = tiny.p(foliage_respawn=1.0)
    state = tiny.lab_state({0: (24, 24), 1: (30, 30)}, tiles={(24, 24): T.FOLIAGE, (23, 24): T.WATER})
    return state, params


def test_truncation_exactly_at_the_horizon(tiny):
    state, params = _immortal_setup(tiny)
    outs = tiny.run(state, ticks=HORIZON, params=params)
    total = np.zeros(tiny.A, np.float64)
    for t, (obs, st, reward, term, trunc, info) in enumerate(outs, start=1):
        e = st.entities
        assert e.alive[0] and (e.food[0], e.water[0], e.health[0]) == (100, 100, 100)
        assert trunc[0] == (t == HORIZON), t
        assert not trunc[1:].any() and not term[0]
        assert bool(info["done"]) == (t == HORIZON), t
        assert reward[0] == np.float32(1.0 / HORIZON)
        assert reward[1] == (np.float32(1.0 / HORIZON) if t < 25 else (-1.0 if t == 25 else 0.0))
        assert term[1] == (t == 25)
        assert np.all(reward[2:] == 0) and not term[2:].any()
        total += reward
    assert abs(total[0] - 1.0) < 1e-5  # +1 over a whole episode alive
    assert abs(total[1] - (24 / HORIZON - 1.0)) < 1e-5
    last_info = outs[-1][5]
    assert int(last_info["ended"]) == 1 and float(last_info["mean_lifetime"]) == HORIZON
    assert int(last_info["alive"]) == 1


def test_stepping_a_finished_world_rewards_nothing(tiny):
    """env.py: 'Stepping a finished world is harmless: dead agents stay dead and nothing more
    is rewarded.'  After the horizon tick, no reward, truncation or termination is paid out."""
    state, params = _immortal_setup(tiny)
    outs = tiny.run(state, ticks=HORIZON, params=params)
    assert outs[-1][5]["done"]
    after = tiny.run(jax.tree.map(jnp.asarray, outs[-1][1]), ticks=3, params=params, seed=1)
    for obs, st, reward, term, trunc, info in after:
        assert info["done"]
        assert not trunc.any()
        assert np.all(reward == 0.0), f"tick {int(st.tick)}: reward {reward[:2]} after the world ended"


def test_everyone_dead_ends_the_world(tiny):
    state = tiny.lab_state({0: (20, 20), 1: (22, 22)}, health={0: 10, 1: 30}, food={0: 0, 1: 0},
                           water={0: 0, 1: 0})
    outs = tiny.run(state, ticks=2)
    (_, st1, r1, term1, _, info1), (_, st2, r2, term2, _, info2) = outs
    assert term1[:2].tolist() == [True, False] and not info1["done"]
    assert term2[:2].tolist() == [False, True] and info2["done"]
    assert int(st2.total_deaths) == 2 and int(info2["alive"]) == 0
    assert r1[0] == -1.0 and r2[1] == -1.0 and r2[0] == 0.0


def test_persistent_respawn_after_delay_with_full_vitals(classic):
    """Classic (persistent): a slot dead on tick T is back on tick T + respawn_delay, on a free
    spawn-ring tile, with full vitals and time alive 0; the world never reports done."""
    b = classic.b
    state = classic.lab_state({0: (b, 15), 1: (b + 5, b + 5)}, health={1: 60}, food={1: 70})
    ring = classic.ring_set()
    for delay in (10, 3):  # default, then a traced param value (no recompile)
        params = classic.p(respawn_delay=delay)
        outs = classic.run(state, actions=classic.moves({0: 1}), ticks=1, params=params)
        outs += classic.run(jax.tree.map(jnp.asarray, outs[0][1]), ticks=delay + 1, params=params, seed=3)
        for t, (obs, st, reward, term, trunc, info) in enumerate(outs, start=1):
            e = st.entities
            assert not info["done"]
            assert int(st.tick) == t
            if t < 1 + delay:
                assert not e.alive[0], (delay, t)
                assert term[0] == (t == 1) and reward[0] == (-1.0 if t == 1 else 0.0)
                assert not obs["entity_mask"][0].any()
                assert obs["action_mask"]["move"][0].tolist() == [True, False, False, False, False]
            elif t == 1 + delay:
                assert e.alive[0], (delay, t)
                assert tuple(e.pos[0]) in ring
                assert (e.health[0], e.food[0], e.water[0], e.time_alive[0]) == (100, 100, 100, 0)
                assert reward[0] == 0.0 and not term[0]
                assert obs["entity_mask"][0, 0]
                assert tuple(e.pos[0]) != tuple(e.pos[1])
            else:
                assert e.alive[0] and e.time_alive[0] == 1
                assert reward[0] == np.float32(1 / classic.cfg.horizon)
        assert int(outs[-1][1].total_deaths) == 1


def test_non_persistent_dead_stay_dead(tiny):
    state = tiny.lab_state({0: (20, 20), 1: (24, 24)}, health={0: 10}, food={0: 0}, water={0: 0})
    outs = tiny.run(state, ticks=30)
    for _, st, *_ in outs:
        assert not st.entities.alive[0]
    assert int(outs[-1][1].entities.respawn_tick[0]) >= 2 ** 30 - 1


def test_persistent_truncates_every_horizon_and_plays_on(classic):
    """Classic horizon 32: live agents are truncated on ticks 32 and 64 and keep playing."""
    params = classic.p(foliage_respawn=1.0)
    state = classic.lab_state({0: (20, 20)}, tiles={(20, 20): T.FOLIAGE, (21, 20): T.WATER})
    outs = classic.run(state, ticks=65, params=params)
    trunc_ticks = [t for t, o in enumerate(outs, start=1) if o[4][0]]
    assert trunc_ticks == [32, 64]
    assert all(o[1].entities.alive[0] and not o[5]["done"] for o in outs)
    assert all(o[2][0] == np.float32(1 / 32) for o in outs)
    assert int(outs[-1][1].entities.time_alive[0]) == 65
