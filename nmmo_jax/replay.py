"""Record (random play), inspect and export replays from the command line.

    python -m nmmo_jax.replay --random --config=small --ticks=128 --out=run.replay [--key=value ...]
    python -m nmmo_jax.replay --info=run.replay
    python -m nmmo_jax.replay --export=run.replay --gif=run.gif [--overlay=counts] [--scale=4] [--fps=10]
    python -m agents.record --checkpoint=DIR --out=run.replay [--ticks=N] [--greedy] ...   # a trained policy

Recording plays one world (``--seed``) for ``--ticks`` ticks (default: the
config's horizon) with random legal actions, inside compiled chunks of
``--chunk`` ticks (a progress bar advances per chunk), and writes frames
0..ticks. ``--overlays=a,b`` picks custom overlays (registered by a module
named with ``--import=pkg.module``; default: all registered). The world imports
nothing from the learner: recording a checkpoint's policy is
``python -m agents.record``, which takes the same flags (plus ``--greedy`` and
``--global_values=false``, which skips the globalValues precompute) through
``record_replay`` here.

Export writes a GIF (or an MP4 with the ``video`` extra, ``imageio-ffmpeg``)
of frames ``--start`` .. ``--stop`` with an optional overlay.
"""
from __future__ import annotations

import importlib
import json
import sys
import time

from nmmo_jax.config import ConfigError, parse_cli_overrides

RECORD_FLAGS = ("checkpoint", "random", "config", "ticks", "out", "seed", "greedy", "chunk", "overlays", "import",
                "global_values")
EXPORT_FLAGS = ("info", "export", "gif", "video", "overlay", "agent", "scale", "fps", "start", "stop")


def bool_flag(flags, name, default=False):
    v = str(flags.get(name, default)).lower()
    if v in ("1", "true", "yes"):
        return True
    if v in ("0", "false", "no"):
        return False
    raise ConfigError(f"--{name}={flags[name]!r}: expected true or false")


def int_flag(flags, name, default, lo=None):
    try:
        v = int(flags.get(name, default))
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}={flags[name]!r}: expected an integer") from None
    if lo is not None and v < lo:
        raise ConfigError(f"--{name}={v}: must be >= {lo}")
    return v


CHECKPOINT_MOVED = ("recording a checkpoint's policy is the learner's command (the world imports nothing from "
                    "agents): python -m agents.record --checkpoint=DIR --out=FILE [same flags]")


def import_overlay_modules(flags):
    """Import the modules ``--import=a,b`` names (they register custom overlays)."""
    for mod in filter(None, flags.get("import", "").split(",")):
        try:
            importlib.import_module(mod)
        except ImportError as err:
            raise ConfigError(f"--import={mod}: cannot import ({err})") from None


def record_replay(flags, cfg, policy=None, initial_carry=None, info=None, label=None):
    """Record and write one replay as the flags say (``--out``, ``--ticks``, ``--seed``, ``--chunk``, ...).

    ``policy``/``initial_carry``: a policy function and its first carry (see
    ``nmmo_jax.render.record``), or None for random legal actions. ``info`` is
    the header's ``policy`` entry (default ``{"kind": "random"}``); ``label``
    names the player in the progress line. Shared by ``agents.record``.
    """
    import jax
    import nmmo_jax
    from nmmo_jax.render import Recorder
    from tqdm import tqdm

    if "out" not in flags:
        raise ConfigError("--out=FILE is required (where to write the replay)")
    info = {"kind": "random"} if info is None else info
    ticks = int_flag(flags, "ticks", cfg.env.horizon, lo=1)
    seed = int_flag(flags, "seed", 0)
    chunk = int_flag(flags, "chunk", 64, lo=1)
    chunk = min(chunk, ticks + 1)
    names = None if "overlays" not in flags else [n for n in flags["overlays"].split(",") if n]
    try:
        rec = Recorder(nmmo_jax.Env(cfg), policy, initial_carry=initial_carry, overlays=names, chunk=chunk,
                       global_values=bool_flag(flags, "global_values", True))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    print(f"recording {ticks} ticks of {cfg.source} ({cfg.env.num_agents} agents, map {cfg.env.map_size}) "
          f"played by {label or info['kind']}, seed {seed}; compiling...", flush=True)
    t0 = time.perf_counter()
    with tqdm(total=ticks + 1, unit="tick", desc="record") as bar:
        writer, _ = rec.record(jax.random.PRNGKey(seed), ticks, progress=bar)
    t1 = time.perf_counter()
    size = writer.write(flags["out"], rec.header(policy=info, seed=seed, ticks=ticks))
    t2 = time.perf_counter()
    print(f"wrote {flags['out']}: {writer.frames} frames, {size / 1e6:.2f} MB "
          f"(record {t1 - t0:.1f}s incl. compile, write {t2 - t1:.1f}s); "
          f"overlays: {', '.join(o['name'] for o in rec.overlays())}")
    print(f"view it: python -m nmmo_jax.viewer {flags['out']}")


