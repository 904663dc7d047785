"""Shared fixtures for the viewer tests: one tiny world, one untrained policy, recorders compiled once.

Compiling is what costs time, so every ``Recorder`` (each compiles its own
``start`` and ``chunk``) lives in a session fixture, and the world is the test
suite's own ``tiny`` fixture (tests/conftest.py, ``TINY_OVERRIDES``: 48x48 map
with an 8-tile border, 16 agents, 4 NPC slots, 8 entity rows, fog, 4 teams, the
economy and comm tokens): its reset and its jitted step are compiled once for
the whole run, and the viewer's panel, market and chart see a world with items.
The policy is a feed-forward model of width 16 with untrained parameters,
which is all the overlay mechanics need (no training in tests).

The command-line recordings (``python -m nmmo_jax.replay --random``) play
``TINY``, the small preset shrunk the same way with the economy off as in the
presets: a real items-off world for the page, and one random-agent program
(with the README's custom overlay, chunk 8) that the CLI tests and the
overlay hook test share through the persistent compilation cache.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents
import nmmo_jax
from agents.policy_fn import policy_function
from nmmo_jax.render import Recorder, Replay

# The command-line world: the small preset with items and comm off, shrunk like tests/conftest.py's TINY_OVERRIDES.
TINY = {"map_size": 48, "border": 8, "num_agents": 16, "num_npcs": 4, "entity_rows": 8, "horizon": 64,
        "items": False, "comm_tokens": 0}
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


def cli_world_env():
    """An ``Env`` of the command-line world ``TINY`` (a new one each call: it shares compiles by cache only)."""
    return nmmo_jax.Env(nmmo_jax.load_config("small", TINY))


class TinyWorld:
    """The suite's ``tiny`` world (its env, params and compiled ``step``) with an untrained policy."""

    def __init__(self, base):
        self.config = base.config
        self.env = base.env
        self.cfg = self.env.cfg
        self.params_env = base.params
        self.step = base.step   # jitted once for the session (a second trace fails the test that caused it)
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
def world(tiny):
    return TinyWorld(tiny)


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


# ------------------------------------------------------------- edited replays
# The 40-tick recording holds items (harvest drops, equipment) but its untrained policy lists and buys
# nothing, so the market's tests edit a copy of it: known listings and sales written into the recorded
# leaves (the viewer is a function of the frames; no compile needed). Frames MARKET_FROM.. hold:
MARKET_FROM = 30
LISTINGS = (  # per seller (the first two players alive on every frame from MARKET_FROM):
    {3: (13, 2, 5, 7, 34), 4: (1, 1, 1, 12, 33)},   # inventory slot: (item, level, quantity, price, listed tick):
    {0: (1, 1, 1, 9, 34), 1: (16, 3, 1, 0, 0)},     # arrow L2 x5 at 7 gold, hat L1 at 12; hat L1 at 9, potion
)
SALES = {33: [(12, 1, 2, 10)], 35: [(1, 1, 1, 9), (13, 2, 1, 4)]}  # frame -> [(item, level, sold, gold)]
INV_FIELDS = ("item", "level", "quantity", "equipped", "price", "listed_tick")


def edited_replay(rp, header=None, edit=None) -> Replay:
    """A copy of replay ``rp`` in memory, with another header and/or leaves changed by ``edit(leaves)``."""
    leaves = {name: np.array(rp.array(name)) for name in rp.names}
    if edit is not None:
        edit(leaves)
    return Replay(dict(rp.header if header is None else header, frames=rp.num_frames), leaves, "<edited>")


@pytest.fixture(scope="session")
def market_replay(recorded, world):
    """(replay with LISTINGS and SALES written in, the two seller slots)."""
    from nmmo_jax import items as I
    rp = recorded[3]
    alive = rp.array("state/entities/alive")[MARKET_FROM:, :world.A].all(axis=0)
    sellers = [int(s) for s in np.flatnonzero(alive)[:2]]
    assert len(sellers) == 2, "the recording needs two players alive from frame MARKET_FROM to the end"

    def edit(leaves):
        for seller, slots in zip(sellers, LISTINGS):
            for k, (item, level, qty, price, listed) in slots.items():
                for f, v in zip(INV_FIELDS, (item, level, qty, False, price, listed)):
                    leaves[f"state/inventory/{f}"][MARKET_FROM:, seller, k] = v
        for t, sold in SALES.items():
            for item, level, n, gold in sold:
                leaves["state/market_sales"][t, I.offer_index(item, level)] = n
                leaves["state/market_volume"][t, I.offer_index(item, level)] = gold

    return edited_replay(rp, edit=edit), sellers


@pytest.fixture(scope="session")
def cli_replay(tmp_path_factory):
    """A random-agent replay of the command-line world ``TINY`` (items off) with the README's custom overlay,
    recorded through the CLI (12 ticks)."""
    from nmmo_jax import replay as cli
    out = tmp_path_factory.mktemp("custom") / "custom.replay"
    try:
        cli.main(["--random", *tiny_cli_flags(), "--ticks=12", "--chunk=8", f"--out={out}",
                  "--import=viewer.example_overlay"])
    finally:
        forget_example_overlay()
    return Replay.load(out)
