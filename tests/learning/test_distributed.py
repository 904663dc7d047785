"""Several processes for real: ``train.py`` across two processes on localhost equals one process.

Two processes start on 127.0.0.1 under ``jax.distributed.initialize()`` with gloo CPU collectives,
one CPU device each, and train 2 updates of ``TINY_RUN`` (4 worlds: 2 a process) into one run
directory. Each is ``dist_worker.py``: ``agents.train.run`` (the code of ``train.py``), then a
dump of what the process holds. They run in the suite's background lane (``_distributed``), killed
after ``TIMEOUT`` s, or at once when the other one fails; the lane's one job that takes both cores
(two compiles of the update at once, about 30 s of CPU each). The reference is ``rec.history``: the
same run, the same global batch, on one device in this process.

Why this shows that the processes exchange gradients: process i steps only worlds 2i and 2i+1 (its
shards of the worlds equal those worlds of the reference, and it holds no others), yet its own copy
of the parameters and the optimiser state after 2 updates equals the other process's bit for bit
and the reference's, which learned from all four worlds, to float rounding (``RTOL``, ``ATOL``:
at most a hundredth of how far the 2 updates moved the parameters, which is checked). A process that
learned from its own two worlds alone would hold other parameters than the other process and the
reference.

Float rounding, not bit equality, against one device: the gradients of the two halves of the batch
are summed across the devices, a different order of additions than one device's sum. Against one
process with 2 forced host devices (the same program, the same two-way sum) the two processes are
bit-equal; that costs a third process here, so the test compares with the one-device run the suite
computes anyway.
"""
from __future__ import annotations

import csv
import json
import socket
import sys
import time

import jax
import numpy as np
import pytest
from background import LANE

from agents import checkpoint as ckpt
from nmmo_jax.config import ConfigError

from .conftest import HERE, REPO, RUNS_DIR, TINY_RUN, cli_flags, snapshot, subprocess_env

PROCESSES = 2
UPDATES = TINY_RUN["train.total_updates"]  # 2
ENVS = TINY_RUN["train.num_envs"]  # 4
TIMEOUT = 900  # s, like the other jobs; the pair takes about a minute on 2 idle cores
RTOL, ATOL = 1e-5, 1e-6  # two processes against one device: float rounding (measured: some 1e-8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _distributed():
    """Both processes to the end: (out dir, [(rc, stdout, stderr)] per process)."""
    out = RUNS_DIR / "distributed"
    out.mkdir(parents=True)
    port = free_port()
    # one CPU device a process; the coordinator (process 0) listens on localhost only
    env = subprocess_env(JAX_COORDINATOR_BIND_ADDRESS=f"127.0.0.1:{port}")
    env.pop("JAX_COMPILATION_CACHE_DIR")  # a program over two processes: nothing to share with the other jobs
    procs, files = [], []
    for i in range(PROCESSES):
        cmd = [sys.executable, str(HERE / "dist_worker.py"), str(out / f"process{i}"), "--config=small",
               *cli_flags(TINY_RUN), f"--run_dir={out / 'run'}", "--quiet", f"--coordinator=127.0.0.1:{port}",
               f"--num_processes={PROCESSES}", f"--process_id={i}"]
        files.append((open(out / f"process{i}.stdout", "w"), open(out / f"process{i}.stderr", "w")))
        procs.append(LANE.popen(cmd, stdout=files[-1][0], stderr=files[-1][1], env=env, cwd=str(REPO)))
    deadline, note = time.monotonic() + TIMEOUT, ""
    while any(p.poll() is None for p in procs):
        failed = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
        if failed or time.monotonic() > deadline:  # the other would wait for it until jax's own timeouts
            note = f"\n[killed: process {failed[0]} failed]" if failed else f"\n[killed after {TIMEOUT} s]"
            for p in procs:
                if p.poll() is None:
                    p.kill()
            break
        time.sleep(0.2)
    results = []
    for i, (p, (o, e)) in enumerate(zip(procs, files)):
        p.wait()
        o.close()
        e.close()
        results.append((p.returncode, (out / f"process{i}.stdout").read_text(),
                        (out / f"process{i}.stderr").read_text() + note))
    return out, results


LANE.add("distributed", _distributed, needed_by=lambda item: "dist" in item.fixturenames)


@pytest.fixture(scope="module")
def dist(rec):
    """(out dir, [(rc, stdout, stderr)], [(info, arrays)]) of the two processes."""
    rec.history  # the one-device reference, computed in this process while the two run
    out, results = LANE.result("distributed")
    for i, (rc, stdout, stderr) in enumerate(results):
        assert rc == 0, f"process {i} failed (rc={rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    procs = []
    for i in range(PROCESSES):
        info = json.loads((out / f"process{i}.json").read_text())
        with np.load(out / f"process{i}.npz") as f:
            procs.append((info, {k: f[k] for k in f.files}))
    return out, results, procs


