"""Plot learning curves from runs' ``metrics.csv``: ``python -m agents.plot RUN_DIR [RUN_DIR ...] [--out=FILE]``.

Panels against agent-steps: the mean lifetime of the lives that ended
(training worlds) with the random baseline as a dashed line when given
(``--random=36.3``); the PPO losses and entropy; and, for runs that logged
them, kills (players by players, NPCs by players, players by NPCs). Several
run directories (training seeds of one recipe, say) share the lifetime panel,
one curve each, so the spread between seeds is on the page; the loss and kill
panels show the first run. Writes ``RUN_DIR/learning_curve.png`` (the first
run's) by default. matplotlib is only needed here, so
it is an optional extra (``pip install -e ".[plot]"``), not a dependency of
the world or the trainer.
"""
from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

from nmmo_jax.config import ConfigError, parse_cli_overrides


def read_metrics(run_dir: Path) -> dict[str, list[float]]:
    path = run_dir / "metrics.csv"
    if not path.exists():
        raise ConfigError(f"{path} not found; give a run directory written by train.py")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ConfigError(f"{path} has no rows yet")
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing mean over ``window`` updates (metrics per update are noisy)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def cumulative_millions(agent_steps: list[float]) -> list[float]:
    """Per-update agent-steps -> the run's running total, in millions (the x axis)."""
    return [total / 1e6 for total in itertools.accumulate(agent_steps)]


def plot(run_dirs: Path | list[Path], out: Path, random_baseline: float | None = None, window: int = 10) -> Path:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError('agents.plot needs matplotlib: pip install -e ".[plot]"') from None
    run_dirs = [run_dirs] if isinstance(run_dirs, Path) else list(run_dirs)
    runs = [read_metrics(d) for d in run_dirs]  # every run read (and checked) before drawing
    run_dir, m = run_dirs[0], runs[0]
    steps = cumulative_millions(m["agent_steps"])
    kills = [k for k in ("player_kills", "npc_kills", "killed_by_npcs") if k in m]  # runs since combat metrics
    fig, axes = plt.subplots(1, 3 if kills else 2, figsize=(16 if kills else 11, 4))
    ax1, ax2 = axes[0], axes[1]
    if len(runs) == 1:
        ax1.plot(steps, m["mean_lifetime"], color="tab:blue", alpha=0.25, lw=0.8)
        ax1.plot(steps, smooth(m["mean_lifetime"], window), color="tab:blue", label="policy (training worlds)")
    else:
        for d, r in zip(run_dirs, runs):
            ax1.plot(cumulative_millions(r["agent_steps"]), smooth(r["mean_lifetime"], window), lw=1.2,
                     label=f"{d.name} (training worlds)")
    if random_baseline is not None:
        ax1.axhline(random_baseline, color="gray", ls="--", label=f"random legal actions ({random_baseline:.1f})")
        ax1.axhline(2 * random_baseline, color="tab:red", ls=":", label=f"2x random ({2 * random_baseline:.1f})")
    ax1.set_xlabel("agent-steps (millions)")
    ax1.set_ylabel("mean lifetime (ticks)")
    ax1.set_title(f"{run_dir.name}: lifetime" if len(runs) == 1 else f"lifetime, {len(runs)} runs")
    ax1.legend(loc="lower right", fontsize=8)
    for key, color in (("v_loss", "tab:orange"), ("entropy", "tab:green"), ("approx_kl", "tab:purple")):
        ax2.plot(steps, smooth(m[key], window), color=color, label=key)
    ax2.set_xlabel("agent-steps (millions)")
    ax2.set_yscale("log")
    ax2.set_title("losses" if len(runs) == 1 else f"losses ({run_dir.name})")
    ax2.legend(fontsize=8)
    if kills:
        ax3 = axes[2]
        labels = {"player_kills": "players killed by players", "npc_kills": "NPCs killed by players",
                  "killed_by_npcs": "players killed by NPCs"}
        for key, color in zip(kills, ("tab:red", "tab:green", "tab:brown")):
            ax3.plot(steps, smooth(m[key], window), color=color, label=labels[key])
        ax3.set_xlabel("agent-steps (millions)")
        ax3.set_ylabel("per update (all training worlds)")
        ax3.set_title("combat" if len(runs) == 1 else f"combat ({run_dir.name})")
        ax3.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        positional = [a for a in argv if not a.startswith("--")]
        flags, extra = parse_cli_overrides([a for a in argv if a.startswith("--")],
                                           known_flags=("out", "random", "window"))
        if extra:
            raise ConfigError(f"unknown flags {sorted(extra)}; allowed: --out, --random, --window")
        if not positional:
            raise ConfigError("usage: python -m agents.plot RUN_DIR [RUN_DIR ...] [--out=FILE] [--random=BASELINE]")
        run_dirs = [Path(p) for p in positional]
        out = Path(flags.get("out", run_dirs[0] / "learning_curve.png"))
        baseline = float(flags["random"]) if "random" in flags else None
        path = plot(run_dirs, out, baseline, int(flags.get("window", 10)))
    except (ConfigError, ValueError) as err:
        sys.exit(f"agents.plot: {err}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
