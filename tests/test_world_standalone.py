"""The world stands alone: ``nmmo_jax`` imports nothing from ``agents`` (the learner).

* statically: no module under ``nmmo_jax/`` imports ``agents`` (import
  statements and ``importlib.import_module`` calls, read with ``ast``);
* for real: in a fresh interpreter where ``agents`` cannot be imported, every
  module of ``nmmo_jax`` imports, a random replay and one played by a plain
  policy function (no Flax) are recorded, written, loaded and rendered (the
  interpreter runs in the suite's background lane, tests/background.py);
* the contract a recurrent policy relies on instead of reset flags: the first
  observation of every life shows ``time_alive`` 0 in the self row, and only then.
"""
from __future__ import annotations

import ast
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
from background import LANE

import nmmo_jax
from nmmo_jax.observe import FEATURE_INDEX

REPO = Path(__file__).resolve().parents[1]
WORLD = Path(nmmo_jax.__file__).resolve().parent  # the package under test (a checkout's or an installed one)


def _imports_agents(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            names = [str(node.args[0].value)]
        if any(n == "agents" or n.startswith("agents.") for n in names):
            lines.append(node.lineno)
    return lines


def test_no_world_module_imports_the_learner():
    files = sorted(WORLD.rglob("*.py"))
    assert len(files) > 20
    offenders = {}
    for path in files:
        text = path.read_text()
        lines = _imports_agents(ast.parse(text, str(path)))
        if lines:
            offenders[str(path.relative_to(WORLD.parent))] = lines
    assert not offenders, f"nmmo_jax must import nothing from agents: {offenders}"
    assert _imports_agents(ast.parse("def f():\n    from agents import models\n")) == [2]   # the check sees it


STANDALONE = textwrap.dedent('''
    import importlib, os, pkgutil, sys, tempfile

    class NoLearner:                       # "agents" (and agents.*) cannot be imported in this process
        def find_spec(self, name, path=None, target=None):
            if name == "agents" or name.startswith("agents."):
                raise ImportError(f"{name}: the world must not import the learner")
            return None
    sys.meta_path.insert(0, NoLearner())

    import jax, jax.numpy as jnp, numpy as np
    import nmmo_jax
    skipped = []
    for mod in pkgutil.walk_packages(nmmo_jax.__path__, "nmmo_jax."):
        try:
            importlib.import_module(mod.name)
        except ImportError as err:
            if "agents" in str(err) or not mod.name.startswith("nmmo_jax.wrappers"):
                raise
            skipped.append(mod.name)      # an optional dependency (pettingzoo, gymnasium) not installed
    assert not [m for m in sys.modules if m == "agents" or m.startswith("agents.")]

    from jax.tree_util import Partial
    from nmmo_jax import replay as cli
    from nmmo_jax.observe import FEATURE_INDEX
    from nmmo_jax.render import Recorder, Replay, render_frame
    TINY = {"map_size": 48, "border": 8, "num_agents": 16, "num_npcs": 4, "entity_rows": 8, "horizon": 64}
    env = nmmo_jax.Env(nmmo_jax.load_config("small", TINY))
    out = tempfile.mkdtemp()

    rec = Recorder(env, None, chunk=4)
    writer, _ = rec.record(jax.random.PRNGKey(0), 5)
    writer.write(os.path.join(out, "random.replay"), rec.header(ticks=5))
    rp = Replay.load(os.path.join(out, "random.replay"))
    assert rp.num_frames == 6 and [o["name"] for o in rp.overlays] == ["counts"]
    img = render_frame(rp.state(5), scale=2, overlay=rp.overlay("counts", 5))
    assert img.shape == (96, 96, 3) and img.dtype == np.uint8 and img.std() > 0

    # A policy with no Flax and no learner: random legal moves, a value that is a bound (traced) weight
    # times the agent's health, attention uniform over the entity rows it sees. The carry counts ticks.
    def policy(weight, obs, carry, key):
        mask = obs["entity_mask"].astype(jnp.float32)
        value = weight * obs["entities"][:, 0, FEATURE_INDEX["health"]].astype(jnp.float32)
        attention = {"entities": mask / jnp.maximum(mask.sum(-1, keepdims=True), 1)}
        return env.sample_actions(key, obs), value, attention, carry + 1
    rec = Recorder(env, Partial(policy, jnp.float32(0.5)), initial_carry=jnp.zeros((), jnp.int32), chunk=4,
                   global_values=False)
    carry, _ = rec.start(jax.random.PRNGKey(1))
    carry, frames = rec.chunk(carry)
    assert int(carry[2]) == 4, carry[2]                       # the policy's carry went round the scan
    assert [o["name"] for o in rec.overlays()] == ["counts", "values", "attention"]
    assert {"agent/value", "agent/attention/entities", "agent/attention/slots"} <= set(frames)
    writer, _ = rec.record(jax.random.PRNGKey(1), 3)
    rp = Replay.from_writer(writer, rec.header(ticks=3))
    agent = int(np.flatnonzero(rp.frame("state/entities/alive", 2)[:16])[0])
    assert np.isfinite(rp.overlay("attention", 2, agent=agent)).any()
    assert render_frame(rp.state(2), overlay=rp.overlay("values", 2)).shape == (384, 384, 3)

    try:
        cli.main(["--checkpoint=runs/x", "--out=x.replay"])
    except SystemExit as err:
        assert "python -m agents.record" in str(err), err
    assert not [m for m in sys.modules if m == "agents" or m.startswith("agents.")]
    print("standalone ok, skipped:", skipped)
''')


def _standalone():
    """The fresh interpreter of STANDALONE, run in the suite's background lane: (rc, stdout, stderr)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return LANE.run([sys.executable, "-c", STANDALONE], timeout=600, env=env, cwd=REPO)


LANE.add("standalone", _standalone,
         needed_by=lambda item: item.name == "test_world_imports_records_and_renders_without_the_learner")


def test_world_imports_records_and_renders_without_the_learner():
    rc, stdout, stderr = LANE.result("standalone")
    assert rc == 0, stderr[-4000:]
    assert "standalone ok" in stdout


def _first_observations_of_lives_have_time_alive_zero(obs0, traj, num_agents):
    """obs0: the first observation; traj: stacked per-tick ``obs`` and ``state`` after each step."""
    t_alive = FEATURE_INDEX["time_alive"]
    assert np.all(np.asarray(obs0["entities"])[:, 0, t_alive] == 0), "reset: every life is fresh"
    alive = np.asarray(traj["state"].entities.alive)[:, :num_agents]
    mask0 = np.asarray(traj["obs"]["entity_mask"])[:, :, 0]
    seen = np.asarray(traj["obs"]["entities"])[:, :, 0, t_alive]
    np.testing.assert_array_equal(mask0, alive)                    # dead agents: no self row
    was_alive = np.concatenate([np.ones((1, num_agents), bool), alive[:-1]])
    born = alive & ~was_alive
    assert np.all(seen[born] == 0), "the first observation after a respawn shows time_alive 0"
    assert np.all(seen[alive & was_alive] > 0), "time_alive 0 means a fresh life, nothing else"
    return int(born.sum())


def test_fresh_lives_are_visible_in_the_observation(classic, classic_rollout, tiny_rollout):
    """What a recurrent policy function resets its carry on (``agents.policy_fn.fresh_life``)."""
    (obs0, _), traj = classic_rollout                # persistent: players respawn
    respawns = _first_observations_of_lives_have_time_alive_zero(obs0, traj, classic.cfg.num_agents)
    assert respawns > 0, "the persistent rollout should respawn someone"
    (obs0, _), traj = tiny_rollout
    a = obs0["entity_mask"].shape[0]
    done = np.asarray(traj["info"]["done"])
    end = int(np.argmax(done)) + 1 if done.any() else len(done)   # up to the first auto-reset
    _first_observations_of_lives_have_time_alive_zero(obs0, {k: jax_slice(traj[k], end) for k in ("obs", "state")}, a)


def jax_slice(tree, end):
    import jax
    return jax.tree.map(lambda x: np.asarray(x)[:end], tree)
