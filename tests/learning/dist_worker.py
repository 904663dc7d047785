"""One process of the two-process ``train.py`` run of test_distributed.py.

    python tests/learning/dist_worker.py OUT --coordinator=127.0.0.1:PORT --num_processes=2 --process_id=I \\
        --config=small ... (train.py's flags)

Trains through ``agents.train.run``, the code of ``train.py`` (flags, ``jax.distributed``, the mesh
over every process's devices, logs, checkpoints), then writes what this process holds of the final
runner: OUT.npz, the data of each leaf's shards on this process's devices (``<leaf>#<k>``), and
OUT.json: the process's index and count, its devices and the global ones, and each shard's place
in the global array (per dimension [start, stop)).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

from agents import train


def place(index, shape) -> list[list[int]]:
    """A shard's index (a tuple of slices) as [start, stop) per dimension of the global array."""
    out = []
    for sl, n in zip(index, shape):
        start, stop, _ = sl.indices(n)
        out.append([start, stop])
    return out


def main(out: str, argv: list[str]):
    runner = train.run(argv)
    arrays, shards = {}, {}
    for path, x in jax.tree_util.tree_leaves_with_path(runner):
        name = "runner" + jax.tree_util.keystr(path)
        shards[name] = []
        for k, shard in enumerate(x.addressable_shards):
            arrays[f"{name}#{k}"] = np.asarray(shard.data)
            shards[name].append(place(shard.index, x.shape))
    np.savez(out + ".npz", **arrays)
    info = {"process_index": jax.process_index(), "process_count": jax.process_count(),
            "devices": len(jax.devices()), "local_devices": len(jax.local_devices()), "shards": shards}
    Path(out + ".json").write_text(json.dumps(info))
    print(f"dist_worker {jax.process_index()}: ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
