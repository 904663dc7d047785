"""Data-parallel worker for test_data_parallel.py (run as a script with 4 virtual CPU devices).

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/learning/dp_worker.py OUT.npz

Builds the tiny run on ``data_mesh()`` over every device, initialises it from
the run seed, makes one update, and writes the runner after the update and the
update's metrics to OUT.npz (leaves named by their tree path), plus OUT.json:
how the leaves are sharded (after init and after the update) and the
ConfigError for a world batch the devices do not divide.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for learning.tiny

from agents import ppo  # noqa: E402
from learning.tiny import tiny_config  # noqa: E402
from nmmo_jax.config import ConfigError  # noqa: E402


def describe(x):
    s = x.sharding
    return {"spec": str(getattr(s, "spec", None)), "devices": len(s.device_set),
            "replicated": bool(x.is_fully_replicated), "shape": list(x.shape),
            "shard_shapes": sorted({tuple(int(d) for d in sh.data.shape) for sh in x.addressable_shards})}


def layout(runner):
    return {"env_state.tiles": describe(runner.env_state.tiles),
            "env_state.entities.health": describe(runner.env_state.entities.health),
            "obs.entities": describe(runner.obs["entities"]),
            "carry": describe(runner.carry),
            "env_done": describe(runner.env_done),
            "params.first": describe(jax.tree.leaves(runner.params)[0])}


def main(out: str):
    info = {"devices": len(jax.devices())}
    try:
        ppo.make_train(tiny_config(**{"train.num_envs": 2}), mesh=ppo.data_mesh())
        info["indivisible_error"] = None
    except ConfigError as err:
        info["indivisible_error"] = str(err)
    cfg = tiny_config()
    trainer = ppo.make_train(cfg, mesh=ppo.data_mesh())
    runner = trainer.init(jax.random.PRNGKey(cfg.train.seed))
    info["after_init"] = layout(runner)
    runner, metrics = trainer.update_chunk(runner, 1)
    info["after_update"] = layout(runner)
    arrays = {"runner" + jax.tree_util.keystr(p): np.asarray(x)
              for p, x in jax.tree_util.tree_leaves_with_path(runner)}
    arrays.update({f"metrics.{k}": np.asarray(v) for k, v in metrics.items()})
    np.savez(out, **arrays)
    Path(out + ".json").write_text(json.dumps(info, indent=1))
    print("dp_worker: ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
