"""Shared fixtures for the viewer tests: one tiny world, one untrained policy, recorders compiled once.

Compiling is what costs time, so every ``Recorder`` (each compiles its own
``start`` and ``chunk``) lives in a session fixture. The world is the test
suite's tiny one (``TINY_OVERRIDES`` in tests/conftest.py: 48x48 map with an
8-tile border, 16 agents, 4 NPC slots, 8 entity rows); the policy is a
feed-forward model of width 16 with untrained parameters, which is all the
overlay mechanics need (no training in tests).
"""
from __future__ import annotations

import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import pytest

import agents
import nmmo_jax
from agents.policy_fn import policy_function
from nmmo_jax.render import Recorder, Replay

# Same world as tests/conftest.py's TINY_OVERRIDES (copied: that conftest is not importable as a module).
TINY = {"map_size": 48, "border": 8, "num_agents": 16, "num_npcs": 4, "entity_rows": 8, "horizon": 64}
RECORD_TICKS = 40
RECORD_SEED = 3

# Subprocesses (CLI tests) and fresh Recorder instances compile the same graphs: share a persistent cache.
if not jax.config.jax_compilation_cache_dir:
    _CACHE = tempfile.mkdtemp(prefix="nmmo-jax-viewer-cache-")
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    import atexit
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def tiny_cli_flags() -> list[str]:
    return ["--config=small", *[f"--{k}={v}" for k, v in TINY.items()]]


class TinyWorld:
    def __init__(self):
        self.config = nmmo_jax.load_config("small", TINY)
        self.env = nmmo_jax.Env(self.config)
        self.cfg = self.env.cfg
        self.params_env = self.env.default_params
        self.A = self.cfg.num_agents
        # Shapes are enough to initialise the model: no reset compile here.
        shapes = jax.eval_shape(self.env.reset, jax.random.PRNGKey(0), self.params_env)[0]
        obs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        self.model = agents.make_model("feedforward", env=self.env, hidden=16)
        self.params = self.model.init(jax.random.PRNGKey(1), obs, self.model.initial_carry(self.A),
                                      jnp.ones(self.A, bool))
        # What the world's recorder takes: a plain function of the observation (agents.policy_fn).
        self.policy = policy_function(self.model, self.params)
        self.initial_carry = self.model.initial_carry(self.A)


@pytest.fixture(scope="session")
def world():
    return TinyWorld()


@pytest.fixture(scope="session")
def policy_recorder(world):
    return Recorder(world.env, world.policy, initial_carry=world.initial_carry, chunk=16)


@pytest.fixture(scope="session")
def random_recorder(world):
    return Recorder(world.env, None, chunk=16)


@pytest.fixture(scope="session")
def recorded(policy_recorder, tmp_path_factory):
    """A 40-tick policy recording: (writer, header, path of the written file, loaded Replay)."""
    writer, static = policy_recorder.record(jax.random.PRNGKey(RECORD_SEED), RECORD_TICKS)
    header = policy_recorder.header(seed=RECORD_SEED, ticks=RECORD_TICKS)
    path = tmp_path_factory.mktemp("replay") / "tiny.replay"
    writer.write(path, header)
    return writer, header, path, Replay.load(path)


@pytest.fixture(scope="session")
def replay_path(recorded):
    return recorded[2]


def forget_example_overlay() -> None:
    """Undo ``--import=viewer.example_overlay``: unregister its overlay and forget the module, so the
    next ``--import`` of it (another test, same process) registers it again."""
    import sys
    from nmmo_jax.render import unregister_overlay
    unregister_overlay("health")
    sys.modules.pop("viewer.example_overlay", None)


def skip_browser() -> bool:
    return os.environ.get("NMMO_SKIP_BROWSER", "") not in ("", "0")