def record_main(flags, overrides):
    import nmmo_jax

    if "checkpoint" in flags:
        raise ConfigError(f"--checkpoint: {CHECKPOINT_MOVED}")
    if not bool_flag(flags, "random"):
        raise ConfigError("give --random (random legal actions play); to record a trained policy: "
                          "python -m agents.record --checkpoint=DIR --out=FILE")
    if "greedy" in flags:
        raise ConfigError("--greedy is for a policy (python -m agents.record --checkpoint=DIR --greedy)")
    if "out" not in flags:
        raise ConfigError("--out=FILE is required (where to write the replay)")
    import_overlay_modules(flags)
    record_replay(flags, nmmo_jax.load_config(flags.get("config", "small"), overrides))


def info_main(path):
    from nmmo_jax.render import Replay
    rp = Replay.load(path)
    h = rp.header
    env = h["config"].get("env", {})
    print(f"{path}: {h['format']} v{h['version']}, {rp.num_frames} frames, map {rp.shape[0]}x{rp.shape[1]}, "
          f"{h.get('num_agents')} agents, recorded {h.get('created')}")
    print(f"policy: {json.dumps(h.get('policy'))}; seed {h.get('seed')}; "
          f"horizon {env.get('horizon')}, persistent {env.get('persistent')}")
    print("overlays: " + ", ".join(f"{o['name']} ({o['kind']})" for o in rp.overlays))
    for leaf in h["leaves"]:
        extra = f", {leaf['changes']} changes" if leaf["encoding"] == "sparse" else ""
        print(f"  {leaf['name']:<32} {leaf['dtype']:>8}{str(leaf['shape']):>14}  {leaf['encoding']} "
              f"as {leaf['stored']}{extra}")


def export_main(flags):
    from nmmo_jax.render import Replay
    from nmmo_jax.render.frames import export_video
    out = flags.get("gif") or flags.get("video")
    if not out:
        raise ConfigError("--export=REPLAY needs --gif=OUT.gif or --video=OUT.mp4")
    rp = Replay.load(flags["export"])
    start = int_flag(flags, "start", 0, lo=0)
    stop = int_flag(flags, "stop", rp.num_frames, lo=start + 1)
    agent = int_flag(flags, "agent", 0, lo=0) if "agent" in flags else None
    try:
        n = export_video(rp, out, overlay=flags.get("overlay"), agent=agent, scale=int_flag(flags, "scale", 4, lo=1),
                         fps=int_flag(flags, "fps", 10, lo=1), start=start, stop=min(stop, rp.num_frames))
    except (KeyError, ValueError) as err:
        raise ConfigError(str(err).strip('"')) from None
    print(f"wrote {out}: {n} frames")


def main(argv=None):
    from nmmo_jax.render import ReplayError
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=RECORD_FLAGS + EXPORT_FLAGS)
        if "info" in flags:
            info_main(flags["info"])
        elif "export" in flags:
            export_main(flags)
        else:
            record_main(flags, overrides)
    except (ConfigError, ReplayError) as err:
        sys.exit(f"nmmo_jax.replay: {err}")


if __name__ == "__main__":
    main()
