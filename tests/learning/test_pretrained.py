"""The policies shipped in the package (``agents.pretrained``): the files, the errors, the export, and that
each one beats random agents on held-out worlds.

The export tests export the suite's tiny ``train.py`` run (the background lane's ``train`` job, shared with
test_train_cli.py) into a temporary directory; loading rebuilds the model and traces its init (no compile).
"""
from __future__ import annotations

import functools
import json
import shlex
import shutil

import numpy as np
import pytest
from background import LANE

from agents import demo, evaluate, pretrained, record
from agents.pretrained import PretrainedError

from .conftest import cli_flags
from .tiny import TINY_RUN

SHIPPED = ("medium", "small")
MAX_BYTES = 5_000_000   # "a few MB at most"


# ---------------------------------------------------------------- the shipped files
def test_the_package_ships_its_policies_with_their_commands():
    assert set(SHIPPED) == set(pretrained.names())
    for name in SHIPPED:
        meta = pretrained.metadata(name)
        params, _ = pretrained.files(name)
        assert params.stat().st_size == meta["params_bytes"] <= MAX_BYTES
        assert "train.py" in meta["train_command"] and meta["command_checked"], meta["train_command"]
        assert meta["export_command"].startswith("python -m agents.pretrained export ")
        assert f"--name={name}" in meta["export_command"]
        assert meta["world"]["preset"] == name and meta["update"] > 0
    listing = "\n".join(pretrained.list_lines())
    assert all(f"pretrained:{name}: update" in listing for name in SHIPPED)


@pytest.mark.parametrize("main, flags", [
    (evaluate.main, ["--checkpoint=pretrained:nope"]),
    (evaluate.main, ["--checkpoint=pretrained:small", "--vs=pretrained:nope"]),
    (record.main, ["--checkpoint=pretrained:nope", "--out=x.replay"]),
    (demo.main, ["--checkpoint=pretrained:nope"]),
])
def test_an_unknown_name_fails_listing_the_shipped_ones(main, flags):
    with pytest.raises(SystemExit) as exc:
        main(flags)
    assert "pretrained:nope: no such pretrained policy; shipped: pretrained:medium, pretrained:small" in str(exc.value)


# ---------------------------------------------------------------- export and load
@pytest.fixture(scope="module")
def trained():
    """The tiny train.py run of the background lane (2 updates of TINY_RUN, a GRU of width 16)."""
    run_dir, rc, stdout, stderr = LANE.result("train")
    assert rc == 0, f"train.py failed (rc={rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    return run_dir


