"""Time the original Neural MMO 2.1.2 next to nmmo-jax, for the speed-up we report.

Why this exists: a speed-up claim needs the baseline measured on the same
machine, the same way, every time. Neural MMO 2.1.2 (PyPI `nmmo==2.1.2`) only
installs on Python <= 3.10 with old pinned dependencies (numpy 1.23.3,
gymnasium 0.29.1, pettingzoo 1.24.1), so it cannot share our interpreter. This
script keeps it in its own venv (.venv-nmmo, built from pyenv's 3.10.13 on first
use), times it there, times our `bench.throughput`, and prints both side by side.

    python -m bench.nmmo_reference [--agents=128] [--steps=200] [--immortal]
                                   [--config=configs/medium.yaml] [--envs=32] [--key=value ...]

    # full populations on both sides (the comparison issue 11 asks for):
    python -m bench.nmmo_reference --immortal --persistent=true --respawn_delay=1 \
        --fog=true --num_teams=8 --items=true --comm_tokens=16

``--immortal`` sets Neural MMO's own ``IMMORTAL`` switch: its players neither
starve nor take damage, so all --agents stay alive every tick (a full
population; the switch also skips their damage and death bookkeeping, so it
can only make Neural MMO faster and our ratio smaller). Any other
``--key=value`` is a config override passed to our ``bench.throughput`` (for
ours, ``--persistent=true --respawn_delay=1`` keeps the population full: a
dead slot is back on the next tick).

What is timed on the Neural MMO side: its default config (nmmo.config.Default,
the 128x128 "medium" map) with --agents players, one env in one process. After
an untimed reset, each tick every live agent gets a random legal action (every
argument drawn uniformly from the entries its action mask allows); only the
`env.step` calls are timed. Agent-steps are counted as the sum over ticks of
live agents (`nmmo_agent_steps_per_s`); the count with all --agents slots per
tick is printed too (`nmmo_slot_agent_steps_per_s`). Maps are generated into a
temporary directory, never into the repo.

The last line is `ratio=<ours / nmmo>`, counted like for like: live agent-steps
on both sides when bench.throughput reports `live_agent_steps_per_s`, all slots
on both sides otherwise; `ratio=nan` if our benchmark did not run.
Standard library only.
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-nmmo"
VENV_PYTHON = VENV / "bin" / "python"
NMMO_REQUIREMENT = "nmmo==2.1.2"
PYTHON_VERSION = "3.10.13"

# Runs inside .venv-nmmo, in a temporary working directory.
# argv: agents steps seed immortal(0/1). Prints key=value lines.
TIMING_PROGRAM = r'''
import os, sys, time
import numpy as np
import nmmo

agents, steps, seed, immortal = (int(a) for a in sys.argv[1:5])

config = nmmo.config.Default()
config.set("PLAYER_N", agents)
config.set("IMMORTAL", bool(immortal))       # players neither starve nor take damage
config.set("PATH_CWD", os.getcwd())          # a temp dir chosen by the caller
config.set("PATH_MAPS", os.path.join(os.getcwd(), "maps"))
env = nmmo.Env(config, seed=seed)            # generates the map here
rng = np.random.default_rng(seed)

def random_legal(mask):
    allowed = np.flatnonzero(mask)
    if len(allowed) == 0:                    # no legal entry: any value (nmmo drops it)
        return int(rng.integers(len(mask)))
    return int(rng.choice(allowed))

def sample_actions(obs, live):
    return {agent: {action: {arg: random_legal(mask) for arg, mask in args.items()}
                    for action, args in obs[agent]["ActionTargets"].items()}
            for agent in live}

obs, _ = env.reset(seed=seed)
step_seconds = 0.0
live_agent_steps = 0
resets = 0
for tick in range(steps):
    if not env.agents:                       # all dead or horizon reached: untimed reset
        obs, _ = env.reset()
        resets += 1
    live = list(env.agents)
    actions = sample_actions(obs, live)
    live_agent_steps += len(live)
    start = time.perf_counter()
    obs, _, _, _, _ = env.step(actions)
    step_seconds += time.perf_counter() - start

print(f"nmmo_version={nmmo.__version__}")
print(f"nmmo_agents={agents}")
print(f"nmmo_immortal={bool(immortal)}")
print(f"nmmo_steps={steps}")
print(f"nmmo_resets_during_run={resets}")
print(f"nmmo_live_agents_at_end={len(env.agents)}")
print(f"nmmo_mean_live_agents={live_agent_steps / steps:.1f}")
print(f"nmmo_step_seconds={step_seconds:.3f}")
print(f"nmmo_ms_per_tick={1000 * step_seconds / steps:.2f}")
print(f"nmmo_slot_agent_steps_per_s={agents * steps / step_seconds:.1f}")
print(f"nmmo_agent_steps_per_s={live_agent_steps / step_seconds:.1f}")
'''


def run(cmd, **kwargs):
    shown = ("<inline timing program>" if "\n" in str(c) else str(c) for c in cmd)
    print("+", " ".join(shown), flush=True)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def nmmo_installed():
    if not VENV_PYTHON.exists():
        return False
    check = "import importlib.metadata as m, nmmo; assert m.version('nmmo') == '2.1.2'"
    return subprocess.run([str(VENV_PYTHON), "-c", check], capture_output=True).returncode == 0


def pyenv_python310():
    root = os.environ.get("PYENV_ROOT")
    if root is None and shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        root = found.stdout.strip() if found.returncode == 0 else None
    root = Path(root) if root else Path.home() / ".pyenv"
    return root / "versions" / PYTHON_VERSION / "bin" / "python"


def ensure_nmmo_venv():
    """Create .venv-nmmo with nmmo 2.1.2 unless it is already there."""
    if nmmo_installed():
        print(f"Using {NMMO_REQUIREMENT} from {VENV}")
        return
    print(f"{NMMO_REQUIREMENT} not found in {VENV}: installing it (about half a minute).")
    started = time.perf_counter()
    if not VENV_PYTHON.exists():
        python310 = pyenv_python310()
        if not python310.exists():
            sys.exit(f"error: Neural MMO 2.1.2 needs Python 3.10, and {python310} does not "
                     f"exist. Install it with `pyenv install {PYTHON_VERSION}` and rerun.")
        run([python310, "-m", "venv", "--clear", VENV], check=True)
    run([VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", NMMO_REQUIREMENT],
        check=True)
    if not nmmo_installed():
        sys.exit(f"error: installed {NMMO_REQUIREMENT} into {VENV} but cannot import it.")
    print(f"Installed {NMMO_REQUIREMENT} in {time.perf_counter() - started:.0f} s.")


def key_values(text):
    """The `key=value` lines of a program's output, later lines winning."""
    return dict(re.findall(r"^(\w+)=(\S+)\s*$", text, flags=re.MULTILINE))


