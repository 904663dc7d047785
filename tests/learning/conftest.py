"""Session fixtures for the training-stack tests: one tiny run, compiled once, shared.

Compiling is what costs time here (one PPO update of even the tiniest world is
a large graph: a scan of world steps and policy calls, then nested scans of
gradient steps), so:

* every compiled function lives in a session fixture (``rec``: the recurrent
  run, ``ff``: the feed-forward one) and is reused by every test;
* a persistent compilation cache in a temporary directory is shared with the
  subprocesses (``train.py``, ``agents.evaluate``), which compile the same
  functions for the same config: the background ``train.py`` runs store
  ``init`` and the update of a restored (device-committed) runner, and
  ``rec.history`` here loads them instead of compiling again (the first,
  not-restored run's update differs: its arguments are not committed);
* the slow children (the data-parallel worker on 4 virtual CPU devices, the
  ``train.py`` runs and ``agents.evaluate``) run in the suite's background lane
  (tests/background.py), beside the in-process tests, if their tests are selected;
* the children run with this session's ``XLA_FLAGS`` (tests/conftest.py sets
  ``FAST_COMPILE`` for the whole session), so exact comparisons between a child's
  results and this process's compare like with like.

``TINY_RUN`` (``tiny.py``) is the one run config.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from functools import cached_property
from pathlib import Path

import jax
import numpy as np
import pytest
from background import LANE


REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

XLA_FLAGS = os.environ.get("XLA_FLAGS", "")  # what this process runs with: the children get the same
CACHE_DIR = tempfile.mkdtemp(prefix="nmmo-jax-learning-cache-")
atexit.register(shutil.rmtree, CACHE_DIR, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

import jax.numpy as jnp  # noqa: E402

from agents import models as M  # noqa: E402
from agents import ppo  # noqa: E402

from .tiny import TINY_RUN, tiny_config  # noqa: E402,F401  (re-exported for the tests)

HISTORY_UPDATES = 3
DP_DEVICES = 4


def cli_flags(overrides: dict) -> list[str]:
    return [f"--{k}={v}" for k, v in overrides.items()]


def subprocess_env(**extra) -> dict:
    """Environment for a child python: CPU, the shared compilation cache, the repo importable."""
    env = dict(os.environ)
    env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=CACHE_DIR,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env["XLA_FLAGS"] = XLA_FLAGS
    env.update(extra)
    return env


def to_device(tree):
    """Host arrays back on the device, committed (see ``Run.init``)."""
    return jax.device_put(tree, jax.devices()[0])


def snapshot(tree):
    """A host copy of every leaf (taken before a donating call invalidates the device buffers)."""
    return jax.tree.map(lambda x: np.array(x, copy=True), jax.device_get(tree))


def assert_trees_equal(a, b, what=""):
    """Every leaf bit-identical (same structure, dtype, shape, values; NaNs equal)."""
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb, f"{what}: different tree structure\n{ta}\n{tb}"
    for (path, x), (_, y) in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        name = f"{what}{jax.tree_util.keystr(path)}"
        assert x.dtype == y.dtype, f"{name}: dtype {x.dtype} != {y.dtype}"
        assert x.shape == y.shape, f"{name}: shape {x.shape} != {y.shape}"
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), \
            f"{name}: values differ at {np.argwhere(x != y)[:5].tolist()}"


class Run:
    """One trainer and its compiled pieces, built once per session.

    ``update(runner)``: one PPO update through the real ``update_chunk`` (it
    donates ``runner``). ``rollout``/``learn``: the two halves of an update,
    jitted separately so a test can hold one rollout batch fixed; ``learn``
    counts its traces. ``history``: from ``init(PRNGKey(seed))``, host copies
    of the runner after 0..HISTORY_UPDATES updates and the metrics of each.
    """

    def __init__(self, config, model=None, batch_from: "Run | None" = None):
        self.config = config
        self.trainer = ppo.make_train(config, model=model)
        self.learn_traces = 0
        self.batch_from = batch_from

    def init(self, key):
        """``trainer.init`` with its arrays committed to the device, like a restored checkpoint's.

        jit compiles separately for committed and uncommitted arguments; committing here
        lets a runner restored by orbax (committed) reuse the same executable.
        """
        return jax.device_put(self.trainer.init(key), jax.devices()[0])

    def update(self, runner):
        return self.trainer.update_chunk(runner, 1)

    def chunk_compiles(self) -> int:
        return self.trainer.update_chunk._cache_size()

    @cached_property
    def rollout(self):
        return jax.jit(self.trainer._rollout)

    @cached_property
    def learn(self):
        def learn(runner, batch, carry0, key):
            self.learn_traces += 1
            return self.trainer._learn(runner, batch, carry0, key)
        return jax.jit(learn)

    @cached_property
    def template(self):
        return jax.eval_shape(self.trainer.init, jax.random.PRNGKey(0))

    @cached_property
    def history(self):
        runner = self.init(jax.random.PRNGKey(self.config.train.seed))
        runners, metrics = [snapshot(runner)], []
        for _ in range(HISTORY_UPDATES):
            runner, m = self.update(runner)
            runners.append(snapshot(runner))
            metrics.append(snapshot(m))
        return runners, metrics

    @cached_property
    def fixed_batch(self):
        """(runner, batch, carry0, stats) of the second of two rollouts from ``init``: ticks 8-15,
        where agents that found no food or water die (invalid steps, respawns, GAE cuts).

        With ``batch_from``, the other run's batch re-scored by this run's model instead of a
        rollout of its own (saves compiling a second world rollout): the same observations,
        actions, masks, advantages and targets, with this model's fresh parameters, log-probs and
        values, so the batch is on-policy for it.
        """
        if self.batch_from is None:
            runner = self.trainer.init(jax.random.PRNGKey(1))
            runner = self.rollout(runner, jax.random.PRNGKey(2))[0]
            return self.rollout(runner, jax.random.PRNGKey(3))
        runner, batch, _, stats = self.batch_from.fixed_batch
        model, (t, b) = self.trainer.model, batch.valid.shape
        carry0 = model.initial_carry(b)
        first = jax.tree.map(lambda x: x[0], batch.obs)
        params = jax.jit(model.init)(jax.random.PRNGKey(1), first, carry0, jnp.ones(b, bool))

        @jax.jit
        def score(params, obs, action):
            flat = jax.tree.map(lambda x: x.reshape((t * b,) + x.shape[2:]), obs)
            logits, value, _ = model.apply(params, flat, model.initial_carry(t * b), jnp.zeros(t * b, bool))
            flat_action = jax.tree.map(lambda x: x.reshape(t * b), action)
            return M.log_prob(logits, flat_action).reshape(t, b), value.reshape(t, b)

        logp, value = score(params, batch.obs, batch.action)
        runner = runner.replace(params=params, opt_state=self.trainer.tx.init(params), carry=carry0)
        return runner, batch._replace(logp=logp, value=value), carry0, stats


@pytest.fixture(scope="session")
def rec():
    """The recurrent run of ``TINY_RUN`` (the config train.py and the data-parallel worker also use)."""
    return Run(tiny_config())


@pytest.fixture(scope="session")
def ff(rec):
    """The feed-forward run of ``TINY_RUN``; its fixed batch is ``rec``'s, re-scored."""
    return Run(tiny_config(**{"train.model": "feedforward"}), batch_from=rec)