def leaves(tree) -> dict:
    return {"runner" + jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def assert_close(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)
    else:  # worlds, RNG keys, counters: the same rollouts
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_each_process_holds_its_half_of_the_worlds(dist, rec):
    _, results, procs = dist
    ref = leaves(rec.history[0][UPDATES])
    params = next(k for k in ref if k.startswith("runner.params"))
    for i, (info, _) in enumerate(procs):
        assert (info["process_index"], info["process_count"]) == (i, PROCESSES)
        assert (info["devices"], info["local_devices"]) == (PROCESSES, 1)
        assert set(info["shards"]) == set(ref)
        for name in ("runner.env_state.tiles", "runner.env_state.entities.health", "runner.obs['entities']",
                     "runner.carry", "runner.env_done"):
            (rows, *rest), = info["shards"][name]  # one shard: this process's worlds (or their slots)
            lead = ref[name].shape[0] // PROCESSES
            assert rows == [i * lead, (i + 1) * lead], f"process {i} {name}: {info['shards'][name]}"
            assert rest == [[0, n] for n in ref[name].shape[1:]], name
        assert info["shards"][params] == [[[0, n] for n in ref[params].shape]]  # the whole, replicated
        assert f"devices={PROCESSES} processes={PROCESSES} process_id={i}" in results[i][1], results[i][1]
    assert ref["runner.env_done"].shape == (ENVS,)


def test_two_processes_train_the_one_device_run(dist, rec):
    """Each process's shards after 2 updates (its worlds, its copy of the parameters, the optimiser
    state, the RNG) equal that part of the one-device run (floats to rounding), and the two
    processes' copies of the replicated leaves are bit-identical."""
    _, _, procs = dist
    runners, _ = rec.history
    ref = leaves(runners[UPDATES])
    for i, (info, arrays) in enumerate(procs):
        for name, places in info["shards"].items():
            for k, place in enumerate(places):
                assert_close(arrays[f"{name}#{k}"], ref[name][tuple(slice(a, b) for a, b in place)],
                             f"process {i} {name} {place}")
    (info0, a0), (_, a1) = procs
    replicated = [n for n, places in info0["shards"].items() if places[0] == [[0, d] for d in ref[n].shape]]
    assert any(n.startswith("runner.params") for n in replicated)
    for name in replicated:
        np.testing.assert_array_equal(a0[f"{name}#0"], a1[f"{name}#0"], err_msg=f"processes 0 and 1: {name}")
    # the processes stepped different worlds ...
    assert not np.array_equal(a0["runner.env_state.tiles#0"], a1["runner.env_state.tiles#0"])
    # ... and the 2 updates moved the parameters a hundred times further than the tolerance
    before, after = leaves(runners[0].params), leaves(runners[UPDATES].params)
    moved = max(float(np.max(np.abs(after[n] - before[n]))) for n in after)
    assert moved > 100 * ATOL, moved


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_both_processes_write_one_checkpoint_that_restores_on_one_device(dist, rec):
    """Both processes write each checkpoint together; it restores in one process on one device (as
    ``agents.evaluate`` does). Process 0 alone writes config.yaml, metrics.csv and TensorBoard."""
    out, results, procs = dist
    run_dir = out / "run"
    runners, metrics = rec.history
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [str(u) for u in range(1, UPDATES + 1)]
    for step in range(1, UPDATES + 1):
        restored, _ = ckpt.restore(run_dir, rec.template, rec.config, step=step)
        got, want = leaves(snapshot(restored)), leaves(runners[step])
        assert set(got) == set(want)
        for name in want:
            assert_close(got[name], want[name], f"checkpoint {step} {name}")
    for info, arrays in procs:  # the last checkpoint holds exactly what the processes held
        for name, places in info["shards"].items():
            for k, place in enumerate(places):
                np.testing.assert_array_equal(got[name][tuple(slice(a, b) for a, b in place)], arrays[f"{name}#{k}"],
                                              err_msg=f"process {info['process_index']} {name}")
    rows = read_metrics(run_dir)
    assert [int(r["update"]) for r in rows] == list(range(1, UPDATES + 1))
    for row, m in zip(rows, metrics):
        for k in ("loss", "pg_loss", "v_loss", "entropy", "reward", "mean_lifetime", "episodes", "agent_steps"):
            np.testing.assert_allclose(float(row[k]), float(m[k][0]), rtol=1e-4, atol=1e-6,
                                       err_msg=f"update {row['update']}: {k}")
    assert yaml_config(run_dir) == rec.config.to_dict()
    assert len(list(run_dir.glob("events.*"))) == 1
    out0, out1 = results[0][1], results[1][1]
    assert f"trained {UPDATES} updates" in out0 and "evaluate:" in out0, out0
    assert f"process 1: trained {UPDATES} updates" in out1 and "evaluate:" not in out1, out1


def yaml_config(run_dir):
    import yaml
    return yaml.safe_load((run_dir / "config.yaml").read_text())


@pytest.mark.parametrize("flags, named", [
    (["--num_processes=2", "--process_id=2", "--coordinator=127.0.0.1:1234"], "--process_id=2"),
    (["--num_processes=0", "--process_id=0", "--coordinator=127.0.0.1:1234"], "--num_processes=0"),
    (["--num_processes=2", "--process_id=0", "--coordinator=localhost"], "--coordinator=localhost"),
    (["--num_processes=2", "--process_id=0", "--coordinator=localhost:99999"], "--coordinator=localhost:99999"),
    (["--num_processes=2", "--process_id=1"], "--coordinator"),
    (["--distributed=false", "--num_processes=2", "--process_id=1", "--coordinator=127.0.0.1:1234"],
     "--distributed=false"),
    (["--distributed=maybe"], "--distributed=maybe"),
    (["--devices=two"], "--devices=two"),
])
def test_bad_distributed_flags_fail_before_jax_starts(flags, named, monkeypatch, tmp_path):
    from agents import train
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS", raising=False)
    with pytest.raises(ConfigError) as err:
        train.parse(["--config=small", f"--run_dir={tmp_path / 'run'}", *flags])
    assert named in str(err.value), str(err.value)
    assert "allowed" in str(err.value) or "needs" in str(err.value) or "drop" in str(err.value), str(err.value)
    with pytest.raises(SystemExit) as exit_:  # the command line: one line, no traceback
        train.main(["--config=small", f"--run_dir={tmp_path / 'run'}", *flags])
    assert str(exit_.value).startswith("train.py: ") and named in str(exit_.value)
    assert not (tmp_path / "run").exists()
