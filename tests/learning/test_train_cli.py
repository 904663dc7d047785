"""train.py and agents.evaluate end to end, as subprocesses, on the tiny run.

The ``train.py`` runs and ``agents.evaluate`` run one after another in the
suite's background lane (tests/background.py) while the in-process tests run:
the first ``train.py`` run (2 updates of ``TINY_RUN``, seed 0; ``conftest._train``),
then a ``--resume`` to 3 updates in a copy of its run directory (so the
first run's directory stays as it was for the tests of it), then
``agents.evaluate`` of the resumed run, alone and ``--vs`` its own checkpoints.
The first run trains the same run as ``rec.history`` in this process, so its
checkpoints and logged metrics must equal that history exactly, and the resumed
run must equal the third update of the uninterrupted history.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from background import LANE

from agents import checkpoint as ckpt

from .conftest import REPO, TINY_RUN, assert_trees_equal, snapshot, subprocess_env, tiny_config, train_command

LOGGED = ("loss", "pg_loss", "v_loss", "entropy", "approx_kl", "clip_frac", "reward", "mean_lifetime", "episodes",
          "npc_kills", "player_kills", "killed_by_npcs")
FLOAT = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan)"


def run(args, timeout=600, **env):
    t0 = time.perf_counter()
    p = subprocess.run(args, cwd=str(REPO), env=subprocess_env(**env), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_row_matches(row, metrics, update):
    assert int(row["update"]) == update
    for k in LOGGED:
        assert float(row[k]) == float(metrics[k][0]), f"update {update}: {k} {row[k]} != {metrics[k][0]}"
    assert int(row["agent_steps"]) == int(metrics["agent_steps"][0])
    assert float(row["agent_steps_per_s"]) > 0 and float(row["elapsed_s"]) > 0


def _resume():
    """``train.py --resume`` to 3 updates, in a copy of the first run's directory: (run dir, its metrics
    before, rc, stdout, stderr). The restored runner is committed to the device, like ``Run.init``'s, so
    this compiles the very program ``rec.history`` runs (the first run's uncommitted one differs)."""
    run_dir, rc, _, _ = LANE.result("train")
    if rc != 0:
        return None  # ``trained`` says why
    copy = run_dir.parent / "resumed"
    shutil.copytree(run_dir, copy)
    before = read_metrics(copy)
    rc, stdout, stderr = LANE.run([sys.executable, str(REPO / "train.py"), "--resume", f"--run_dir={copy}",
                                   "--total_updates=3", "--quiet"], timeout=600, cwd=str(REPO),
                                  env=subprocess_env())
    return copy, before, rc, stdout, stderr


def _evaluate():
    """``agents.evaluate`` of the resumed run, alone and ``--vs`` its own checkpoints: {kind: (rc, out, err)}."""
    resumed = LANE.result("resume")
    if resumed is None or resumed[2] != 0:
        return None  # ``resumed`` says why
    run_dir = resumed[0]
    cmds = {"alone": [sys.executable, "-m", "agents.evaluate", f"--checkpoint={run_dir}", "--episodes=2"],
            "vs": [sys.executable, "-m", "agents.evaluate", f"--checkpoint={run_dir}", "--episodes=2",
                   f"--vs={run_dir / 'checkpoints'}"]}
    return {k: LANE.run(c, timeout=600, cwd=str(REPO), env=subprocess_env()) for k, c in cmds.items()}


# Right after the first run: the resumed run compiles the update for a restored runner and stores it in the
# compilation cache, where ``rec.history`` (test_checkpoint.py and others, later in this process) finds it.
LANE.add("resume", _resume, needed_by=lambda item: "resumed" in item.fixturenames, after="train")
LANE.add("evaluate", _evaluate, needed_by=lambda item: "evaluated" in item.fixturenames, after="resume")


@pytest.fixture(scope="module")
def trained():
    run_dir, rc, stdout, stderr = LANE.result("train")
    assert rc == 0, f"train.py failed (rc={rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    return run_dir, stdout


@pytest.fixture(scope="module")
def resumed(trained):
    run_dir, before, rc, stdout, stderr = LANE.result("resume")
    assert rc == 0, f"train.py --resume failed (rc={rc}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
    return run_dir, before, stdout


@pytest.fixture(scope="module")
def evaluated(resumed):
    """``agents.evaluate`` alone and ``--vs``."""
    return LANE.result("evaluate")


def test_train_writes_the_run_directory(trained):
    run_dir, stdout = trained
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved == tiny_config().to_dict()
    rows = read_metrics(run_dir)
    assert [int(r["update"]) for r in rows] == [1, 2]
    for col in ("agent_steps_per_s", "mean_lifetime", "agent_steps", "loss", "entropy"):
        assert col in rows[0], col
    events = list(run_dir.glob("events.*"))
    assert events, "no TensorBoard event file"
    data = b"".join(e.read_bytes() for e in events)
    for tag in (b"train/loss", b"train/mean_lifetime", b"train/agent_steps_per_s"):
        assert tag in data, f"{tag!r} not logged to TensorBoard"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["1", "2"]
    assert "trained 2 updates" in stdout


def test_train_trains_exactly_the_in_process_run(trained, rec):
    """Checkpoint n and metrics row n of train.py equal update n of ``rec.history`` bit for bit."""
    run_dir, _ = trained
    runners, metrics = rec.history
    for step in (1, 2):
        restored, s = ckpt.restore(run_dir, rec.template, rec.config, step=step)
        assert s == step
        assert_trees_equal(snapshot(restored), runners[step], f"train.py checkpoint {step}")
    for i, row in enumerate(read_metrics(run_dir)[:2]):
        assert_row_matches(row, metrics[i], i + 1)


def test_resume_continues_exactly(resumed, rec):
    run_dir, before, stdout = resumed
    runners, metrics = rec.history
    rows = read_metrics(run_dir)
    assert [int(r["update"]) for r in rows] == [1, 2, 3]
    assert rows[:2] == before, "the resumed run rewrote the rows it had"
    assert "resumed at update 2" in stdout
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["1", "2", "3"]
    restored, step = ckpt.restore(run_dir, rec.template, rec.config)
    assert step == 3
    assert_trees_equal(snapshot(restored), runners[3], "checkpoint 3 of the resumed run")
    assert_row_matches(rows[2], metrics[2], 3)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["total_updates"] == 3


def test_a_second_run_into_a_run_directory_needs_resume(trained):
    run_dir, _ = trained
    before = (run_dir / "metrics.csv").read_text()
    rc, stdout, stderr, _ = run(train_command(run_dir), JAX_LOG_COMPILES="1")
    assert rc != 0
    assert "already holds checkpoints" in stderr and "--resume" in stderr, stderr[-2000:]
    assert "Compiling" not in stderr
    assert (run_dir / "metrics.csv").read_text() == before


@pytest.mark.parametrize("flag, named", [("--num_minibatches=3", "train.num_minibatches=3"),
                                         ("--no_such_key=1", "no_such_key"),
                                         ("--train.lr=fast", "train.lr")])
def test_bad_flag_fails_before_compiling(tmp_path, flag, named):
    run_dir = tmp_path / "run"
    rc, stdout, stderr, seconds = run(train_command(run_dir, flag), timeout=120, JAX_LOG_COMPILES="1")
    assert rc != 0
    assert named in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert "Compiling" not in stderr, "compiled before rejecting the flag"
    assert not run_dir.exists()


def assert_last_line_lifetimes(result, other: str) -> str:
    """The run succeeded and its last line is ``mean_lifetime=X <other>=Y``, both in (0, horizon]."""
    rc, stdout, stderr = result
    assert rc == 0, stderr[-4000:]
    last = stdout.strip().splitlines()[-1]
    m = re.fullmatch(rf"mean_lifetime={FLOAT} {other}={FLOAT}", last)
    assert m, last
    for v in m.groups():
        assert 0 < float(v) <= TINY_RUN["horizon"], last
    return stdout


def test_evaluate_prints_mean_lifetimes(evaluated):
    stdout = assert_last_line_lifetimes(evaluated["alone"], "random_mean_lifetime")
    assert "(update 3)" in stdout
    # TINY_RUN has combat on: per-episode kills and hits for the policy and the random agents.
    combat = re.findall(rf"^(policy|random) +per episode: npc_kills {FLOAT}  player_kills {FLOAT}  "
                        rf"killed_by_npcs {FLOAT}  hits {FLOAT}$", stdout, re.M)
    assert [c[0] for c in combat] == ["policy", "random"], stdout


def test_evaluate_vs_another_checkpoint(evaluated):
    assert_last_line_lifetimes(evaluated["vs"], "vs_mean_lifetime")


def test_evaluate_rejects_a_directory_without_checkpoints(tmp_path):
    rc, stdout, stderr, _ = run([sys.executable, "-m", "agents.evaluate", f"--checkpoint={tmp_path}"], timeout=120)
    assert rc != 0
    assert "not a run directory" in stderr and "Traceback" not in stderr, stderr[-2000:]


def test_help_lists_the_flags_and_every_config_key(capsys):
    """``train.py --help`` prints usage, not "unknown config key 'help'", and names every key a run accepts."""
    from agents.train import main
    from nmmo_jax.config import load_config

    main(["--help"])
    out = capsys.readouterr().out
    assert "python train.py" in out and "--resume" in out and "--run_dir" in out
    cfg = load_config("small").to_dict()
    for section in ("env", "params", "train"):
        for key, value in cfg[section].items():
            assert f"--{section}.{key}={value}" in out, (section, key)