def time_nmmo(agents, steps, immortal=False, seed=0):
    print(f"\n== Neural MMO 2.1.2: {agents} agents{' (immortal)' if immortal else ''}, {steps} timed steps ==",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="nmmo-reference-") as workdir:
        done = run([VENV_PYTHON, "-c", TIMING_PROGRAM, agents, steps, seed, int(immortal)],
                   cwd=workdir, capture_output=True, text=True)
    print(done.stdout, end="")
    if done.returncode != 0:
        sys.exit(f"error: the Neural MMO timing run failed:\n{done.stderr}")
    return key_values(done.stdout)


def time_ours(config, envs, steps, overrides=()):
    """Our bench.throughput's key=value results, or None if it is missing or fails."""
    print(f"\n== nmmo-jax: {config}, {envs} envs, {steps} steps {' '.join(overrides)} ==", flush=True)
    if not (REPO / "bench" / "throughput.py").exists():
        print("bench/throughput.py is not there yet: reporting the Neural MMO number only.")
        return None
    done = run([sys.executable, "-m", "bench.throughput", f"--config={config}",
                f"--envs={envs}", f"--steps={steps}", *overrides], cwd=REPO, capture_output=True, text=True)
    print(done.stdout, end="")
    if done.returncode != 0:
        print(f"bench.throughput failed (exit {done.returncode}): reporting the Neural MMO "
              f"number only.\n{done.stderr[-3000:]}")
        return None
    found = key_values(done.stdout)
    if "agent_steps_per_s" not in found:
        print("bench.throughput printed no `agent_steps_per_s=` line: "
              "reporting the Neural MMO number only.")
        return None
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=128, help="Neural MMO players (PLAYER_N)")
    parser.add_argument("--steps", type=int, default=200, help="timed ticks, both sides")
    parser.add_argument("--config", default="configs/medium.yaml", help="our config")
    parser.add_argument("--envs", type=int, default=32, help="our parallel envs")
    parser.add_argument("--immortal", action="store_true", help="Neural MMO players cannot die (IMMORTAL)")
    args, overrides = parser.parse_known_args()
    bad = [o for o in overrides if not (o.startswith("--") and "=" in o)]
    if bad:
        parser.error(f"unrecognized arguments {bad}: our config overrides are written --key=value")

    ensure_nmmo_venv()
    nmmo = time_nmmo(args.agents, args.steps, args.immortal)
    ours = time_ours(args.config, args.envs, args.steps, overrides) or {}

    def rate(results, key):
        return float(results[key]) if key in results else None

    # Both sides count agent-steps two ways: live agents only, and every agent
    # slot every tick. The ratio compares like with like: live with live when
    # our benchmark reports live agents, slots with slots otherwise.
    nmmo_live = rate(nmmo, "nmmo_agent_steps_per_s")
    nmmo_slots = rate(nmmo, "nmmo_slot_agent_steps_per_s")
    ours_live = rate(ours, "live_agent_steps_per_s")
    ours_slots = rate(ours, "agent_steps_per_s")
    nmmo_setup = f"1 env x {args.agents} agents, 1 process{', immortal' if args.immortal else ''}"
    ours_setup = f"{args.envs} envs, {args.config}"
    print(f"\n{'':22} {'setup':40} {'live agent-steps/s':>19} {'slot agent-steps/s':>19}")
    for name, setup, live, slots in [("Neural MMO 2.1.2", nmmo_setup, nmmo_live, nmmo_slots),
                                     ("nmmo-jax", ours_setup, ours_live, ours_slots)]:
        shown = [f"{r:,.0f}" if r is not None else "n/a" for r in (live, slots)]
        print(f"{name:22} {setup:40} {shown[0]:>19} {shown[1]:>19}")
    print(f"Neural MMO mean live agents per tick: {nmmo['nmmo_mean_live_agents']} of {args.agents}")

    if ours_live is not None:
        ratio = ours_live / nmmo_live
        print(f"\nspeed-up, live vs live: {ratio:.2f}x; all slots vs all slots: "
              f"{ours_slots / nmmo_slots:.2f}x")
    elif ours_slots is not None:
        ratio = ours_slots / nmmo_slots
        print(f"\nspeed-up, all slots vs all slots (ours reports no live count): {ratio:.2f}x")
    else:
        ratio = math.nan
    print(f"ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
