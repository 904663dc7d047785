"""Record, inspect and export replays from the command line.

    python -m nmmo_jax.replay --checkpoint=DIR --out=run.replay [--ticks=N] [--config=...] [--key=value ...]
    python -m nmmo_jax.replay --random --config=small --ticks=128 --out=run.replay
    python -m nmmo_jax.replay --info=run.replay
    python -m nmmo_jax.replay --export=run.replay --gif=run.gif [--overlay=counts] [--scale=4] [--fps=10]

Recording plays one world (``--seed``) for ``--ticks`` ticks (default: the
config's horizon) with the checkpoint's policy (sampled; ``--greedy`` for the
most likely action) or random legal actions, inside compiled chunks of
``--chunk`` ticks (a progress bar advances per chunk), and writes frames
0..ticks. With ``--checkpoint`` the world is the one the policy trained on
unless ``--config`` names another. ``--overlays=a,b`` picks custom overlays
(registered by a module named with ``--import=pkg.module``; default: all
registered); ``--global_values=false`` skips the globalValues precompute.

Export writes a GIF (or an MP4 with the ``video`` extra, ``imageio-ffmpeg``)
of frames ``--start`` .. ``--stop`` with an optional overlay.
"""
from __future__ import annotations

import importlib
import json
import sys
import time

from nmmo_jax.config import ConfigError, parse_cli_overrides

FLAGS = ("checkpoint", "random", "config", "ticks", "out", "seed", "greedy", "chunk", "overlays", "import",
         "global_values", "info", "export", "gif", "video", "overlay", "agent", "scale", "fps", "start", "stop")


def _bool(flags, name, default=False):
    v = str(flags.get(name, default)).lower()
    if v in ("1", "true", "yes"):
        return True
    if v in ("0", "false", "no"):
        return False
    raise ConfigError(f"--{name}={flags[name]!r}: expected true or false")


def _int(flags, name, default, lo=None):
    try:
        v = int(flags.get(name, default))
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}={flags[name]!r}: expected an integer") from None
    if lo is not None and v < lo:
        raise ConfigError(f"--{name}={v}: must be >= {lo}")
    return v


def record_main(flags, overrides):
    import jax
    import nmmo_jax
    from nmmo_jax.render import Recorder
    from tqdm import tqdm

    has_ckpt, random = "checkpoint" in flags, _bool(flags, "random")
    if has_ckpt == random:
        raise ConfigError("give exactly one of --checkpoint=DIR (a trained policy plays) or --random")
    if "out" not in flags:
        raise ConfigError("--out=FILE is required (where to write the replay)")
    for mod in filter(None, flags.get("import", "").split(",")):
        try:
            importlib.import_module(mod)
        except ImportError as err:
            raise ConfigError(f"--import={mod}: cannot import ({err})") from None
    policy, info = None, {"kind": "random"}
    if has_ckpt:
        from agents import checkpoint as ckpt
        from agents.evaluate import load_policy
        try:
            model, params, saved, step = load_policy(flags["checkpoint"])
        except ckpt.CheckpointError as err:
            raise ConfigError(str(err)) from None
        policy = (model, params)
        info = {"kind": "checkpoint", "checkpoint": flags["checkpoint"], "update": int(step)}
        cfg = nmmo_jax.load_config(flags["config"], overrides) if "config" in flags else (
            saved.replace(**overrides) if overrides else saved)
    else:
        cfg = nmmo_jax.load_config(flags.get("config", "small"), overrides)
    ticks = _int(flags, "ticks", cfg.env.horizon, lo=1)
    seed = _int(flags, "seed", 0)
    chunk = _int(flags, "chunk", 64, lo=1)
    chunk = min(chunk, ticks + 1)
    names = None if "overlays" not in flags else [n for n in flags["overlays"].split(",") if n]
    greedy = _bool(flags, "greedy")
    try:
        rec = Recorder(nmmo_jax.Env(cfg), policy, greedy=greedy, overlays=names, chunk=chunk,
                       global_values=_bool(flags, "global_values", True))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    print(f"recording {ticks} ticks of {cfg.source} ({cfg.env.num_agents} agents, map {cfg.env.map_size}) "
          f"played by {info['kind']}{' (greedy)' if greedy else ''}, seed {seed}; compiling...", flush=True)
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
    start = _int(flags, "start", 0, lo=0)
    stop = _int(flags, "stop", rp.num_frames, lo=start + 1)
    agent = _int(flags, "agent", 0, lo=0) if "agent" in flags else None
    try:
        n = export_video(rp, out, overlay=flags.get("overlay"), agent=agent, scale=_int(flags, "scale", 4, lo=1),
                         fps=_int(flags, "fps", 10, lo=1), start=start, stop=min(stop, rp.num_frames))
    except (KeyError, ValueError) as err:
        raise ConfigError(str(err).strip('"')) from None
    print(f"wrote {out}: {n} frames")


def main(argv=None):
    from nmmo_jax.render import ReplayError
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=FLAGS)
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
