"""Pretrained policies shipped inside the package: ``pretrained:small`` and ``pretrained:medium``.

A training run's checkpoint (``agents.checkpoint``) holds the whole run: parameters,
optimiser state, RNG and the batch of worlds, far too much to ship. A *shipped*
policy is two files in this directory:

* ``<name>.msgpack``: the policy's parameters alone (``flax.serialization``'s
  msgpack of the parameter tree, float32 as trained);
* ``<name>.json``: what is needed to rebuild and trust them: the run's whole
  config (world and training sections), the exact ``train.py`` command that
  trained it, the update it was exported at, the export command, the
  parameters' SHA-256, size and count, the versions that wrote it, and the
  held-out evaluation measured at export (policy and random agents).

Every tool that takes a checkpoint path takes ``pretrained:NAME`` too
(``agents.evaluate --checkpoint= / --vs=``, ``agents.record --checkpoint=``,
``agents.demo``). Loading rebuilds the model the training code builds for the
stored config (``agents.ppo.make_train(config).model``, i.e.
``agents.models.make_model(train.model, env=..., hidden=train.hidden)``) and
checks the file's parameter tree against it, leaf by leaf: the model code may
change after a file was exported, and a stale file fails with a
``PretrainedError`` naming the file, the leaves that differ and the command that
re-exports it, never with a pytree error deep inside ``apply``.

Exporting (one command per shipped policy; the JSON records it)::

    python -m agents.pretrained export --checkpoint=runs/RUN --name=medium \\
        --command="python train.py --config=configs/medium.yaml ..." [--episodes=16] [--seed=0]
    python -m agents.pretrained list                  # what is shipped, with its commands and figures

``--command`` is checked against the run: the config it builds (``--config``
plus overrides, as ``train.py`` reads them) must equal the config saved with the
checkpoint, so the recorded command is the one that trained it
(``--check_command=false`` skips the check and says so in the JSON).
"""
from __future__ import annotations

import datetime
import functools
import hashlib
import json
import shlex
import sys
from pathlib import Path

from agents.checkpoint import CheckpointError

FORMAT = "nmmo-jax-pretrained"
VERSION = 1
PREFIX = "pretrained:"
DIRECTORY = Path(__file__).resolve().parent
TRAIN_ENTRY_POINTS = ("train.py", "agents.train", "nmmo-train")

__all__ = ["PretrainedError", "PREFIX", "names", "is_pretrained", "metadata", "load", "export", "main"]


class PretrainedError(CheckpointError):
    """A shipped policy that is unknown, missing, corrupt, or no longer fits the model code."""


# --------------------------------------------------------------------------- names and files
def is_pretrained(spec) -> bool:
    """Whether a checkpoint argument names a shipped policy (``pretrained:NAME``)."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def names(directory: Path = DIRECTORY) -> list[str]:
    """The shipped policies: every ``<name>.json`` with its ``<name>.msgpack`` beside it."""
    return sorted(p.stem for p in Path(directory).glob("*.json") if p.with_suffix(".msgpack").exists())


def _name(spec: str) -> str:
    return spec[len(PREFIX):] if is_pretrained(spec) else spec


def files(spec: str, directory: Path = DIRECTORY) -> tuple[Path, Path]:
    """(parameters file, metadata file) of ``pretrained:NAME`` (or ``NAME``)."""
    name = _name(spec)
    shipped = names(directory)
    if name not in shipped:
        listed = ", ".join(PREFIX + n for n in shipped) or "none (this install ships no pretrained files)"
        raise PretrainedError(f"{PREFIX}{name}: no such pretrained policy; shipped: {listed}")
    return Path(directory) / f"{name}.msgpack", Path(directory) / f"{name}.json"


def metadata(spec: str, directory: Path = DIRECTORY) -> dict:
    """The JSON beside a shipped policy (commands, update, config, evaluation, checksum)."""
    _, meta_path = files(spec, directory)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise PretrainedError(f"{meta_path}: unreadable ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PretrainedError(f"{meta_path}: not a {FORMAT} file (format={meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise PretrainedError(f"{meta_path}: format version {meta.get('version')!r}; this code reads version {VERSION}")
    for key in ("config", "update", "params_sha256", "train_command"):
        if key not in meta:
            raise PretrainedError(f"{meta_path}: the key {key!r} is missing")
    return meta


# --------------------------------------------------------------------------- the parameter tree
@functools.lru_cache(maxsize=8)
def _model_and_template(config):
    """(model, the parameter tree's ShapeDtypeStructs) that this code builds for ``config`` (cached: a
    config is hashable, and tracing the world's reset and the model's init takes a few seconds)."""
    import jax
    import jax.numpy as jnp

    from agents.ppo import make_train
    trainer = make_train(config)   # the model exactly as training builds it (make_model from the train section)
    model, env = trainer.model, trainer.env
    a = env.num_agents
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env.default_params)[0]
    template = jax.eval_shape(model.init, jax.random.PRNGKey(0), obs, model.initial_carry(a), jnp.ones(a, bool))
    return model, template


def _leaves(tree) -> dict[str, tuple]:
    """'/'-joined path -> leaf of a nested dict (flax's state dict of a parameter tree)."""
    out = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}/{k}" if prefix else str(k))
        else:
            out[prefix] = node
    walk(tree, "")
    return out


