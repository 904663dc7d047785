"""Data parallel: one update on a 4-device mesh equals the single-device update, and the batch is sharded.

The 4 virtual CPU devices must be requested before jax starts, so the mesh run
happens in ``dp_worker.py``, run in the suite's background lane while the
in-process tests run (``conftest._data_parallel``). The single-device reference is ``rec.history``:
the same config, the same key, computed in this process.
"""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from background import LANE

from .conftest import DP_DEVICES


@pytest.fixture(scope="module")
def dp(rec):
    rec.history  # the single-device reference, computed in this process
    out, rc, stdout, stderr = LANE.result("data_parallel")
    assert rc == 0, f"dp_worker failed (rc={rc}):\n{stderr[-4000:]}"
    info = json.loads((out / "result.npz.json").read_text())
    with np.load(out / "result.npz") as f:
        arrays = {k: f[k] for k in f.files}
    return info, arrays


def test_the_world_batch_is_sharded_over_the_devices(dp):
    info, _ = dp
    assert info["devices"] == DP_DEVICES
    for when in ("after_init", "after_update"):
        lay = info[when]
        for name in ("env_state.tiles", "env_state.entities.health", "obs.entities", "carry", "env_done"):
            x = lay[name]
            assert x["devices"] == DP_DEVICES and not x["replicated"], f"{when} {name}: {x}"
            assert "data" in x["spec"], f"{when} {name}: {x}"
            lead = x["shape"][0] // DP_DEVICES
            assert x["shard_shapes"] == [[lead] + x["shape"][1:]], f"{when} {name}: {x}"
        p = lay["params.first"]
        assert p["devices"] == DP_DEVICES and p["replicated"], f"{when} params: {p}"


def test_one_update_on_the_mesh_equals_the_single_device_update(dp, rec):
    _, arrays = dp
    runners, metrics = rec.history
    ref = {"runner" + jax.tree_util.keystr(p): np.asarray(x)
           for p, x in jax.tree_util.tree_leaves_with_path(runners[1])}
    assert set(ref) == {k for k in arrays if k.startswith("runner")}
    for name, want in ref.items():
        got = arrays[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if want.dtype.kind == "f":
            # gradients are summed across devices in another order: float rounding only
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5, err_msg=name)
        else:  # worlds, RNG keys, counters: exactly the same rollout
            np.testing.assert_array_equal(got, want, err_msg=name)
    for k, want in metrics[0].items():
        got = arrays[f"metrics.{k}"]
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6, err_msg=k)
        else:
            np.testing.assert_array_equal(got, want, err_msg=k)
    # the update moved the parameters, so agreeing on them is not trivial
    name = next(k for k in ref if "params" in k)
    assert not np.array_equal(ref[name], np.asarray(jax.tree.leaves(runners[0].params)[0]))


def test_world_batch_not_divisible_by_devices_is_a_config_error(dp):
    info, _ = dp
    msg = info["indivisible_error"]
    assert msg is not None, "num_envs=2 on 4 devices was accepted"
    assert "train.num_envs=2" in msg and str(DP_DEVICES) in msg