# ---------------------------------------------------------------------------- background jobs
# The slow children run in the suite's background lane (tests/background.py) while the in-process tests
# run, if their tests are selected; their tests read the results (and run last).
RUNS_DIR = Path(tempfile.mkdtemp(prefix="nmmo-jax-learning-runs-"))
atexit.register(shutil.rmtree, RUNS_DIR, ignore_errors=True)


def train_command(run_dir, *flags) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), "--config=small", *cli_flags(TINY_RUN),
            f"--run_dir={run_dir}", "--quiet", *flags]


def _train():
    """The first ``train.py`` run of ``test_train_cli.py`` (2 updates of ``TINY_RUN``): (run dir, rc, out, err)."""
    out = RUNS_DIR / "train_cli"
    rc, stdout, stderr = LANE.run(train_command(out / "run"), timeout=900, env=subprocess_env(), cwd=str(REPO),
                                  log_dir=out / "log")
    return out / "run", rc, stdout, stderr


def _data_parallel():
    """``dp_worker.py`` on 4 virtual devices (its own compile, nothing to share): (out dir, rc, out, err)."""
    out = RUNS_DIR / "data_parallel"
    out.mkdir(parents=True)
    env = subprocess_env(XLA_FLAGS=f"{XLA_FLAGS} --xla_force_host_platform_device_count={DP_DEVICES}".strip())
    env.pop("JAX_COMPILATION_CACHE_DIR")  # other XLA flags: nothing to share, keep the cache small
    rc, stdout, stderr = LANE.run([sys.executable, str(HERE / "dp_worker.py"), str(out / "result.npz")],
                                  timeout=900, env=env, cwd=str(REPO), log_dir=out / "log")
    return out, rc, stdout, stderr


LANE.add("train", _train, needed_by=lambda item: "trained" in item.fixturenames)
LANE.add("data_parallel", _data_parallel, needed_by=lambda item: "dp" in item.fixturenames)
