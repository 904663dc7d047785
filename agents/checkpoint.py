"""Checkpoints of a training run: the whole ``Runner`` plus the config, with orbax.

A checkpoint holds parameters, optimiser state, RNG, the batch of worlds and
the recurrent state, so a resumed run continues exactly where it stopped (the
next update equals the one an uninterrupted run would have made). The config
is saved beside it as JSON: evaluation rebuilds the same model and world from
it, and a restore into a run whose shapes differ fails with a message saying
which settings differ instead of an orbax shape error.

Layout: ``RUN_DIR/checkpoints/<update>/{runner,config}``.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from nmmo_jax.config import Config, _build


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or does not fit the run restoring it."""


def checkpoint_dir(path: str | Path) -> Path:
    """Accept a run directory, its ``checkpoints`` directory or one numbered checkpoint; return the
    ``checkpoints`` directory."""
    p = Path(path).expanduser().resolve()
    if (p / "checkpoints").is_dir():
        return p / "checkpoints"
    if p.name == "checkpoints" and p.is_dir():
        return p
    if _numbered(p) is not None:
        return p.parent
    raise CheckpointError(f"{path}: not a run directory (no checkpoints/ inside), nor a checkpoints "
                          f"directory, nor one numbered checkpoint (checkpoints/<update>)")


def _numbered(p: Path) -> int | None:
    """The update of a numbered checkpoint directory ``.../checkpoints/<update>``, else None."""
    if p.parent.name == "checkpoints" and p.name.isdigit() and p.is_dir():
        return int(p.name)
    return None


def _open(path, step: int | None) -> tuple[Path, ocp.CheckpointManager, int]:
    """(checkpoints directory, its manager, the step to read): ``step`` if given, else the update a
    numbered checkpoint path names, else the latest."""
    directory = checkpoint_dir(path)
    mngr = manager(directory, create=False)
    if step is None:
        step = _numbered(Path(path).expanduser().resolve())
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise CheckpointError(f"{directory}: no checkpoint saved yet")
    return directory, mngr, step


def manager(directory: str | Path, keep: int = 3, create: bool = True) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
    return ocp.CheckpointManager(Path(directory).resolve(), options=options)


def save(mngr: ocp.CheckpointManager, update: int, runner, config: Config) -> None:
    mngr.save(update, args=ocp.args.Composite(runner=ocp.args.StandardSave(runner),
                                              config=ocp.args.JsonSave(config.to_dict())))


def saved_config(path: str | Path, step: int | None = None) -> Config:
    """The config a checkpoint was trained with (``step`` chosen as in ``restore``)."""
    directory, mngr, step = _open(path, step)
    try:
        raw = mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
    except Exception as err:  # orbax raises several types for unreadable files
        raise CheckpointError(f"{directory}/{step}: config unreadable ({type(err).__name__}: {err})") from None
    return _build(raw, None, f"{directory}/{step}")


def _shape_differences(saved: dict, current: dict) -> list[str]:
    out = []
    for section in ("env", "train"):
        for key, value in current.get(section, {}).items():
            old = saved.get(section, {}).get(key)
            if old != value and key in _SHAPE_KEYS[section]:
                out.append(f"{section}.{key}: checkpoint {old!r}, this run {value!r}")
    return out


_SHAPE_KEYS = {
    "env": {"map_size", "border", "num_agents", "num_npcs", "window_radius", "entity_rows"},
    "train": {"num_envs", "model", "hidden"},
}


def _target(x):
    """The restore target of one leaf: its shape, dtype and sharding; a leaf without a sharding (from
    ``jax.eval_shape``) goes to this process's first device, whatever devices or processes wrote it."""
    target = ocp.utils.to_shape_dtype_struct(x)
    if getattr(target, "sharding", None) is None:
        target = jax.ShapeDtypeStruct(target.shape, target.dtype,
                                      sharding=jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    return target


def restore(path: str | Path, template, config: Config | None = None, step: int | None = None):
    """Restore the runner saved at ``step`` shaped like ``template``.

    Without ``step``: the update a numbered checkpoint path names, else the latest.

    ``template`` is a runner (or its ``jax.eval_shape``) of the run restoring;
    its shardings are used for the restored arrays (one device where it has none, so a run trained
    on several devices or processes restores on one).
    """
    directory, mngr, step = _open(path, step)
    if config is not None:
        diffs = _shape_differences(saved_config(directory, step).to_dict(), config.to_dict())
        if diffs:
            raise CheckpointError(f"{directory}/{step} was trained with other shapes: " + "; ".join(diffs))
    abstract = jax.tree_util.tree_map(_target, template)
    try:
        out = mngr.restore(step, args=ocp.args.Composite(runner=ocp.args.StandardRestore(abstract)))
    except Exception as err:
        raise CheckpointError(
            f"{directory}/{step}: cannot restore ({type(err).__name__}: {str(err)[:300]}); the checkpoint is "
            f"corrupt or was written by a different model or config") from None
    return out["runner"], step
