"""Checkpoints: exact round trip, exact resume, and clear errors for corrupt, mismatched or missing ones."""
from __future__ import annotations

import gc
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from agents import checkpoint as ckpt
from agents import ppo

from .conftest import assert_trees_equal, snapshot, tiny_config, to_device

# orbax leaves its reading coroutines behind when a restore fails (the failures are the point here);
# collect them while this module's tests run, where this filter applies, instead of at some later test
# or exit: once, when the module's last test tears down (a full collection takes about a second here)
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module", autouse=True)
def _collect_orbax_leftovers():
    yield
    gc.collect()


@pytest.fixture(scope="module")
def saved(rec, tmp_path_factory):
    """A run directory with checkpoints after updates 1 and 2 of ``rec.history``, saved like train.py does:
    the next update (which donates the runner) starts right after ``save`` returns."""
    runners, metrics = rec.history
    run_dir = tmp_path_factory.mktemp("run")
    mngr = ckpt.manager(run_dir / "checkpoints", keep=3)
    for step in (1, 2):
        runner = to_device(runners[step])
        ckpt.save(mngr, step, runner, rec.config)
        runner, m = rec.update(runner)  # donates the runner while orbax may still be writing it
        assert_trees_equal(snapshot(m), metrics[step], f"update {step + 1} after a save")
    mngr.wait_until_finished()
    mngr.close()
    return run_dir


def test_round_trip_is_bit_identical(rec, saved):
    runners, _ = rec.history
    restored, step = ckpt.restore(saved, rec.template, rec.config)
    assert step == 2
    assert type(restored) is type(runners[2])
    assert_trees_equal(snapshot(restored), runners[2], "restored runner")
    # an older step on request; the run's checkpoints/ directory and one numbered checkpoint work as paths too
    older, step = ckpt.restore(saved / "checkpoints", rec.template, rec.config, step=1)
    assert step == 1
    assert_trees_equal(snapshot(older), runners[1], "restored runner, step 1")
    _, step = ckpt.restore(saved / "checkpoints" / "2", rec.template, rec.config)
    assert step == 2
    # a numbered checkpoint that is not the latest is the one restored
    older, step = ckpt.restore(saved / "checkpoints" / "1", rec.template, rec.config)
    assert step == 1
    assert_trees_equal(snapshot(older), runners[1], "restored runner, checkpoints/1")
    assert ckpt.saved_config(saved / "checkpoints" / "1").to_dict() == rec.config.to_dict()


def test_saved_config_is_the_run_config(rec, saved):
    assert ckpt.saved_config(saved).to_dict() == rec.config.to_dict()


def test_resume_equals_not_stopping(rec, saved):
    """Restore update 2 and run update 3: bit-identical to the uninterrupted run, with no new compile."""
    runners, metrics = rec.history
    restored, _ = ckpt.restore(saved, rec.template, rec.config)
    runner, m = rec.update(restored)
    assert_trees_equal(snapshot(m), metrics[2], "metrics of update 3")
    assert_trees_equal(snapshot(runner), runners[3], "runner after update 3")
    assert rec.chunk_compiles() == 1, "a restored runner made update_chunk compile again"


@pytest.mark.parametrize("override, named", [({"num_agents": 12}, "env.num_agents: checkpoint 16, this run 12"),
                                             ({"train.hidden": 32}, "train.hidden: checkpoint 16, this run 32")])
def test_mismatched_run_is_refused_with_the_differing_settings(saved, override, named):
    cfg = tiny_config(**override)
    template = jax.eval_shape(ppo.make_train(cfg).init, jax.random.PRNGKey(0))
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.restore(saved, template, cfg)
    assert named in str(err.value)
    # without the config to compare, the shapes themselves do not fit: still a CheckpointError
    with pytest.raises(ckpt.CheckpointError, match="cannot restore"):
        ckpt.restore(saved, template)


def _copy(saved, dest: Path) -> Path:
    shutil.copytree(saved, dest)
    return dest / "checkpoints" / "2"


def _files(step_dir: Path, where: str):
    out = [p for p in (step_dir / where).rglob("*") if p.is_file()]
    assert out, f"no files under {step_dir / where}"
    return out


def _truncate_data(step):
    for p in _files(step, "runner"):
        if p.parent.name == "d":
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage_data(step):
    rng = np.random.default_rng(0)
    for p in _files(step, "runner"):
        if p.parent.name == "d":
            p.write_bytes(rng.bytes(p.stat().st_size))


def _truncate_metadata(step):
    p = step / "runner" / "_METADATA"
    p.write_bytes(p.read_bytes()[:100])


def _empty_everything(step):
    for p in _files(step, "."):
        p.write_bytes(b"")


def _garbage_config(step):
    for p in _files(step, "config"):
        p.write_bytes(b"\x00\xff not json")


def _remove_runner(step):
    shutil.rmtree(step / "runner")


@pytest.mark.parametrize("damage", [_truncate_data, _garbage_data, _truncate_metadata, _empty_everything,
                                    _garbage_config, _remove_runner], ids=lambda f: f.__name__.strip("_"))
def test_corrupt_checkpoint_is_a_checkpoint_error(rec, saved, tmp_path, damage):
    step = _copy(saved, tmp_path / "run")
    damage(step)
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.restore(tmp_path / "run", rec.template, rec.config, step=2)
    msg = str(err.value)
    assert str(step) in msg, msg
    assert "corrupt" in msg or "unreadable" in msg, msg


def test_not_a_run_directory(rec, tmp_path):
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(ckpt.CheckpointError, match="not a run directory"):
            ckpt.restore(path, rec.template, rec.config)
        with pytest.raises(ckpt.CheckpointError, match="not a run directory"):
            ckpt.saved_config(path)
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.restore(tmp_path / "empty", rec.template, rec.config)