def tiny_command() -> str:
    return shlex.join(["python", "train.py", "--config=small", *cli_flags(TINY_RUN)])


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The tiny run exported as ``tiny`` into a directory of its own: (directory, the run)."""
    out = tmp_path_factory.mktemp("shipped")
    pretrained.main(["export", f"--checkpoint={trained}", "--name=tiny", f"--command={tiny_command()}",
                     "--episodes=0", f"--dir={out}"])
    return out, trained


def test_export_writes_parameters_and_metadata_that_load_to_the_checkpoints_policy(exported):
    out, run = exported
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.msgpack"]
    meta = json.loads((out / "tiny.json").read_text())
    assert meta["train_command"] == tiny_command() and meta["update"] == TINY_RUN["train.total_updates"]
    assert meta["export_command"].startswith("python -m agents.pretrained export --checkpoint=")
    assert meta["evaluation"] is None and meta["config"]["train"]["model"] == "recurrent"
    model, params, cfg, update = pretrained.load("pretrained:tiny", out)
    model0, params0, cfg0, update0 = evaluate.load_policy(run)
    assert update == update0 and cfg.to_dict() == cfg0.to_dict() and cfg.source == "pretrained:tiny"
    import jax
    a, b = jax.tree_util.tree_flatten_with_path(params), jax.tree_util.tree_flatten_with_path(params0)
    assert a[1] == b[1]
    for (path, x), (_, y) in zip(a[0], b[0]):
        assert np.array_equal(np.asarray(x), np.asarray(y)), jax.tree_util.keystr(path)


def test_export_refuses_a_command_that_did_not_train_the_run(trained, tmp_path):
    wrong = tiny_command().replace("--train.hidden=16", "--train.hidden=32")
    with pytest.raises(SystemExit) as exc:
        pretrained.main(["export", f"--checkpoint={trained}", "--name=tiny", f"--command={wrong}",
                         "--episodes=0", f"--dir={tmp_path}"])
    assert "train.hidden: command 32, run 16" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        pretrained.main(["export", f"--checkpoint={trained}", "--name=tiny", "--command=make everything",
                         "--episodes=0", f"--dir={tmp_path}"])
    assert "not a training command" in str(exc.value)
    assert not list(tmp_path.iterdir())


def _copy(exported, tmp_path):
    out, _ = exported
    for p in out.iterdir():
        shutil.copy(p, tmp_path / p.name)
    return tmp_path / "tiny.json", tmp_path / "tiny.msgpack"


def _rewrite(meta_path, edit):
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))


def test_a_file_the_model_code_no_longer_fits_fails_naming_it_and_what_differs(exported, tmp_path):
    meta_path, params_path = _copy(exported, tmp_path)
    # what a change of the model code looks like from the file's side: the model built for its config has
    # other shapes (here: a wider model) and leaves the file lacks (a feed-forward model has no GRU cell)
    _rewrite(meta_path, lambda m: m["config"]["train"].update(hidden=24))
    with pytest.raises(PretrainedError) as exc:
        pretrained.load("pretrained:tiny", tmp_path)
    msg = str(exc.value)
    assert str(params_path) in msg and "train.hidden=24" in msg and "of another shape or dtype" in msg, msg
    assert "file (16,) float32, model (24,) float32" in msg and "export it again, as it was exported: python -m agents.pretrained export" in msg
    _rewrite(meta_path, lambda m: m["config"]["train"].update(hidden=16, model="feedforward"))
    with pytest.raises(PretrainedError, match="leaves in the file the model does not have: .*GRU|leaves the model has"):
        pretrained.load("pretrained:tiny", tmp_path)


def test_corrupt_or_foreign_files_fail_clearly(exported, tmp_path):
    meta_path, params_path = _copy(exported, tmp_path)
    raw = params_path.read_bytes()
    params_path.write_bytes(raw[:-9] + b"123456789")
    with pytest.raises(PretrainedError, match=r"tiny.msgpack: checksum .* does not match tiny.json's"):
        pretrained.load("pretrained:tiny", tmp_path)
    params_path.write_bytes(raw)
    _rewrite(meta_path, lambda m: m["config"]["env"].update(no_such_switch=1))
    with pytest.raises(PretrainedError, match=r"tiny.json: its config no longer fits this code .*no_such_switch"):
        pretrained.load("pretrained:tiny", tmp_path)
    _rewrite(meta_path, lambda m: m.update(version=99))
    with pytest.raises(PretrainedError, match="format version 99; this code reads version 1"):
        pretrained.load("pretrained:tiny", tmp_path)
    params_path.unlink()
    with pytest.raises(PretrainedError, match="no such pretrained policy; shipped: none"):
        pretrained.load("pretrained:tiny", tmp_path)


# ---------------------------------------------------------------- better than random agents
# Each shipped policy and random legal agents play the same held-out worlds (agents.evaluate's keys, seed
# BEAT_SEED: not the seed of the figures recorded at export), each side alone in its own copy of each
# world, with agents.evaluate's rollout (rollout_lifetimes), for T ticks. These worlds spawn every agent
# at reset and never respawn it, so after T ticks every agent's min(lifetime, T) is known: a life that
# ended counts its length, an agent alive at T counts T. The figure is its mean over a world's agents,
# the mean ticks alive among the first T (T the horizon: agents.evaluate's mean lifetime exactly). Small:
# the whole 128-tick episode on 8 worlds. Medium: the first 128 of its 1,024 ticks on 4 worlds; random
# agents starve there by tick 40-60 (one or two a world live past 128), so the cut keeps nearly all of
# their lives and caps the policy's longer ones: a comparison of the first 128 ticks, stated as such (the
# whole episode costs minutes of CPU under the suite's fast-compile flags). Paired by
# world: the policy passes when the mean over worlds of (its figure - random agents' on the same world) is
# positive and its 95% interval (t over worlds) excludes 0. The rollouts run in the background lane's
# thread (compiled and played there, beside the in-process tests); the tests read the figures.
BEAT_SEED = 1
BEAT = {"small": (8, 128), "medium": (4, 128)}    # name: (worlds, ticks)
T_95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36}   # two-sided 95% t, by degrees of freedom


def ticks_alive(sums, counts, num_agents: int, ticks: int) -> np.ndarray:
    """f64[E]: per world, the mean over all agents of min(lifetime, ticks) (one life a slot, all born at reset)."""
    sums, counts = np.asarray(sums, np.float64)[:, 0], np.asarray(counts, np.float64)[:, 0]
    return (sums + (num_agents - counts) * ticks) / num_agents


def _play(name: str) -> dict:
    """Per world, both sides' mean ticks alive among the first T (a background-lane job)."""
    import nmmo_jax
    model, params, cfg, _ = evaluate.load_policy(f"pretrained:{name}")
    worlds, ticks = BEAT[name]
    assert not cfg.env.persistent and not cfg.env.curriculum, "one life a slot is what ticks_alive assumes"
    assert ticks <= cfg.env.horizon
    env = nmmo_jax.Env(cfg)
    a = env.num_agents
    keys = evaluate.held_out_keys(BEAT_SEED, worlds)
    owner = np.zeros(a, np.int32)
    out = dict(ticks=ticks, worlds=worlds, agents=a, horizon=cfg.env.horizon)
    for side, policy in (("policy", (model, params)), ("random", None)):
        sums, counts, _ = evaluate.rollout_lifetimes(env, env.default_params, [policy], owner, keys, ticks, False)
        out[side] = ticks_alive(sums, counts, a, ticks)
        out[f"{side}_alive"] = (a - np.asarray(counts)[:, 0]).tolist()
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_policy_outlives_random_agents_on_held_out_worlds(name):
    r = LANE.result(f"beat_random[{name}]")
    mine, theirs, worlds = r["policy"], r["random"], r["worlds"]
    diff = mine - theirs
    half = T_95[worlds - 1] * diff.std(ddof=1) / np.sqrt(worlds)
    what = "mean lifetime" if r["ticks"] == r["horizon"] else f"mean ticks alive among the first {r['ticks']}"
    report = (f"pretrained:{name}, {what} (horizon {r['horizon']}) on {worlds} held-out worlds: policy "
              f"{mine.mean():.1f} {np.round(mine, 1).tolist()} (alive at the end {r['policy_alive']}), random "
              f"agents {theirs.mean():.1f} {np.round(theirs, 1).tolist()} (alive at the end {r['random_alive']}); "
              f"paired difference {diff.mean():.1f} ± {half:.1f}")
    print(report)
    assert diff.mean() - half > 0, report


def _beats(name: str):
    """``needed_by`` of the job ``beat_random[name]``: the test above, for that policy."""
    test = test_each_shipped_policy_outlives_random_agents_on_held_out_worlds.__name__
    return lambda item: getattr(item, "originalname", "") == test and item.callspec.params["name"] == name


for _name in SHIPPED:
    LANE.add(f"beat_random[{_name}]", functools.partial(_play, _name), needed_by=_beats(_name))