def tree_differences(saved: dict, expected: dict, limit: int = 8) -> list[str]:
    """What differs between a saved parameter state dict and the one the model expects (shapes, dtypes)."""
    import numpy as np
    s, e = _leaves(saved), _leaves(expected)
    missing = [k for k in e if k not in s]
    extra = [k for k in s if k not in e]
    out = []
    if missing:
        out.append(f"{len(missing)} leaves the model has and the file lacks: {', '.join(missing[:limit])}"
                   + (" ..." if len(missing) > limit else ""))
    if extra:
        out.append(f"{len(extra)} leaves in the file the model does not have: {', '.join(extra[:limit])}"
                   + (" ..." if len(extra) > limit else ""))
    shapes = [f"{k}: file {tuple(np.shape(s[k]))} {np.asarray(s[k]).dtype}, model {tuple(e[k].shape)} {e[k].dtype}"
              for k in e if k in s and (tuple(np.shape(s[k])) != tuple(e[k].shape)
                                        or np.asarray(s[k]).dtype != np.dtype(e[k].dtype))]
    if shapes:
        out.append(f"{len(shapes)} leaves of another shape or dtype: {'; '.join(shapes[:limit])}"
                   + (" ..." if len(shapes) > limit else ""))
    return out


def load(spec: str, directory: Path = DIRECTORY):
    """(model, params, config, update) of ``pretrained:NAME``, like ``agents.evaluate.load_policy``.

    Raises ``PretrainedError`` for an unknown name, a corrupt file, a config this
    code no longer accepts, or parameters that do not fit the model it builds.
    """
    import jax
    import numpy as np
    from flax import serialization

    from nmmo_jax.config import ConfigError, _build
    name = _name(spec)
    params_path, meta_path = files(name, directory)
    meta = metadata(name, directory)
    how = (f"train a run with this code ({meta['train_command']}) and export it again, as it was exported: "
           f"{meta.get('export_command') or 'python -m agents.pretrained export ...'}")
    raw = params_path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != meta["params_sha256"]:
        raise PretrainedError(f"{params_path}: checksum {digest[:12]}... does not match {meta_path.name}'s "
                              f"{str(meta['params_sha256'])[:12]}...: the file is corrupt or not the one exported")
    try:
        config = _build(meta["config"], None, PREFIX + name)
    except (ConfigError, TypeError, ValueError) as err:
        raise PretrainedError(f"{meta_path}: its config no longer fits this code ({err}); {how}") from None
    try:
        state = serialization.msgpack_restore(raw)
    except Exception as err:  # msgpack raises several types for bad bytes
        raise PretrainedError(f"{params_path}: unreadable ({type(err).__name__}: {err})") from None
    try:
        model, template = _model_and_template(config)
    except (ConfigError, ValueError) as err:   # the training code refuses the stored config
        raise PretrainedError(f"{meta_path}: this code builds no model for its config ({err}); {how}") from None
    expected = serialization.to_state_dict(template)
    diffs = tree_differences(state, expected) if isinstance(state, dict) else ["the file holds no parameter tree"]
    if diffs:
        t = config.train
        raise PretrainedError(f"{params_path} does not fit the model this code builds for its config "
                              f"(train.model={t.model}, train.hidden={t.hidden}): " + "; ".join(diffs)
                              + f". The model code changed since the file was exported: {how}")
    flat = _leaves(state)
    paths, treedef = jax.tree_util.tree_flatten_with_path(expected)
    leaves = [np.asarray(flat["/".join(str(getattr(k, "key", k)) for k in path)]) for path, _ in paths]
    params = serialization.from_state_dict(template, jax.tree_util.tree_unflatten(treedef, leaves))
    params = jax.tree_util.tree_map(jax.numpy.asarray, params)
    return model, params, config, int(meta["update"])


