"""The one run config of the training-stack tests (shared by the fixtures and the worker scripts).

The small preset shrunk to a 32x32 playable square, 16 agents, 4 envs,
rollouts of 8 ticks, hidden 16. Food and water start at 40, so agents that
neither eat nor drink die around tick 13, and the horizon is 16: two updates
cover deaths, dead slots and a horizon boundary. No learning-rate annealing, so
the compiled update does not depend on ``total_updates`` (train.py runs with
other totals share the compiled functions with the in-process tests). The
economy and communication are off here, to keep these compiles small:
``test_every_switch_trains`` trains a world with them on, and
``test_evaluate_totals`` evaluates one.
"""
from __future__ import annotations

import nmmo_jax

TINY_RUN = {
    "map_size": 48, "border": 8, "num_agents": 16, "num_npcs": 4, "entity_rows": 8, "horizon": 16,
    "noise_octaves": 1, "max_food": 40, "max_water": 40, "items": False, "comm_tokens": 0,
    "train.num_envs": 4, "train.rollout_len": 8, "train.hidden": 16, "train.num_minibatches": 2,
    "train.update_epochs": 2, "train.lr": 5e-4, "train.anneal_lr": False, "train.model": "recurrent",
    "train.updates_per_chunk": 1, "train.checkpoint_every": 1, "train.total_updates": 2,
}


def tiny_config(**overrides):
    return nmmo_jax.load_config("small", {**TINY_RUN, **overrides})
