"""The pretrained agents playing live in the browser: ``python -m agents.demo`` (``nmmo-demo``).

    python -m agents.demo [--port=8000] [--host=127.0.0.1] [--checkpoint=pretrained:medium] [--seed=0] [--fps=8]
                          [--greedy] [--key=value ...]

Loads ``pretrained:medium``, the policy shipped in the package for the medium
world (``agents.pretrained``; ``--checkpoint``
takes any other ``pretrained:NAME`` or a run directory, as ``agents.evaluate``
does), builds the world it was trained on (``--key=value`` overrides it, e.g.
``--persistent=true``) and serves the viewer's page with the policy playing
live, world after world, as ``agents.evaluate --checkpoint=... --serve`` does.
The URL is printed as soon as the server listens; the page shows the first
tick once the world and the policy are compiled (35-38 s after the command on 2
idle CPU cores for the medium world), and the command says when. Ctrl-C stops it.

Actions are sampled from the policy (``--greedy``: the most likely legal
action). Random agents, with no learner: ``python -m nmmo_jax.demo``
(``nmmo-random-demo``).
"""
from __future__ import annotations

import sys
import threading
import time

DEFAULT_CHECKPOINT = "pretrained:medium"   # the medium world (128 agents); pretrained:small plays the small one
FLAGS = ("checkpoint", "port", "host", "seed", "fps", "greedy")


def parse(argv):
    """(checkpoint, host, port, seed, fps, greedy, config overrides), every value checked."""
    from nmmo_jax.config import ConfigError, parse_cli_overrides
    from nmmo_jax.viewer.__main__ import parse_address, parse_fps
    flags, overrides = parse_cli_overrides(argv, known_flags=FLAGS)
    host, port = parse_address(flags)
    fps = parse_fps(flags)
    try:
        seed = int(flags.get("seed", 0))
    except ValueError:
        raise ConfigError(f"--seed={flags['seed']!r}: expected an integer") from None
    greedy = str(flags.get("greedy", "false")).lower() in ("1", "true", "yes")
    return flags.get("checkpoint", DEFAULT_CHECKPOINT), host, port, seed, fps, greedy, overrides


def announce_first_frame(source, started: float, out=print):
    """Print once the live source holds its first frame (or failed), from a daemon thread."""
    def watch():
        while True:
            meta = source.meta()
            if meta["error"]:
                out(f"agents.demo: the live world stopped: {meta['error']}")
                return
            if meta["last"] >= 0:
                out(f"playing: first tick after {time.perf_counter() - started:.1f} s")
                return
            time.sleep(0.1)
    threading.Thread(target=watch, name="nmmo-demo-ready", daemon=True).start()


def main(argv=None):
    started = time.perf_counter()
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    from nmmo_jax.config import ConfigError
    try:
        from agents import checkpoint as ckpt
        from agents.evaluate import load_policy
    except ImportError as err:   # the world alone is installed (pip install .), not the learner
        sys.exit(f"agents.demo: the policy needs the training extra ({err}): pip install \"nmmo-jax[train]\"")
    try:
        checkpoint, host, port, seed, fps, greedy, overrides = parse(argv)
        model, params, saved, update = load_policy(checkpoint)
        cfg = saved.replace(**overrides) if overrides else saved
    except (ConfigError, ckpt.CheckpointError, ValueError) as err:
        sys.exit(f"agents.demo: {err}")

    import nmmo_jax
    from agents.policy_fn import policy_function
    from nmmo_jax.viewer import live_server
    env = nmmo_jax.Env(cfg)
    e = cfg.env
    line = (f"{checkpoint} (update {update}) playing a {e.map_size - 2 * e.border}x{e.map_size - 2 * e.border} world "
            f"of {e.num_agents} agents and {e.num_npcs} NPC slots, horizon {e.horizon}"
            f"{', greedy' if greedy else ''}")
    from agents import pretrained
    if pretrained.is_pretrained(checkpoint):
        line += f"\n  trained with: {pretrained.metadata(checkpoint)['train_command']}"
    print(line, flush=True)
    policy_info = {"kind": "pretrained" if pretrained.is_pretrained(checkpoint) else "checkpoint",
                   "checkpoint": checkpoint, "update": int(update)}
    server = live_server(env, policy_function(model, params, greedy=greedy), host, port, fps=fps, seed=seed,
                         initial_carry=model.initial_carry(env.num_agents), header_extra={"policy": policy_info})
    print("compiling the world and the policy; open the page now, it starts when they are ready...", flush=True)
    announce_first_frame(server.source, started, out=lambda s: print(s, flush=True))
    try:
        server.run()
    except OSError as err:
        sys.exit(f"agents.demo: cannot listen on {host}:{port} ({err.strerror or err})")


if __name__ == "__main__":
    main()
