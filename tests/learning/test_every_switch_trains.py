"""Every preset and switch trains: the model is built from the world's spaces, not from constants.

Two PPO updates (one compiled chunk) on tiny worlds covering fog (a fourth
tile channel) with teams, the economy and communication (inventory rows, the
market, item heads pointing at inventory rows) and the rich curriculum of tasks
(``obs["task"]`` embedded, the task metrics logged), and the classic world (lava,
one per tile, its own entity rows) with combat off (no attack heads) and the
recurrent model. Two compiles cover the switches; the classic combat rules
change nothing the model sees (tests/test_rules_classic_combat.py tests them).
Before models read the spaces, ``--fog=true`` crashed in the tile encoder.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from agents import ppo
from background import LANE

SMALL_RUN = {"train.num_envs": 2, "train.rollout_len": 4, "train.hidden": 8, "train.num_minibatches": 2,
             "train.update_epochs": 1, "train.anneal_lr": False, "train.model": "feedforward",
             "train.updates_per_chunk": 2, "train.total_updates": 2}
TINY_WORLD = {"map_size": 40, "border": 8, "num_agents": 8, "num_npcs": 4, "entity_rows": 6, "horizon": 16,
              "noise_octaves": 1}
CASES = {
    "fog_and_teams": ("small", {"fog": True, "fog_onset": 0, "num_teams": 4, "items": True, "comm_tokens": 8,
                                "curriculum": "rich"}),
    "classic_combat_off_recurrent": ("classic", {"map_size": 36, "border": 10, "combat": False,
                                                 "train.model": "recurrent"}),
}


def _compile(case):
    """The case's trainer and its ``init_and_train`` compiled. Compiling is nearly all of this test's time,
    and XLA compiles without holding the GIL, so the suite's background lane (tests/background.py) runs
    this in its thread while other tests run; the test runs the compiled program."""
    preset, extra = CASES[case]
    cfg = nmmo_jax.load_config(preset, {**TINY_WORLD, **SMALL_RUN, **extra})
    trainer = ppo.make_train(cfg)

    @jax.jit
    def init_and_train(key):  # one compile for both (each world here is compiled once anyway)
        runner = trainer._init(key)
        return runner.params, trainer._chunk(runner, 2)

    return cfg, trainer, init_and_train.lower(jax.random.PRNGKey(0)).compile()


for _case in CASES:
    LANE.add(f"every_switch[{_case}]", functools.partial(_compile, _case),
             needed_by=lambda item, case=_case: (getattr(item, "originalname", None)
                                                 == "test_two_updates_train_with_every_switch"
                                                 and item.callspec.params["case"] == case))


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_updates_train_with_every_switch(case):
    cfg, trainer, init_and_train = LANE.result(f"every_switch[{case}]")
    env = nmmo_jax.Env(cfg)
    heads = set(env.action_space().keys())
    expected = {"move"} if "combat_off" in case else {"move", "attack_style", "attack_target"}
    if case == "fog_and_teams":
        expected |= {"use", "destroy", "sell_item", "sell_price", "buy", "give_item", "give_target",
                     "give_gold_amount", "give_gold_target", "comm"}
    assert heads == expected
    assert trainer.env.observation_space()["tiles"].shape[-1] == (4 if case == "fog_and_teams" else 3)
    assert trainer.recurrent == ("recurrent" in case)

    before, (runner, metrics) = jax.device_get(init_and_train(jax.random.PRNGKey(0)))
    assert int(runner.update) == 2
    for name in ("loss", "pg_loss", "v_loss", "entropy"):
        assert np.all(np.isfinite(metrics[name])), (case, name, metrics[name])
    assert np.all(metrics["agent_steps"] > 0)
    after = runner.params
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(a - b).max()), before, after))
    assert max(moved) > 0, "the parameters did not change in two updates"
    # every head the world declares has its output layer in the model; item heads point at inventory rows
    actions = after["params"]["actions"]
    logits, _, _ = trainer.model.apply(after, trainer._flat(runner.obs), runner.carry,
                                       jnp.zeros(trainer.slots, bool))
    assert set(logits) == heads
    if case == "fog_and_teams":  # the run logs the economy's totals too
        for name in ppo.ECONOMY_METRICS + ("mean_equipment_level",):
            assert name in metrics and np.all(np.isfinite(metrics[name])) and np.all(metrics[name] >= 0), name
        assert logits["use"].shape[-1] == 13   # the no-op, then a pointer at the 12 inventory rows
        assert "inventory_attributes" in after["params"] and "inventory_pool" in after["params"]
        assert "task_dense" in after["params"]  # the task descriptor has its encoder
        names = env.curriculum.names
        for name in ppo.TASK_METRICS + tuple(f"task_{n}_{k}" for n in names for k in ("completed", "ended")):
            assert name in metrics and np.all(np.isfinite(metrics[name])), name
        # every life that ends holds one task: the per-task counts add up to the total
        assert np.array_equal(sum(metrics[f"task_{n}_ended"] for n in names), metrics["tasks_ended"])
        assert np.all((metrics["mean_task_progress"] >= 0) & (metrics["mean_task_progress"] <= 1))
