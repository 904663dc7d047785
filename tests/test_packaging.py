"""The package as a non-editable install sees it: presets, page files and entry points travel in the wheel.

A notebook's ``pip install git+...`` builds a wheel and installs it into
site-packages, with no checkout beside it. This test builds that wheel
(``pip wheel``, the isolated build a real install runs), unpacks it outside the
repository and imports ``nmmo_jax`` from there, from another working
directory: presets must load by name and as ``configs/<preset>.yaml``, a
jitted, vmapped rollout must run with every observation in its space, and the
pretrained policies (``agents/pretrained``, package data) must load. The build
and the child that steps the unpacked wheel run in the suite's background lane
(tests/background.py) while the in-process tests run.
"""
from __future__ import annotations

import atexit
import configparser
import importlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from background import LANE, in_file

REPO = Path(__file__).resolve().parents[1]


def _build_and_step():
    """Build the wheel, unpack it and run SCRIPT from another directory (the suite's background lane):
    {"build": (rc, stdout, stderr), "wheel": path or None, "script": (rc, stdout, stderr) or None}."""
    out = Path(tempfile.mkdtemp(prefix="nmmo-jax-wheel-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    result = {"build": LANE.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w",
                                 str(out / "dist")], timeout=300),
              "wheel": None, "script": None}
    wheels = list((out / "dist").glob("nmmo_jax-*.whl"))
    if result["build"][0] != 0 or len(wheels) != 1:
        return result
    result["wheel"] = wheels[0]
    site, elsewhere = out / "site", out / "elsewhere"
    zipfile.ZipFile(wheels[0]).extractall(site)
    elsewhere.mkdir()
    result["script"] = LANE.run([sys.executable, "-c", SCRIPT, str(site)], timeout=300, cwd=elsewhere,
                                env={"PYTHONPATH": str(site), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin",
                                     # the session's fast compiles (tests/conftest.py)
                                     "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")})
    return result


@pytest.fixture(scope="module")
def built():
    result = LANE.result("wheel")
    rc, _, stderr = result["build"]
    assert rc == 0, stderr[-3000:]
    assert result["wheel"] is not None, "pip wheel built no single nmmo_jax-*.whl"
    return result


@pytest.fixture(scope="module")
def wheel(built):
    return built["wheel"]


def test_the_wheel_carries_presets_page_files_and_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in (REPO / "configs").rglob("*.yaml"):
        assert f"nmmo_jax/configs/{preset.relative_to(REPO / 'configs')}" in names, preset
    for page in (REPO / "nmmo_jax/viewer/static").iterdir():
        assert f"nmmo_jax/viewer/static/{page.name}" in names, page
    for module in (REPO / "nmmo_jax").rglob("*.py"):
        assert str(module.relative_to(REPO)) in names, module
    shipped = [p for p in (REPO / "agents/pretrained").iterdir() if p.suffix in (".json", ".msgpack", ".py")]
    assert {p.suffix for p in shipped} == {".json", ".msgpack", ".py"}, shipped   # the pretrained policies
    for p in shipped:
        assert str(p.relative_to(REPO)) in names, p
    (entry,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(zipfile.ZipFile(wheel).read(entry).decode())
    scripts = dict(parser["console_scripts"])
    assert {"nmmo-train", "nmmo-evaluate", "nmmo-replay", "nmmo-record", "nmmo-viewer"} <= set(scripts)
    assert scripts["nmmo-demo"] == "agents.demo:main"              # the pretrained agents, live
    assert scripts["nmmo-random-demo"] == "nmmo_jax.demo:main"     # random agents, no learner
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


SCRIPT = """
import json, sys
import jax, numpy as np
import nmmo_jax
from nmmo_jax.spaces import explain_mismatch
assert nmmo_jax.__file__.startswith(sys.argv[1]), nmmo_jax.__file__
small = nmmo_jax.load_config("configs/small.yaml")
env = nmmo_jax.make("small", num_agents=8, num_npcs=4, entity_rows=6, map_size=40, border=8)
reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
obs, state = reset(jax.random.split(jax.random.key(0), 2), env.default_params)
space = env.observation_space().batched(env.num_agents).batched(2)
bad = explain_mismatch(space, jax.tree.map(np.asarray, obs))
for t in range(5):
    act = env.sample_actions(jax.random.key(t), obs)
    obs, state, *_ = step(jax.random.split(jax.random.key(100 + t), 2), state, act, env.default_params)
    bad = bad or explain_mismatch(space, jax.tree.map(np.asarray, obs))
# the pretrained policies are package data: they load from the unpacked wheel, outside any checkout
from agents import pretrained
assert str(pretrained.files("small")[0]).startswith(sys.argv[1]), pretrained.files("small")
model, params, cfg, update = pretrained.load("pretrained:medium")
print(json.dumps({"agents": small.env.num_agents, "bad": bad, "tick": int(state.tick[0]),
                  "pretrained": pretrained.names(), "shipped_agents": cfg.env.num_agents}))
"""


def test_an_unpacked_wheel_loads_presets_and_steps_from_another_directory(built):
    rc, stdout, stderr = built["script"]
    assert rc == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out == {"agents": 64, "bad": None, "tick": 5, "pretrained": ["medium", "small"], "shipped_agents": 128}


LANE.add("wheel", _build_and_step, needed_by=in_file(__file__))
