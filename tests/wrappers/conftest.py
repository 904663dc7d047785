"""Tiny worlds for the adapter tests; compiled functions are cached per static config, so every
adapter of one config below (PettingZoo, and Gymnasium per number of worlds) compiles once."""
import numpy as np
import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("gymnasium")

# The small preset shrunk: 32x32 playable inside an 8-tile border, 16 agents, horizon 64.
TINY = dict(map_size=48, border=8, num_agents=16, num_npcs=4, entity_rows=8, horizon=64)
# The same with death fog (from tick 32, so it bites within an episode) and 4 teams of 4.
TINY_FOG_TEAMS = dict(TINY, fog=True, num_teams=4, fog_onset=32)


def legal_actions(rng: np.random.Generator, action_mask: dict) -> dict:
    """Uniformly random legal choice per head, from int8/bool masks [..., n] (any leading axes)."""
    return {h: np.argmax(rng.random(m.shape) * m, axis=-1) for h, m in action_mask.items()}


def kill(state, world=None, slots=None):
    """A state in which the given player slots (of one world of a batch, or of a lone world) die next tick."""
    e = state.entities
    idx = (slots,) if world is None else (world, slots)
    zero = lambda x: x.at[idx].set(0)
    return state.replace(entities=e.replace(health=zero(e.health), food=zero(e.food), water=zero(e.water)))