# --------------------------------------------------------------------------- export
def _train_argv(command: str) -> list[str]:
    """The arguments after the training entry point in a ``train.py`` command line."""
    words = shlex.split(command)
    for i, w in enumerate(words):
        if w.endswith("train.py") or w in TRAIN_ENTRY_POINTS[1:]:
            return words[i + 1:]
    raise PretrainedError(f"--command={command!r}: not a training command (expected one of "
                          f"{', '.join(TRAIN_ENTRY_POINTS)} followed by its flags)")


def command_differences(command: str, saved) -> list[str]:
    """How the config ``command`` builds (as ``train.py`` reads its flags) differs from the run's ``saved`` config."""
    import nmmo_jax
    from agents.train import FLAGS
    from nmmo_jax.config import ConfigError, parse_cli_overrides
    try:
        flags, overrides = parse_cli_overrides(_train_argv(command), known_flags=FLAGS)
        if str(flags.get("resume", "false")).lower() in ("1", "true", "yes"):
            raise PretrainedError(f"--command={command!r} resumes a run; give the command that started it "
                                  f"(or --check_command=false)")
        built = nmmo_jax.load_config(flags.get("config", "small"), overrides).to_dict()
    except ConfigError as err:
        raise PretrainedError(f"--command={command!r}: {err}") from None
    saved = saved.to_dict()
    out = []
    for section in sorted(set(built) | set(saved)):
        for key in sorted(set(built.get(section, {})) | set(saved.get(section, {}))):
            a, b = built.get(section, {}).get(key), saved.get(section, {}).get(key)
            if a != b:
                out.append(f"{section}.{key}: command {a!r}, run {b!r}")
    return out


def export(checkpoint: str, name: str, command: str, directory: Path = DIRECTORY, episodes: int = 16,
           seed: int = 0, export_command: str | None = None, check_command: bool = True) -> tuple[Path, Path]:
    """Write ``<name>.msgpack`` and ``<name>.json`` from a run's checkpoint; returns their paths."""
    import jax
    import numpy as np
    from flax import serialization

    from agents import checkpoint as ckpt
    from agents.evaluate import evaluate, load_policy
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise PretrainedError(f"--name={name!r}: use letters, digits, - and _ (it becomes pretrained:{name})")
    if is_pretrained(checkpoint):
        raise PretrainedError(f"--checkpoint={checkpoint}: export reads a training run's checkpoint (a run "
                              f"directory or RUN/checkpoints/<update>), not a shipped policy")
    if check_command:   # before restoring anything: the saved config alone is quick to read
        diffs = command_differences(command, ckpt.saved_config(checkpoint))
        if diffs:
            raise PretrainedError(f"--command does not build the config {checkpoint} was trained with: "
                                  + "; ".join(diffs) + " (give the exact training command, or --check_command=false)")
    model, params, config, update = load_policy(checkpoint)
    state = jax.device_get(serialization.to_state_dict(params))
    state = jax.tree_util.tree_map(np.asarray, state)
    raw = serialization.msgpack_serialize(state)
    result = None
    if episodes > 0:
        print(f"evaluating update {update} on {episodes} held-out worlds (seed {seed}) and random agents...", flush=True)
        r = evaluate(model, params, config, episodes=episodes, seed=seed)
        result = dict(episodes=episodes, seed=seed, greedy=False, ticks=config.env.horizon,
                      **{k: round(float(r[k]), 3) for k in ("mean_lifetime", "ci", "random_mean_lifetime",
                                                             "random_ci", "ratio")})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params_path, meta_path = directory / f"{name}.msgpack", directory / f"{name}.json"
    run = ckpt.checkpoint_dir(checkpoint)
    meta = {
        "format": FORMAT, "version": VERSION, "name": name,
        "train_command": command, "command_checked": bool(check_command),
        "export_command": export_command or f"python -m agents.pretrained export --checkpoint={checkpoint} "
                                            f"--name={name} --command={shlex.quote(command)}",
        "checkpoint": str(run / str(update)), "update": int(update),
        "agent_steps": int(update) * config.train.num_envs * config.env.num_agents * config.train.rollout_len,
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "model": {"model": config.train.model, "hidden": config.train.hidden},
        "params_file": params_path.name, "params_bytes": len(raw),
        "params_sha256": hashlib.sha256(raw).hexdigest(),
        "param_count": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(state))),
        "evaluation": result,
        "world": {"preset": _preset(command), "num_agents": config.env.num_agents,
                  "map_size": config.env.map_size, "horizon": config.env.horizon},
        "config": config.to_dict(),
    }
    params_path.write_bytes(raw)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    # the files just written must load through the same path every tool uses
    load(name, directory)
    return params_path, meta_path


def _preset(command: str) -> str:
    """The preset (or YAML file's stem) a training command names (train.py's default: small)."""
    try:
        argv = _train_argv(command)
    except PretrainedError:
        return "?"
    for a in argv:
        if a.startswith("--config="):
            return Path(a.split("=", 1)[1]).stem
    return "small"


def _versions() -> dict:
    from importlib import metadata as md
    out = {}
    for dist in ("nmmo-jax", "jax", "flax"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


# --------------------------------------------------------------------------- command line
USAGE = """usage:
  python -m agents.pretrained export --checkpoint=RUN --name=NAME --command="python train.py ..."
                                     [--episodes=16] [--seed=0] [--dir=agents/pretrained] [--check_command=true]
  python -m agents.pretrained list"""


def list_lines(directory: Path = DIRECTORY) -> list[str]:
    lines = []
    for n in names(directory):
        try:
            m = metadata(n, directory)
        except PretrainedError as err:
            lines.append(f"{PREFIX}{n}: {err}")
            continue
        ev = m.get("evaluation")
        figures = (f"mean lifetime {ev['mean_lifetime']:.1f} ± {ev['ci']:.1f} vs random {ev['random_mean_lifetime']:.1f} "
                   f"({ev['ratio']:.2f}x, {ev['episodes']} held-out worlds, seed {ev['seed']})") if ev else "not evaluated"
        w = m.get("world", {})
        lines += [f"{PREFIX}{n}: update {m['update']}, {w.get('preset')} world ({w.get('num_agents')} agents), "
                  f"{m.get('params_bytes', 0) / 1e6:.2f} MB, {m.get('param_count')} parameters; {figures}",
                  f"  trained:  {m['train_command']}", f"  exported: {m.get('export_command')}"]
    return lines or ["no pretrained policies shipped"]


def main(argv=None):
    from nmmo_jax.config import ConfigError, parse_cli_overrides
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help") or any(a in ("-h", "--help") for a in argv):
        print(__doc__ + "\n" + USAGE)
        return
    what, rest = argv[0], argv[1:]
    try:
        if what == "list":
            print("\n".join(list_lines()))
            return
        if what != "export":
            raise ConfigError(f"unknown command {what!r}; commands: export, list\n{USAGE}")
        flags, extra = parse_cli_overrides(rest, known_flags=("checkpoint", "name", "command", "episodes", "seed",
                                                                "dir", "check_command"))
        if extra:
            raise ConfigError(f"unknown flag(s) {sorted('--' + k for k in extra)}\n{USAGE}")
        for need in ("checkpoint", "name", "command"):
            if need not in flags:
                raise ConfigError(f"--{need}=... is required\n{USAGE}")
        episodes, seed = int(flags.get("episodes", 16)), int(flags.get("seed", 0))
        if episodes < 0:
            raise ConfigError("--episodes must be 0 (no evaluation) or more")
        check = str(flags.get("check_command", "true")).lower() in ("1", "true", "yes")
        exported_with = "python -m agents.pretrained " + shlex.join(argv)
        paths = export(flags["checkpoint"], flags["name"], flags["command"],
                       Path(flags.get("dir", DIRECTORY)), episodes=episodes, seed=seed,
                       export_command=exported_with, check_command=check)
    except (ConfigError, CheckpointError, ValueError) as err:
        sys.exit(f"agents.pretrained: {err}")
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    print("\n".join(list_lines(paths[0].parent)))
